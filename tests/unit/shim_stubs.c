/* shim_stubs.c - what the shim's core modules need from the hook side, for
 * unit tests that link them without preloading anything. tm__capture hands
 * out the frames a test put in stub_pcs. */
#include "shim/shim.h"
#include "shim_stubs.h"

#include <string.h>

struct tm__config tm__cfg = {.start = 1, .peak_inaccuracy = 1.0, .output = "tracemem.%e.%p.json"};
atomic_int tm__tracing = 1;
atomic_int tm__nframes = TM_DEFAULT_NFRAMES;
atomic_uint_fast64_t tm__lost;
uintptr_t stub_boot_lo, stub_boot_hi;

void tm__boot_range(uintptr_t *lo, uintptr_t *hi)
{
    *lo = stub_boot_lo;
    *hi = stub_boot_hi;
}
pid_t tm__pid = 1;

uintptr_t stub_pcs[TM_MAX_NFRAMES];
int stub_npcs;

int tm__capture(uintptr_t *pcs, int max, uint32_t *depth)
{
    int n = stub_npcs < max ? stub_npcs : max;
    memcpy(pcs, stub_pcs, (size_t)n * sizeof(*pcs));
    *depth = (uint32_t)stub_npcs;
    return n;
}

int tm__capture_memo(uintptr_t *pcs, int max, uint32_t *depth, struct tm__capture_memo *memo)
{
    memo->id = 0;
    memo->entry = NULL;
    return tm__capture(pcs, max, depth);
}

uint32_t tm__capture_finish(struct tm__capture_memo *memo, const uintptr_t *pcs, int n, uint32_t depth)
{
    (void)memo;
    return tm__stack_intern(pcs, n, depth);
}

void tm__capture_remember(struct tm__capture_memo *memo, uint32_t id)
{
    memo->id = id;
}

void tm__capture_release(struct tm__capture_memo *memo)
{
    (void)memo;
}

void stub_stack(uintptr_t a, uintptr_t b)
{
    stub_pcs[0] = a;
    stub_pcs[1] = b;
    stub_npcs = 2;
}
