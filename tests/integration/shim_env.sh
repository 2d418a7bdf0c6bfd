#!/bin/sh
# shim_env.sh - the TRACEMEM_* variables of SPEC 3.
#  * A bad value of each prints exactly one warning line naming the variable
#    and the value used; the program's stdout and exit status are unchanged
#    and the default is what is used.
#  * TRACEMEM_NFRAMES truncates stacks and keeps the true depth.
#  * TRACEMEM_SAMPLE estimates a deterministic workload within 15 % (site A:
#    about 1200 samples, standard deviation near 3 %) and 20 % (site B:
#    about 780 samples, near 3.6 %) of the exact figures.
#  * TRACEMEM_AT_EXIT none/snapshot/leaks; TRACEMEM_START=0 without the API.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_env

mkdir "$WORK/plain"
(cd "$WORK/plain" && "$PROG" plain) >"$WORK/plain.out" 2>&1
assert_eq "untraced status" 0 "$?"
sed 's/ [0-9]*$//' "$WORK/plain.out" >"$WORK/plain.cmp"

# bad VAR VALUE USED: one warning naming VAR=VALUE and "using USED"
bad() {
    var=$1 value=$2 used=$3
    dir=$WORK/bad-$var
    mkdir "$dir"
    (cd "$dir" && env TRACEMEM_OUTPUT="$dir/s.json" "$var=$value" LD_PRELOAD="$SHIM" "$PROG" plain) \
        >"$dir.out" 2>"$dir.err"
    assert_eq "$var=$value: status" 0 "$?"
    sed 's/ [0-9]*$//' "$dir.out" | cmp -s - "$WORK/plain.cmp" || fail "$var=$value: stdout changed"
    assert_eq "$var=$value: stderr lines" 1 "$(wc -l <"$dir.err")"
    grep -q "$var=$value" "$dir.err" || fail "$var=$value: warning does not name it: $(cat "$dir.err")"
    grep -q "using $used\$" "$dir.err" || fail "$var=$value: warning does not say 'using $used': $(cat "$dir.err")"
    grep -q "^tracemem: " "$dir.err" || fail "$var=$value: warning lacks the tracemem: prefix: $(cat "$dir.err")"
}
# the snapshot of the last bad() run
snap() { only_file "$WORK/bad-$1/*.json"; }

bad TRACEMEM_NFRAMES 0 64
assert_eq "NFRAMES=0 uses 64" 64 "$(json "$(snap TRACEMEM_NFRAMES)" 's["snapshot"]["nframes"]')"
rm -r "$WORK/bad-TRACEMEM_NFRAMES"*
bad TRACEMEM_NFRAMES 300 64
rm -r "$WORK/bad-TRACEMEM_NFRAMES"*
bad TRACEMEM_NFRAMES 12abc 64
bad TRACEMEM_OUTPUT "" tracemem.%e.%p.json
set -- "$WORK/bad-TRACEMEM_OUTPUT"/tracemem.shim_env.*.json
[ $# -eq 1 ] && [ -f "$1" ] || fail "empty TRACEMEM_OUTPUT: default file not written in the working directory"
bad TRACEMEM_START 2 1
assert_eq "START=2 traces from the start" "4321 1" "$($CHECK exe "$(snap TRACEMEM_START)")"
bad TRACEMEM_AT_EXIT sometimes leaks
assert_eq "AT_EXIT=sometimes: exit snapshot" exit "$(json "$(snap TRACEMEM_AT_EXIT)" 's["snapshot"]["reason"]')"
bad TRACEMEM_SIGNAL NOPE none
rm -r "$WORK/bad-TRACEMEM_SIGNAL"*
bad TRACEMEM_SIGNAL KILL none
rm -r "$WORK/bad-TRACEMEM_SIGNAL"*
bad TRACEMEM_SIGNAL 0 none
bad TRACEMEM_INTERVAL -1 0
assert_eq "INTERVAL=-1: one snapshot, no number" s.json "$(ls "$WORK/bad-TRACEMEM_INTERVAL")"
rm -r "$WORK/bad-TRACEMEM_INTERVAL"*
bad TRACEMEM_INTERVAL 1s 0
bad TRACEMEM_SAMPLE -5 0
assert_eq "SAMPLE=-5: exact" 0 "$(json "$(snap TRACEMEM_SAMPLE)" 's["snapshot"]["sampling_bytes"]')"
assert_eq "SAMPLE=-5: exact figures" "4321 1" "$($CHECK exe "$(snap TRACEMEM_SAMPLE)")"
rm -r "$WORK/bad-TRACEMEM_SAMPLE"*
bad TRACEMEM_SAMPLE 1k 0
bad TRACEMEM_PEAK_INACCURACY 200 1
$CHECK valid "$(snap TRACEMEM_PEAK_INACCURACY)" || fail "PEAK_INACCURACY=200: invalid snapshot"
bad TRACEMEM_FOLLOW_FORK yes 1
bad TRACEMEM_FOLLOW_EXEC 2 1

# good values print nothing
mkdir "$WORK/good"
TRACEMEM_NFRAMES=256 TRACEMEM_START=1 TRACEMEM_AT_EXIT=snapshot TRACEMEM_SIGNAL=SIGUSR2 \
    TRACEMEM_INTERVAL=0 TRACEMEM_SAMPLE=0 TRACEMEM_PEAK_INACCURACY=0.5 TRACEMEM_FOLLOW_FORK=1 \
    TRACEMEM_FOLLOW_EXEC=1 TRACEMEM_OUTPUT="$WORK/good/s.%n.json" preload "$PROG" plain \
    >"$WORK/good.out" 2>"$WORK/good.err"
assert_eq "good values: status" 0 "$?"
[ -s "$WORK/good.err" ] && { cat "$WORK/good.err" >&2; fail "good values: stderr"; }

# NFRAMES truncation keeps the true depth
for n in 8 256; do
    TRACEMEM_NFRAMES=$n TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/deep$n.json" \
        preload "$PROG" deep 40 >/dev/null || fail "deep $n failed"
    $CHECK valid "$WORK/deep$n.json" || fail "deep $n: invalid snapshot"
done
full=$(json "$WORK/deep256.json" '[[len(s["stacks"][t["stack"]]["frames"]), s["stacks"][t["stack"]]["depth"]] for t in s["traces"] if t["size"] == 7777][0]')
trunc=$(json "$WORK/deep8.json" '[[len(s["stacks"][t["stack"]]["frames"]), s["stacks"][t["stack"]]["depth"]] for t in s["traces"] if t["size"] == 7777][0]')
depth=$(echo "$full" | tr -d '[] ' | cut -d, -f2)
[ "$depth" -ge 42 ] || fail "deep 40: depth $depth < 42"
assert_eq "NFRAMES=256: all frames kept" "[$depth, $depth]" "$full"
assert_eq "NFRAMES=8: 8 frames, true depth" "[8, $depth]" "$trunc"
assert_eq "NFRAMES=8: snapshot.nframes" 8 "$(json "$WORK/deep8.json" 's["snapshot"]["nframes"]')"
assert_eq "NFRAMES=8: no longer stack" 8 "$(json "$WORK/deep8.json" 'max(len(t["frames"]) for t in s["stacks"])')"

# sampling
TRACEMEM_SAMPLE=16384 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/sample.json" \
    preload "$PROG" sample >"$WORK/sample.out" 2>&1
assert_eq "sample: status" 0 "$?"
assert_eq "sample: output" "sample 1 1" "$(cat "$WORK/sample.out")"
S=$WORK/sample.json
$CHECK valid "$S" || fail "sample: invalid snapshot"
assert_eq "sample: sampling_bytes" 16384 "$(json "$S" 's["snapshot"]["sampling_bytes"]')"
$CHECK exe "$S" | python3 -c '
import sys
rows = [tuple(map(int, l.split())) for l in sys.stdin]
def near(what, got, want, tol):
    if abs(got - want) > tol * want:
        sys.exit("%s: estimate %d is not within %d%% of %d" % (what, got, tol * 100, want))
    print("# %s: estimate %d, exact %d (%+.1f%%)" % (what, got, want, 100.0 * (got - want) / want))
a = [r for r in rows if r[1] and 900 < r[0] / r[1] < 1100]
b = [r for r in rows if r[1] and 50 < r[0] / r[1] < 80]
if len(a) != 1 or len(b) != 1:
    sys.exit("sample: expected one trace per site, got %r" % rows)
near("site A bytes", a[0][0], 20000 * 1000, 0.15)
near("site A blocks", a[0][1], 20000, 0.15)
near("site B bytes", b[0][0], 200000 * 64, 0.20)
near("site B blocks", b[0][1], 200000, 0.20)
' || fail "sampling estimates out of tolerance"

# AT_EXIT and START
for mode in none snapshot leaks; do
    mkdir "$WORK/at-$mode"
    TRACEMEM_AT_EXIT=$mode TRACEMEM_OUTPUT="$WORK/at-$mode/s.json" preload "$PROG" plain >/dev/null 2>"$WORK/at-$mode.err"
    assert_eq "AT_EXIT=$mode: status" 0 "$?"
    [ -s "$WORK/at-$mode.err" ] && fail "AT_EXIT=$mode: stderr: $(cat "$WORK/at-$mode.err")"
done
assert_eq "AT_EXIT=none: files" "" "$(ls "$WORK/at-none")"
for mode in snapshot leaks; do
    $CHECK valid "$WORK/at-$mode/s.json" || fail "AT_EXIT=$mode: invalid snapshot"
    assert_eq "AT_EXIT=$mode: reason" exit "$(json "$WORK/at-$mode/s.json" 's["snapshot"]["reason"]')"
done
assert_eq "AT_EXIT=leaks: leak check done" True "$(json "$WORK/at-leaks/s.json" 's["leaks"]["checked"]' | sed 's/true/True/')"
# shim_keep is a global: its 4321-byte block is reachable, nothing leaked
assert_eq "AT_EXIT=leaks: the global's block" '[["reachable", 4321, 1]]' \
    "$(json "$WORK/at-leaks/s.json" '[[l["kind"], l["bytes"], l["blocks"]] for l in s["leaks"]["stacks"] if l["bytes"] == 4321]')"
assert_eq "AT_EXIT=leaks: definite, indirect blocks" "0 0" \
    "$(json "$WORK/at-leaks/s.json" '"%d %d" % (s["leaks"]["summary"]["definite"]["blocks"], s["leaks"]["summary"]["indirect"]["blocks"])')"
assert_eq "AT_EXIT=snapshot: no leak check" False "$(json "$WORK/at-snapshot/s.json" 's["leaks"]["checked"]' | sed 's/false/False/')"
mkdir "$WORK/start0"
TRACEMEM_START=0 TRACEMEM_OUTPUT="$WORK/start0/s.json" preload "$PROG" plain >/dev/null 2>&1
assert_eq "START=0 without tracemem_start(): files" "" "$(ls "$WORK/start0")"
# stderr is a pipe whose reader has gone: the warning line must not kill the
# program with SIGPIPE (its status stays the untraced one)
untraced=$("$PROG" plain >/dev/null 2>&1; echo $?)
(
    sleep 0.3
    TRACEMEM_NFRAMES=bogus TRACEMEM_OUTPUT="$WORK/pipe.json" preload "$PROG" plain 2>&1 >/dev/null
    echo $? >"$WORK/pipe.rc"
) | true
sleep 0.5
assert_eq "warning into a closed pipe: status" "$untraced" "$(cat "$WORK/pipe.rc")"

# a snapshot streamed into a FIFO whose reader leaves at once: a failed
# write, not a killed program
mkfifo "$WORK/gone.fifo"
timeout 10 head -c 1 "$WORK/gone.fifo" >/dev/null &
reader=$!
sleep 0.3
TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/gone.fifo" preload "$PROG" plain >/dev/null 2>"$WORK/gone.err"
assert_eq "fifo reader gone: status" "$untraced" "$?"
wait $reader

exit 0
