/* check_snapshot.c - Check suite "snapshot": the loader accepts raw and
 * symbolized snapshots with the right values, and rejects every kind of
 * malformed file (tests/data/bad-*.json) with -EINVAL and a message that
 * names the problem; writing and re-indexing round-trip.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/snapshot.h"

static char *data(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof path, "%s/%s", TM_TEST_DATA, name);
    return path;
}

START_TEST(test_snapshot_loads_values)
{
    tm_snapshot *s;
    tm_error err = {""};

    ck_assert_int_eq(tm_snapshot_load(data("cli-a.json"), &s, &err), 0);
    ck_assert_int_eq(s->pid, 100);
    ck_assert_str_eq(s->exe, "/usr/bin/app");
    ck_assert_str_eq(s->reason, "exit");
    ck_assert_uint_eq(s->nmodules, 2);
    ck_assert_str_eq(s->modules[1].name, "libfoo.so.1");
    ck_assert_str_eq(s->modules[1].build_id, "bb01");
    ck_assert_uint_eq(s->nframes, 8);
    ck_assert_int_eq(s->frames[5].module, -1);
    ck_assert_uint_eq(s->frames[5].offset, 0x7fff1234);
    ck_assert_ptr_null(s->frames[5].loc.function);
    ck_assert_str_eq(s->frames[4].loc.function, "read_config");
    ck_assert_uint_eq(s->frames[4].ninlined, 1);
    ck_assert_str_eq(s->frames[4].inlined[0].function, "main");
    ck_assert_int_eq(s->frames[4].inlined[0].line, 9);
    ck_assert_uint_eq(s->nstacks, 8);
    ck_assert_uint_eq(s->stacks[5].depth, 5);
    ck_assert_uint_eq(s->stacks[7].nframes, 0);
    ck_assert_uint_eq(s->ntraces, 7);
    ck_assert_uint_eq(s->traces[4].domain, 1);
    ck_assert_uint_eq(s->traces[6].allocated_count, 1000);
    ck_assert(s->has_peak);
    ck_assert_uint_eq(s->npeak_traces, 2);
    ck_assert_uint_eq(s->peak_traces[0].size, 5000);
    ck_assert(s->has_leaks);
    ck_assert(!s->leaks_checked);
    ck_assert(s->symbolized);
    ck_assert_uint_eq(s->memory.overhead, 4096);
    /* unknown sections stay readable through root */
    ck_assert_ptr_nonnull(json_object_get(s->root, "gc_example_unknown_section"));
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_snapshot_loads_minimal_raw)
{
    const char *text = "{\"format\":\"tracemem-snapshot\",\"version\":1,"
                       "\"modules\":[{\"path\":\"/bin/x\",\"build_id\":\"\",\"base\":0,"
                       "\"size\":10}],\"frames\":[{\"module\":0,\"offset\":5}],"
                       "\"stacks\":[{\"frames\":[0],\"depth\":1}],"
                       "\"traces\":[{\"stack\":0,\"domain\":0,\"size\":8,\"count\":1,"
                       "\"allocated_size\":8,\"allocated_count\":1}],"
                       "\"leaks\":{\"checked\":true,\"summary\":{\"definite\":{\"bytes\":8,"
                       "\"blocks\":1}},\"stacks\":[{\"stack\":0,\"kind\":\"definite\","
                       "\"bytes\":8,\"blocks\":1}]},\"symbolized\":false}";
    json_t *root = json_loads(text, 0, NULL);
    tm_snapshot *s;
    tm_error err = {""};

    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(tm_snapshot_from_json(root, "mem", &s, &err), 0);
    json_decref(root);
    ck_assert(!s->symbolized);
    ck_assert(!s->has_peak);
    ck_assert_ptr_null(s->frames[0].loc.function);
    ck_assert_str_eq(s->modules[0].name, "x");
    ck_assert(s->leaks_checked);
    ck_assert_uint_eq(s->leak_summary[TM_LEAK_DEFINITE].bytes, 8);
    ck_assert_uint_eq(s->leak_summary[TM_LEAK_REACHABLE].blocks, 0);
    ck_assert_int_eq(s->leak_stacks[0].kind, TM_LEAK_DEFINITE);
    tm_snapshot_free(s);
}
END_TEST

/* Each malformed kind: file and a piece of the expected message. */
static const struct bad {
    const char *file, *what;
} bad[] = {
    {"bad-notjson.json", "not JSON"},
    {"bad-empty.json", "empty file"},
    {"bad-truncated.json", "truncated JSON"},
    {"bad-bigint.json", "not JSON: too big integer"},
    {"bad-duplicate.json", "duplicate"},
    {"bad-toplevel.json", "top level is an array"},
    {"bad-format.json", "not a tracemem snapshot"},
    {"bad-version.json", "unsupported snapshot version 2"},
    {"bad-missing.json", "missing \"frames\""},
    {"bad-type-traces.json", "traces: expected an array, got an object"},
    {"bad-type-size.json", "traces[0].size: expected an integer, got a string"},
    {"bad-real.json", "traces[0].size: expected an integer, got a real"},
    {"bad-negative.json", "traces[0].count: -5 is out of range"},
    {"bad-index-stack.json", "traces[0].stack: index 99 out of range (8 stacks)"},
    {"bad-index-frame.json", "stacks[0].frames[1]: index 99 out of range"},
    {"bad-index-module.json", "frames[0].module: index 7 out of range"},
    {"bad-index-peak.json", "peak.traces[0].stack: index -2 out of range"},
    {"bad-index-leak.json", "leaks.stacks[0].stack: index 42 out of range"},
    {"bad-leak-kind.json", "unknown leak kind \"lost\""},
    {"bad-inlined.json", "frames[4].inlined: expected an array"},
    {"bad-type-function.json", "frames[0].function: expected a string"},
};

START_TEST(test_snapshot_rejects_malformed)
{
    tm_snapshot *s = (tm_snapshot *)1;
    tm_error err = {""};
    int rc = tm_snapshot_load(data(bad[_i].file), &s, &err);

    ck_assert_msg(rc == -EINVAL, "%s: rc %d (%s)", bad[_i].file, rc, err.what);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.what, bad[_i].what), "%s: got '%s'", bad[_i].file, err.what);
    ck_assert_ptr_null(strchr(err.what, '\n'));
}
END_TEST

/* The lean load reads the same model, and the same errors (a file the
 * fast readers decline is loaded again the usual way); it cannot write. */
START_TEST(test_snapshot_lean_load)
{
    tm_snapshot *s, *t;
    tm_error err = {""}, err2 = {""};

    ck_assert_int_eq(tm_snapshot_load(data("cli-a.json"), &s, &err), 0);
    ck_assert_int_eq(tm_snapshot_load_lean(data("cli-a.json"), &t, &err), 0);
    ck_assert_uint_eq(t->nstacks, s->nstacks);
    ck_assert_uint_eq(t->ntraces, s->ntraces);
    ck_assert_uint_eq(t->npeak_traces, s->npeak_traces);
    ck_assert_mem_eq(t->traces, s->traces, s->ntraces * sizeof *s->traces);
    ck_assert_mem_eq(t->peak_traces, s->peak_traces, s->npeak_traces * sizeof *s->peak_traces);
    for (size_t i = 0; i < s->nstacks; i++) {
        ck_assert_uint_eq(t->stacks[i].nframes, s->stacks[i].nframes);
        ck_assert_mem_eq(t->stacks[i].frames, s->stacks[i].frames, s->stacks[i].nframes * sizeof(uint32_t));
    }
    ck_assert_int_eq(tm_snapshot_write(t, "/nonexistent/x.json", &err), -EINVAL);
    ck_assert_str_eq(err.what, "loaded for reading only: its text is gone");
    ck_assert_int_eq(tm_snapshot_expand(t, &err), -EINVAL);
    tm_snapshot_free(s);
    tm_snapshot_free(t);
    /* symbolize's load: the frames, the stacks counted, no traces */
    ck_assert_int_eq(tm_snapshot_load_frames(data("cli-a.json"), &t, &err), 0);
    ck_assert_uint_eq(t->nframes, 8);
    ck_assert_str_eq(t->frames[4].loc.function, "read_config");
    ck_assert_uint_eq(t->nstacks, 8);
    ck_assert_ptr_null(t->stacks);
    ck_assert_uint_eq(t->ntraces, 0);
    ck_assert(t->has_peak);
    tm_snapshot_free(t);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = tm_snapshot_load(data(bad[i].file), &s, &err);

        ck_assert_int_eq(tm_snapshot_load_lean(data(bad[i].file), &t, &err2), rc);
        ck_assert_str_eq(err2.what, err.what);
        ck_assert_int_eq(tm_snapshot_load_frames(data(bad[i].file), &t, &err2), rc);
        ck_assert_str_eq(err2.what, err.what);
    }
}
END_TEST

START_TEST(test_snapshot_missing_file)
{
    tm_snapshot *s;
    tm_error err = {""};

    ck_assert_int_eq(tm_snapshot_load(data("no-such.json"), &s, &err), -ENOENT);
    ck_assert_str_eq(err.what, "No such file or directory");
}
END_TEST

START_TEST(test_snapshot_write_and_reindex)
{
    char path[] = "/tmp/check_snapshot.XXXXXX";
    tm_snapshot *s, *t;
    tm_error err = {""};
    json_t *f0;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(tm_snapshot_load(data("cli-a.json"), &s, &err), 0);
    f0 = json_array_get(json_object_get(s->root, "frames"), 0);
    json_object_set_new(f0, "function", json_string("renamed"));
    ck_assert_int_eq(tm_snapshot_reindex(s, &err), 0);
    ck_assert_str_eq(s->frames[0].loc.function, "renamed");
    ck_assert_int_eq(tm_snapshot_write(s, path, &err), 0);
    ck_assert_int_eq(tm_snapshot_load(path, &t, &err), 0);
    ck_assert_str_eq(t->frames[0].loc.function, "renamed");
    ck_assert_uint_eq(t->ntraces, s->ntraces);
    /* a bad edit is caught by reindex and leaves an empty model (traces
     * are in the tree once expanded) */
    ck_assert_ptr_null(json_object_get(t->root, "traces"));
    ck_assert_int_eq(tm_snapshot_expand(t, &err), 0);
    json_object_set_new(json_array_get(json_object_get(t->root, "traces"), 0), "stack", json_integer(1000));
    ck_assert_int_eq(tm_snapshot_reindex(t, &err), -EINVAL);
    ck_assert_uint_eq(t->ntraces, 0);
    tm_snapshot_free(s);
    tm_snapshot_free(t);
    unlink(path);
}
END_TEST

START_TEST(test_snapshot_write_to_bad_directory)
{
    tm_snapshot *s;
    tm_error err = {""};

    ck_assert_int_eq(tm_snapshot_load(data("cli-a.json"), &s, &err), 0);
    ck_assert_int_lt(tm_snapshot_write(s, "/nonexistent/dir/x.json", &err), 0);
    ck_assert_ptr_nonnull(strstr(err.what, "cannot create"));
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_snapshot_leak_kinds)
{
    ck_assert_str_eq(tm_leak_kind_name(TM_LEAK_INDIRECT), "indirect");
    ck_assert_ptr_null(tm_leak_kind_name(TM_LEAK_NKINDS));
    ck_assert_int_eq(tm_leak_kind_parse("reachable"), TM_LEAK_REACHABLE);
    ck_assert_int_eq(tm_leak_kind_parse("lost"), -1);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc;

    tc = tcase_create("load");
    tcase_add_test(tc, test_snapshot_loads_values);
    tcase_add_test(tc, test_snapshot_loads_minimal_raw);
    tcase_add_test(tc, test_snapshot_missing_file);
    tcase_add_test(tc, test_snapshot_leak_kinds);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_loop_test(tc, test_snapshot_rejects_malformed, 0, (int)(sizeof bad / sizeof *bad));
    suite_add_tcase(s, tc);

    tc = tcase_create("write");
    tcase_add_test(tc, test_snapshot_write_and_reindex);
    tcase_add_test(tc, test_snapshot_lean_load);
    tcase_add_test(tc, test_snapshot_write_to_bad_directory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(snapshot_suite());
}
