/* check_fold.c - Check suite "fold": which frames are allocation frames,
 * how stacks are folded (within a return address's inlined chain and
 * across return addresses), what is left whole, and the shortening of
 * template names (report/fold.h).
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "report/fold.h"
#include "report/stats.h"

/* modules: 0 the program, 1 libstdc++; frames: see each stack */
static const char doc[] =
    "{\"format\": \"tracemem-snapshot\", \"version\": 1, \"symbolized\": true,"
    " \"process\": {\"pid\": 1, \"ppid\": 0, \"exe\": \"/app\", \"argv\": [\"app\"]},"
    " \"snapshot\": {\"seq\": 0, \"time\": \"2026-01-01T00:00:00Z\", \"reason\": \"exit\","
    "  \"nframes\": 64, \"sampling_bytes\": 0},"
    " \"memory\": {\"current\": 0, \"peak\": 0, \"blocks\": 0, \"overhead\": 0, \"lost_records\": 0},"
    " \"modules\": [{\"path\": \"/app\", \"build_id\": \"\", \"base\": 4096, \"size\": 65536},"
    "  {\"path\": \"/usr/lib/libstdc++.so.6\", \"build_id\": \"\", \"base\": 1048576, \"size\": 65536}],"
    " \"frames\": ["
    /* 0: allocate inlined into _M_realloc_insert inlined into put() */
    "  {\"module\": 0, \"offset\": 16, \"function\": \"std::__new_allocator<double>::allocate(unsigned long, void const*)\","
    "   \"file\": \"/usr/include/c++/12/bits/new_allocator.h\", \"line\": 137, \"inlined\": ["
    "   {\"function\": \"void std::vector<double, std::allocator<double> >::_M_realloc_insert<double>(int)\","
    "    \"file\": \"/usr/include/c++/12/bits/vector.tcc\", \"line\": 453},"
    "   {\"function\": \"put(int)\", \"file\": \"/src/put.cc\", \"line\": 7}]},"
    /* 1: main */
    "  {\"module\": 0, \"offset\": 32, \"function\": \"main\", \"file\": \"/src/main.cc\", \"line\": 3},"
    /* 2: out-of-line std::string::_M_construct in libstdc++, no lines */
    "  {\"module\": 1, \"offset\": 48, \"function\": \"std::__cxx11::basic_string<char>::_M_construct(unsigned long, char)\"},"
    /* 3: xmalloc, 4: my_alloc, 5: an unknown frame */
    "  {\"module\": 0, \"offset\": 64, \"function\": \"xmalloc\", \"file\": \"/src/x.c\", \"line\": 2},"
    "  {\"module\": 0, \"offset\": 80, \"function\": \"my_alloc(unsigned long)\", \"file\": \"/src/x.c\", \"line\": 9},"
    "  {\"module\": 0, \"offset\": 96},"
    /* 6: a user comparator called by std::sort (stops folding) */
    "  {\"module\": 0, \"offset\": 112, \"function\": \"by_name(Item const&, Item const&)\", \"file\": \"/src/sort.cc\", \"line\": 4},"
    "  {\"module\": 0, \"offset\": 128, \"function\": \"void std::__sort<Item*>(Item*, Item*)\","
    "   \"file\": \"/usr/include/c++/12/bits/stl_algo.h\", \"line\": 1950}"
    " ],"
    " \"stacks\": ["
    "  {\"frames\": [0, 1], \"depth\": 2},"    /* 0: cut inside frame 0 */
    "  {\"frames\": [2, 1], \"depth\": 5},"    /* 1: libstdc++ frame dropped */
    "  {\"frames\": [3, 4, 1], \"depth\": 3}," /* 2: xmalloc dropped; my_alloc with --alloc-fn */
    "  {\"frames\": [5, 3, 1], \"depth\": 3}," /* 3: unknown frame before xmalloc: folded */
    "  {\"frames\": [3, 2], \"depth\": 2},"    /* 4: allocation frames only: whole */
    "  {\"frames\": [6, 7, 1], \"depth\": 3}," /* 5: a user frame first: whole */
    "  {\"frames\": [], \"depth\": 0},"
    "  {\"frames\": [5, 1], \"depth\": 2}"     /* 7: unknown, then main: whole */
    " ],"
    " \"traces\": [], \"leaks\": {\"checked\": false, \"summary\": {"
    "  \"definite\": {\"bytes\": 0, \"blocks\": 0}, \"indirect\": {\"bytes\": 0, \"blocks\": 0},"
    "  \"possible\": {\"bytes\": 0, \"blocks\": 0}, \"reachable\": {\"bytes\": 0, \"blocks\": 0}},"
    "  \"stacks\": []}}";

static tm_snapshot *snap;

static void setup(void)
{
    json_error_t jerr;
    json_t *root = json_loads(doc, 0, &jerr);
    tm_error err = {""};

    ck_assert_msg(root != NULL, "test document: %s (line %d)", jerr.text, jerr.line);
    if (tm_snapshot_from_json(root, "fold.json", &snap, &err))
        ck_abort_msg("test document: %s", err.what);
    json_decref(root);
}

static void teardown(void)
{
    tm_snapshot_free(snap);
}

/* The first logical frame of stack 'i' as "function file:line". */
static const char *top_of(size_t i, char *buf, size_t len)
{
    const tm_stack *st = &snap->stacks[i];
    const tm_location *l;

    if (!st->nframes)
        return "[no frames]";
    l = &tm_stack_frame(snap, st, 0)->loc;
    snprintf(buf, len, "%s %s:%lld", l->function ? l->function : "??", l->file ? l->file : "?",
             (long long)l->line);
    return buf;
}

START_TEST(test_fold_alloc_frames)
{
    tm_view_opts o;
    const char *pat[] = {"my_alloc"};

    tm_view_opts_init(&o);
    /* the header's allocator, a container's internals (with a return type) */
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[0], -1, &o), 1);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[0], 0, &o), 1);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[0], 1, &o), 0);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[2], -1, &o), 1);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[3], -1, &o), 1);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[4], -1, &o), 0);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[5], -1, &o), 0);
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[1], -1, &o), 0);
    /* a pattern matches the name without its parameters */
    o.alloc_fns = pat;
    o.nalloc_fns = 1;
    ck_assert_int_eq(tm_fold_is_alloc(snap, &snap->frames[4], -1, &o), 1);
}
END_TEST

START_TEST(test_fold_stacks)
{
    tm_view_opts o;
    char buf[512];
    size_t nraw = snap->nframes;

    tm_view_opts_init(&o);
    ck_assert_int_eq(tm_snapshot_fold(snap, &o), 0);
    ck_assert_ptr_nonnull(snap->raw_stacks);
    /* cut inside a return address: a new frame starting at put() */
    ck_assert_str_eq(top_of(0, buf, sizeof buf), "put(int) /src/put.cc:7");
    ck_assert_uint_eq(snap->stacks[0].nframes, 2);
    ck_assert_uint_eq(snap->stacks[0].frames[0], nraw);
    ck_assert_uint_eq(snap->frames[nraw].ninlined, 0);
    ck_assert_uint_eq(snap->frames[nraw].offset, 16);
    /* a whole return address dropped; depth follows */
    ck_assert_str_eq(top_of(1, buf, sizeof buf), "main /src/main.cc:3");
    ck_assert_uint_eq(snap->stacks[1].depth, 4);
    ck_assert_str_eq(top_of(2, buf, sizeof buf), "my_alloc(unsigned long) /src/x.c:9");
    /* a frame without a name before an allocation function is its helper */
    ck_assert_str_eq(top_of(3, buf, sizeof buf), "main /src/main.cc:3");
    ck_assert_uint_eq(snap->stacks[3].depth, 1);
    /* left whole: no allocation frame, only allocation frames, user first */
    ck_assert_uint_eq(snap->stacks[7].nframes, 2);
    ck_assert_uint_eq(snap->stacks[4].nframes, 2);
    ck_assert_str_eq(top_of(5, buf, sizeof buf), "by_name(Item const&, Item const&) /src/sort.cc:4");
    ck_assert_uint_eq(snap->stacks[6].nframes, 0);
    /* the recorded stacks are kept */
    ck_assert_uint_eq(tm_snapshot_raw_stack(snap, 0)->frames[0], 0);
    ck_assert_uint_eq(tm_snapshot_raw_stack(snap, 2)->nframes, 3);
}
END_TEST

START_TEST(test_fold_user_pattern_and_keep)
{
    tm_view_opts o;
    const char *pat[] = {"my_*"};
    char buf[512];

    tm_view_opts_init(&o);
    o.alloc_fns = pat;
    o.nalloc_fns = 1;
    ck_assert_int_eq(tm_snapshot_fold(snap, &o), 0);
    ck_assert_str_eq(top_of(2, buf, sizeof buf), "main /src/main.cc:3");
    teardown();
    setup();
    o.keep_alloc_frames = 1;
    ck_assert_int_eq(tm_snapshot_fold(snap, &o), 0);
    ck_assert_ptr_null(snap->raw_stacks);
    ck_assert_str_eq(top_of(2, buf, sizeof buf), "xmalloc /src/x.c:2");
}
END_TEST

START_TEST(test_fold_shorten_templates)
{
    static const struct {
        const char *in, *want;
    } c[] = {
        {"std::map<int, std::vector<double> >::find(int const&)", "std::map<>::find(int const&)"},
        {"std::__new_allocator<std::pair<int const, std::string> >::allocate(unsigned long, void const*)",
         "std::__new_allocator<>::allocate(unsigned long, void const*)"},
        {"void std::vector<int>::_M_realloc_insert<int const&>(__gnu_cxx::__normal_iterator<int*, std::vector<int> >, "
         "int const&)",
         "void std::vector<>::_M_realloc_insert<>(__gnu_cxx::__normal_iterator<>, int const&)"},
        {"std::ostream& std::operator<< <std::char_traits<char> >(std::ostream&, char const*)",
         "std::ostream& std::operator<< <>(std::ostream&, char const*)"},
        {"bool operator<(A const&, A const&)", "bool operator<(A const&, A const&)"},
        {"Ptr<T>::operator->() const", "Ptr<>::operator->() const"},
        {"operator<=>(A, A)", "operator<=>(A, A)"},
        {"plain_c_function", "plain_c_function"},
        {"broken<unbalanced", "broken<>"},
    };
    char buf[512];

    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        ck_assert_str_eq(tm_shorten_templates(c[i].in, buf, sizeof buf), c[i].want);
    /* never past the buffer */
    ck_assert_str_eq(tm_shorten_templates("abcdef<x>", buf, 4), "abc");
}
END_TEST

START_TEST(test_fold_view_name)
{
    tm_view_opts o;
    char buf[512];
    const char *longname = "ns::very_long_function_name_that_goes_on_and_on_and_on(int, char const*, double)";

    tm_view_opts_init(&o);
    o.name_width = 40;
    ck_assert_int_eq(tm_snapshot_fold(snap, &o), 0);
    ck_assert_str_eq(tm_view_name(snap, "std::map<int, int>::at(int)", buf, sizeof buf), "std::map<>::at(int)");
    ck_assert_uint_eq(strlen(tm_view_name(snap, longname, buf, sizeof buf)), 40);
    ck_assert_ptr_nonnull(strstr(buf, "..."));
    ck_assert_int_eq(strncmp(buf, "ns::", 4), 0);
    ck_assert_int_eq(strcmp(buf + 40 - 7, "double)"), 0);
    snap->full_names = 1;
    ck_assert_str_eq(tm_view_name(snap, longname, buf, sizeof buf), longname);
}
END_TEST

static Suite *fold_suite(void)
{
    Suite *s = suite_create("fold");
    TCase *tc = tcase_create("rule");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fold_alloc_frames);
    tcase_add_test(tc, test_fold_stacks);
    tcase_add_test(tc, test_fold_user_pattern_and_keep);
    suite_add_tcase(s, tc);
    tc = tcase_create("names");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fold_shorten_templates);
    tcase_add_test(tc, test_fold_view_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(fold_suite());
}
