/* brk.c - the program's own sbrk()/brk() memory.
 *
 * glibc's main arena grows the break with its internal __sbrk, so the
 * program's calls are the only ones that reach the interposed sbrk and brk
 * (hooks.c). The ranges they add lie in [heap], which the leak scan does
 * not take as a root (free chunks hold stale pointers there); the program's
 * part is a root like any of its data, so the scan asks for it here.
 *
 * Invariant: ranges are disjoint, at most TM_BRK_MAX of them (more are
 * merged with the last one); shrinking the break trims them. */
#include "shim/shim.h"

static tm__lock brk_lock;
static uintptr_t ranges[TM_BRK_MAX][2];
static size_t nranges;

void tm__brk_note(uintptr_t old_end, uintptr_t new_end)
{
    tm__lock_acquire(&brk_lock);
    if (new_end > old_end) {
        if (nranges && ranges[nranges - 1][1] == old_end)
            ranges[nranges - 1][1] = new_end;
        else if (nranges == TM_BRK_MAX)
            ranges[nranges - 1][1] = new_end; /* one wider range: more roots, never fewer */
        else {
            ranges[nranges][0] = old_end;
            ranges[nranges][1] = new_end;
            nranges++;
        }
    } else {
        size_t kept = 0;
        for (size_t i = 0; i < nranges; i++) {
            if (ranges[i][0] >= new_end)
                continue;
            if (ranges[i][1] > new_end)
                ranges[i][1] = new_end;
            ranges[kept][0] = ranges[i][0];
            ranges[kept][1] = ranges[i][1];
            kept++;
        }
        nranges = kept;
    }
    tm__lock_release(&brk_lock);
}

size_t tm__brk_ranges(uintptr_t *out, size_t max)
{
    tm__lock_acquire(&brk_lock);
    size_t n = nranges < max ? nranges : max;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = ranges[i][0];
        out[2 * i + 1] = ranges[i][1];
    }
    tm__lock_release(&brk_lock);
    return n;
}
