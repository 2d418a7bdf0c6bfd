/* shim_manyframes.c - 5 000 functions f_0000 ... f_4999, each allocating
 * one block from a call site of its own: function number i allocates
 * 16 + i bytes. Every block stays live (reachable) at exit, so the
 * at-exit snapshot holds 5 000 stacks whose innermost frames are 5 000
 * distinct frames: enough to make the snapshot writer's frame table grow
 * several times while it lists them (tests/integration/shim_manyframes.sh
 * checks that every stack still names its own function). */
#include <stdio.h>
#include <stdlib.h>

#define FN(n)                                                                                                  \
    static __attribute__((noinline)) void *f_##n(size_t size)                                                 \
    {                                                                                                          \
        void *p = malloc(size);                                                                                \
        __asm__ __volatile__("" ::: "memory");                                                                 \
        return p;                                                                                              \
    }
#define ADDR(n) f_##n,
#define L1(m, p) m(p##0) m(p##1) m(p##2) m(p##3) m(p##4) m(p##5) m(p##6) m(p##7) m(p##8) m(p##9)
#define L2(m, p)                                                                                               \
    L1(m, p##0) L1(m, p##1) L1(m, p##2) L1(m, p##3) L1(m, p##4) L1(m, p##5) L1(m, p##6) L1(m, p##7) L1(m, p##8) \
    L1(m, p##9)
#define L3(m, p)                                                                                               \
    L2(m, p##0) L2(m, p##1) L2(m, p##2) L2(m, p##3) L2(m, p##4) L2(m, p##5) L2(m, p##6) L2(m, p##7) L2(m, p##8) \
    L2(m, p##9)
#define ALL(m) L3(m, 0) L3(m, 1) L3(m, 2) L3(m, 3) L3(m, 4)

ALL(FN)

static void *(*const fns[])(size_t) = {ALL(ADDR)};
#define NFNS (sizeof(fns) / sizeof(fns[0]))
static void *keep[NFNS];

int main(void)
{
    for (size_t i = 0; i < NFNS; i++)
        if (!(keep[i] = fns[i](16 + i)))
            return 1;
    printf("%zu\n", NFNS);
    return 0;
}
