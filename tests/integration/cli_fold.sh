#!/bin/sh
# Answers that name the user's code (report/fold.h): a C++ program whose
# memory goes through std::map, std::vector and std::string, a C program
# allocating through malloc wrappers, and a stripped library. top, diff,
# leaks, check, export (what flamegraph draws) and run name the program's
# own file:line and function; --keep-alloc-frames shows the raw stacks,
# --alloc-fn adds a wrapper, templates are shortened unless --full-names,
# and a library without symbols gets one note.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
CXX=${CXX:-c++}
CC=${CC:-cc}
command -v "$CXX" >/dev/null 2>&1 || skip "no C++ compiler"
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler"
cd "$WORK" || fail "no $WORK"
unset DEBUGINFOD_URLS

cat > cache.cc <<'EOF'
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

// never destroyed: all of it is live at exit
static auto &cache = *new std::map<int, std::vector<double>>;
static auto &names = *new std::vector<std::string>;

__attribute__((noinline)) void cache_put(int key, int n)
{
    std::vector<double> v(n, 0.5);
    cache[key] = v; // SITE_PUT
}

__attribute__((noinline)) void name_put(int i)
{
    names.push_back(std::string(100, 'a' + i % 26)); // SITE_NAME
}

__attribute__((noinline)) void cache_leak(int n)
{
    auto *volatile lost = new std::map<int, std::string>; // SITE_LEAK
    for (int i = 0; i < n; i++)
        (*lost)[i] = std::string(40, 'a' + i); // SITE_NODE
    lost = nullptr;
}

// no stale copy of the leaked pointer on the stack or in a register
__attribute__((noinline)) void scrub(void)
{
    volatile char junk[8192];
    for (unsigned i = 0; i < sizeof junk; i++)
        junk[i] = 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    for (int i = 0; i < n; i++)
        cache_put(i, 100);
    for (int i = 0; i < n; i++)
        name_put(i);
    cache_leak(5);
    scrub();
    std::printf("%zu %zu\n", cache.size(), names.size());
    return 0;
}
EOF
line() { grep -n "SITE_$1\( \|$\)" "$2" | cut -d: -f1; }
"$CXX" -g -O2 -o cache cache.cc || fail "cannot build cache.cc"
"$TM" run -q -o "$WORK/c100.json" ./cache 100 > out || fail "run exited $?"
"$TM" run -q -o "$WORK/c300.json" ./cache 300 > out || fail "run exited $?"
PUT="cache.cc:$(line PUT cache.cc)"
NAME="cache.cc:$(line NAME cache.cc)"
LEAK="cache.cc:$(line LEAK cache.cc)"

# top: every byte of the map, the vectors and the strings is charged to
# the user's lines; nothing to a C++ library header
"$TM" top --peak -n 0 --format json c300.json > top.json || fail top
keys() { json top.json '[x["key"].split("/")[-1] for x in s["stats"]]'; }
json top.json '[x["key"] for x in s["stats"]]' | grep -q "include/c++" &&
    fail "a standard library header in top: $(keys)"
# 300 map nodes (key and vector: 64 bytes each) and 300 copies of 100 doubles
assert_eq "cache_put's bytes" "$((300 * 64 + 300 * 800))" \
    "$(json top.json "[x['size'] for x in s['stats'] if x['key'].endswith('/$PUT')][0]")"
# at exit: 300 strings of 101 bytes and the vector's buffer (512 slots)
"$TM" top -n 0 --format json c300.json > live.json || fail top
assert_eq "name_put's blocks" "[[$((300 * 101 + 512 * 32)), 301]]" \
    "$(json live.json "[[x['size'], x['count']] for x in s['stats'] if x['key'].endswith('/$NAME')]")"
"$TM" top --peak --by function -n 0 --format json c300.json > top.json || fail "top --by function"
assert_eq "functions" "true" \
    "$(json top.json '{"cache_put(int, int)", "name_put(int)"} <= {x["key"] for x in s["stats"]}')"
json top.json '[x["key"] for x in s["stats"]]' | grep -q "allocator" && fail "an allocator function in top --by function"
# the raw stacks on request: new_allocator.h is the innermost line again
"$TM" top --peak -n 0 --keep-alloc-frames c300.json > raw.txt || fail "top --keep-alloc-frames"
grep -q "/new_allocator.h:[0-9]*: " raw.txt || fail "raw stacks: $(cat raw.txt)"
# text: template arguments shortened, whole with --full-names
"$TM" top --peak --by function -n 0 --keep-alloc-frames c300.json > short.txt || fail "top short"
grep -q "^std::__new_allocator<>::allocate(unsigned long, void const\*): " short.txt ||
    fail "shortened: $(cat short.txt)"
"$TM" top --peak --by function -n 0 --keep-alloc-frames --full-names c300.json > full.txt || fail "top full"
grep -q "^std::__new_allocator<double>::allocate(unsigned long, void const\*): " full.txt ||
    fail "full names: $(cat full.txt)"

# diff: what grew is on the user's lines
"$TM" diff c100.json c300.json -n 3 --format json > diff.json || fail diff
assert_eq "diff's biggest" "$PUT" "$(json diff.json 's["stats"][0]["key"].split("/")[-1]')"
assert_eq "diff's growth" "$((200 * 64 + 200 * 800))" "$(json diff.json 's["stats"][0]["size_diff"]')"

# leaks and check: the leaked map at cache_leak's line; its nodes and
# strings (indirect) at the line of operator[], not in stl_tree.h
NODE="cache.cc:$(line NODE cache.cc)"
"$TM" leaks c300.json > leaks.txt || fail leaks
# (the map and its nodes point at each other: Valgrind and tracemem call
# one of them the definite one; every record is on one of the two lines)
grep -A1 "definitely lost" leaks.txt | grep -q "at cache_leak(int) (.*\($LEAK\|$NODE\))" ||
    fail "leaks: $(cat leaks.txt)"
[ "$(grep -c "lost in loss record" leaks.txt)" = "$(grep -A1 "lost in loss record" leaks.txt |
    grep -c "at cache_leak(int) (.*\($LEAK\|$NODE\))")" ] || fail "leaks not at the user's lines: $(cat leaks.txt)"
grep -q "include/c++" leaks.txt && fail "a library header in leaks: $(cat leaks.txt)"
"$TM" check --format json c300.json > check.json && fail "check passed with a leak"
assert_eq "check's records" "true" \
    "$(json check.json 'all(r["frames"][0]["file"].split("/")[-1] + ":" + str(r["frames"][0]["line"]) in ("'"$LEAK"'", "'"$NODE"'") for r in s["records"]) and len(s["records"]) > 1')"
if command -v valgrind >/dev/null 2>&1; then
    # the bytes Valgrind finds lost, whatever the frames shown (the map and
    # its nodes form a cycle: which block of it is the definite one
    # depends on the allocator's addresses, in both tools)
    valgrind --leak-check=full ./cache 300 2> vg.txt > /dev/null
    vg=$(sed -n 's/.*\(definitely\|indirectly\) lost: \([0-9,]*\) bytes.*/\2/p' vg.txt | tr -d , |
        awk '{ n += $1 } END { print n }')
    assert_eq "Valgrind's lost bytes" "$vg" \
        "$(json check.json 's["summary"]["definite"]["bytes"] + s["summary"]["indirect"]["bytes"]')"
fi

# export (the stacks flamegraph draws): leaves are the user's functions
"$TM" export --to folded --metric peak c300.json > folded.txt || fail export
grep -q "include/c++\|allocator" folded.txt && fail "allocator frames in the folded stacks: $(head -3 folded.txt)"
grep -q ";cache_put(int, int) [0-9]*$" folded.txt || fail "folded leaf: $(cat folded.txt)"
"$TM" flamegraph --metric peak -o flame.svg c300.json || fail flamegraph
grep -q "new_allocator" flame.svg && fail "allocator frames in the flame graph"
grep -q "cache_put" flame.svg || fail "cache_put not in the flame graph"

# run's summary: the top stack at the peak starts at cache_put's line
"$TM" run -o "$WORK/run.json" ./cache 300 2> run.err > out || fail "run exited $?"
sed -n '/top stacks at the peak/,$p' run.err | sed -n 3p | grep -q "^ *cache_put(int, int) at .*$PUT (cache)$" ||
    fail "run summary, peak: $(cat run.err)"
# and its leaks are merged by the stack shown: one record a line and kind
sed -n '/top leaks:/,/top stacks/p' run.err > run-top.txt
"$TM" leaks --kinds definite,indirect run.json > run-leaks.txt || fail "leaks run.json"
assert_eq "run's leak records" "$(grep -c "lost in loss record" run-leaks.txt)" \
    "$(grep -c "blocks \(definitely\|indirectly\) lost$" run-top.txt)"

# C: xmalloc (built in) and a wrapper of the program's own (--alloc-fn)
cat > wrap.c <<'EOF'
#include <stdlib.h>
#include <string.h>
void *xmalloc(size_t n) { void *p = malloc(n); if (!p) abort(); return p; }
void *pool_alloc(size_t n) { return xmalloc(n); }
char *lib_dup(const char *s) { char *p = pool_alloc(strlen(s) + 1); strcpy(p, s); return p; }
EOF
cat > wmain.c <<'EOF'
#include <stdlib.h>
void *xmalloc(size_t n);
void *pool_alloc(size_t n);
static void *keep[32];
__attribute__((noinline)) static void make_tables(void)
{
    for (int i = 0; i < 16; i++)
        keep[i] = pool_alloc(1000); /* SITE_POOL */
}
__attribute__((noinline)) static void make_buffers(void)
{
    for (int i = 16; i < 32; i++)
        keep[i] = xmalloc(500); /* SITE_X */
}
int main(void)
{
    make_tables();
    make_buffers();
    return keep[0] == 0;
}
EOF
"$CC" -g -O0 -fPIC -shared -o libwrap.so wrap.c || fail "cannot build libwrap.so"
"$CC" -g -O0 -o wmain wmain.c -L. -lwrap -Wl,-rpath,"$WORK" || fail "cannot build wmain"
"$TM" run -q -o "$WORK/w.json" ./wmain || fail "run wmain exited $?"
"$TM" top -n 0 --format json w.json > top.json || fail "top w"
assert_eq "xmalloc folded" "[8000]" \
    "$(json top.json "[x['size'] for x in s['stats'] if x['key'].endswith('wmain.c:$(line X wmain.c)')]")"
assert_eq "pool_alloc shown" "[16000]" \
    "$(json top.json "[x['size'] for x in s['stats'] if x['key'].endswith('wrap.c:4')]")"
"$TM" top -n 0 --format json --alloc-fn pool_alloc w.json > top.json || fail "top --alloc-fn"
assert_eq "--alloc-fn" "[16000]" \
    "$(json top.json "[x['size'] for x in s['stats'] if x['key'].endswith('wmain.c:$(line POOL wmain.c)')]")"
"$TM" top -n 0 --format json --alloc-fn 'pool_*' --keep-alloc-frames w.json > top.json || fail "top keep"
assert_eq "--keep-alloc-frames wins" "[24000]" \
    "$(json top.json "[x['size'] for x in s['stats'] if x['key'].endswith('wrap.c:3')]")"
"$TM" top --alloc-fn '' w.json 2> err && fail "an empty --alloc-fn was taken"
grep -q "empty pattern" err || fail "empty --alloc-fn: $(cat err)"

# a stripped library: its frames are "??", and one note says which file
# and how to get symbols (once, though two snapshots were symbolized)
cat > hidden.c <<'EOF'
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) static void *chunk_new(size_t n) { void *p = malloc(n); if (p) memset(p, 0, n); return p; }
__attribute__((noinline)) static void *pool_get(size_t n) { return chunk_new(n + 16); }
void *hidden_get(size_t n) { return pool_get(n); }
EOF
cat > hmain.c <<'EOF'
#include <stdlib.h>
#include <unistd.h>
void *hidden_get(size_t n);
static void *keep[8];
int main(void)
{
    for (int i = 0; i < 8; i++)
        keep[i] = hidden_get(100 * i);
    if (fork() == 0)
        _exit(0);
    return keep[0] == 0;
}
EOF
"$CC" -O1 -fPIC -shared -o libhidden.so hidden.c || fail "cannot build libhidden.so"
command -v strip >/dev/null && strip libhidden.so
"$CC" -g -O0 -o hmain hmain.c -L. -lhidden -Wl,-rpath,"$WORK" || fail "cannot build hmain"
"$TM" run -o "$WORK/h.%p.json" ./hmain 2> run.err || fail "run hmain exited $?"
assert_eq "one note" 1 "$(grep -c "^tracemem: note: .* frames in $WORK/libhidden.so have no function name" run.err)"
grep -q "libhidden.so have no function name.*rebuild it with -g.*DEBUGINFOD_URLS" run.err ||
    fail "the note: $(cat run.err)"
exit 0
