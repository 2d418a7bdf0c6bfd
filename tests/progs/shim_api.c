/* shim_api.c - the in-program API of tracemem.h (tracemalloc semantics).
 *
 * usage: shim_api MODE DIR
 *   MODE traced    shim preloaded, TRACEMEM_START=1 (default)
 *        deferred  shim preloaded, TRACEMEM_START=0
 *        absent    no shim: the weak symbols are NULL, calls are no-ops
 * Snapshots asked for go to DIR/api.json and DIR/api2.json. Each check
 * prints "ok: what" or "FAIL: what (got X)"; the exit status is the number
 * of failures (0 = all passed). */
/* configure's CFLAGS (-O2 by default) come after per-target flags: keep the
 * calls and frames this test counts on whatever they are. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracemem.h"

static int failures;

static void check(int ok, const char *what, long got)
{
    if (ok)
        printf("ok: %s\n", what);
    else
        printf("FAIL: %s (got %ld)\n", what, got);
    failures += !ok;
}

#define CHECK_EQ(expr, want)                                                                       \
    do {                                                                                           \
        long got_ = (long)(expr);                                                                  \
        check(got_ == (long)(want), #expr " == " #want, got_);                                     \
    } while (0)

static size_t cur(void)
{
    size_t c, p;
    tracemem_get_traced_memory(&c, &p);
    return c;
}

static size_t peak(void)
{
    size_t c, p;
    tracemem_get_traced_memory(&c, &p);
    return p;
}

__attribute__((noinline)) void *api_alloc_here(size_t n)
{
    return malloc(n);
}

static size_t section_fn(char *buf, size_t cap, void *arg)
{
    /* A value longer than a first small buffer would hold is fine: the
     * shim asks again with a bigger one. */
    return (size_t)snprintf(buf, cap, "{\"answer\":%d,\"pad\":\"%0200d\"}", *(int *)arg, 0);
}

static void traced(const char *dir)
{
    char path[4096], path2[4096];
    snprintf(path, sizeof(path), "%s/api.json", dir);
    snprintf(path2, sizeof(path2), "%s/api2.json", dir);

    CHECK_EQ(tracemem_available(), 1);
    CHECK_EQ(tracemem_is_tracing(), 1);
    CHECK_EQ(tracemem_get_traceback_limit(), 64);
    CHECK_EQ(tracemem_start(0), -EINVAL);
    CHECK_EQ(tracemem_start(257), -EINVAL);
    CHECK_EQ(tracemem_start(10), 0); /* already tracing: no change */
    CHECK_EQ(tracemem_get_traceback_limit(), 64);
    check(tracemem_get_overhead_memory() > 0, "overhead > 0", (long)tracemem_get_overhead_memory());

    /* current/peak, exactly (this thread is the only one allocating) */
    tracemem_clear_traces();
    CHECK_EQ(cur(), 0);
    CHECK_EQ(peak(), 0);
    void *a = api_alloc_here(1000);
    CHECK_EQ(cur(), 1000);
    CHECK_EQ(peak(), 1000);
    void *b = malloc(500);
    CHECK_EQ(cur(), 1500);
    CHECK_EQ(peak(), 1500);
    free(b);
    CHECK_EQ(cur(), 1000);
    CHECK_EQ(peak(), 1500);
    tracemem_reset_peak();
    CHECK_EQ(peak(), 1000);
    b = realloc(NULL, 300);
    b = realloc(b, 200);
    CHECK_EQ(cur(), 1200);
    CHECK_EQ(peak(), 1300);

    /* object traceback: innermost frame is the caller of malloc */
    void *frames[8];
    int n = tracemem_get_object_traceback(a, frames, 8);
    check(n >= 2, "traceback of a traced block has frames", n);
    Dl_info di;
    int named = n > 0 && dladdr(frames[0], &di) && di.dli_sname && strcmp(di.dli_sname, "api_alloc_here") == 0;
    check(named, "innermost frame is in api_alloc_here", n);
    CHECK_EQ(tracemem_get_object_traceback(a, frames, 1), 1);
    int local;
    CHECK_EQ(tracemem_get_object_traceback(&local, frames, 8), -1);
    CHECK_EQ(tracemem_get_object_traceback((char *)a + 8, frames, 8), -1);

    /* domains */
    CHECK_EQ(tracemem_track(5, 0x1000, 300), 0);
    CHECK_EQ(cur(), 1500);
    CHECK_EQ(tracemem_track(5, 0x1000, 400), 0); /* replaces */
    CHECK_EQ(cur(), 1600);
    CHECK_EQ(tracemem_track(6, 0x1000, 50), 0); /* same address, other domain */
    CHECK_EQ(cur(), 1650);
    CHECK_EQ(tracemem_untrack(6, 0x1000), 0);
    CHECK_EQ(tracemem_untrack(6, 0x1000), -ENOENT);
    CHECK_EQ(tracemem_untrack(7, 0x2000), -ENOENT);
    CHECK_EQ(cur(), 1600);
    /* domain 0 is the heap: a tracked block behaves like a malloc'd one */
    static char arena[64];
    CHECK_EQ(tracemem_track(0, (uintptr_t)arena, 64), 0);
    CHECK_EQ(cur(), 1664);
    check(tracemem_get_object_traceback(arena, frames, 8) >= 1, "traceback of a block tracked in domain 0", 0);
    CHECK_EQ(tracemem_untrack(0, (uintptr_t)arena), 0);
    CHECK_EQ(tracemem_untrack(0, (uintptr_t)arena), -ENOENT);
    CHECK_EQ(tracemem_get_object_traceback(arena, frames, 8), -1);
    CHECK_EQ(cur(), 1600);

    /* sections */
    static int answer = 42;
    CHECK_EQ(tracemem_add_section("", section_fn, &answer), -EINVAL);
    CHECK_EQ(tracemem_add_section("memory", section_fn, &answer), -EINVAL);
    CHECK_EQ(tracemem_add_section("bad name", section_fn, &answer), -EINVAL);
    CHECK_EQ(tracemem_add_section(NULL, section_fn, &answer), -EINVAL);
    CHECK_EQ(tracemem_add_section("myext", section_fn, &answer), 0);

    /* snapshot: a 1000-byte block (in api_alloc_here), 200 and domain 5 */
    CHECK_EQ(tracemem_take_snapshot(path), 0);
    CHECK_EQ(tracemem_take_snapshot("/nonexistent-dir/x/api.json"), -ENOENT);

    /* stop: no traces, no figures, nothing answers */
    tracemem_stop();
    CHECK_EQ(tracemem_is_tracing(), 0);
    CHECK_EQ(cur(), 0);
    CHECK_EQ(peak(), 0);
    CHECK_EQ(tracemem_get_object_traceback(a, frames, 8), -1);
    CHECK_EQ(tracemem_take_snapshot(path2), -ENOTSUP);
    CHECK_EQ(tracemem_track(5, 0x3000, 10), -ENOTSUP);
    CHECK_EQ(tracemem_untrack(5, 0x1000), -ENOTSUP);
    void *c = malloc(700);
    CHECK_EQ(cur(), 0);
    free(a); /* allocated while tracing, freed after stop: harmless */
    free(b);

    /* start again with another limit */
    CHECK_EQ(tracemem_start(3), 0);
    CHECK_EQ(tracemem_get_traceback_limit(), 3);
    CHECK_EQ(cur(), 0);
    free(c); /* allocated while stopped: not traced, figures unchanged */
    CHECK_EQ(cur(), 0);
    a = api_alloc_here(2222);
    CHECK_EQ(cur(), 2222);
    n = tracemem_get_object_traceback(a, frames, 8);
    CHECK_EQ(n, 3);
    CHECK_EQ(tracemem_take_snapshot(path2), 0);
    free(a);
    CHECK_EQ(cur(), 0);
    CHECK_EQ(peak(), 2222);
}

static void deferred(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/api.json", dir);
    CHECK_EQ(tracemem_available(), 1);
    CHECK_EQ(tracemem_is_tracing(), 0);
    void *a = malloc(1000);
    CHECK_EQ(cur(), 0);
    CHECK_EQ(tracemem_take_snapshot(path), -ENOTSUP);
    CHECK_EQ(tracemem_start(16), 0);
    CHECK_EQ(tracemem_is_tracing(), 1);
    CHECK_EQ(tracemem_get_traceback_limit(), 16);
    free(a); /* never traced */
    CHECK_EQ(cur(), 0);
    void *b = api_alloc_here(3333);
    CHECK_EQ(cur(), 3333);
    CHECK_EQ(tracemem_take_snapshot(path), 0);
    free(b);
}

static void absent(void)
{
    void *frames[4];
    size_t c = 1, p = 1;
    CHECK_EQ(tracemem_available(), 0);
    CHECK_EQ(tracemem_start(10), -ENOSYS);
    CHECK_EQ(tracemem_is_tracing(), 0);
    CHECK_EQ(tracemem_get_traceback_limit(), 0);
    tracemem_get_traced_memory(&c, &p);
    CHECK_EQ(c, 0);
    CHECK_EQ(p, 0);
    tracemem_clear_traces();
    tracemem_reset_peak();
    tracemem_stop();
    CHECK_EQ(tracemem_get_overhead_memory(), 0);
    CHECK_EQ(tracemem_take_snapshot("x.json"), -ENOSYS);
    void *a = malloc(10);
    CHECK_EQ(tracemem_get_object_traceback(a, frames, 4), -1);
    free(a);
    CHECK_EQ(tracemem_track(1, 0x1000, 10), -ENOSYS);
    CHECK_EQ(tracemem_untrack(1, 0x1000), -ENOSYS);
    CHECK_EQ(tracemem_leak_check(NULL), -ENOSYS);
    CHECK_EQ(tracemem_add_section("x", section_fn, NULL), -ENOSYS);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: shim_api traced|deferred|absent DIR\n");
        return 100;
    }
    if (strcmp(argv[1], "traced") == 0)
        traced(argv[2]);
    else if (strcmp(argv[1], "deferred") == 0)
        deferred(argv[2]);
    else
        absent();
    printf("failures: %d\n", failures);
    return failures;
}
