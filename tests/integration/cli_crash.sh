#!/bin/sh
# Inputs that used to crash the CLI or reach undefined behaviour (run
# this test with a -fsanitize=address,undefined build too, see
# tracemem(1) and tests/fuzz/README):
#  * a stack of 40 000 frames: flamegraph recursed once per frame and
#    overflowed the stack (SIGSEGV); it is drawn, every frame;
#  * top --include '' (no statistics): qsort(NULL, 0);
#  * gc sections whose counts add up past INT64_MAX: signed overflow in
#    the totals and the growth by type; they saturate at INT64_MAX;
#  * event times too large for time_t.
. "$top_srcdir/tests/integration/lib.sh"

cd "$WORK" || fail "cd"
A=$DATA/cli-a.json
N=40000

# 1. a deep stack
python3 - "$A" deep.json "$N" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n = int(sys.argv[3])
s["frames"] = [{"module": 0, "offset": 4096 + i, "function": "f%d" % i,
                "file": "/src/deep.c", "line": i + 1} for i in range(n)]
s["stacks"] = [{"frames": list(range(n)), "depth": n}]
s["traces"] = [{"stack": 0, "domain": 0, "size": 4096, "count": 1,
                "allocated_size": 4096, "allocated_count": 1}]
s.pop("peak", None)
s.pop("leaks", None)
json.dump(s, open(sys.argv[2], "w"))
PY
# the default 8 MiB stack, whatever the caller's limit
rc=0
(ulimit -s 8192 && exec "$TM" flamegraph deep.json -o deep.svg) > out 2> err || rc=$?
assert_eq "flamegraph of $N frames: exit status" 0 "$rc"
assert_eq "flamegraph of $N frames: frames drawn" $((N + 1)) "$(grep -c '<g class="f"' deep.svg)"
rc=0
(ulimit -s 8192 && exec "$TM" flamegraph deep.json --diff deep.json -o deep-diff.html) > out 2> err || rc=$?
assert_eq "flamegraph --diff of $N frames: exit status" 0 "$rc"
for to in folded speedscope pprof; do
    rc=0
    (ulimit -s 8192 && exec "$TM" export deep.json --to $to -o deep.$to) > out 2> err || rc=$?
    assert_eq "export --to $to of $N frames: exit status" 0 "$rc"
done
assert_eq "folded stack of $N frames" $N "$(tr ';' '\n' < deep.folded | wc -l)"
status 0 top --by traceback -n 1 deep.json
status 0 top --cumulative deep.json

# 2. no statistics at all
status 0 top --include '' "$A"
assert_eq "top --include '': output" "Total: size=0 B, count=0" "$(cat "$WORK/out")"
status 0 diff --include '' "$A" "$DATA/cli-b.json"
status 0 top --include '' --format json "$A"

# 3. counts that add up past INT64_MAX saturate
python3 - "$DATA/cli-gc-a.json" big-gc.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m = 2**63 - 1
s["gc"]["types"] = [{"name": "Node", "count": m, "bytes": m},
                    {"name": "Node", "count": 5, "bytes": 5},
                    {"name": "Leaf", "count": m, "bytes": 1}]
s["gc"]["garbage"] = m
s["gc"]["generations"][0]["collections"] = m
s["gc"]["events"] = [{"generation": 0, "collected": 1, "uncollectable": 0,
                      "seconds": 0.5, "time": 1e300}]
json.dump(s, open(sys.argv[2], "w"))
PY
status 0 gc big-gc.json
assert_eq "gc total" "9223372036854775807  9223372036854775807  total" \
    "$(sed -n 's/^ *\([0-9-]*\) *\([0-9-]*\)  total$/\1  \2  total/p' "$WORK/out")"
status 0 diff --format json "$DATA/cli-gc-a.json" big-gc.json
cp "$WORK/out" diff.json
assert_eq "gc growth of Node (two entries, saturated)" "[9223372036854775807, 9223372036854775797]" \
    "$(json diff.json '[[t["count"], t["count_diff"]] for t in s["gc"]["types"] if t["type"] == "Node"][0]')"
status 0 diff --format json big-gc.json "$DATA/cli-gc-a.json"
cp "$WORK/out" diff2.json
assert_eq "gc shrink of Node" "-9223372036854775797" \
    "$(json diff2.json '[t["count_diff"] for t in s["gc"]["types"] if t["type"] == "Node"][0]')"
exit 0
