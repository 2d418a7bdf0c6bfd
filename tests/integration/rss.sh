#!/bin/sh
# Where the RSS goes (tracemem rss, the snapshot's rss section): programs
# of our own whose memory is in known places, each category's size
# asserted within a stated tolerance, and every snapshot's total against
# the kernel's (within 2 %):
#   frag     frees 3 blocks of every 4 of a large set: malloc keeps them
#   threads  16 threads allocate in their own arenas, snapshot while alive
#   maps     maps and touches big anonymous regions, and grows the break
#   python3  with pymalloc: its arenas are mmap memory, with their stack
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler"
cd "$WORK" || fail "no $WORK"
INC=$top_srcdir/include

# cat NAME FIELD: the category's resident bytes in rss.json
cat_rss() { json rss.json "[c['rss'] for c in s['categories'] if c['name'] == '$1'][0]"; }
# within WANT PERCENT GOT
within() {
    python3 -c 'import sys; w, p, g = map(float, sys.argv[1:]); sys.exit(abs(g - w) > w * p / 100)' "$@"
}
check_total() {
    json rss.json 's["rss"] == sum(c["rss"] for c in s["categories"])' | grep -q true ||
        fail "$1: the categories do not add up: $(cat rss.json)"
    # the kernel's figure just before and just after the walk (the
    # program's threads run meanwhile): the total lies within 2 % of them
    json rss.json 'min(s["kernel_rss"], s["kernel_rss_before"]) * 0.98 <= s["rss"] <= max(s["kernel_rss"], s["kernel_rss_before"]) * 1.02' |
        grep -q true ||
        fail "$1: total $(json rss.json 's["rss"]') not within 2% of the kernel's $(json rss.json '[s["kernel_rss_before"], s["kernel_rss"]]')"
}

cat > frag.c <<'EOF'
#include <stdlib.h>
#include <string.h>
#define N 200000
static char *keep[N];
int main(void)
{
    for (int i = 0; i < N; i++) {
        keep[i] = malloc(512);
        memset(keep[i], 1, 512);
    }
    for (int i = 0; i < N; i++)
        if (i % 4) {
            free(keep[i]);
            keep[i] = 0;
        }
    return 0;
}
EOF
"$CC" -O1 -o frag frag.c || fail "cannot build frag.c"
"$TM" run -o "$WORK/frag.json" ./frag 2> run.err || fail "run frag exited $?"
"$TM" rss --format json frag.json > rss.json || fail "rss frag"
check_total frag
# 50 000 live blocks of 512 bytes; 150 000 freed chunks of 528 kept
within $((50000 * 512)) 2 "$(cat_rss heap_live)" || fail "frag: heap_live $(cat_rss heap_live)"
within $((150000 * 528)) 10 "$(cat_rss heap_free)" || fail "frag: heap_free $(cat_rss heap_free)"
json rss.json 's["advice"] is not None' | grep -q true || fail "frag: no advice"
grep -q "note: malloc keeps more freed memory than is live: malloc_trim(0)" run.err ||
    fail "frag: run's summary lacks the advice: $(cat run.err)"
grep -q "resident memory at the end: .*heap_free" run.err || fail "frag: run's rss line: $(cat run.err)"
"$TM" rss frag.json > rss.txt || fail "rss frag text"
grep -q "heap: freed, kept by malloc" rss.txt || fail "frag: text: $(cat rss.txt)"

# a snapshot written by the signal handler: malloc is not asked (it could
# be holding its lock), heap_free is absent, the rest still adds up
cat > sig.c <<'EOF'
#include <signal.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    char *p = malloc(1 << 20);
    memset(p, 1, 1 << 20);
    raise(SIGUSR1);
    free(p);
    return 0;
}
EOF
"$CC" -O1 -o sig sig.c || fail "cannot build sig.c"
TRACEMEM_SIGNAL=USR1 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/sig.json" preload ./sig ||
    fail "sig exited $?"
# sig.0.json from the handler, sig.1.json at exit
"$TM" rss --format json sig.0.json > rss.json || fail "rss sig: $(ls)"
check_total sig
assert_eq "no mallinfo in a handler" "[null, false]" \
    "$(json rss.json '[s["malloc"], any(c["name"] == "heap_free" for c in s["categories"])]')"
"$TM" rss --format json sig.1.json > rss.json || fail "rss sig exit"
assert_eq "mallinfo at exit" "[true, true]" \
    "$(json rss.json '[s["malloc"] is not None, any(c["name"] == "heap_free" for c in s["categories"])]')"

# snapshots while other threads map and unmap all the time (64 MiB-aligned
# regions like glibc's arena heaps, whose header the section reads, and
# malloc's mapped chunks): the section is taken with those threads running
# and must never touch memory that is going away (it crashed node)
cat > churn.c <<'EOF'
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <tracemem.h>
static volatile int stop;
#define ALIGN (64UL << 20)
static void *churn(void *arg)
{
    while (!stop) {
        /* a 64 MiB-aligned region, as glibc's arena heaps are, that goes away again */
        char *big = mmap(0, 2 * ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uintptr_t a = ((uintptr_t)big + ALIGN - 1) & ~(ALIGN - 1);
        if (a > (uintptr_t)big)
            munmap(big, a - (uintptr_t)big);
        munmap((char *)a + (1 << 20), (uintptr_t)big + 2 * ALIGN - a - (1 << 20));
        ((char *)a)[0] = 1;
        munmap((char *)a, 1 << 20);
        char *p = malloc(300000); /* mapped by malloc */
        memset(p, 1, 4096);
        free(p);
    }
    return arg;
}
int main(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], 0, churn, 0);
    for (int i = 0; i < 200; i++)
        tracemem_take_snapshot(getenv("SNAP"));
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], 0);
    return 0;
}
EOF
"$CC" -O1 -I"$INC" -o churn churn.c -lpthread || fail "cannot build churn.c"
SNAP=$WORK/churn.json "$TM" run -q -o "$WORK/churn-exit.json" ./churn || fail "churn exited $? (crashed while snapshots were taken)"
"$TM" rss --format json churn.json > rss.json || fail "rss churn"
check_total churn

cat > threads.c <<'EOF'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <tracemem.h>
#define T 16
static pthread_barrier_t ready, done;
static void *work(void *arg)
{
    char **v = malloc(1024 * sizeof *v);
    for (int i = 0; i < 1024; i++) {
        v[i] = malloc(1024);
        memset(v[i], 2, 1024);
    }
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&done);
    return v;
}
int main(void)
{
    pthread_t t[T];
    pthread_barrier_init(&ready, 0, T + 1);
    pthread_barrier_init(&done, 0, T + 1);
    for (int i = 0; i < T; i++)
        pthread_create(&t[i], 0, work, 0);
    pthread_barrier_wait(&ready);
    tracemem_take_snapshot(getenv("SNAP"));
    pthread_barrier_wait(&done);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], 0);
    return 0;
}
EOF
"$CC" -O1 -I"$INC" -o threads threads.c -lpthread || fail "cannot build threads.c"
SNAP=$WORK/threads.json "$TM" run -q -o "$WORK/threads-exit.json" ./threads || fail "run threads exited $?"
"$TM" rss --format json threads.json > rss.json || fail "rss threads"
check_total threads
# 16 x (1024 blocks of 1 KiB + the 8 KiB array) live, in the threads' arenas
within $((16 * (1024 * 1024 + 8192))) 3 "$(cat_rss heap_live)" || fail "threads: heap_live $(cat_rss heap_live)"
# their arena heaps are the heap's, not "other": what is not classified
# stays small (under 1 MiB here)
[ "$(cat_rss other)" -lt $((1024 * 1024)) ] || fail "threads: other $(cat_rss other): $(cat rss.json)"
# the threads allocated in arenas of their own: the main one and others
# (up to 8 per CPU), holding the threads' blocks
assert_eq "arenas" true "$(json rss.json 's["arenas"]["count"] >= 2 and s["arenas"]["others_rss"] >= 8 * 1024 * 1024')"
"$TM" rss threads.json > rss.txt || fail "rss threads text"
grep -q "^  malloc's arenas: [0-9]* (the main one" rss.txt || fail "threads: arenas line: $(cat rss.txt)"
# 16 stacks, each a few pages touched at least
[ "$(cat_rss thread_stacks)" -ge $((16 * 8192)) ] || fail "threads: thread_stacks $(cat_rss thread_stacks)"

cat > maps.c <<'EOF'
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
__attribute__((noinline)) static char *region(size_t n)
{
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* SITE_MAP */
    memset(p, 1, n);
    return p;
}
int main(void)
{
    char *a = region(64 << 20);
    char *b = region(64 << 20);
    char *c = region(64 << 20);
    munmap(b + (16 << 20), 32 << 20);           /* a hole: 32 MiB left, in two */
    c = mremap(c, 64 << 20, 96 << 20, MREMAP_MAYMOVE);
    memset(c, 2, 96 << 20);                      /* 96 MiB */
    char *d = sbrk(8 << 20);                     /* SITE_BRK */
    memset(d, 3, 8 << 20);
    return a[0] + b[0] + c[0] + d[0] == 0;
}
EOF
"$CC" -g -O0 -o maps maps.c || fail "cannot build maps.c"
"$TM" run -q -o "$WORK/maps.json" ./maps || fail "run maps exited $?"
"$TM" rss --format json -n 10 maps.json > rss.json || fail "rss maps"
check_total maps
within $(((64 + 32 + 96 + 8) << 20)) 1 "$(cat_rss mmap)" || fail "maps: mmap $(cat_rss mmap)"
assert_eq "mapping stacks" "[[100663296, 1], [67108864, 1], [33554432, 2], [8388608, 1]]" \
    "$(json rss.json '[[m["size"], m["count"]] for m in s["mmap"]]')"
assert_eq "where they were made" "[[7, 15], [7, 13], [7, 14], [19, 0]]" \
    "$(json rss.json '[[m["frames"][0]["line"], m["frames"][1]["line"] if m["frames"][0]["line"] == 7 else 0] for m in s["mmap"]]')"
# not heap memory: top leaves them out unless asked for
"$TM" top --format json maps.json > top.json || fail "top maps"
[ "$(json top.json 's["total"]["size"]')" -lt $((1 << 20)) ] || fail "maps: mappings in top: $(cat top.json)"
"$TM" top --format json --domain 65535 maps.json > top.json || fail "top --domain 65535"
assert_eq "top --domain 65535" $(((64 + 32 + 96 + 8) << 20)) "$(json top.json 's["total"]["size"]')"
assert_eq "heap figures" true "$(json maps.json 's["memory"]["peak"] < (1 << 20)')"

# python3 with its own allocator: pymalloc's arenas are mmap memory
PY=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null) || PY=
if [ -n "$PY" ]; then
    # the snapshot while the objects live (the one at exit comes after
    # the interpreter freed them): the shim's API, through ctypes
    PYTHONMALLOC=pymalloc "$TM" run -q -o "$WORK/py.%p.json" "$PY" -c \
        'import ctypes, sys; x = [(i, str(i)) for i in range(300000)]
ctypes.CDLL(None).tracemem_take_snapshot(sys.argv[1].encode())' "$WORK/pylive.json" ||
        fail "run python3 exited $?"
    "$TM" rss --format json pylive.json > rss.json || fail "rss python3"
    check_total python3
    # 300 000 tuples (56 B), ints (28-32 B) and strs (~55 B): well over 30 MB
    # in pymalloc's 1 MiB arenas
    [ "$(cat_rss mmap)" -gt $((30 << 20)) ] || fail "python3: mmap $(cat_rss mmap): $(cat rss.json)"
    assert_eq "arena mappings" true "$(json rss.json 'sum(m["count"] for m in s["mmap"]) >= 30')"
fi
exit 0
