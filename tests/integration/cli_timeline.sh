#!/bin/sh
# The timeline, the size histogram, stats, trend over one snapshot and the
# run summary's chart, on tm_timeline's known pattern: ten 1 MiB blocks
# allocated one per 30 ms step, then freed one per step, 20 x 10000 bytes
# kept from SITE_GROW, then a fixed set of sizes.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
SRC=tests/progs/tm_timeline.c
line() { grep -n "/\* SITE_$1 \*/" "$top_srcdir/$SRC" | cut -d: -f1; }
cd "$WORK" || fail "no $WORK"
MiB=1048576

# --- the timeline the shim writes ---
TRACEMEM_TIMELINE=0.005 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/tl.%p.json" \
    preload "$PROGS/tm_timeline" 30 fork || fail "tm_timeline exited $?"
assert_eq "snapshots (parent and child)" 2 "$(ls tl.*.json | wc -l)"
parent=$(for f in tl.*.json; do
    [ "$(json "$f" 'any(k == 512 for k, n, b in s["sizes"]["live"])')" = false ] && echo "$f"; done)
[ -n "$parent" ] || fail "no parent snapshot"
child=$(ls tl.*.json | grep -v "^$parent\$")
"$TM" symbolize "$parent" -o sym.json || fail "symbolize exited $?"

python3 - sym.json "$child" "$MiB" "$(line UP)" "$(line GROW)" <<'PY' || fail "timeline values"
import json, sys
s = json.load(open(sys.argv[1])); child = json.load(open(sys.argv[2]))
MiB = int(sys.argv[3]); up_line, grow_line = int(sys.argv[4]), int(sys.argv[5])
def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr); sys.exit(1)
t = s["timeline"]
check(t["resolution_ns"] == 5000000, "resolution_ns %r" % t["resolution_ns"])
smp = t["samples"]
check(len(smp) >= 15, "%d samples" % len(smp))
check(all(a[0] < b[0] for a, b in zip(smp, smp[1:])), "t_ns strictly increasing")
heap = [x[1] for x in smp]
top = heap.index(max(heap))
# rise to about 10 MiB (the 1 MiB blocks and the 10000-byte ones), then fall
check(10 * MiB + 50000 <= max(heap) <= 10 * MiB + 200001, "max heap %d" % max(heap))
check(heap[0] < MiB, "first sample %d" % heap[0])
check(all(b >= a - 1 for a, b in zip(heap[:top], heap[1:top + 1])), "rising until the peak: %r" % heap)
check(all(b <= a + 1 for a, b in zip(heap[top:-1], heap[top + 1:-1])), "falling after it: %r" % heap)
check(heap[-1] == s["memory"]["current"], "last sample %d != memory.current %d" % (heap[-1], s["memory"]["current"]))
check(all(x[2] > 0 for x in smp), "rss read")
check(all(x[4] >= 0 for x in smp) and smp[-1][4] == s["memory"]["blocks"], "blocks")
# per-stack rows replayed give the traces' figures at the end
live, alloc = {}, {}
series = {}
for si, st, lv, al in t["stacks"]:
    live[st], alloc[st] = lv, al
    series.setdefault(st, []).append(lv)
for tr in s["traces"]:
    if tr["domain"] == 0 and tr["stack"] in live:
        check(live[tr["stack"]] == tr["size"], "stack %d live %d != %d" % (tr["stack"], live[tr["stack"]], tr["size"]))
        check(alloc[tr["stack"]] == tr["allocated_size"], "stack %d allocated" % tr["stack"])
def site(line):
    return [i for i, st in enumerate(s["stacks"]) if s["frames"][st["frames"][0]].get("line") == line]
up, = site(up_line)
check(max(series[up]) == 10 * MiB and series[up][-1] == 0 and alloc[up] == 10 * MiB, "up rows %r" % series[up])
k = series[up].index(10 * MiB)
check(series[up][:k + 1] == sorted(series[up][:k + 1]) and series[up][k:] == sorted(series[up][k:], reverse=True)
      and len(series[up]) >= 15, "up rises, then falls: %r" % series[up])
# SITE_GROW may be two stacks (the compiler splits the loop): their sum
grow = site(grow_line)
total, sums = {}, []
for si, st, lv, al in t["stacks"]:
    if st in grow:
        total[st] = lv
        sums.append(sum(total.values()))
check(grow and sums == sorted(sums) and sums[-1] == 200000 and len(sums) >= 10, "grow rows %r" % sums)
# events: the peak (label = memory.peak) and this snapshot, last
ev = t["events"]
check(ev[-1][1:] == ["snapshot", "exit"] and ev[-1][0] == smp[-1][0], "last event %r" % ev[-1])
peaks = [e for e in ev if e[1] == "peak"]
check(len(peaks) == 1 and peaks[0][2] == str(s["memory"]["peak"]), "peak event %r" % peaks)
# sizes: exact
z = s["sizes"]
check(z["allocated"] == [[1, 107, 107], [16, 3, 72], [4096, 5, 20480], [8192, 20, 200000], [MiB, 10, 10 * MiB]],
      "allocated histogram %r" % z["allocated"])
check(z["live"] == [[16, 3, 72], [4096, 2, 8192], [8192, 20, 200000]], "live histogram %r" % z["live"])
check(z["live_top"] == [[10000, 20], [24, 3], [4096, 2]], "live_top %r" % z["live_top"])
# the forked child: a timeline of its own, started after the parent's
ct = child["timeline"]
check(ct["start_ns"] > t["start_ns"] + smp[0][0], "child start_ns")
check(ct["samples"][0][0] < 200000000 and ct["events"][-1][1:] == ["snapshot", "exit"], "child samples/events")
check([512, 1, 777] in child["sizes"]["live"], "child live sizes")
PY

# --- stats ---
"$TM" stats --format json "$parent" > stats.json || fail "stats exited $?"
assert_eq "stats allocations" 145 "$(json stats.json 's["allocations"]')"
assert_eq "stats allocated_bytes" $((107 + 72 + 20480 + 200000 + 10 * MiB)) "$(json stats.json 's["allocated_bytes"]')"
assert_eq "stats frees" 120 "$(json stats.json 's["frees"]')"
assert_eq "stats blocks" 25 "$(json stats.json 's["blocks"]')"
assert_eq "stats temporary" 110 "$(json stats.json 's["temporary"]')"
assert_eq "stats peak" "$(json "$parent" 's["memory"]["peak"]')" "$(json stats.json 's["peak"]')"
assert_eq "stats histogram" "[[1, 1, 107], [16, 31, 3], [4096, 8191, 5], [8192, 16383, 20], [1048576, 2097151, 10]]" \
    "$(json stats.json '[[b["min"], b["max"], b["count"]] for b in s["histogram"]["allocated"]]')"
assert_eq "stats top sizes" "[[10000, 20], [24, 3], [4096, 2]]" \
    "$(json stats.json '[[b["size"], b["count"]] for b in s["top_sizes"]]')"
"$TM" stats "$parent" > stats.txt || fail "stats text exited $?"
grep -q '^allocations: 145 ' stats.txt || fail "stats text: $(cat stats.txt)"
grep -q '1024 KiB .. <2048 KiB *10 ' stats.txt || fail "stats text bucket: $(cat stats.txt)"

# --- trend over the one snapshot: only SITE_GROW grows steadily ---
"$TM" trend --format json --min-growth 50000 "$parent" > trend.json || fail "trend exited $?"
assert_eq "trend source" timeline "$(json trend.json 's["source"]')"
assert_eq "trend steady" 1 "$(json trend.json 's["steady"]')"
assert_eq "trend site" "$SRC:$(line GROW)" \
    "$(json trend.json '"%s:%d" % (s["stacks"][0]["frames"][0]["file"], s["stacks"][0]["frames"][0]["line"])' |
       sed "s|^.*\($SRC\)|\1|")"
assert_eq "trend growth" 200000 "$(json trend.json 's["stacks"][0]["growth"]')"

# --- the chart in run's summary: ASCII (stderr is not a terminal) ---
TRACEMEM_TIMELINE=0.005 COLUMNS=60 "$TM" run -o "$WORK/run.json" "$PROGS/tm_timeline" 30 2> run.err ||
    fail "run exited $?"
python3 - run.err <<'PY' || fail "chart: $(cat run.err)"
import sys
lines = open(sys.argv[1], "rb").read().decode("ascii").split("\n")  # ASCII only
i = [k for k, l in enumerate(lines) if l.startswith("  heap over time: peak 10.")]
assert len(i) == 1, "header"
i = i[0]
assert lines[i + 1] == "  (: heap, # the peak, . RSS)", lines[i + 1]
assert lines[i + 2].strip() == "MiB", lines[i + 2]
axis = [k for k in range(i, len(lines)) if lines[k].startswith("      0 +")][0]
plot = lines[i + 3:axis]
assert len(plot) == 8, len(plot)
assert all(len(l) <= 60 for l in lines[i:axis + 2]), "width"
col = lines[axis].index("^")
assert lines[axis].count("^") == 1 and lines[axis].endswith("> s"), lines[axis]
# the peak column is the only one drawn with '#', and it reaches the top rows
assert all(l.count("#") <= 1 and (l.find("#") in (-1, col)) for l in plot), "peak column"
assert plot[1][col] == "#", "peak height"
assert lines[axis + 1].split()[0] == "0" and float(lines[axis + 1].split()[-1]) > 0.5, lines[axis + 1]
PY

# --- off, and a bad value ---
TRACEMEM_TIMELINE=0 COLUMNS=60 "$TM" run -o "$WORK/off.json" "$PROGS/tm_timeline" 1 2> off.err || fail "run off"
grep -q "heap over time" off.err && fail "chart without a timeline"
assert_eq "no timeline key" false "$(json off.json '"timeline" in s')"
status 2 trend off.json
grep -q "^tracemem: off.json: no timeline" "$WORK/err" || fail "trend off: $(cat "$WORK/err")"
TRACEMEM_TIMELINE=soon TRACEMEM_OUTPUT="$WORK/bad.json" preload "$PROGS/tm_timeline" 1 2> bad.err ||
    fail "bad value exited $?"
assert_eq "warning" "tracemem: TRACEMEM_TIMELINE=soon is not 0 or a number of seconds from 0.001 to 3600; using 0.01" \
    "$(cat bad.err)"
assert_eq "default resolution" 10000000 "$(json bad.json 's["timeline"]["resolution_ns"]')"

# --- bad input: the timeline key is validated by every command; sizes by stats ---
for f in "$DATA"/bad-timeline-*.json; do
    status 2 trend "$f"
    grep -q "^tracemem: $f: timeline" "$WORK/err" || fail "trend $f: $(cat "$WORK/err")"
done
python3 -c '
import json, sys
s = json.load(open(sys.argv[1])); s["sizes"]["live"][0][0] = 3
json.dump(s, open(sys.argv[2], "w"))' "$parent" badsizes.json
status 2 stats badsizes.json
assert_eq "stats bad sizes" "tracemem: badsizes.json: sizes.live[0]: min 3 is not a new power of two or 0" \
    "$(cat "$WORK/err")"
exit 0
