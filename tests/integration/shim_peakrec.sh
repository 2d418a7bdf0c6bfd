#!/bin/sh
# shim_peakrec.sh - the per-stack peak record against the truth
# (tests/progs/shim_peakrec.c): 640 stacks, each allocating blocks of its
# own size, grow to ~20 MB and shrink in small steps, so the record is
# re-taken hundreds of times while every stack goes up and down; the peak
# is one big block, where the record is taken. At exit (and in a child
# forked after the peak, at its own higher peak) the snapshot's peak
# section must hold, for every stack, exactly the blocks the program had at
# its peak: on one thread (the shim's solo mode) and on three threads
# (per-thread figures, the record taken after they are merged), with
# tracemem_clear_traces, tracemem_stop/start and tracemem_reset_peak before,
# a domain of tracemem_track in the record and the program's mappings left
# out. memory.peak is exact on one thread and within
# TRACEMEM_PEAK_INACCURACY (1 %) or 4 KiB a thread on three.
. "$top_srcdir/tests/integration/lib.sh"
CHECK="python3 $top_srcdir/tests/integration/shim_check.py"
PROG=$PROGS/shim_peakrec

for n in 0 3; do
    mkdir "$WORK/$n"
    TRACEMEM_FOLLOW_FORK=1 TRACEMEM_AT_EXIT=snapshot TRACEMEM_OUTPUT="$WORK/$n/s.%p.json" \
        preload "$PROG" "$n" >"$WORK/$n/out" 2>"$WORK/$n/err"
    assert_eq "$n threads: exit status" 0 "$?"
    [ -s "$WORK/$n/err" ] && fail "$n threads: stderr: $(cat "$WORK/$n/err")"
    assert_eq "$n threads: output ends" done "$(tail -n 1 "$WORK/$n/out")"
    $CHECK valid "$WORK/$n"/s.*.json || fail "$n threads: invalid snapshot"
    python3 - "$WORK/$n" "$n" <<'PY' || fail "$n threads: peak record"
import json, sys
work, nthreads = sys.argv[1], int(sys.argv[2])
LEAVES, DEPTHS = 16, 40
SITES = LEAVES * DEPTHS
def size_of(k):
    return 1024 + 8 * k
site_of = {size_of(k): k for k in range(SITES)}
PRE = (1003, 1005)

truth = {"": {"site": {}}, "child ": {"site": {}}}
for line in open(work + "/out"):
    w = line.split()
    who = "child " if w[0] == "child" else ""
    if who:
        w = w[1:]
    t = truth[who]
    if w[0] == "site":
        t["site"][int(w[1])] = int(w[2])
    elif w[0] in ("pid", "big", "total"):
        t[w[0]] = int(w[1])
    elif w[0] == "domain":
        t["domain"] = (int(w[1]), int(w[2]))
    elif w[0] != "done":
        sys.exit("unexpected output: " + line.strip())

def check(who, t):
    name = "%s snapshot (pid %d)" % (who.strip() or "parent", t["pid"])
    s = json.load(open("%s/s.%d.json" % (work, t["pid"])))
    p, m = s["peak"], s["memory"]
    got, other, big, dom = {}, 0, 0, None
    for r in p["traces"]:
        if r["domain"] == 65535:
            sys.exit("%s: a mapping in the peak record: %r" % (name, r))
        if r["domain"] == 5:
            if dom is not None:
                sys.exit("%s: two domain 5 rows" % name)
            dom = (r["size"], r["count"])
            continue
        if r["domain"] != 0:
            sys.exit("%s: row of domain %d" % (name, r["domain"]))
        per = r["size"] // r["count"] if r["count"] else -1
        if r["count"] and r["size"] % r["count"] == 0 and per in PRE:
            sys.exit("%s: a block from before tracemem_clear_traces/stop: %r" % (name, r))
        if r["count"] and r["size"] % r["count"] == 0 and per in site_of:
            k = site_of[per]
            got[k] = got.get(k, 0) + r["count"]
        elif r["count"] == 1 and r["size"] == t["big"]:
            big += 1
        else:
            other += r["size"]
    bad = sorted(k for k in set(got) | set(t["site"]) if got.get(k, 0) != t["site"].get(k, 0))
    if bad:
        sys.exit("%s: %d of %d sites differ from the truth, e.g. %s" % (
            name, len(bad), len(t["site"]),
            ", ".join("site %d: %d blocks, not %d" % (k, got.get(k, 0), t["site"].get(k, 0)) for k in bad[:5])))
    if big != 1:
        sys.exit("%s: the big block of %d bytes is in the record %d times" % (name, t["big"], big))
    if "domain" in t and dom != t["domain"]:
        sys.exit("%s: domain 5 in the record %r, not %r" % (name, dom, t["domain"]))
    if "domain" not in t and dom is not None:
        sys.exit("%s: domain 5 in the record %r" % (name, dom))
    # on one thread nothing else is live at the peak; with threads, the
    # threads' own blocks (glibc's, a few hundred bytes each)
    if other > (0 if nthreads == 0 else 65536):
        sys.exit("%s: %d bytes of other stacks in the record" % (name, other))
    if p["current"] != t["total"] + other:
        sys.exit("%s: peak.current %d, not %d" % (name, p["current"], t["total"] + other))
    if nthreads == 0 or who:
        if m["peak"] != p["current"]:
            sys.exit("%s: memory.peak %d, not %d" % (name, m["peak"], p["current"]))
    elif not p["current"] <= m["peak"] <= p["current"] * 1.01 + 4096 * (nthreads + 1):
        sys.exit("%s: memory.peak %d not within 1 %% of %d" % (name, m["peak"], p["current"]))
    print("# %s: %d sites, %d bytes at the peak, memory.peak %d" % (name, len(got), p["current"], m["peak"]))

for who in ("", "child "):
    check(who, truth[who])
PY
done
exit 0
