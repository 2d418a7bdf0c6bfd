/* suite_main.h - the whole main() of a unit test: runs the Check suite
 * 's' (forking a child per test, Check's default) and gives the exit
 * status the test harness reads. */
#ifndef TM_SUITE_MAIN_H
#define TM_SUITE_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int check_main(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
