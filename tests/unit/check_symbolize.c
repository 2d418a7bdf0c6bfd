/* check_symbolize.c - Check suite "symbolize": this test program records
 * return addresses of calls made at known lines (in a plain function and
 * through an always_inline function), writes them as a raw snapshot of
 * its own executable, and checks what tm_symbolize() finds: function,
 * file, line by the minus-one rule, the inlined chain, module+offset for
 * unknown modules, and a build-id mismatch left unsymbolized with a
 * warning. Built with -g -O0 so lines are exact.
 */
#include "config.h"
#include "suite_main.h"

/* make's CFLAGS (-O2 by default) come after the per-target -O0: force it,
 * so that every call stays a call at its own line. */
#pragma GCC optimize("O0")

#include <check.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/symbolize.h"

static uintptr_t ra[2];
static int line_plain, line_inline, line_caller;

__attribute__((noinline, noipa)) static void record(int i)
{
    ra[i] = (uintptr_t)__builtin_return_address(0);
}

__attribute__((noinline, noipa)) static void plain_caller(void)
{
    line_plain = __LINE__ + 1;
    record(0);
}

static inline __attribute__((always_inline)) void inlined_callee(void)
{
    line_inline = __LINE__ + 1;
    record(1);
}

__attribute__((noinline, noipa)) static void outer_caller(void)
{
    line_caller = __LINE__ + 1;
    inlined_callee();
}

static int first_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uintptr_t *)arg = info->dlpi_addr;
    return 1;
}

/* A raw snapshot of this executable with frames at ra[0], ra[1] and an
 * address outside any module. */
static tm_snapshot *raw_snapshot(const char *build_id)
{
    char *self = realpath("/proc/self/exe", NULL);
    uintptr_t base = 0;
    tm_snapshot *s;
    tm_error err = {""};
    json_t *root;

    plain_caller();
    outer_caller();
    dl_iterate_phdr(first_module, &base);
    root = json_pack("{s:s, s:i, s:[{s:s, s:s, s:I, s:i}],"
                     " s:[{s:i, s:I}, {s:i, s:I}, {s:i, s:I}],"
                     " s:[{s:[i, i, i], s:i}], s:[{s:i, s:i, s:i, s:i}],"
                     " s:b}",
                     "format", "tracemem-snapshot", "version", 1, "modules", "path", self, "build_id",
                     build_id, "base", (json_int_t)base, "size", 1 << 20, "frames", "module", 0, "offset",
                     (json_int_t)(ra[0] - base), "module", 0, "offset", (json_int_t)(ra[1] - base), "module",
                     -1, "offset", (json_int_t)0x1234, "stacks", "frames", 0, 1, 2, "depth", 3, "traces",
                     "stack", 0, "domain", 0, "size", 8, "count", 1, "symbolized", 0);
    free(self);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(tm_snapshot_from_json(root, "self.json", &s, &err), 0);
    json_decref(root);
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

START_TEST(test_symbolize_function_file_line)
{
    tm_snapshot *s = raw_snapshot("");
    tm_error err = {""};
    const tm_frame *f;

    ck_assert_int_eq(tm_symbolize(s, 0, stderr, &err), 0);
    ck_assert(s->symbolized);
    f = &s->frames[0];
    ck_assert_str_eq(f->loc.function, "plain_caller");
    ck_assert(ends_with(f->loc.file, "tests/unit/check_symbolize.c"));
    ck_assert_int_eq(f->loc.line, line_plain);
    ck_assert_uint_eq(f->ninlined, 0);
    ck_assert(json_is_true(json_object_get(s->root, "symbolized")));
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_symbolize_inlined_chain)
{
    tm_snapshot *s = raw_snapshot("");
    tm_error err = {""};
    const tm_frame *f;

    ck_assert_int_eq(tm_symbolize(s, 0, stderr, &err), 0);
    f = &s->frames[1];
    ck_assert_str_eq(f->loc.function, "inlined_callee");
    ck_assert_int_eq(f->loc.line, line_inline);
    ck_assert_uint_eq(f->ninlined, 1);
    ck_assert_str_eq(f->inlined[0].function, "outer_caller");
    ck_assert(ends_with(f->inlined[0].file, "check_symbolize.c"));
    ck_assert_int_eq(f->inlined[0].line, line_caller);
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_symbolize_unknown_module_kept)
{
    tm_snapshot *s = raw_snapshot("");
    tm_error err = {""};

    ck_assert_int_eq(tm_symbolize(s, 0, stderr, &err), 0);
    ck_assert_int_eq(s->frames[2].module, -1);
    ck_assert_uint_eq(s->frames[2].offset, 0x1234);
    ck_assert_ptr_null(s->frames[2].loc.function);
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_symbolize_build_id_mismatch)
{
    tm_snapshot *s = raw_snapshot("00112233445566778899aabbccddeeff00112233");
    tm_error err = {""};
    char *out = NULL;
    size_t len = 0;
    FILE *warn = open_memstream(&out, &len);

    ck_assert_int_eq(tm_symbolize(s, 0, warn, &err), 0);
    fclose(warn);
    ck_assert_ptr_null(s->frames[0].loc.function);
    ck_assert_ptr_nonnull(strstr(out, "changed since the run"));
    ck_assert_ptr_nonnull(strstr(out, "tracemem: self.json: module /"));
    ck_assert_ptr_nonnull(strchr(out, '\n'));
    ck_assert_ptr_null(strchr(out, '\n') + 1 < out + len ? strchr(strchr(out, '\n') + 1, '\n') : NULL);
    free(out);
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_symbolize_skips_symbolized)
{
    tm_snapshot *s = raw_snapshot("");
    tm_error err = {""};

    json_object_set_new(s->root, "symbolized", json_true());
    ck_assert_int_eq(tm_snapshot_reindex(s, &err), 0);
    ck_assert_int_eq(tm_symbolize(s, 0, stderr, &err), 0);
    ck_assert_ptr_null(s->frames[0].loc.function);
    ck_assert_int_eq(tm_symbolize(s, 1, stderr, &err), 0);
    ck_assert_str_eq(s->frames[0].loc.function, "plain_caller");
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_symbolize_module_loaded_twice)
{
    /* a library loaded again after dlclose: two entries, one file */
    tm_snapshot *s = raw_snapshot("");
    tm_error err = {""};
    json_t *mods = json_object_get(s->root, "modules");
    json_t *again = json_deep_copy(json_array_get(mods, 0));
    json_t *frames = json_object_get(s->root, "frames");

    json_object_set_new(again, "base", json_integer(0x10000));
    json_array_append_new(mods, again);
    json_array_append_new(
        frames, json_pack("{s:i, s:I}", "module", 1, "offset",
                          json_integer_value(json_object_get(json_array_get(frames, 0), "offset"))));
    ck_assert_int_eq(tm_snapshot_reindex(s, &err), 0);
    ck_assert_int_eq(tm_symbolize(s, 0, stderr, &err), 0);
    ck_assert_str_eq(s->frames[3].loc.function, "plain_caller");
    ck_assert_int_eq(s->frames[3].loc.line, line_plain);
    ck_assert_str_eq(s->frames[0].loc.function, "plain_caller");
    tm_snapshot_free(s);
}
END_TEST

START_TEST(test_symbolize_cache_shared_by_snapshots)
{
    /* two snapshots of one run through one cache: the second is served
     * from the cache with the same answers; a warning is said once */
    tm_snapshot *a = raw_snapshot(""), *b = raw_snapshot(""), *c, *d;
    tm_symcache *cache = tm_symcache_new();
    tm_error err = {""};
    size_t added = 99;
    char *out = NULL;
    size_t len = 0;
    FILE *warn = open_memstream(&out, &len);

    ck_assert_ptr_nonnull(cache);
    ck_assert_int_eq(tm_symbolize_cached(a, 0, cache, warn, &added, &err), 0);
    ck_assert_uint_eq(added, 2); /* the unknown module's frame gets nothing */
    ck_assert_int_eq(tm_symbolize_cached(b, 0, cache, warn, &added, &err), 0);
    ck_assert_uint_eq(added, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_str_eq(a->frames[i].loc.function, b->frames[i].loc.function);
        ck_assert_str_eq(a->frames[i].loc.file, b->frames[i].loc.file);
        ck_assert_int_eq(a->frames[i].loc.line, b->frames[i].loc.line);
        ck_assert_uint_eq(a->frames[i].ninlined, b->frames[i].ninlined);
    }
    ck_assert_str_eq(b->frames[1].inlined[0].function, "outer_caller");
    ck_assert_int_eq(b->frames[1].inlined[0].line, line_caller);
    /* symbolized already: nothing more to add, even when forced */
    ck_assert_int_eq(tm_symbolize_cached(b, 1, cache, warn, &added, &err), 0);
    ck_assert_uint_eq(added, 0);
    /* a module that changed: one warning for two snapshots */
    c = raw_snapshot("00112233445566778899aabbccddeeff00112233");
    d = raw_snapshot("00112233445566778899aabbccddeeff00112233");
    ck_assert_int_eq(tm_symbolize_cached(c, 0, cache, warn, &added, &err), 0);
    ck_assert_int_eq(tm_symbolize_cached(d, 0, cache, warn, &added, &err), 0);
    ck_assert_uint_eq(added, 0);
    fclose(warn);
    ck_assert_ptr_nonnull(strstr(out, "changed since the run"));
    ck_assert_ptr_null(strstr(strstr(out, "changed since the run") + 1, "changed since the run"));
    free(out);
    tm_symcache_free(cache);
    tm_snapshot_free(a);
    tm_snapshot_free(b);
    tm_snapshot_free(c);
    tm_snapshot_free(d);
}
END_TEST

static Suite *symbolize_suite(void)
{
    Suite *s = suite_create("symbolize");
    TCase *tc = tcase_create("dwarf");

    tcase_add_test(tc, test_symbolize_function_file_line);
    tcase_add_test(tc, test_symbolize_inlined_chain);
    tcase_add_test(tc, test_symbolize_unknown_module_kept);
    tcase_add_test(tc, test_symbolize_build_id_mismatch);
    tcase_add_test(tc, test_symbolize_skips_symbolized);
    tcase_add_test(tc, test_symbolize_module_loaded_twice);
    tcase_add_test(tc, test_symbolize_cache_shared_by_snapshots);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(symbolize_suite());
}
