/* shim_allocfns.c - every allocation function of SPEC 3, printing what it
 * observes (never an address), so that a run under the shim can be compared
 * line by line with an untraced run.
 *
 * Blocks left live at exit, allocated directly by main() (sizes chosen to be
 * unique; shim_allocfns.sh checks them in the snapshot):
 *   malloc 1111, calloc 7x301 = 2107, realloc(NULL) 1313, realloc grown to
 *   1414, failed realloc keeps 1616, reallocarray(NULL) 17x100 = 1700,
 *   failed reallocarray keeps 1750, posix_memalign 1818, aligned_alloc 1920,
 *   memalign 2020, valloc 2121, pvalloc(100) = one page, pvalloc(5000) =
 *   two pages.
 * Freed again: realloc(p, 0) of 1515, and everything else. */
/* configure's CFLAGS (-O2 by default) come after per-target flags: keep the
 * calls and frames this test counts on whatever they are. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not static: a static that is only written is dropped by the compiler,
 * and the blocks must stay reachable (leak scan: reachable, not definite). */
void *shim_keep[32];
static int nkeep;

static void show(const char *what, long value)
{
    printf("%s: %ld\n", what, value);
}

static void show_errno(const char *what, const void *p, int err)
{
    printf("%s: %s errno=%s\n", what, p ? "ptr" : "NULL", err == 0 ? "0" : strerror(err));
}

static int aligned(const void *p, size_t a)
{
    return ((uintptr_t)p % a) == 0;
}

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p, *q;
    int rc;
    /* Large enough to fail on any machine, small enough not to overflow. */
    size_t huge = SIZE_MAX / 2;

    setvbuf(stdout, NULL, _IOFBF, 1 << 16);

    /* malloc */
    p = malloc(1111);
    memset(p, 1, 1111);
    shim_keep[nkeep++] = p;
    show("malloc usable 1111", (long)malloc_usable_size(p));
    p = malloc(0);
    show("malloc(0) non-NULL", p != NULL);
    free(p);
    errno = 0;
    p = malloc(huge);
    show_errno("malloc(huge)", p, errno);

    /* calloc: zeroed, overflow */
    p = malloc(4000);
    memset(p, 0xab, 4000);
    free(p);
    p = calloc(7, 301);
    {
        int zero = 1;
        for (size_t i = 0; i < 7 * 301; i++)
            zero &= ((unsigned char *)p)[i] == 0;
        show("calloc zeroed", zero);
    }
    shim_keep[nkeep++] = p;
    errno = 0;
    p = calloc(huge, 4);
    show_errno("calloc overflow", p, errno);
    errno = 0;
    {
        volatile size_t max = SIZE_MAX; /* no compile-time warning */
        p = calloc(max, max);
    }
    show_errno("calloc overflow max", p, errno);
    p = calloc(0, 10);
    show("calloc(0,10) non-NULL", p != NULL);
    free(p);

    /* realloc */
    p = realloc(NULL, 1313);
    show("realloc(NULL,1313) non-NULL", p != NULL);
    shim_keep[nkeep++] = p;
    p = malloc(100);
    memcpy(p, "0123456789", 10);
    p = realloc(p, 1414);
    show("realloc grow kept data", memcmp(p, "0123456789", 10) == 0);
    shim_keep[nkeep++] = p;
    p = malloc(1515);
    errno = 0;
    q = realloc(p, 0);
    show_errno("realloc(p,0)", q, errno);
    free(q);
    p = malloc(1616);
    memcpy(p, "keep me", 8);
    errno = 0;
    q = realloc(p, huge);
    show_errno("realloc(p,huge)", q, errno);
    show("failed realloc kept data", q == NULL && strcmp(p, "keep me") == 0);
    shim_keep[nkeep++] = q ? q : p;
    p = malloc(50);
    q = realloc(p, 20);
    show("realloc shrink non-NULL", q != NULL);
    free(q);

    /* reallocarray */
    p = reallocarray(NULL, 17, 100);
    show("reallocarray(NULL,17,100) non-NULL", p != NULL);
    shim_keep[nkeep++] = p;
    p = malloc(1750);
    errno = 0;
    q = reallocarray(p, huge, 4);
    show_errno("reallocarray overflow", q, errno);
    show("reallocarray overflow kept block", q == NULL && malloc_usable_size(p) >= 1750);
    shim_keep[nkeep++] = q ? q : p;

    /* posix_memalign */
    p = NULL;
    errno = 0;
    rc = posix_memalign(&p, 64, 1818);
    show("posix_memalign(64) rc", rc);
    show("posix_memalign(64) aligned", aligned(p, 64));
    show("posix_memalign errno untouched", errno);
    shim_keep[nkeep++] = p;
    q = (void *)0x1;
    rc = posix_memalign(&q, 3, 16);
    show("posix_memalign(3) rc is EINVAL", rc == EINVAL);
    show("posix_memalign(3) left ptr", q == (void *)0x1);
    rc = posix_memalign(&q, sizeof(void *) * 3, 16);
    show("posix_memalign(24) rc is EINVAL", rc == EINVAL);
    rc = posix_memalign(&q, 0, 16);
    show("posix_memalign(0) rc is EINVAL", rc == EINVAL);
    rc = posix_memalign(&q, 64, huge);
    show("posix_memalign(64,huge) rc is ENOMEM", rc == ENOMEM);

    /* aligned_alloc */
    errno = 0;
    p = aligned_alloc(64, 1920);
    show("aligned_alloc(64) aligned", p && aligned(p, 64));
    shim_keep[nkeep++] = p;
    errno = 0;
    q = aligned_alloc(3, 16);
    show_errno("aligned_alloc(3)", q, errno);
    free(q);
    errno = 0;
    q = aligned_alloc(SIZE_MAX / 2 + 2, 16);
    show_errno("aligned_alloc(huge align)", q, errno);

    /* memalign */
    p = memalign(64, 2020);
    show("memalign(64) aligned", p && aligned(p, 64));
    shim_keep[nkeep++] = p;
    errno = 0;
    q = memalign(SIZE_MAX / 2 + 2, 16);
    show_errno("memalign(huge align)", q, errno);
    errno = 0;
    q = memalign(48, 16); /* glibc rounds a non-power-of-two alignment up */
    show("memalign(48) aligned to 64", q && aligned(q, 64));
    free(q);

    /* valloc, pvalloc */
    p = valloc(2121);
    show("valloc page aligned", p && aligned(p, page));
    shim_keep[nkeep++] = p;
    p = pvalloc(100);
    show("pvalloc(100) page aligned", p && aligned(p, page));
    show("pvalloc(100) usable >= page", malloc_usable_size(p) >= page);
    shim_keep[nkeep++] = p;
    p = pvalloc(5000);
    show("pvalloc(5000) usable >= 2 pages", malloc_usable_size(p) >= 2 * page);
    shim_keep[nkeep++] = p;
    errno = 0;
    q = pvalloc(SIZE_MAX - 10);
    show_errno("pvalloc(SIZE_MAX-10)", q, errno);

    /* malloc_usable_size */
    show("malloc_usable_size(NULL)", (long)malloc_usable_size(NULL));
    p = malloc(100);
    show("malloc_usable_size(malloc(100))", (long)malloc_usable_size(p));
    free(p);

    /* free keeps errno */
    p = malloc(300);
    errno = 4242;
    free(p);
    show("errno after free", errno);
    errno = 4243;
    free(NULL);
    show("errno after free(NULL)", errno);
    p = malloc(1 << 20); /* mmapped chunk: munmap must not leak errno either */
    errno = 4244;
    free(p);
    show("errno after free(mmapped)", errno);

    /* successful calls leave errno alone (the shim's bookkeeping too) */
    errno = 4245;
    p = malloc(10);
    q = calloc(2, 10);
    p = realloc(p, 5000);
    q = realloc(q, 8);
    free(p);
    free(q);
    p = memalign(32, 10);
    free(p);
    show("errno after successful calls", errno);

    show("blocks kept", nkeep);
    fflush(stdout);
    return 0;
}
