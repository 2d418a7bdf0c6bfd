/* shim_peak.c - a heap whose peak is known exactly: 20,000,000 bytes.
 *
 *   phase 1: 1000 x 8000 bytes kept                      8,000,000 live
 *   phase 2: 500 x 24000 bytes kept                     20,000,000 (peak)
 *   phase 3: phase 1 freed, phase 2 realloc'd to 16000   8,000,000
 *   phase 4: 200 x 40000 bytes                          16,000,000
 *   phase 5: everything freed                                    0
 * No stdio (its buffer would be one more block): one write(2) at the end. */
#pragma GCC optimize("O0")
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *p1[1000], *p2[500], *p4[200];

__attribute__((noinline)) static void phase1(void)
{
    for (int i = 0; i < 1000; i++)
        memset(p1[i] = malloc(8000), 1, 8000);
}

__attribute__((noinline)) static void phase2(void)
{
    for (int i = 0; i < 500; i++)
        memset(p2[i] = malloc(24000), 2, 24000);
}

int main(void)
{
    phase1();
    phase2();
    for (int i = 0; i < 1000; i++)
        free(p1[i]);
    for (int i = 0; i < 500; i++)
        p2[i] = realloc(p2[i], 16000);
    for (int i = 0; i < 200; i++)
        memset(p4[i] = malloc(40000), 4, 40000);
    for (int i = 0; i < 500; i++)
        free(p2[i]);
    for (int i = 0; i < 200; i++)
        free(p4[i]);
    return write(1, "done\n", 5) == 5 ? 0 : 1;
}
