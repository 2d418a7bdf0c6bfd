/* tm_inline.c - allocations made from inside inline functions nested six
 * deep (with loops and blocks between), built -O2 -g so that the compiler
 * lays them out as it does in real programs: cli_inline.sh compares the
 * inlined chains tracemem symbolize gives with eu-addr2line -i. Every
 * block allocated is 4000 to 4999 bytes and is kept (no leak report is
 * needed: the snapshot at exit has them live).
 */
#include <stdlib.h>

void *volatile tm_keep[64];
volatile unsigned tm_salt;

static inline __attribute__((always_inline)) void *depth6(unsigned n)
{
    return malloc(4000 + n % 1000);
}

static inline __attribute__((always_inline)) void *depth5(unsigned n)
{
    if (n & 1) {
        unsigned m = n ^ tm_salt;

        return depth6(m);
    }
    return depth6(n + 7);
}

static inline __attribute__((always_inline)) void *depth4(unsigned n)
{
    return depth5(n * 3);
}

static inline __attribute__((always_inline)) void *depth3(unsigned n)
{
    void *p = depth4(n + tm_salt);

    tm_salt += n;
    return p;
}

static inline __attribute__((always_inline)) void depth2(unsigned n, unsigned at)
{
    for (unsigned i = 0; i < 4; i++)
        tm_keep[(at + i) % 64] = depth3(n + i);
}

static inline __attribute__((always_inline)) void depth1(unsigned n)
{
    depth2(n, n);
    depth2(n * 5, n + 4);
}

__attribute__((noinline)) static void outer(unsigned k)
{
    for (unsigned j = 0; j < 6; j++)
        depth1(k + 8 * j);
}

int main(int argc, char **argv)
{
    (void)argv;
    outer((unsigned)argc);
    return 0;
}
