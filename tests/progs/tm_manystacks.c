/* tm_manystacks.c - ROUNDS rounds; each allocates one 16-byte block from
 * each of 2^15 distinct stacks (a binary choice between two functions at
 * each of 15 levels) and then writes a snapshot named DIR/ms.ROUND.json
 * with tracemem_take_snapshot(). Every stack's figures change in every
 * round, so each snapshot's stack walk alone fills most of the timeline's
 * rows: tests/integration/shim_tlrows.sh checks that the timeline stays
 * valid however many snapshots are taken (its resolution used to double
 * at each one, reaching 0 after 57). */
#include <stdio.h>
#include <stdlib.h>

#include "tracemem.h"

#define NOI __attribute__((noinline))
#define LEVELS 15

static void *pick(int d, unsigned bits);
static volatile unsigned nleft, nright; /* keeps left and right distinct */

static NOI void *left(int d, unsigned bits)
{
    nleft++;
    void *p = pick(d - 1, bits >> 1);
    __asm__ __volatile__("" ::: "memory");
    return p;
}

static NOI void *right(int d, unsigned bits)
{
    nright += 2;
    void *p = pick(d - 1, bits >> 1);
    __asm__ __volatile__("" ::: "memory");
    return p;
}

static NOI void *pick(int d, unsigned bits)
{
    if (d == 0)
        return malloc(16);
    return bits & 1 ? left(d, bits) : right(d, bits);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tm_manystacks ROUNDS DIR\n");
        return 2;
    }
    int rounds = atoi(argv[1]);
    unsigned long sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (unsigned s = 0; s < 1u << LEVELS; s++) {
            char *p = pick(LEVELS, s);
            if (!p)
                return 1;
            p[0] = (char)s;
            sum += (unsigned char)p[0]; /* kept: every stack's live bytes grow */
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/ms.%d.json", argv[2], r);
        if (tracemem_take_snapshot(path) != 0)
            return 1;
    }
    printf("%lu\n", sum);
    return 0;
}
