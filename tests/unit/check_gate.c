/* check_gate.c - Check suite "gate": loss records, the baseline compare,
 * limits and the escaping of the CI report formats, on the hand-made
 * snapshots tests/data/leaks.json and leaks-grown.json (the same program
 * at other load addresses; stacks described in check_suppress.c).
 *
 * leaks.json, kinds definite,indirect, biggest first:
 *   1 s0 indirect 160 B / 10   make_node <- build_list <- main
 *   2 s1 definite  64 B / 2    parse_config [inlined] load_config <- main
 *   3 s2 definite  24 B / 3    strdup <- save_name <- main
 *   4 s5 definite  16 B / 1    build_list <- main
 * plus s4 possible 32 B / 1 and s3 reachable 4096 B / 1.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/gate.h"
#include "report/stats.h"
#include "test_data.h"

static tm_snapshot *snap, *grown;
static tm_leak_report rep;

static void setup(void)
{
    snap = tm_test_load("leaks.json");
    grown = tm_test_load("leaks-grown.json");
    ck_assert_int_eq(tm_leak_report_build(&rep, &snap, 1, TM_KINDS_CHECK,
                                          NULL), 0);
}

static void teardown(void)
{
    tm_leak_report_free(&rep);
    tm_snapshot_free(snap);
    tm_snapshot_free(grown);
}

/* --- loss records --- */

START_TEST(test_gate_records_biggest_first)
{
    static const struct { size_t stack; tm_leak_kind kind; uint64_t bytes,
                          blocks; } want[] = {
        { 0, TM_LEAK_INDIRECT, 160, 10 }, { 1, TM_LEAK_DEFINITE, 64, 2 },
        { 2, TM_LEAK_DEFINITE, 24, 3 }, { 5, TM_LEAK_DEFINITE, 16, 1 },
    };

    ck_assert(rep.checked);
    ck_assert_uint_eq(rep.n, 4);
    ck_assert_uint_eq(rep.nshown, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(rep.v[i].stack, want[i].stack);
        ck_assert_int_eq(rep.v[i].kind, want[i].kind);
        ck_assert_uint_eq(rep.v[i].bytes, want[i].bytes);
        ck_assert_uint_eq(rep.v[i].blocks, want[i].blocks);
        ck_assert_uint_eq(rep.v[i].number, i + 1);
    }
    ck_assert_uint_eq(rep.summary[TM_LEAK_DEFINITE].bytes, 104);
    ck_assert_uint_eq(rep.summary[TM_LEAK_REACHABLE].bytes, 4096);
}
END_TEST

START_TEST(test_gate_key_symbolic)
{
    ck_assert_str_eq(rep.v[1].key, "parse_config at config.c:44 (app)\n"
                                   "load_config at config.c:80 (app)\n"
                                   "main at main.c:25 (app)\n"
                                   "__libc_start_call_main (libc.so.6)");
    ck_assert_str_eq(rep.v[2].key, "strdup (libc.so.6)\n"
                                   "save_name at we:ird,na%me.c:7 (app)\n"
                                   "main at main.c:20 (app)\n"
                                   "__libc_start_call_main (libc.so.6)");
    char *k = tm_leak_key(snap, &snap->stacks[4]);

    ck_assert_str_eq(k, "[unknown]+0xdeadbeef\nmain at main.c:20 (app)");
    free(k);
}
END_TEST

START_TEST(test_gate_suppressed_not_numbered)
{
    tm_suppressions s = { 0, NULL };
    tm_leak_report r;

    ck_assert_int_eq(tm_suppressions_parse(&s, "t", "leak:save_name\n", NULL,
                                           NULL), 0);
    ck_assert_int_eq(tm_leak_report_build(&r, &snap, 1, TM_KINDS_CHECK, &s),
                     0);
    ck_assert_uint_eq(r.n, 4);
    ck_assert_uint_eq(r.nshown, 3);
    ck_assert_int_eq(r.v[2].suppression, 0);
    ck_assert_uint_eq(r.v[2].number, 0);
    ck_assert_uint_eq(r.v[3].number, 3);
    ck_assert_uint_eq(s.v[0].hit_stacks, 1);
    ck_assert_uint_eq(s.v[0].hit_blocks, 3);
    ck_assert_uint_eq(s.v[0].hit_bytes, 24);
    ck_assert_uint_eq(r.summary[TM_LEAK_DEFINITE].bytes, 80);
    ck_assert_uint_eq(r.suppressed.bytes, 24);
    tm_leak_report_free(&r);
    tm_suppressions_free(&s);
}
END_TEST

START_TEST(test_gate_records_merge_processes)
{
    tm_snapshot *both[2] = { snap, grown };
    tm_leak_report r;

    ck_assert_int_eq(tm_leak_report_build(&r, both, 2, TM_KINDS_CHECK, NULL),
                     0);
    /* s0 indirect 160 + 176, s1 64 + 64, s4 48, s5 16 + 16, s2 24 */
    ck_assert_uint_eq(r.n, 5);
    ck_assert_uint_eq(r.v[0].bytes, 336);
    ck_assert_uint_eq(r.v[0].blocks, 21);
    ck_assert_uint_eq(r.v[1].bytes, 128);
    tm_leak_report_free(&r);
}
END_TEST

/* --- baselines and the verdict --- */

static const char *baseline_text =
    "{\"format\": \"tracemem-baseline\", \"version\": 1, \"leaks\": ["
    " {\"kind\": \"indirect\", \"bytes\": 150, \"blocks\": 10, \"stack\": ["
    "  \"make_node at list.c:12 (app)\", \"build_list at list.c:30 (app)\","
    "  \"main at main.c:20 (app)\", \"__libc_start_call_main (libc.so.6)\"]},"
    " {\"kind\": \"definite\", \"bytes\": 64, \"blocks\": 2, \"stack\": ["
    "  \"parse_config at config.c:44 (app)\", \"load_config at config.c:80 "
    "(app)\", \"main at main.c:25 (app)\", \"__libc_start_call_main "
    "(libc.so.6)\"]},"
    " {\"kind\": \"definite\", \"bytes\": 8, \"blocks\": 1, \"stack\": ["
    "  \"build_list at list.c:30 (app)\", \"main at main.c:20 (app)\","
    "  \"__libc_start_call_main (libc.so.6)\"]},"
    " {\"kind\": \"definite\", \"bytes\": 8, \"blocks\": 1, \"stack\": ["
    "  \"build_list at list.c:30 (app)\", \"main at main.c:20 (app)\","
    "  \"__libc_start_call_main (libc.so.6)\"]}]}";

static void parse_baseline(tm_baseline *b, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    tm_error err = { "" };

    ck_assert_ptr_nonnull(j);
    if (tm_baseline_from_json(b, j, "base.json", &err))
        ck_abort_msg("baseline: %s", err.what);
    json_decref(j);
}

START_TEST(test_gate_baseline_new_and_grown)
{
    tm_baseline b;
    tm_gate_opts o = { 0, 0, NULL, "base.json", 0 };
    tm_gate g;

    parse_baseline(&b, baseline_text);
    ck_assert_uint_eq(b.n, 3);      /* duplicate entries added up */
    o.baseline = &b;
    tm_gate_eval(&rep, &o, &g);
    ck_assert_int_eq(rep.v[0].status, TM_REC_GROWN);
    ck_assert_uint_eq(rep.v[0].gated_bytes, 10);
    ck_assert_uint_eq(rep.v[0].gated_blocks, 0);
    ck_assert_int_eq(rep.v[1].status, TM_REC_BASELINE);
    ck_assert_int_eq(rep.v[2].status, TM_REC_NEW);
    ck_assert_int_eq(rep.v[3].status, TM_REC_BASELINE);    /* 16 <= 8+8 */
    ck_assert_uint_eq(g.bytes, 34);
    ck_assert_uint_eq(g.blocks, 3);
    ck_assert_uint_eq(g.nnew, 1);
    ck_assert_uint_eq(g.ngrown, 1);
    ck_assert_uint_eq(g.nbaseline, 2);
    ck_assert(g.failed);
    o.max_bytes = 34;
    o.max_blocks = 3;
    tm_gate_eval(&rep, &o, &g);
    ck_assert(!g.failed);
    o.max_bytes = 33;
    tm_gate_eval(&rep, &o, &g);
    ck_assert(g.failed);
    o.max_bytes = -1;   /* no byte limit: blocks decide */
    tm_gate_eval(&rep, &o, &g);
    ck_assert(!g.failed);
    tm_baseline_free(&b);
}
END_TEST

START_TEST(test_gate_baseline_roundtrip_survives_aslr)
{
    json_t *j = tm_baseline_json(&rep);
    tm_leak_report r;
    tm_baseline b;
    tm_error err = { "" };
    tm_gate_opts o = { 0, 0, NULL, NULL, 0 };
    tm_gate g;

    ck_assert_int_eq(tm_baseline_from_json(&b, j, "mem", &err), 0);
    ck_assert_uint_eq(b.n, 4);
    json_decref(j);
    o.baseline = &b;
    /* other load addresses, same code: s0 grew, s4 is new, s2 is gone */
    ck_assert_int_eq(tm_leak_report_build(&r, &grown, 1, TM_KINDS_CHECK,
                                          NULL), 0);
    tm_gate_eval(&r, &o, &g);
    ck_assert_uint_eq(g.nnew, 1);
    ck_assert_uint_eq(g.ngrown, 1);
    ck_assert_uint_eq(g.nbaseline, 2);
    ck_assert_uint_eq(g.bytes, 16 + 48);
    ck_assert_uint_eq(g.blocks, 1 + 1);
    tm_leak_report_free(&r);
    tm_baseline_free(&b);
}
END_TEST

START_TEST(test_gate_baseline_invalid)
{
    static const struct { const char *text, *want; } bad[] = {
        { "{\"format\": \"x\", \"version\": 1, \"leaks\": []}",
          "base.json: not a tracemem baseline" },
        { "{\"format\": \"tracemem-baseline\", \"version\": 2, \"leaks\": []}",
          "unsupported baseline version" },
        { "{\"format\": \"tracemem-baseline\", \"version\": 1}",
          "\"leaks\": expected an array" },
        { "{\"format\": \"tracemem-baseline\", \"version\": 1, \"leaks\": "
          "[{\"kind\": \"lost\", \"bytes\": 1, \"blocks\": 1, \"stack\": "
          "[\"a\"]}]}", "leaks[0]: expected an object with a leak \"kind\"" },
        { "{\"format\": \"tracemem-baseline\", \"version\": 1, \"leaks\": "
          "[{\"kind\": \"definite\", \"bytes\": -1, \"blocks\": 1, "
          "\"stack\": [\"a\"]}]}", "non-negative" },
        { "{\"format\": \"tracemem-baseline\", \"version\": 1, \"leaks\": "
          "[{\"kind\": \"definite\", \"bytes\": 1, \"blocks\": 1, "
          "\"stack\": []}]}", "leaks[0].stack: expected a non-empty array" },
    };

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *j = json_loads(bad[i].text, 0, NULL);
        tm_baseline b;
        tm_error err = { "" };

        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(tm_baseline_from_json(&b, j, "base.json", &err),
                         -EINVAL);
        ck_assert_msg(strstr(err.what, bad[i].want), "%zu: '%s'", i,
                      err.what);
        ck_assert_uint_eq(b.n, 0);
        json_decref(j);
    }
}
END_TEST

START_TEST(test_gate_write_atomic)
{
    const char *path = "check_gate.out.json";
    tm_baseline b;
    tm_error err = { "" };

    unlink(path);
    ck_assert_int_eq(tm_baseline_write(&rep, path, &err), 0);
    ck_assert_int_eq(tm_baseline_load(&b, path, &err), 0);
    ck_assert_uint_eq(b.n, 4);
    tm_baseline_free(&b);
    unlink(path);
    ck_assert_int_eq(tm_baseline_write(&rep, "/nonexistent/dir/b.json", &err),
                     -ENOENT);
    ck_assert(strstr(err.what, "/nonexistent/dir/b.json: "));
}
END_TEST

/* --- escaping and fingerprints --- */

typedef void (*escape_fn)(FILE *, const char *);

static void check_escape(escape_fn fn, const char *in, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    fn(fp, in);
    fclose(fp);
    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(test_gate_escape_github)
{
    check_escape(tm_github_escape_data, "50% a:b,c\r\nd",
                 "50%25 a:b,c%0D%0Ad");
    check_escape(tm_github_escape_property, "50% a:b,c\r\nd",
                 "50%25 a%3Ab%2Cc%0D%0Ad");
    check_escape(tm_github_escape_property, "%3A", "%253A");
}
END_TEST

START_TEST(test_gate_escape_xml_uri)
{
    check_escape(tm_xml_escape, "a<b>&\"c'\x01\td",
                 "a&lt;b&gt;&amp;&quot;c&apos;?\td");
    check_escape(tm_uri_escape, "src/we:ird,na%me c.c",
                 "src/we%3Aird%2Cna%25me%20c.c");
}
END_TEST

START_TEST(test_gate_fingerprint_stable)
{
    tm_leak_report r;
    char a[17], b[17];

    ck_assert_int_eq(tm_leak_report_build(&r, &grown, 1, TM_KINDS_CHECK,
                                          NULL), 0);
    /* r.v[0] is s0 in the other run: other addresses and sizes */
    ck_assert_uint_eq(r.v[0].stack, 0);
    ck_assert_str_eq(tm_leak_fingerprint(&rep.v[0], a),
                     tm_leak_fingerprint(&r.v[0], b));
    ck_assert_uint_eq(strlen(a), 16);
    ck_assert_str_ne(tm_leak_fingerprint(&rep.v[1], a),
                     tm_leak_fingerprint(&rep.v[3], b));
    tm_leak_report_free(&r);
}
END_TEST

START_TEST(test_gate_user_frame)
{
    const tm_frame *f;
    int loc;

    /* strdup is libc's: the user frame is save_name */
    ck_assert_int_eq(tm_leak_user_frame(snap, &snap->stacks[2], &f, &loc), 0);
    ck_assert_str_eq(tm_frame_loc(f, loc)->function, "save_name");
    ck_assert_int_eq(tm_leak_user_frame(snap, &snap->stacks[4], &f, &loc), 0);
    ck_assert_str_eq(tm_frame_loc(f, loc)->function, "main");
    ck_assert_int_eq(tm_leak_kinds_parse("definite,possible"),
                     (1 << TM_LEAK_DEFINITE) | (1 << TM_LEAK_POSSIBLE));
    ck_assert_int_eq(tm_leak_kinds_parse("all"), TM_LEAK_KINDS_ALL);
    ck_assert_int_eq(tm_leak_kinds_parse("definite,lost"), -1);
    ck_assert_int_eq(tm_leak_kinds_parse(""), -1);
}
END_TEST

static Suite *gate_suite(void)
{
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("records");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_gate_records_biggest_first);
    tcase_add_test(tc, test_gate_key_symbolic);
    tcase_add_test(tc, test_gate_suppressed_not_numbered);
    tcase_add_test(tc, test_gate_records_merge_processes);
    tcase_add_test(tc, test_gate_user_frame);
    suite_add_tcase(s, tc);
    tc = tcase_create("baseline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_gate_baseline_new_and_grown);
    tcase_add_test(tc, test_gate_baseline_roundtrip_survives_aslr);
    tcase_add_test(tc, test_gate_baseline_invalid);
    tcase_add_test(tc, test_gate_write_atomic);
    suite_add_tcase(s, tc);
    tc = tcase_create("formats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_gate_escape_github);
    tcase_add_test(tc, test_gate_escape_xml_uri);
    tcase_add_test(tc, test_gate_fingerprint_stable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(gate_suite());
}
