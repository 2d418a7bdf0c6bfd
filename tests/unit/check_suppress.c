/* check_suppress.c - Check suite "suppress": LeakSanitizer and Valgrind
 * suppressions, parsed from strings and matched against the stacks of
 * the hand-made snapshot tests/data/leaks.json:
 *
 *   s0 make_node list.c:12 <- build_list list.c:30 <- main main.c:20
 *      <- __libc_start_call_main (libc.so.6)
 *   s1 parse_config config.c:44 [inlined into load_config config.c:80]
 *      <- main main.c:25 <- __libc_start_call_main (libc.so.6)
 *   s2 strdup (libc.so.6, no line) <- save_name "we:ird,na%me.c":7
 *      <- main main.c:20 <- __libc_start_call_main
 *   s3 app::Cache::init(int) cache.c:9 <- main main.c:30
 *      <- __libc_start_call_main
 *   s4 0xdeadbeef (no module) <- main main.c:20 (depth 7, truncated)
 *   s5 build_list list.c:30 <- main main.c:20 <- __libc_start_call_main
 *
 * The app's module is /build/app/bin/app, libc's
 * /usr/lib/x86_64-linux-gnu/libc.so.6; files are "src/...".
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/suppress.h"

static tm_snapshot *snap;

static void setup(void)
{
    tm_error err = { "" };

    if (tm_snapshot_load(TM_TEST_DATA "/leaks.json", &snap, &err))
        ck_abort_msg("cannot load leaks.json: %s", err.what);
}

static void teardown(void)
{
    tm_snapshot_free(snap);
}

/* Parses 'text', which must be valid. */
static void parse_ok(tm_suppressions *s, const char *text)
{
    tm_error err = { "" };
    int line = -1;

    memset(s, 0, sizeof *s);
    if (tm_suppressions_parse(s, "t.supp", text, &line, &err))
        ck_abort_msg("parse failed: %s", err.what);
    ck_assert_int_eq(line, 0);
}

/* 1 when the single suppression 'text' matches stack 'st' as 'kind'. */
static int matches(const char *text, size_t st, tm_leak_kind kind)
{
    tm_suppressions s;
    int m;

    parse_ok(&s, text);
    ck_assert_uint_eq(s.n, 1);
    m = tm_suppressions_match(&s, snap, &snap->stacks[st], kind) == 0;
    tm_suppressions_free(&s);
    return m;
}

#define DEF TM_LEAK_DEFINITE
#define VG(frames) "{\n  name\n  Memcheck:Leak\n" frames "}\n"

/* --- patterns --- */

START_TEST(test_suppress_lsan_template)
{
    ck_assert(tm_lsan_match("foo", "xfooy"));
    ck_assert(!tm_lsan_match("^foo", "xfoo"));
    ck_assert(tm_lsan_match("^foo", "foox"));
    ck_assert(tm_lsan_match("foo$", "xfoo"));
    ck_assert(!tm_lsan_match("foo$", "foox"));
    ck_assert(tm_lsan_match("f*o", "fxxo"));
    ck_assert(tm_lsan_match("^a*c$", "abc"));
    ck_assert(!tm_lsan_match("^a*c$", "abcd"));
    ck_assert(tm_lsan_match("*", "a"));
    ck_assert(!tm_lsan_match("a", ""));
    ck_assert(!tm_lsan_match("a", NULL));
    /* LSan looks at the first occurrence only */
    ck_assert(!tm_lsan_match("foo$", "foofoo"));
}
END_TEST

START_TEST(test_suppress_valgrind_glob)
{
    ck_assert(tm_glob_match("mal*", "malloc"));
    ck_assert(tm_glob_match("m?lloc", "malloc"));
    ck_assert(!tm_glob_match("malloc", "mallocx"));
    ck_assert(!tm_glob_match("alloc", "malloc"));
    ck_assert(tm_glob_match("a\\*b", "a*b"));
    ck_assert(!tm_glob_match("a\\*b", "axb"));
    ck_assert(tm_glob_match("*", ""));
    ck_assert(!tm_glob_match("?", ""));
    ck_assert(tm_glob_match("*/libc.so*", "/usr/lib/libc.so.6"));
    ck_assert(tm_glob_match("a**b", "ab"));
    ck_assert(!tm_glob_match("ab\\", "ab"));   /* trailing '\' */
    ck_assert(tm_glob_match("*?", "a"));
    ck_assert(!tm_glob_match("*?", ""));
    /* backtracking must not be exponential: this returns at once */
    ck_assert(!tm_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b",
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}
END_TEST

/* --- LeakSanitizer lines --- */

START_TEST(test_suppress_lsan_function_file_module)
{
    ck_assert(matches("leak:parse_config", 1, DEF));
    ck_assert(!matches("leak:parse_config", 0, DEF));
    ck_assert(matches("leak:load_config", 1, DEF));     /* inlined frame */
    ck_assert(matches("leak:config.c", 1, DEF));        /* file */
    ck_assert(matches("leak:^src/config.c$", 1, DEF));
    ck_assert(matches("leak:libc.so.6", 0, DEF));       /* module path */
    ck_assert(matches("leak:/build/app/", 3, DEF));
    ck_assert(matches("leak:<unknown module>", 4, DEF));
    ck_assert(!matches("leak:<unknown module>", 5, DEF));
    ck_assert(matches("leak:make_*", 0, DEF));
    ck_assert(!matches("leak:^node", 0, DEF));
    /* every kind */
    ck_assert(matches("leak:Cache::init", 3, TM_LEAK_REACHABLE));
}
END_TEST

/* --- Valgrind blocks --- */

START_TEST(test_suppress_valgrind_frames)
{
    ck_assert(matches(VG("fun:malloc\nfun:make_node\nfun:build_list\n"), 0,
                      DEF));
    /* the allocation function's line may be left out */
    ck_assert(matches(VG("fun:make_node\nfun:build_list\n"), 0, DEF));
    ck_assert(matches(VG("fun:_Znwm\nfun:make_node\n"), 0, DEF));
    ck_assert(matches(VG("fun:*alloc\nfun:make_node\n"), 0, DEF));
    ck_assert(!matches(VG("fun:free\nfun:make_node\n"), 0, DEF));
    ck_assert(!matches(VG("fun:make_node\nfun:main\n"), 0, DEF));
    ck_assert(!matches(VG("fun:build_list\n"), 0, DEF));
    ck_assert(matches(VG("fun:build_list\n"), 5, DEF));
    /* stack shorter than the suppression */
    ck_assert(!matches(VG("fun:build_list\nfun:main\n"
                          "fun:__libc_start_call_main\nfun:x\n"), 5, DEF));
}
END_TEST

START_TEST(test_suppress_valgrind_dots)
{
    ck_assert(matches(VG("fun:make_node\n...\nfun:main\n"), 0, DEF));
    ck_assert(matches(VG("...\nfun:main\n"), 0, DEF));
    ck_assert(matches(VG("...\nfun:build_list\nfun:main\n"), 0, DEF));
    ck_assert(matches(VG("fun:malloc\n...\nfun:main\n...\n"), 0, DEF));
    ck_assert(!matches(VG("...\nfun:nowhere\n"), 0, DEF));
    ck_assert(matches(VG("...\n"), 2, DEF));
}
END_TEST

START_TEST(test_suppress_valgrind_inlined)
{
    /* parse_config is inlined into load_config: two frames, like
     * Valgrind's --read-inline-info=yes */
    ck_assert(matches(VG("fun:malloc\nfun:parse_config\nfun:load_config\n"
                         "fun:main\n"), 1, DEF));
    ck_assert(!matches(VG("fun:parse_config\nfun:main\n"), 1, DEF));
    ck_assert(matches(VG("fun:parse_config\nfun:load_config\n"), 1, DEF));
}
END_TEST

START_TEST(test_suppress_valgrind_obj_src)
{
    ck_assert(matches(VG("obj:/usr/lib/x86_64-linux-gnu/libc.so.6\n"
                         "fun:save_name\n"), 2, DEF));
    ck_assert(matches(VG("fun:malloc\nobj:*/libc.so*\nfun:save_name\n"), 2,
                      DEF));
    ck_assert(!matches(VG("obj:libc.so.6\n"), 2, DEF));  /* whole path */
    ck_assert(matches(VG("obj:???\nfun:main\n"), 4, DEF));
    ck_assert(matches(VG("src:list.c:12\n"), 0, DEF));
    ck_assert(!matches(VG("src:list.c:13\n"), 0, DEF));
    ck_assert(matches(VG("src:list.c\nsrc:list.c\n"), 0, DEF));
    ck_assert(matches(VG("src:*/list.c:12\n"), 0, DEF));
    ck_assert(!matches(VG("src:main.c\n"), 0, DEF));
}
END_TEST

START_TEST(test_suppress_valgrind_mangled)
{
    /* Valgrind names C++ functions mangled, the symbolizer demangles */
    ck_assert(matches(VG("fun:malloc\nfun:_ZN3app5Cache4initEi\n"
                         "fun:main\n"), 3, DEF));
    ck_assert(!matches(VG("fun:_ZN3app5Cache4initEl\n"), 3, DEF));
    ck_assert(matches(VG("fun:app::Cache::init*\n"), 3, DEF));
}
END_TEST

START_TEST(test_suppress_valgrind_gcc_clones)
{
    /* Valgrind names GCC's clones by their symbols */
    ck_assert(matches(VG("fun:malloc\nfun:make_node.constprop.0\n"
                         "fun:build_list.isra.0\nfun:main\n"), 0, DEF));
    ck_assert(matches(VG("fun:make_node.part.1\nfun:build_list.cold\n"), 0,
                      DEF));
    ck_assert(!matches(VG("fun:make_node.constprop.0\nfun:main\n"), 0,
                       DEF));
}
END_TEST

START_TEST(test_suppress_valgrind_kinds)
{
    const char *t = "{\n n\n Memcheck:Leak\n match-leak-kinds: definite,"
                    "possible\n fun:make_node\n}\n";

    ck_assert(matches(t, 0, DEF));
    ck_assert(matches(t, 0, TM_LEAK_POSSIBLE));
    ck_assert(!matches(t, 0, TM_LEAK_INDIRECT));
    ck_assert(matches("{\n n\n Memcheck:Leak\n match-leak-kinds: all\n"
                      " fun:make_node\n}\n", 0, TM_LEAK_REACHABLE));
    ck_assert(!matches("{\n n\n Memcheck:Leak\n match-leak-kinds: none\n"
                       " fun:make_node\n}\n", 0, DEF));
}
END_TEST

START_TEST(test_suppress_mixed_file)
{
    tm_suppressions s;

    parse_ok(&s, "# a comment\n\n  leak:foo  \n"
                 "{\n   cond\n   Memcheck:Cond\n   fun:x\n}\n"
                 "{\n   param\n   Memcheck:Param\n   write(buf)\n"
                 "   fun:write\n}\n"
                 "{\n   helgrind\n   Helgrind:Race\n   fun:x\n}\n"
                 "{\n   leak one\n   Memcheck,Addrcheck:Leak\n"
                 "   # comment inside\n   fun:make_node\n}\n");
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(s.v[0].format, TM_SUPP_LSAN);
    ck_assert_str_eq(s.v[0].name, "leak:foo");
    ck_assert_str_eq(s.v[0].pattern, "foo");
    ck_assert_int_eq(s.v[0].line, 3);
    ck_assert_int_eq(s.v[1].format, TM_SUPP_VALGRIND);
    ck_assert_str_eq(s.v[1].name, "leak one");
    ck_assert_str_eq(s.v[1].file, "t.supp");
    ck_assert_int_eq(s.v[1].line, 20);
    ck_assert_uint_eq(s.v[1].nframes, 1);
    ck_assert_uint_eq(s.v[1].kinds, TM_LEAK_KINDS_ALL);
    ck_assert_int_eq(s.v[1].frames[0].type, TM_SUPP_FUN);
    /* the first match wins */
    ck_assert_int_eq(tm_suppressions_match(&s, snap, &snap->stacks[0], DEF),
                     1);
    tm_suppressions_free(&s);
    ck_assert_uint_eq(s.n, 0);
}
END_TEST

/* --- malformed files --- */

static void parse_bad(const char *text, int want_line, const char *want)
{
    tm_suppressions s = { 0, NULL };
    tm_error err = { "" };
    int line = 0;

    parse_ok(&s, "leak:kept\n");
    ck_assert_int_eq(tm_suppressions_parse(&s, "bad.supp", text, &line, &err),
                     -EINVAL);
    ck_assert_int_eq(line, want_line);
    ck_assert_msg(strstr(err.what, want), "'%s' does not say '%s'", err.what,
                  want);
    ck_assert_uint_eq(s.n, 1);      /* left as it was */
    tm_suppressions_free(&s);
}

START_TEST(test_suppress_malformed)
{
    parse_bad("leak:a\n\nnonsense\n", 3, "bad.supp:3: expected '{' or leak:");
    parse_bad("interceptor_via_fun:x\n", 1, "unknown suppression type");
    parse_bad("leak:   \n", 1, "bad.supp:1: empty pattern");
    parse_bad("\n{\n  n\n  Memcheck:Leak\n  fun:x\n", 2, "not closed");
    parse_bad("{\n  n\n  Memcheck:Leak\n  fun:x\n  bogus:y\n}\n", 5,
              "expected fun:, obj:, src:");
    parse_bad("{\n  n\n  Memcheck:Leak\n  match-leak-kinds: definite,bogus\n"
              "  fun:x\n}\n", 4, "unknown leak kind 'bogus'");
    parse_bad("{\n  n\n  Memcheck:Leak\n}\n", 4, "no frame lines");
    parse_bad("{\n  n\n  Leak\n  fun:x\n}\n", 3, "expected TOOL:KIND");
    parse_bad("{\n}\n", 2, "expected the suppression's name");
    parse_bad("{\n n\n Memcheck:Leak\n fun:\n}\n", 4, "empty pattern");
}
END_TEST

START_TEST(test_suppress_odd_kind_lines)
{
    tm_suppressions s;

    /* a second ':' used to hang the tool list scan */
    parse_ok(&s, "{\n n\n Memcheck:Leak: match-leak-kinds: all\n fun:a\n}\n"
                 "{\n n\n Helgrind,Memcheck:Leak\n fun:b\n}\n");
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.v[0].frames[0].pattern, "b");
    tm_suppressions_free(&s);
}
END_TEST

START_TEST(test_suppress_too_many_frames)
{
    char text[2048] = "{\n n\n Memcheck:Leak\n";

    for (int i = 0; i < 25; i++)
        strcat(text, " fun:f\n");
    strcat(text, "}\n");
    parse_bad(text, 28, "more than 24 frame lines");
}
END_TEST

START_TEST(test_suppress_load_file)
{
    tm_suppressions s = { 0, NULL };
    tm_error err = { "" };

    ck_assert_int_eq(tm_suppressions_load(&s, TM_TEST_DATA "/nonexistent",
                                          &err), -ENOENT);
    ck_assert(strstr(err.what, "nonexistent: "));
    ck_assert_int_eq(tm_suppressions_load(&s, TM_TEST_DATA "/leaks.valgrind.supp",
                                          &err), 0);
    ck_assert_uint_eq(s.n, 2);
    tm_suppressions_free(&s);
}
END_TEST

static Suite *suppress_suite(void)
{
    Suite *s = suite_create("suppress");
    TCase *tc = tcase_create("patterns");

    tcase_add_test(tc, test_suppress_lsan_template);
    tcase_add_test(tc, test_suppress_valgrind_glob);
    suite_add_tcase(s, tc);
    tc = tcase_create("matching");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_suppress_lsan_function_file_module);
    tcase_add_test(tc, test_suppress_valgrind_frames);
    tcase_add_test(tc, test_suppress_valgrind_dots);
    tcase_add_test(tc, test_suppress_valgrind_inlined);
    tcase_add_test(tc, test_suppress_valgrind_obj_src);
    tcase_add_test(tc, test_suppress_valgrind_kinds);
    tcase_add_test(tc, test_suppress_valgrind_mangled);
    tcase_add_test(tc, test_suppress_valgrind_gcc_clones);
    tcase_add_test(tc, test_suppress_mixed_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("malformed");
    tcase_add_test(tc, test_suppress_malformed);
    tcase_add_test(tc, test_suppress_odd_kind_lines);
    tcase_add_test(tc, test_suppress_too_many_frames);
    tcase_add_test(tc, test_suppress_load_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(suppress_suite());
}
