#!/usr/bin/env bash
# matrix.sh - real programs under the shim, compared byte for byte with an
# untraced run: 'make check-matrix' (not part of make check; .ci/run runs it
# after make check).
#
# Each case runs its command untraced ("plain"), under the shim with the
# default settings (leak scan at exit, "traced") and, for some, with
# TRACEMEM_SIGNAL=USR1 TRACEMEM_INTERVAL=0.05 as well ("signal"). Every run
# gets a fresh working directory at the same path ($WORK/CASE/run, with
# HOME and TMPDIR inside it), so paths in output are identical and need no
# normalizing; the snapshots go to a directory outside it. Compared with the
# plain run: exit status, stdout, stderr, and the listing of the working
# directory (type, mode, sha256 of every file: matrix_check.py list). Each
# traced run must also have written a valid snapshot from every process that
# exited normally (matrix_check.py snaps). A traced command that runs longer
# than 60 s is killed by timeout and the case fails.
#
# Prints one line per case and variant: "PASS: name", "FAIL: name: what
# differed" or "SKIP: name: why", then "matrix: N passed, N failed, N
# skipped". Full diffs go to $MATRIX_LOG (check-matrix.log in the build
# tree). MATRIX_ONLY="name ..." runs only those cases. Exit status 1 when a
# case failed.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/matrix_check.py"
LOG=${MATRIX_LOG:-$top_builddir/check-matrix.log}
PY=/usr/bin/python3
TIMEOUT=60
: >"$LOG"

# The matrix itself must not hand the programs anything an untraced run from
# a terminal would not have: make's jobserver and flags (the make -j2 case
# would join the outer make's jobserver) and inherited descriptors above 2
# (the descriptor cases print the numbers they get).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
done 2>/dev/null

npass=0 nfail=0 nskip=0

log() { printf '%s\n' "$*" >>"$LOG"; }

# first_diff A B: the first differing lines of files A and B on one line:
# up to 3 lines of A ("-", the plain run) and of B ("+") from the first
# place they differ, at most 400 characters.
first_diff() {
    diff "$1" "$2" | awk '
        /^[0-9]/ { if (++hunk > 1) exit; next }
        /^</ && minus++ < 3 { out = out sep "-" substr($0, 2); sep = " | " }
        /^>/ && plus++ < 3 { out = out sep "+" substr($0, 2); sep = " | " }
        END { print out }' | cut -c 1-400
}

# run_variant CASE VARIANT: runs $CMD (set by the case function) in a fresh
# $WORK/CASE/run after the case's setup, which runs untraced; leaves
# VARIANT.{out,err,rc,files} and snaps.VARIANT/ in $WORK/CASE.
run_variant() {
    local c=$1 v=$2 d=$WORK/$1
    local pre=()
    rm -rf "$d/run"
    mkdir -p "$d/run/.home" "$d/run/.tmp" "$d/snaps.$v"
    if ! (cd "$d/run" && HOME=$d/run/.home TMPDIR=$d/run/.tmp "setup_$c") >"$d/setup.$v.log" 2>&1; then
        echo 125 >"$d/$v.rc"
        return 1
    fi
    case $v in
    traced) pre=("LD_PRELOAD=$SHIM" "TRACEMEM_OUTPUT=$d/snaps.$v/%e.%p.json") ;;
    signal) pre=("LD_PRELOAD=$SHIM" "TRACEMEM_OUTPUT=$d/snaps.$v/%e.%p.json"
                 TRACEMEM_SIGNAL=USR1 TRACEMEM_INTERVAL=0.05) ;;
    esac
    # sh writes its pid, then becomes timeout: the root process's parent,
    # which matrix_check.py needs to find the root's snapshot.
    (cd "$d/run" && HOME=$d/run/.home TMPDIR=$d/run/.tmp \
        exec sh -c 'echo $$ >"$0"; exec timeout "$@"' "$d/$v.pid" "$TIMEOUT" \
        env ${pre[@]+"${pre[@]}"} "${CMD[@]}") </dev/null >"$d/$v.out" 2>"$d/$v.err"
    echo $? >"$d/$v.rc"
    # timeout put the command in a process group of its own (pgid = its
    # pid); a process that outlived the command (python's resource tracker
    # exits when it sees its parent gone) must be done before its files and
    # snapshots are looked at.
    local tpid i
    tpid=$(cat "$d/$v.pid")
    for i in $(seq 100); do
        pgrep -g "$tpid" >/dev/null || break
        sleep 0.1
    done
    if pgrep -g "$tpid" >/dev/null; then
        log "--- ${c//_/-}/$v: processes still running 10 s after the command ended: $(pgrep -g "$tpid" -l | tr '\n' ' ')"
        kill -KILL -- "-$tpid" 2>/dev/null
    fi
    if declare -F "post_$c" >/dev/null; then
        (cd "$d/run" && "post_$c") >>"$d/setup.$v.log" 2>&1
    fi
    $CHECK list "$d/run" >"$d/$v.files"
    rm -rf "$d/run"
}

# compare CASE VARIANT: prints what differs between the plain and VARIANT
# runs (nothing when they agree) and logs the full diffs.
compare() {
    local c=$1 v=$2 d=$WORK/$1 n=${1//_/-} what=() prc rc f
    prc=$(cat "$d/plain.rc") rc=$(cat "$d/$v.rc")
    if [ "$rc" = 124 ] && [ "$prc" != 124 ]; then
        what+=("timed out after ${TIMEOUT}s (plain run exited $prc)")
    elif [ "$prc" != "$rc" ]; then
        what+=("exit status $prc untraced, $rc traced")
    fi
    for f in out err files; do
        if declare -F "norm_$c" >/dev/null; then
            "norm_$c" <"$d/plain.$f" >"$d/plain.$f.n"
            "norm_$c" <"$d/$v.$f" >"$d/$v.$f.n"
        else
            cp "$d/plain.$f" "$d/plain.$f.n"
            cp "$d/$v.$f" "$d/$v.$f.n"
        fi
        if ! cmp -s "$d/plain.$f.n" "$d/$v.$f.n"; then
            what+=("$(case $f in out) echo stdout ;; err) echo stderr ;; files) echo "files written" ;; esac) differs: $(first_diff "$d/plain.$f.n" "$d/$v.$f.n")")
            log "--- $n/$v: diff of $f (plain, $v)"
            diff -u "$d/plain.$f.n" "$d/$v.$f.n" | head -n 60 >>"$LOG"
        fi
    done
    if ! $CHECK snaps "$d/snaps.$v" "$(cat "$d/$v.pid")" "$rc" ${EXPECT[@]+"${EXPECT[@]}"} >"$d/$v.snaps"; then
        what+=("snapshots: $(head -n 2 "$d/$v.snaps" | tr '\n' '|' | sed 's/|$//; s/|/ | /g' | cut -c 1-300)")
        log "--- $n/$v: snapshot problems"
        head -n 40 "$d/$v.snaps" >>"$LOG"
    fi
    # %e.%p.json; with a signal or an interval every file gets .N as well
    local strip='s/\.[0-9]+\.json$//'
    [ "$v" = signal ] && strip='s/\.[0-9]+\.[0-9]+\.json$//'
    log "--- $n/$v: snapshot files by executable: $(ls "$d/snaps.$v" | sed -E "$strip" | sort | uniq -c | tr -s ' \n' '  ')"
    local sep= w
    for w in ${what[@]+"${what[@]}"}; do
        printf '%s%s' "$sep" "$w"
        sep='; '
    done
}

# matrix CASE: runs case_CASE (sets CMD, EXPECT, VARIANTS, WANT_RC, NEEDS,
# WANT_OUT) and its runs, prints the result lines.
matrix() {
    local c=$1 d=$WORK/$1 name=${1//_/-} v vname msg start
    if [ -n "${MATRIX_ONLY:-}" ] && ! [[ " $MATRIX_ONLY " == *" $name "* ]]; then
        return 0
    fi
    CMD=() EXPECT=() VARIANTS=traced WANT_RC=0 NEEDS= WANT_OUT=
    "case_$c"
    for v in $NEEDS; do
        if ! command -v "$v" >/dev/null 2>&1; then
            echo "SKIP: $name: $v is not installed"
            nskip=$((nskip + 1))
            return 0
        fi
    done
    start=$SECONDS
    mkdir -p "$d"
    run_variant "$c" plain
    # The plain run must do what the case is written for; a case whose
    # command fails untraced would compare two failures and pass.
    if [ "$(cat "$d/plain.rc")" != "$WANT_RC" ] ||
        { [ -n "$WANT_OUT" ] && [ "$(cat "$d/plain.out")" != "$WANT_OUT" ]; }; then
        if declare -F "skip_$c" >/dev/null && msg=$("skip_$c"); then
            echo "SKIP: $name: $msg"
            nskip=$((nskip + 1))
        else
            echo "FAIL: $name: the untraced run exited $(cat "$d/plain.rc"), not $WANT_RC, or printed other than expected: $(cat "$d/plain.out" "$d/plain.err" | head -c 200 | tr '\n' ' ')"
            nfail=$((nfail + 1))
        fi
        rm -rf "$d"
        return 0
    fi
    log "=== $name: untraced: exit $(cat "$d/plain.rc"), stdout: $(head -n 3 "$d/plain.out" | tr '\n' '|' | cut -c 1-200)"
    for v in $VARIANTS; do
        run_variant "$c" "$v"
        msg=$(compare "$c" "$v")
        vname=$name
        [ "$v" = traced ] || vname=$name/$v
        if [ -z "$msg" ]; then
            echo "PASS: $vname"
            npass=$((npass + 1))
        else
            echo "FAIL: $vname: $msg"
            nfail=$((nfail + 1))
        fi
    done
    log "=== $name: $((SECONDS - start)) s"
    rm -rf "$d"
}

# ---------------------------------------------------------------- cases

setup_node_alloc() {
    cat >alloc.js <<'JS'
const fs = require("fs");
const rows = [];
for (let i = 0; i < 200000; i++) rows.push({ i, s: "row-" + i, a: [i, i * 2] });
const m = new Map(rows.map((r) => [r.s, r]));
const text = JSON.stringify(rows.slice(0, 5000));
fs.writeFileSync("rows.json", text);
console.log(rows.length, m.get("row-12345").a[1], text.length);
console.error("done on stderr");
process.exitCode = 3;
JS
}
case_node_alloc() { CMD=(node alloc.js) EXPECT=(node:1) WANT_RC=3 NEEDS=node; }

setup_node_worker() {
    cat >worker.js <<'JS'
const { Worker, isMainThread, parentPort, workerData } = require("worker_threads");
function work(n) {
    const a = [];
    for (let i = 0; i < n; i++) a.push("w" + i * 7);
    return a.join(",").length;
}
if (isMainThread) {
    const w = new Worker(__filename, { workerData: 150000 });
    w.on("message", (m) => console.log("worker:", m, "main:", work(50000)));
    w.on("exit", (code) => console.log("worker exit", code));
} else {
    parentPort.postMessage(work(workerData));
}
JS
}
case_node_worker() { CMD=(node worker.js) EXPECT=(node:1) VARIANTS="traced signal" NEEDS=node; }

# A small C project: 8 modules and a main, built by make -j2; make, gcc,
# cc1, as, collect2 and ld all run under the shim (LD_PRELOAD is inherited).
setup_make_j2() {
    local i
    printf 'CC = gcc\nCFLAGS = -O2 -Wall\nOBJS =' >Makefile
    for i in 1 2 3 4 5 6 7 8; do
        printf ' m%d.o' "$i" >>Makefile
        printf 'int f%d(int x);\n' "$i" >>mods.h
        printf '#include "mods.h"\nint f%d(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * %d; return s; }\n' \
            "$i" "$i" >"m$i.c"
    done
    printf '#include <stdio.h>\n#include "mods.h"\nint main(void) { printf("%%d\\n", ' >main.c
    printf 'f%d(10) + ' 1 2 3 4 5 6 7 >>main.c
    printf 'f8(10)); return 0; }\n' >>main.c
    printf ' main.o\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\t./prog > result.txt\n' >>Makefile
    printf '$(OBJS): mods.h\n' >>Makefile
}
case_make_j2() { CMD=(make -j2) EXPECT=(make:1 cc1:9 x86_64-linux-gnu-as:9 x86_64-linux-gnu-ld.bfd:1 prog:1) NEEDS="make gcc"; }

# 200 subshells in command substitutions, each a pipeline into tr; then
# pipelines of external commands and a file written by a subshell.
setup_bash_forks() { :; }
case_bash_forks() {
    CMD=(bash -c '
n=0
for i in $(seq 200); do
    v=$( (echo "$i"; echo $((i * i))) | tr "\n" " " )
    n=$((n + ${#v}))
done
echo "total $n"
for i in 5 50 500; do seq "$i" | sort -rn | head -n 1; done
(for i in $(seq 20); do echo "line $i"; done) | tac > lines.txt
wc -l < lines.txt
exit 5')
    EXPECT=(bash:400 tr:200 seq:4 sort:3) WANT_RC=5 VARIANTS="traced signal" NEEDS=bash
}

setup_gxx() {
    cat >prog.cc <<'CC'
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>
template <typename T> static T total(const std::vector<T> &v) {
    T s{};
    for (const auto &x : v) s += x;
    return s;
}
int main() {
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 1000; i++) m["k" + std::to_string(i % 37)].push_back(i);
    std::vector<int> sums;
    for (auto &kv : m) sums.push_back(total(kv.second));
    std::sort(sums.begin(), sums.end());
    std::cout << m.size() << " " << sums.front() << " " << sums.back() << "\n";
    return 0;
}
CC
}
case_gxx() { CMD=(sh -c 'g++ -O2 -o prog prog.cc && ./prog') EXPECT=(cc1plus:1 x86_64-linux-gnu-as:1 x86_64-linux-gnu-ld.bfd:1 prog:1) NEEDS=g++; }

setup_clang() {
    cat >prog.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
int main(void) {
    char *w[100];
    for (int i = 0; i < 100; i++) { w[i] = malloc(16); snprintf(w[i], 16, "w%03d", (i * 37) % 100); }
    qsort(w, 100, sizeof *w, cmp);
    printf("%s %s\n", w[0], w[99]);
    for (int i = 0; i < 100; i++) free(w[i]);
    return 0;
}
C
}
case_clang() { CMD=(sh -c 'clang -O2 -Wall -o progc prog.c && ./progc') EXPECT=(clang:1 x86_64-linux-gnu-ld.bfd:1 progc:1) NEEDS=clang; }

# gdb runs the program to its end; "bt" then fails ("No stack."), so gdb
# exits 1.
setup_gdb() { :; }
case_gdb() {
    CMD=(gdb -nx -batch -ex run -ex bt --args "$PROGS/matrix_hello")
    EXPECT=(gdb:1 matrix_hello:1) WANT_RC=1 NEEDS=gdb
}
# "[Inferior 1 (process 1234) exited with code 03]": the inferior's pid
# differs between any two runs.
norm_gdb() { sed -E 's/\(process [0-9]+\)/(process PID)/'; }

setup_git() { printf 'one\ntwo\n' >a.txt; }
case_git() {
    CMD=(env GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@example.org
         GIT_COMMITTER_NAME=Bob GIT_COMMITTER_EMAIL=bob@example.org
         GIT_AUTHOR_DATE='2020-01-02T03:04:05+0000' GIT_COMMITTER_DATE='2020-01-02T03:04:05+0000'
         GIT_CONFIG_NOSYSTEM=1 sh -c '
git init -q -b main repo && cd repo && cp ../a.txt . &&
git add a.txt && git commit -q -m first &&
echo three >>a.txt && git commit -q -a -m second &&
git log --stat && git rev-parse HEAD && git gc -q && git count-objects -v')
    EXPECT=(git:6) NEEDS=git
}
# .git/index caches each file's ctime, mtime, inode and device, which differ
# between any two runs; what it says about content is its staged entries.
post_git() {
    git -C repo ls-files --stage >repo/.git/index.entries && rm repo/.git/index
}

setup_openssl() {
    $PY -c 'import sys; sys.stdout.write("".join("%06d openssl data\n" % (i * 7919 % 1000003) for i in range(60000)))' >data
}
case_openssl() {
    CMD=(sh -c '
K=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
IV=f0e0d0c0b0a090807060504030201000
openssl dgst -sha256 data &&
openssl enc -aes-256-cbc -K $K -iv $IV -in data -out data.enc &&
openssl enc -d -aes-256-cbc -K $K -iv $IV -in data.enc -out data.dec &&
cmp data data.dec && openssl dgst -sha256 data.enc')
    EXPECT=(openssl:4) NEEDS=openssl
}

# 12 MB at preset 1 (3 MiB blocks): both threads compress, and decompress.
setup_xz() {
    $PY -c '
import random, sys
r = random.Random(7)
words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
sys.stdout.write("".join(" ".join(r.choice(words) for _ in range(12)) + "\n" for _ in range(200000)))' >data
}
case_xz() {
    CMD=(sh -c 'xz -T2 -1 -k data && xz -T2 -d -c data.xz >data.out && cmp data data.out && xz -l data.xz')
    EXPECT=(xz:3) NEEDS=xz
}

setup_sort() {
    $PY -c '
import random, sys
r = random.Random(11)
sys.stdout.write("".join("%d %08x\n" % (r.randrange(10**6), r.getrandbits(32)) for _ in range(600000)))' >big.txt
}
case_sort() {
    CMD=(sh -c 'sort --parallel=2 -S 64M -k2 big.txt >by2.txt && sort --parallel=2 -S 64M -n -s big.txt >byn.txt && sort --parallel=2 -c -k2 by2.txt && wc -l by2.txt byn.txt')
    EXPECT=(sort:3) NEEDS=sort
}

setup_python_threads() {
    cat >threads.py <<'PY'
import concurrent.futures as cf
import threading
def work(n):
    return sum(len(str(i) * 5) for i in range(n))
lock = threading.Lock()
shared = []
def producer(k):
    for i in range(2000):
        with lock:
            shared.append((k, [i] * 3))
ts = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
for t in ts: t.start()
with cf.ThreadPoolExecutor(4) as ex:
    print(sum(ex.map(work, [20000] * 8)))
for t in ts: t.join()
print(len(shared), sum(len(x[1]) for x in shared))
with open("out.txt", "w") as f:
    f.write("%d\n" % len(shared))
PY
}
case_python_threads() { CMD=("$PY" threads.py) EXPECT=(python3.11:1) VARIANTS="traced signal"; }

# fork start method, with a thread allocating in the parent while it forks
# (the child inherits the allocator's state mid-update).
setup_python_mp_fork() {
    cat >mpfork.py <<'PY'
import multiprocessing as mp
import threading
stop = False
def churn():
    while not stop:
        [str(i) * 10 for i in range(200)]
def work(n):
    return sum(len(str(i) * 5) for i in range(n))
def child(q, n):
    q.put((n, work(n)))
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    t = threading.Thread(target=churn)
    t.start()
    q = ctx.Queue()
    ps = [ctx.Process(target=child, args=(q, 1000 * (i + 1))) for i in range(4)]
    for p in ps: p.start()
    got = sorted(q.get() for _ in ps)
    for p in ps: p.join()
    stop = True
    t.join()
    print(got, [p.exitcode for p in ps])
    with ctx.Pool(2) as pool:
        print(sum(pool.map(work, [1000] * 8)))
PY
}
case_python_mp_fork() { CMD=("$PY" mpfork.py) EXPECT=(python3.11:5) VARIANTS="traced signal"; }

setup_python_mp_spawn() {
    cat >mpspawn.py <<'PY'
import multiprocessing as mp
def work(n):
    return sum(len(str(i) * 5) for i in range(n))
def child(q, n):
    q.put((n, work(n)))
if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=child, args=(q, 1000 * (i + 1))) for i in range(3)]
    for p in ps: p.start()
    got = sorted(q.get() for _ in ps)
    for p in ps: p.join()
    print(got, [p.exitcode for p in ps])
    with ctx.Pool(2) as pool:
        print(sum(pool.map(work, [1000] * 8)))
PY
}
case_python_mp_spawn() { CMD=("$PY" mpspawn.py) EXPECT=(python3.11:4); }

setup_perl_fork() { :; }
case_perl_fork() {
    CMD=(perl -e '
my @pids;
for my $k (1 .. 5) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my %h; $h{$_} = "x" x ($_ % 50) for 1 .. 5000 * $k;
        open(my $f, ">", "child$k.txt") or die; print $f scalar(keys %h), "\n"; close $f;
        exit $k;
    }
    push @pids, $pid;
}
my @st = map { waitpid($_, 0); $? >> 8 } @pids;
print "@st\n";
print map { open(my $f, "<", "child$_.txt"); scalar <$f> } 1 .. 5;')
    EXPECT=(perl:6) NEEDS=perl
}

setup_fd_reuse() { :; }
case_fd_reuse() { CMD=("$PROGS/matrix_fds") EXPECT=(matrix_fds:1); }

# A program's first open() gets 3 when nothing else is open.
setup_python_fd() { :; }
case_python_fd() {
    CMD=("$PY" -c "import os; print(os.open('/dev/null', os.O_RDONLY))")
    EXPECT=(python3.11:1) WANT_OUT=3
}

# A process's thread count is visible to it (and to ps, gdb, unshare); a
# single-threaded program must stay single-threaded.
setup_proc_threads() { :; }
case_proc_threads() {
    CMD=(grep -E '^Threads:' /proc/self/status) EXPECT=(grep:1) VARIANTS="traced signal"
    WANT_OUT='Threads:	1'
}

setup_unshare() { :; }
case_unshare() { CMD=(unshare -Ur true) EXPECT=(true:1) VARIANTS="traced signal" NEEDS=unshare; }
skip_unshare() { echo "user namespaces are not available untraced: $(head -c 200 "$WORK/unshare/plain.err")"; }

# exit() from a SIGALRM handler 40 times (0.1 s each): a signal that
# interrupts the shim's own locking does not land there every time; the
# first run that does not exit 7 within 10 s ends the loop.
setup_alarm_exit() { :; }
case_alarm_exit() {
    CMD=(sh -c 'i=0
while [ $i -lt 40 ]; do
    i=$((i + 1))
    timeout 10 "$0"; rc=$?
    [ $rc = 7 ] || { echo "run $i: exit $rc"; exit 1; }
done' "$PROGS/matrix_alarm")
    EXPECT=(matrix_alarm:40) VARIANTS="traced signal"
}

for c in node_alloc node_worker make_j2 bash_forks gxx clang gdb git openssl xz sort \
    python_threads python_mp_fork python_mp_spawn perl_fork fd_reuse python_fd proc_threads unshare \
    alarm_exit; do
    matrix "$c"
done
echo "matrix: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
