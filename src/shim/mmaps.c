/* mmaps.c - the program's anonymous mmap() and brk()/sbrk() memory, by
 * stack, in the domain TM_DOMAIN_MMAP.
 *
 * glibc's allocator, the dynamic loader and pthread_create() map their
 * memory with glibc's internal __mmap and move the break with __sbrk: what
 * reaches the interposed mmap/munmap/mremap/sbrk/brk (hooks.c) is the
 * program's own and that of its other libraries (CPython's pymalloc
 * arenas, custom allocators, JIT code). Each call that maps anonymous
 * memory is one block of its caller's stack; munmap() may free part of a
 * block, or several; mremap() moves a block and keeps its stack.
 *
 * Invariant: ranges[] is sorted by lo, the ranges are disjoint and
 * non-empty, and the sum of their sizes per stack is what the domain's
 * counters say is live. Guarded by the domain lock (held across fork). The
 * heap's figures (memory.current, peak) do not include this domain. */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <string.h>

struct map_range {
    uintptr_t lo, hi;
    uint32_t stack;
};

static struct map_range *ranges;
static size_t nranges, cap;

/* Index of the first range that ends after 'a'. */
static size_t first_after(uintptr_t a)
{
    size_t lo = 0, hi = nranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ranges[mid].hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int grow(void)
{
    if (nranges < cap)
        return 0;
    size_t ncap = cap ? cap * 2 : 256;
    struct map_range *fresh = tm__map_copy(ranges, cap * sizeof(*ranges), ncap * sizeof(*ranges));
    if (!fresh)
        return -1;
    tm__unmap(ranges, cap * sizeof(*ranges));
    ranges = fresh;
    cap = ncap;
    return 0;
}

static void remove_unlocked(uintptr_t lo, uintptr_t hi)
{
    size_t i = first_after(lo);
    while (i < nranges && ranges[i].lo < hi) {
        struct map_range *r = &ranges[i];
        uintptr_t a = r->lo > lo ? r->lo : lo, b = r->hi < hi ? r->hi : hi;
        tm__domain_adjust_unlocked(TM_DOMAIN_MMAP, r->stack, -(int64_t)(b - a), 0, 0);
        if (a == r->lo && b == r->hi) { /* all of it */
            tm__domain_adjust_unlocked(TM_DOMAIN_MMAP, r->stack, 0, -1, 0);
            memmove(r, r + 1, (nranges - i - 1) * sizeof(*r));
            nranges--;
            continue;
        }
        if (a > r->lo && b < r->hi) { /* a hole: two blocks now */
            if (grow() < 0) { /* keep the head only: never more than is mapped */
                tm__domain_adjust_unlocked(TM_DOMAIN_MMAP, r->stack, -(int64_t)(r->hi - b), 0, 0);
                r->hi = a;
                return;
            }
            r = &ranges[i];
            memmove(r + 2, r + 1, (nranges - i - 1) * sizeof(*r));
            nranges++;
            r[1] = (struct map_range){b, r->hi, r->stack};
            r->hi = a;
            tm__domain_adjust_unlocked(TM_DOMAIN_MMAP, r->stack, 0, 1, 0);
            return;
        }
        if (a == r->lo)
            r->lo = b;
        else
            r->hi = a;
        i++;
    }
}

static void add_unlocked(uintptr_t lo, uintptr_t hi, uint32_t stack)
{
    remove_unlocked(lo, hi); /* MAP_FIXED over an earlier mapping */
    if (grow() < 0) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    size_t i = first_after(lo);
    memmove(&ranges[i + 1], &ranges[i], (nranges - i) * sizeof(*ranges));
    ranges[i] = (struct map_range){lo, hi, stack};
    nranges++;
    tm__domain_adjust_unlocked(TM_DOMAIN_MMAP, stack, (int64_t)(hi - lo), 1, 1);
}

void tm__maps_add(uintptr_t lo, uintptr_t hi)
{
    if (hi <= lo)
        return;
    uint32_t stack = tm__capture_stack();
    if (!stack) {
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    tm__domain_lock();
    add_unlocked(lo, hi, stack);
    tm__domain_unlock();
}

void tm__maps_remove(uintptr_t lo, uintptr_t hi)
{
    if (hi <= lo)
        return;
    tm__domain_lock();
    if (nranges)
        remove_unlocked(lo, hi);
    tm__domain_unlock();
}

void tm__maps_move(uintptr_t old, size_t old_size, uintptr_t new, size_t new_size)
{
    tm__domain_lock();
    size_t i = first_after(old);
    if (i < nranges && ranges[i].lo <= old) {
        uint32_t stack = ranges[i].stack;
        remove_unlocked(old, old + old_size);
        add_unlocked(new, new + new_size, stack);
    }
    tm__domain_unlock();
}

void tm__maps_foreach_unlocked(void (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
    for (size_t i = 0; i < nranges; i++)
        fn(ranges[i].lo, ranges[i].hi, arg);
}
