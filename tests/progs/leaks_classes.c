/* leaks_classes.c - one leak-check case per mode (argv[1]), each a class of
 * memory the scan once judged differently from Valgrind. Every mode leaves
 * one small "target" block whose kind is the question, plus what it needs.
 *
 *  lastbase   a 24-byte object whose only reference is a global pointer to
 *             its last word, where a second vtable sits (C++'s Iface *p =
 *             new Impl with Iface the last base): reachable, through
 *             Valgrind's multipleinheritance heuristic. That word is also
 *             the address of the next malloc chunk.
 *  deadtls    a thread keeps the target in a __thread variable and exits:
 *             definite (glibc's cached stack is not the program's memory).
 *  mmaptail   a large (mmapped) block held by a global pointed to the
 *             target near its end, then realloc shrank it: the old word now
 *             lies past the block, in the mapping's tail: definite.
 *  guard      a large block with a PROT_NONE page inside, held by a global,
 *             points to the target before the guard page: reachable.
 *  fakearena  the program's own mapping at a 64 MiB boundary, starting with
 *             words like a glibc heap header, points to the target:
 *             reachable.
 *  sbrk       memory the program took with sbrk() points to the target:
 *             reachable.
 *  mainexit   main calls pthread_exit(); the last thread then exits the
 *             process. A global holds one block, one is lost: reachable 1,
 *             definite 1 (the check must not be skipped).
 *  stale      4 threads each allocate and free 100 000 small blocks, keep
 *             every 100th and free half of those: 2 000 definite, whatever
 *             words glibc left in the chunks it handed out again.
 *  shortstr   1 000 blocks of 300 bytes, each followed by a block of 24,
 *             are freed (into glibc's bins: their first words link them,
 *             each link the address of a chunk, which is the last word of
 *             the 24-byte block before it) and allocated again to hold a
 *             3-character string each, kept in a global: reachable 1 000;
 *             the 24-byte blocks lose their only pointers: definite 1 000.
 *  shortre    the same, each string then realloc()ed to 600 bytes (it
 *             moves: the words glibc left come along with the string).
 *  lastword   pointers to 24-byte blocks' last words (the address of the
 *             malloc chunk after each, which glibc leaves in chunks it
 *             hands out again, at any depth): a global's keeps its block
 *             "possible" (as Valgrind), and so does a reachable block's
 *             (an intrusive list linked through its last word); a leaked
 *             block's is taken for glibc's and joins nothing: 3 definite,
 *             where Valgrind calls that target indirect (its allocator
 *             leaves no such words, so any it sees is the program's); a
 *             leaked C++ object's last base there (vtables at both ends)
 *             still counts: its target indirect, as Valgrind. Expected
 *             3 1 2 1 (Valgrind: 2 2 2 1).
 *  mangled    2 000 blocks of 24, 40 and 56 bytes are freed into tcache
 *             and the fastbins (three times over) and allocated again,
 *             each with its first word left as glibc left it: a link
 *             mangled by safe-linking (the next free chunk's address xor
 *             the word's address >> 12). Every other one is kept in a
 *             global: reachable 1 000, definite 1 000. Built without PIE
 *             (leaks_classes_nopie) the heap lies low and the mangled
 *             word lands inside a neighbouring block.
 *  merged     200 times: five 200-byte blocks A B C D E; with tcache full,
 *             B and D are freed (glibc links them: B's bk is D's chunk),
 *             then A (merged with B: B's header and links stay inside),
 *             then C (merged with both), and two 400-byte blocks are
 *             allocated: AB, which holds B's old link, and CD, which that
 *             link now points inside (at D's old chunk). Both leak, E is
 *             kept: definite 400, reachable 200; the scan once called
 *             every CD indirect.
 *  cut        200 times: five 200-byte blocks A B C D E; with tcache full,
 *             B and D are freed and a 100-byte block is cut from B (its
 *             first words hold the links glibc gave B in its bin: D's
 *             chunk), then C is freed (merged with B's rest and D) and a
 *             500-byte block takes the merged chunk: the link now points
 *             inside it. Both leak, A and E are kept: definite 400,
 *             reachable 400; the scan once called every 500-byte block
 *             indirect.
 *  shapedata two leaked blocks (256 and 64 bytes) each hold, at
 *             16-aligned word 2, a pointer into the middle of a leaked
 *             64-byte block; in the first, word 1 is 0x21 (what glibc
 *             writes as a free chunk's size: the program's data looks
 *             like a free chunk's header and its fd), and words 5 and 11
 *             are 0x31 and 0x41, where those sizes say the next chunks
 *             start (the boundary tags the rule checks); in the second,
 *             0x90 after a word that is no size. Valgrind: 2 definite, 2 indirect. The scan takes the
 *             first pointer for glibc's stale link: 3 definite, 1
 *             indirect (the price of the free-chunk shape rule, pinned).
 *  bigloop    4 threads, each 50 000 mallocs of 8 to 5 007 bytes whose
 *             first 16 bytes it writes, the others freed at random; every
 *             50th is kept and half of those freed at the end: 2 000
 *             leaks, all definite for Valgrind. Blocks this large come
 *             from glibc's unsorted and large bins, whose chunks it merges
 *             and cuts: their old headers, links to the arenas' bins and
 *             nextsize links lie deep inside the new blocks (the scan
 *             once called 40 % of them indirect).
 *  intrusive  leaked structures linked through interior pointers, next
 *             to words a free chunk's header could hold: 50 rings of two
 *             64-byte nodes whose link (next, prev: equal) is at word 2;
 *             20 rings of five 2 KiB nodes that start {4096, 48, next,
 *             prev}; 30 chains of three 64-byte blocks, {0x411, &m[2],
 *             &m[2]} -> {0x2000, 0x1041, &t[4], &t[4]} -> t. Valgrind: 100
 *             definite, 190 indirect; the rules for glibc's words must
 *             not take any of these for glibc's.
 *  lookalike  three leaked pairs whose first block points inside the
 *             second: {4096, 2048, 0, 0, &b[2]} (a large chunk's size
 *             and where its nextsize links would sit); {&b[2]} with
 *             b = {0, 0, 0, 49, 0, ..., 100} (an odd size at b[3] and a
 *             size where that one says the next chunk starts); and a
 *             pointer into a 256 KiB block's PROT_NONE page, which
 *             Valgrind does not take for a pointer (only a readable
 *             address is one; the scan once read the words it points
 *             to: SIGSEGV). Valgrind: 4 definite, 2 indirect.
 *  iobuf      a reachable buffer cut from merged free chunks, of which the
 *             program writes only the first 16 bytes, holds deep inside
 *             the header and links glibc gave a free chunk X, whose fd
 *             named the chunk after a leaked record (the record's last
 *             word): the record is possible, where Valgrind calls it
 *             definite (pinned: glibc's words are not judged in
 *             reachable blocks).
 *  taillink   a leaked list of 10 nodes of 40 bytes linked through their
 *             last word (a link member pointing at the next node's link:
 *             the address of the chunk after it), held by a leaked
 *             8-byte owner: a link in a block's last word that points to
 *             another block's last word is the program's, not glibc's
 *             old link, and the list does not fall apart: 1 definite, 10
 *             indirect, as Valgrind (it was 11 definite).
 *  rebuild    a registry of cursors 16 bytes into 200-byte buffers (a
 *             global holds the registry), freed and built again four
 *             times: glibc hands back the same addresses, so the registry's
 *             first words hold, when it is allocated, the very cursors the
 *             program then writes again. Those are the program's: 7
 *             possible (interior pointers only) and the registry
 *             reachable, as Valgrind (the scan once took them for glibc's
 *             old links: 5 definite).
 *  loop       8 rounds of 20 000 random mallocs (16 to 4 015 bytes) with
 *             random frees between them, none written; of what is left,
 *             every tenth block leaks: 11 997 blocks, all definite for
 *             Valgrind. Whatever glibc left in them is all they hold: the
 *             leak scan still calls a few indirect (old links glibc left
 *             at a block's start, and deeper than the rules reach:
 *             leaks_classes.sh bounds them).
 * The check at exit: the frames of exit() and of what it runs are left
 * out of the roots, and the scan starts at the frame that called exit
 * (the start of the stack once main returned), with its registers:
 *  deadframe  main's callee keeps 64 blocks of 40 bytes in a local array
 *             and returns; main returns: 64 definite, as Valgrind (whose
 *             scan skips stack words not written since their frame was
 *             entered). The frames of exit() cover the dead array without
 *             writing all of it: 4 were once called reachable.
 *  exitlive   a function two calls below main keeps 16 blocks in a local
 *             array and calls exit(): its frame is live, 16 reachable.
 *  exitreg    a block whose only copy is in rbx, a callee-saved register,
 *             when exit() is called (exit's frames save it, and the scan
 *             takes the caller's registers as libunwind restores them):
 *             1 reachable.
 *  exiterror  as exitlive, through error(3), which calls exit() inside
 *             the C library: 16 reachable.
 *  exitsignal as exitlive, the function interrupted by a signal whose
 *             handler calls exit(): the interrupted frame is live (the
 *             signal frame and the handler's stand between): 16
 *             reachable. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <error.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *volatile global_ref;

static void fn_a(void) {}
static void fn_b(void) {}
typedef void (*fnptr)(void);
static fnptr const vtable_base[] = {fn_a, fn_b, fn_a};
static fnptr const vtable_iface[] = {fn_b, fn_a, fn_b};

static void *__attribute__((noinline)) target(void)
{
    void *p = malloc(40);
    memset(p, 0x5a, 40);
    return p;
}

/* A 24-byte C++ object: {vptr, data, vptr of the last base}. */
static void cxx_object(uintptr_t *obj)
{
    obj[0] = (uintptr_t)vtable_base;
    obj[1] = 7;
    obj[2] = (uintptr_t)vtable_iface;
}

static int lastbase(void)
{
    uintptr_t *obj = malloc(24);
    cxx_object(obj);
    global_ref = &obj[2];
    return 0;
}

static __thread void *tls_ref;

static void *keep_in_tls(void *arg)
{
    tls_ref = target();
    return arg;
}

static int deadtls(void)
{
    pthread_t t;
    pthread_create(&t, NULL, keep_in_tls, NULL);
    pthread_join(t, NULL);
    return 0;
}

static int mmaptail(void)
{
    char *big = malloc(200000);
    memset(big, 0, 200000);
    void *t = target();
    memcpy(big + 150104, &t, sizeof(t)); /* past the new end, 8-aligned */
    t = NULL;
    big = realloc(big, 150000);
    global_ref = big;
    return 0;
}

static int guard(void)
{
    char *big = malloc(64 * 4096); /* mmapped: page-aligned data after 16 bytes */
    uintptr_t page = ((uintptr_t)big + 4095) & ~(uintptr_t)4095;
    void *t = target();
    memcpy(big + 64, &t, sizeof(t));
    t = NULL;
    mprotect((void *)(page + 8 * 4096), 4096, PROT_NONE);
    global_ref = big;
    return 0;
}

static int fakearena(void)
{
    size_t align = (size_t)64 << 20;
    char *m = mmap(NULL, 2 * align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    uintptr_t lo = ((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1);
    if (lo > (uintptr_t)m)
        munmap(m, lo - (uintptr_t)m);
    munmap((void *)(lo + (1 << 20)), (uintptr_t)m + 2 * align - lo - (1 << 20));
    uintptr_t *h = (uintptr_t *)lo;
    h[0] = lo + 64; /* "ar_ptr" inside, "prev" none, "size" plausible */
    h[1] = 0;
    h[2] = 1 << 20;
    h[3] = 1 << 20;
    h[200] = (uintptr_t)target();
    return 0;
}

static int use_sbrk(void)
{
    void **p = sbrk(4096);
    if (p == (void *)-1)
        return 1;
    p[10] = target();
    return 0;
}

static void *last_thread(void *arg)
{
    usleep(100000);
    return arg; /* the last thread: the process exits with status 0 */
}

static int mainexit(void)
{
    pthread_t t;
    global_ref = target();
    void *lost = target();
    lost = NULL;
    pthread_create(&t, NULL, last_thread, lost);
    pthread_exit(NULL);
}

#define STALE_THREADS 4
#define STALE_ROUNDS 100000

/* Every thread takes its own malloc arena before any exits: a thread
 * that started after another exited would reuse that one's arena, where
 * the dead thread's freed tcache table still holds the addresses of
 * chunks handed out again as leaked blocks (start pointers Valgrind,
 * which replaces malloc, never sees): 23 of them "indirect" in 1 run in
 * 12 on a loaded machine. */
static pthread_barrier_t stale_started;

static void *stale_thread(void *arg)
{
    void **kept = calloc(STALE_ROUNDS / 100, sizeof(void *));
    pthread_barrier_wait(&stale_started);
    size_t n = 0;
    for (unsigned i = 0; i < STALE_ROUNDS; i++) {
        char *p = malloc(16 + (i * 7 % 64));
        p[0] = (char)i;
        if (i % 100 == 0)
            kept[n++] = p;
        else
            free(p);
    }
    for (size_t i = 0; i < n; i += 2)
        free(kept[i]);
    memset(kept, 0, n * sizeof(void *));
    free(kept);
    return arg;
}

static int stale(void)
{
    pthread_t t[STALE_THREADS];
    pthread_barrier_init(&stale_started, NULL, STALE_THREADS);
    for (int i = 0; i < STALE_THREADS; i++)
        pthread_create(&t[i], NULL, stale_thread, NULL);
    for (int i = 0; i < STALE_THREADS; i++)
        pthread_join(t[i], NULL);
    return 0;
}

#define SHORT_N 1000
static char *short_keep[SHORT_N];

static int short_strings(int grow)
{
    static char *big[SHORT_N];
    static void *victim[SHORT_N];
    for (int i = 0; i < SHORT_N; i++) {
        big[i] = malloc(300);
        victim[i] = malloc(24);
        memset(big[i], 1, 300);
        memset(victim[i], 2, 24);
    }
    for (int i = 0; i < SHORT_N; i++)
        free(big[i]);
    for (int i = 0; i < SHORT_N; i++) {
        short_keep[i] = malloc(300);
        strcpy(short_keep[i], "abc");
    }
    for (int i = 0; grow && i < SHORT_N; i++)
        short_keep[i] = realloc(short_keep[i], 600);
    memset(victim, 0, sizeof(victim));
    memset(big, 0, sizeof(big));
    return 0;
}

static int shortstr(void)
{
    return short_strings(0);
}

static int shortre(void)
{
    return short_strings(1);
}

void *volatile global_ref2;
static uintptr_t *lastword_blocks[7]; /* not locals: no copy stays in a dead frame */

static int lastword(void)
{
    uintptr_t **b = lastword_blocks;
    b[0] = malloc(24); /* held by the global */
    b[1] = malloc(64); /* leaked, holds a pointer to b[2]'s last word */
    b[2] = malloc(24); /* plain data */
    b[3] = malloc(24); /* a C++ object: its last base */
    b[4] = malloc(64); /* leaked, holds a pointer to b[3]'s last base */
    b[5] = malloc(64); /* reachable, holds a pointer to b[6]'s last word */
    b[6] = malloc(24); /* plain data */
    memset(b[0], 1, 24);
    memset(b[1], 0, 64);
    memset(b[2], 2, 24);
    memset(b[4], 0, 64);
    global_ref = &b[0][2];
    b[1][5] = (uintptr_t)&b[2][2];
    cxx_object(b[3]);
    b[4][3] = (uintptr_t)&b[3][2];
    memset(b[5], 0, 64);
    memset(b[6], 3, 24);
    b[5][6] = (uintptr_t)&b[6][2];
    global_ref2 = b[5];
    memset(lastword_blocks, 0, sizeof(lastword_blocks));
    return 0;
}

#define MANGLED_N 2000
static void *mangled_keep[MANGLED_N];

/* Zeroes the stack below the caller: the frames of the allocations just
 * made (the program's, the allocator's, the tracer's) can leave a block's
 * address in a slot that a frame of the exit path leaves uninitialized,
 * and the stack is a root. Which one depends on timing (the tracer's
 * timeline samples on the clock): a stray reachable block 1 run in many. */
static void __attribute__((noinline)) scrub_stack(void)
{
    volatile char buf[65536];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = 0;
}

static int mangled(void)
{
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < MANGLED_N; i++)
            mangled_keep[i] = malloc(24 + i % 3 * 16);
        for (int i = 0; i < MANGLED_N; i++)
            free(mangled_keep[i]);
    }
    for (int i = 0; i < MANGLED_N; i++) {
        char *p = malloc(24 + i % 3 * 16);
        p[8] = 1; /* the first word stays the allocator's */
        mangled_keep[i] = p;
    }
    for (int i = 0; i < MANGLED_N; i += 2)
        mangled_keep[i] = NULL;
    scrub_stack();
    return 0;
}

#define MERGED_N 200
void *merged_keep[MERGED_N]; /* external: not dropped as never read */

enum { A, B, C, D, E };
static char *five[MERGED_N][5]; /* merged's and cut's blocks A to E */

/* MERGED_N groups of five 200-byte blocks, then tcache of their size
 * filled: their frees go to the bins. */
static char *(*five_blocks(void))[5]
{
    void *fill[7];
    for (int i = 0; i < MERGED_N; i++)
        for (int k = A; k <= E; k++) {
            five[i][k] = malloc(200);
            memset(five[i][k], 0, 200);
        }
    for (int k = 0; k < 7; k++)
        fill[k] = malloc(200);
    for (int k = 0; k < 7; k++)
        free(fill[k]);
    return five;
}

static int merged(void)
{
    char *(*g)[5] = five_blocks();
    for (int i = 0; i < MERGED_N; i++) {
        free(g[i][B]);
        free(g[i][D]);
        free(g[i][A]);
        free(g[i][C]);
        char *ab = malloc(400), *cd = malloc(400);
        ab[0] = cd[0] = 1; /* the rest stays as glibc left it */
        merged_keep[i] = g[i][E];
        memset(g[i], 0, sizeof(g[i]));
        ab = cd = NULL;
    }
    scrub_stack();
    return 0;
}

void *cut_keep[2 * MERGED_N];

static int cut(void)
{
    char *(*g)[5] = five_blocks();
    for (int i = 0; i < MERGED_N; i++) {
        free(g[i][B]);
        free(g[i][D]);
        char *front = malloc(100);
        free(g[i][C]);
        char *big = malloc(500);
        front[16] = big[16] = 1;
        cut_keep[2 * i] = g[i][A];
        cut_keep[2 * i + 1] = g[i][E];
        memset(g[i], 0, sizeof(g[i]));
        front = big = NULL;
    }
    scrub_stack();
    return 0;
}

static uintptr_t *shape_blocks[4];

static int shapedata(void)
{
    uintptr_t **b = shape_blocks;
    for (int i = 0; i < 4; i++) {
        b[i] = malloc(i ? 64 : 256);
        memset(b[i], 0x11, i ? 64 : 256);
    }
    b[0][1] = 0x21; /* a free chunk's size, as glibc writes it */
    b[0][2] = (uintptr_t)&b[1][4];
    b[0][5] = 0x31; /* where 0x21 says the next chunk starts, a size */
    b[0][11] = 0x41; /* and where that one says the next starts */
    b[2][0] = 0x1234567;
    b[2][1] = 0x90;
    b[2][2] = (uintptr_t)&b[3][4];
    memset(shape_blocks, 0, sizeof(shape_blocks));
    return 0;
}

#define LOOP_N 20000

static unsigned loop_next(unsigned *seed)
{
    *seed = *seed * 1103515245 + 12345;
    return *seed >> 8;
}

static int loop(void)
{
    void **v = malloc(LOOP_N * sizeof(void *));
    for (unsigned r = 0; r < 8; r++) {
        unsigned seed = r * 7919 + 1;
        for (unsigned i = 0; i < LOOP_N; i++) {
            unsigned range = loop_next(&seed) % 8 == 0 ? 4000 : 200;
            v[i] = malloc(16 + loop_next(&seed) % range);
            if (loop_next(&seed) % 3 == 0) {
                unsigned j = loop_next(&seed) % (i + 1);
                free(v[j]);
                v[j] = NULL;
            }
        }
        unsigned kept = 0;
        for (unsigned i = 0; i < LOOP_N; i++) {
            if (v[i] && ++kept % 10 != 0)
                free(v[i]);
            v[i] = NULL;
        }
    }
    free(v);
    scrub_stack();
    return 0;
}

#define BIG_N 50000

static void *bigloop_thread(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919 + 3;
    void *hold[64] = {0};
    void **keep = malloc((BIG_N / 50) * sizeof(void *));
    unsigned k = 0;
    for (unsigned i = 0; i < BIG_N; i++) {
        size_t n = 8 + loop_next(&seed) % 5000;
        char *p = malloc(n);
        memset(p, 0x11, 16);
        if (i % 50 == 0) {
            keep[k++] = p;
        } else {
            unsigned h = loop_next(&seed) % 64;
            free(hold[h]);
            hold[h] = p;
        }
    }
    for (unsigned h = 0; h < 64; h++)
        free(hold[h]);
    for (unsigned i = 0; i < k; i += 2)
        free(keep[i]);
    memset(keep, 0, (BIG_N / 50) * sizeof(void *));
    free(keep);
    return NULL;
}

static int bigloop(void)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, bigloop_thread, (void *)i) != 0)
            return 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    scrub_stack();
    return 0;
}

struct ilink {
    struct ilink *next, *prev;
};

static void __attribute__((noinline)) build_intrusive(void)
{
    static uintptr_t *keep[100];
    for (int i = 0; i < 50; i++) { /* rings of two: link at word 2, next == prev */
        uintptr_t *a = calloc(8, sizeof(uintptr_t)), *b = calloc(8, sizeof(uintptr_t));
        a[0] = b[0] = 1041;
        ((struct ilink *)&a[2])->next = ((struct ilink *)&a[2])->prev = (struct ilink *)&b[2];
        ((struct ilink *)&b[2])->next = ((struct ilink *)&b[2])->prev = (struct ilink *)&a[2];
        keep[i] = a;
    }
    for (int i = 0; i < 20; i++) { /* rings of five 2 KiB nodes: {4096, 48, next, prev} */
        uintptr_t *n[5];
        for (int k = 0; k < 5; k++) {
            n[k] = malloc(2048);
            memset(n[k], 0, 2048);
            n[k][0] = 4096;
            n[k][1] = 48;
        }
        for (int k = 0; k < 5; k++) {
            n[k][2] = (uintptr_t)&n[(k + 1) % 5][2];
            n[k][3] = (uintptr_t)&n[(k + 4) % 5][2];
        }
        keep[50 + i] = n[0];
    }
    for (int i = 0; i < 30; i++) { /* chains of three, behind size-like words */
        uintptr_t *h = calloc(8, sizeof(uintptr_t)), *m = calloc(8, sizeof(uintptr_t)),
                  *t = calloc(8, sizeof(uintptr_t));
        h[0] = 0x411;
        h[1] = h[2] = (uintptr_t)&m[2];
        m[0] = 0x2000;
        m[1] = 0x1041;
        m[2] = m[3] = (uintptr_t)&t[4];
        t[4] = 0x30;
        t[5] = 0x1031;
        keep[70 + i] = h;
    }
    memset(keep, 0, sizeof(keep));
}

static int intrusive(void)
{
    build_intrusive(); /* its locals die with its frame, scrubbed next */
    scrub_stack();
    return 0;
}

static void __attribute__((noinline)) build_lookalike(void)
{
    static uintptr_t *keep[3];
    uintptr_t *a = calloc(8, sizeof(uintptr_t)), *b = calloc(8, sizeof(uintptr_t));
    a[0] = 4096; /* {capacity, length} */
    a[1] = 2048;
    a[4] = (uintptr_t)&b[2];
    keep[0] = a;
    uintptr_t *c = calloc(8, sizeof(uintptr_t)), *d = calloc(12, sizeof(uintptr_t));
    d[3] = 49; /* two small integers 48 bytes apart */
    d[9] = 100;
    c[0] = (uintptr_t)&d[2];
    keep[1] = c;
    char *big = malloc(64 * 4096); /* mmapped */
    memset(big, 0, 64 * 4096);
    uintptr_t page = ((uintptr_t)big + 4095) & ~(uintptr_t)4095;
    mprotect((void *)(page + 8 * 4096), 4096, PROT_NONE);
    uintptr_t *e = calloc(8, sizeof(uintptr_t));
    e[0] = page + 8 * 4096 + 16; /* 16-aligned, inside the unreadable page */
    keep[2] = e;
    memset(keep, 0, sizeof(keep));
    a = b = c = d = e = NULL; /* scrub_stack() does not reach every slot of this frame */
    big = NULL;
}

static int lookalike(void)
{
    build_lookalike();
    scrub_stack();
    return 0;
}

char *iobuf_ref; /* not static: write-only statics may be dropped */
void *iobuf_guards[2];

static void *__attribute__((noinline)) iobuf_alloc(size_t n)
{
    return malloc(n); /* one call site: the shim's own allocations stay out of the layout */
}

static void __attribute__((noinline)) build_iobuf(void)
{
    /* P X g1 L Y g2, all too large for tcache: free Y and X (X's fd names
     * Y's chunk, whose first word is L's last), then P, which merges with
     * X; the buffer takes P+X and keeps X's old header inside */
    static const size_t sz[] = {1100, 1100, 32, 1096, 1100, 32};
    void *v[6];
    free(iobuf_alloc(16));
    for (int i = 0; i < 6; i++)
        v[i] = iobuf_alloc(sz[i]);
    memset(v[3], 0x5a, sz[3]);
    iobuf_guards[0] = v[2];
    iobuf_guards[1] = v[5];
    free(v[4]);
    free(v[1]);
    free(v[0]);
    iobuf_ref = iobuf_alloc(2200);
    memcpy(iobuf_ref, "GET / HTTP/1.0\r\n", 16);
    memset(v, 0, sizeof(v));
}

static int iobuf(void)
{
    build_iobuf();
    scrub_stack();
    return 0;
}

struct tail_node {
    long key;
    char payload[24];
    struct tail_node **next; /* the last word: points to the next node's 'next' */
};

static void __attribute__((noinline)) build_taillink(void)
{
    struct tail_node **head = NULL;
    for (int i = 0; i < 10; i++) {
        struct tail_node *n = malloc(sizeof(*n));
        memset(n, 0, sizeof(*n));
        n->key = i;
        n->next = head;
        head = (struct tail_node **)&n->next;
    }
    void **owner = malloc(sizeof(void *));
    *owner = head;
    owner = NULL;
    head = NULL;
}

static int taillink(void)
{
    build_taillink();
    scrub_stack();
    return 0;
}

char **rebuild_reg; /* not static: write-only statics may be dropped */

static void __attribute__((noinline)) build_rebuild(void)
{
    static void *slot[256];
    unsigned seed = 11;
    for (int i = 0; i < 20000; i++) { /* churn first: the bins hold merged chunks */
        unsigned k = loop_next(&seed) % 256, r = loop_next(&seed) % 100;
        if (slot[k]) {
            free(slot[k]);
            slot[k] = NULL;
            continue;
        }
        size_t n = r < 60 ? 16 + loop_next(&seed) % 240 : r < 90 ? 256 + loop_next(&seed) % 3840 : 4096 + loop_next(&seed) % 12289;
        slot[k] = malloc(n);
        memset(slot[k], i, n < 48 ? n : 48);
    }
    for (int k = 0; k < 256; k++) {
        free(slot[k]);
        slot[k] = NULL;
    }
    for (int r = 0; r < 4; r++) {
        if (rebuild_reg) {
            for (int k = 8; k >= 2; k--)
                free(rebuild_reg[k] - 16);
            free(rebuild_reg);
        }
        rebuild_reg = malloc(1600); /* too large for tcache: from the bins */
        rebuild_reg[0] = rebuild_reg[1] = NULL;
        for (int k = 2; k <= 8; k++) {
            char *b = malloc(200);
            memset(b, 'b', 100);
            rebuild_reg[k] = b + 16;
        }
        for (int k = 9; k < 200; k++)
            rebuild_reg[k] = NULL;
    }
}

static int rebuild(void)
{
    build_rebuild();
    scrub_stack();
    return 0;
}

static void __attribute__((noinline)) dead_callee(void)
{
    void *volatile slots[64];
    for (int i = 0; i < 64; i++)
        slots[i] = malloc(40);
}

static int deadframe(void)
{
    dead_callee();
    return 0;
}

enum { VIA_EXIT, VIA_ERROR, VIA_SIGNAL };

static void exit_from_handler(int sig)
{
    (void)sig;
    exit(0);
}

static void __attribute__((noinline)) hold_and_exit(int via)
{
    void *volatile keep[16];
    for (int i = 0; i < 16; i++)
        keep[i] = malloc(48);
    if (via == VIA_ERROR) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2); /* error()'s message */
        error(1, 0, "leaving");
    } else if (via == VIA_SIGNAL) {
        signal(SIGUSR1, exit_from_handler);
        raise(SIGUSR1);
    }
    exit(0);
}

static int __attribute__((noinline)) exit_below(int via)
{
    hold_and_exit(via);
    return 1;
}

static int exitlive(void)
{
    return exit_below(VIA_EXIT);
}

static int exiterror(void)
{
    return exit_below(VIA_ERROR);
}

static int exitsignal(void)
{
    return exit_below(VIA_SIGNAL);
}

/* malloc's result goes from rax to rbx and nowhere else, then exit() */
static int exitreg(void)
{
    getpid(); /* not a leaf: the frame keeps the stack aligned for calls */
    __asm__ volatile("mov $24, %%edi\n\t"
                     "call malloc@PLT\n\t"
                     "mov %%rax, %%rbx\n\t"
                     "xor %%eax, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "call exit@PLT"
                     :
                     :
                     : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
    return 1;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } modes[] = {{"lastbase", lastbase}, {"deadtls", deadtls}, {"mmaptail", mmaptail}, {"guard", guard},
                 {"fakearena", fakearena}, {"sbrk", use_sbrk}, {"mainexit", mainexit}, {"stale", stale},
                 {"shortstr", shortstr}, {"shortre", shortre}, {"lastword", lastword},
                 {"mangled", mangled}, {"merged", merged}, {"cut", cut}, {"loop", loop}, {"shapedata", shapedata},
                 {"bigloop", bigloop}, {"intrusive", intrusive}, {"lookalike", lookalike},
                 {"iobuf", iobuf}, {"taillink", taillink}, {"rebuild", rebuild},
                 {"deadframe", deadframe}, {"exitlive", exitlive}, {"exitreg", exitreg},
                 {"exiterror", exiterror}, {"exitsignal", exitsignal}};
    for (size_t i = 0; argc > 1 && i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(argv[1], modes[i].name) == 0)
            return modes[i].fn();
    fprintf(stderr, "usage: leaks_classes MODE\n");
    return 2;
}
