/* test_data.h - loading the hand-made snapshots of tests/data in Check
 * suites (TM_TEST_DATA is set by the build). */
#ifndef TM_TEST_DATA_H
#define TM_TEST_DATA_H

#include <check.h>
#include <stdio.h>

#include "report/snapshot.h"

/* Loads tests/data/'name'; a file that does not load fails the test. */
static inline tm_snapshot *tm_test_load(const char *name)
{
    char path[4096];
    tm_snapshot *s = NULL;
    tm_error err = {""};

    snprintf(path, sizeof path, "%s/%s", TM_TEST_DATA, name);
    if (tm_snapshot_load(path, &s, &err))
        ck_abort_msg("cannot load %s: %s", path, err.what);
    return s;
}

#endif
