# lib.sh - sourced by every integration test (tests/integration/*.sh).
#
# Gives: $SHIM (libtracemem.so), $TM (the tracemem command), $PROGS (test
# programs), $WORK (a fresh directory in the build tree, removed on exit),
# fail/skip, and small JSON helpers built on python3.
# Exit status 77 means "skipped" to automake.

set -u
: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
SHIM=${TRACEMEM_SHIM:-$top_builddir/.libs/libtracemem.so}
TM=${TRACEMEM_BIN:-$top_builddir/tracemem}
PROGS=${PROGS:-$top_builddir/tests/progs}
DATA=$top_srcdir/tests/data
mkdir -p "$top_builddir/tests/work"
WORK=$(mktemp -d "$top_builddir/tests/work/$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Tests must not inherit a user's settings.
unset TRACEMEM_NFRAMES TRACEMEM_OUTPUT TRACEMEM_START TRACEMEM_AT_EXIT \
      TRACEMEM_SIGNAL TRACEMEM_INTERVAL TRACEMEM_SAMPLE TRACEMEM_PEAK_INACCURACY \
      TRACEMEM_FOLLOW_FORK TRACEMEM_FOLLOW_EXEC TRACEMEM_VERIFY_STACKS \
      TRACEMEM_STACK_CACHE TRACEMEM_TIMELINE TRACEMEM_GZIP_LEVEL LD_PRELOAD
export LC_ALL=C

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
note() { echo "# $*"; }

# status WANT ARGS...: runs the tracemem command with ARGS, fails the test
# unless it exits WANT; its stdout is in $WORK/out, its stderr in $WORK/err
status() {
    want=$1; shift
    "$TM" "$@" > "$WORK/out" 2> "$WORK/err"
    rc=$?
    [ "$rc" = "$want" ] || fail "tracemem $* exited $rc, not $want: $(cat "$WORK/err")"
}

# Debian's python3 (where apt-get installs python3-* modules) is preferred
# over whatever python3 comes first in PATH; scripts just call python3.
if [ -x /usr/bin/python3 ]; then
    python3() { /usr/bin/python3 "$@"; }
fi
command -v python3 >/dev/null 2>&1 || skip "python3 is needed to read JSON"

# json FILE EXPR: prints the Python expression EXPR evaluated with `s` bound
# to the parsed JSON document of FILE, plain or gzip'd (lists/dicts printed
# as JSON).
json() {
    python3 - "$1" "$2" <<'PY'
import gzip, json, sys
with open(sys.argv[1], "rb") as f:
    gz = f.read(2) == b"\x1f\x8b"
s = json.load(gzip.open(sys.argv[1], "rt") if gz else open(sys.argv[1]))
v = eval(sys.argv[2], {"s": s, "sum": sum, "len": len, "any": any, "all": all,
                       "max": max, "min": min, "sorted": sorted, "set": set})
print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)
PY
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# preload CMD...: runs CMD with the shim preloaded (environment as set).
preload() {
    LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" "$@"
}

# only_file PATTERN: the single file matching the glob PATTERN, or fail.
only_file() {
    set -- $1
    [ $# -eq 1 ] && [ -e "$1" ] || fail "expected exactly one file, got: $*"
    echo "$1"
}

# Per-site figures of the program's own call sites in snapshot $1 (traces
# whose innermost frame lies in the executable, heap domain), one line per
# site keyed by its average allocation size: "SIZE live_bytes live_blocks
# allocated_bytes allocated_blocks", sorted by SIZE.
exe_sites() {
    python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
exe = s["process"]["exe"]
rows = {}
for t in s["traces"]:
    st = s["stacks"][t["stack"]]
    if not st["frames"] or t["domain"] != 0:
        continue
    f = s["frames"][st["frames"][0]]
    if f["module"] < 0 or s["modules"][f["module"]]["path"] != exe:
        continue
    r = rows.setdefault(t["allocated_size"] // max(t["allocated_count"], 1), [0, 0, 0, 0])
    for i, k in enumerate(("size", "count", "allocated_size", "allocated_count")):
        r[i] += t[k]
for k in sorted(rows):
    print(k, *rows[k])
PY
}
