#!/bin/bash
# bench/decompose.sh - what exact mode's two largest parts cost: the stack
# capture and the live table. Builds three measurement-only shims from a
# copy of the checkout's HEAD commit (git archive: commit what you measure)
# and times them interleaved with the untraced run and the unchanged shim
# (bench/interleave.sh):
#
#   nocap  the capture answers every allocation of a thread with the
#          thread's first stack (no walk, no cache lookup, no Python
#          frames): what exact mode costs with a capture that costs nothing;
#   notab  the live table is not touched: an allocation only adds to the
#          figures, a free takes its size from glibc's chunk header and
#          counts it against stack 1 (every free, traced or not): what a
#          block header in place of the table could at best cost, less
#          the header's own loads and stores;
#   both   the two together: what is left (hooks, figures, bookkeeping).
#
# The figures these shims write are wrong by design (do not read their
# snapshots); the workloads' output is unchanged. Not run by make check.
#
# Usage: bench/decompose.sh [ROUNDS]   (run from a configured build tree
#   whose .libs/libtracemem.so is the unchanged shim; builds in a temp dir)
# Environment: as bench/interleave.sh (BIN, SCRATCH, ONLY, TIMER: perf by
#   default); KEEP=DIR keeps the three shims in DIR.
set -eu
rounds=${1:-5}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
shim=$PWD/.libs/libtracemem.so
[ -f "$shim" ] || { echo "$0: no $shim: run from a built tree" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${KEEP:-$tmp/shims}
mkdir -p "$out"
git -C "$srcdir" archive --format=tar HEAD | tar -x -C "$tmp" -f - 2>/dev/null ||
    { echo "$0: $srcdir is not a git checkout" >&2; exit 2; }
(cd "$tmp" && autoreconf -fi >/dev/null 2>&1 && ./configure --quiet >/dev/null) ||
    { echo "$0: configure of the copy failed" >&2; exit 2; }

# patch FILE OLD NEW: replaces the one occurrence of OLD, or fails.
patch_once() {
    python3 - "$tmp/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
s = open(path).read()
if s.count(old) != 1:
    sys.exit(f"decompose.sh: {path}: the text to replace is not there once; update the patch")
open(path, 'w').write(s.replace(old, new))
EOF
}

nocap() {
    patch_once src/shim/trace.c 'static uint32_t capture_stack(void)
{' 'static uint32_t capture_stack(void)
{
    static __thread uint32_t first;
    if (first)
        return first;'
    patch_once src/shim/trace.c '    return tm__capture_finish(&memo, pcs, n, depth);
}' '    return first = tm__capture_finish(&memo, pcs, n, depth);
}'
}

notab() {
    patch_once src/shim/live.c '    int rc, solo = (flags & TM_FIG_SOLO) != 0;
    if (!solo)
        tm__lock_acquire(&s->lock);' '    int rc, solo = (flags & TM_FIG_SOLO) != 0;
    if (fits(b)) {
        if (!solo)
            tm__lock_acquire(&s->lock);
        tm__figures_locked(b, NULL, flags);
        if (!solo)
            tm__lock_release(&s->lock);
        return 0;
    }
    if (!solo)
        tm__lock_acquire(&s->lock);'
    patch_once src/shim/live.c '    if (!solo)
        tm__lock_acquire(&s->lock);
    int found = take(s, ptr, h, out, note);' '    if (!solo)
        tm__lock_acquire(&s->lock);
    out->ptr = ptr;
    out->size = (((const size_t *)ptr)[-1] & ~(size_t)15) - 8;
    out->count = 1;
    out->stack = 1;
    if (figures)
        tm__figures_locked(NULL, out, flags);
    if (!solo)
        tm__lock_release(&s->lock);
    return 1;
    int found = take(s, ptr, h, out, note);'
}

build() { # NAME PATCHES...
    local name=$1
    shift
    (cd "$tmp" && git -C "$srcdir" archive --format=tar HEAD src | tar -m -x -f -)
    for p in "$@"; do $p; done
    make -C "$tmp" -j2 libtracemem.la >/dev/null 2>&1 || { echo "$0: build of $name failed" >&2; exit 2; }
    cp "$tmp/.libs/libtracemem.so" "$out/$name.so"
}
build nocap nocap
build notab notab
build both nocap notab

export TIMER=${TIMER:-perf}
echo "== the capture: base = unchanged, new = nocap, extra = both"
EXTRA="$out/both.so" TOOLS="untraced base new extra" "$srcdir/bench/interleave.sh" "$shim" "$out/nocap.so" "$rounds"
echo "== the live table: base = unchanged, new = notab"
TOOLS="untraced base new" "$srcdir/bench/interleave.sh" "$shim" "$out/notab.so" "$rounds"
