#!/usr/bin/env python3
"""shim_check.py - checks on raw snapshots for the shim_*.sh tests.

  valid FILE...           every SPEC 5 key, indices in range, figures add up
  exe FILE                "size count" of the live traces whose innermost
                          frame lies in the program itself, sorted
  where FILE SIZE         "path build_id offset" of the innermost frame of the
                          one live trace of SIZE bytes (one line per trace)
  get FILE EXPR           EXPR evaluated with s = the snapshot

Exit status 1 with one line on stderr when a check fails.
"""
import json
import sys


def die(msg):
    sys.stderr.write("shim_check: %s\n" % msg)
    sys.exit(1)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:  # noqa: BLE001 - any reason is a failure
        die("%s: not valid JSON: %s" % (path, e))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def valid(path):
    s = load(path)
    where = path

    def need(obj, keys, what):
        if not isinstance(obj, dict):
            die("%s: %s is not an object" % (where, what))
        for k in keys:
            if k not in obj:
                die("%s: %s lacks '%s'" % (where, what, k))

    need(s, ["format", "version", "process", "snapshot", "memory", "modules",
             "frames", "stacks", "traces", "peak", "leaks", "symbolized"], "snapshot")
    if s["format"] != "tracemem-snapshot" or s["version"] != 1:
        die("%s: format/version %r %r" % (where, s["format"], s["version"]))
    need(s["process"], ["pid", "ppid", "exe", "argv", "hostname"], "process")
    need(s["snapshot"], ["seq", "time", "reason", "nframes", "sampling_bytes"], "snapshot")
    if s["snapshot"]["reason"] not in ("exit", "api", "signal", "interval", "leak-check"):
        die("%s: bad reason %r" % (where, s["snapshot"]["reason"]))
    m = s["memory"]
    need(m, ["current", "peak", "blocks", "overhead", "lost_records"], "memory")
    nmod, nfr, nst = len(s["modules"]), len(s["frames"]), len(s["stacks"])
    for mod in s["modules"]:
        need(mod, ["path", "build_id", "base", "size"], "module")
    for f in s["frames"]:
        need(f, ["module", "offset"], "frame")
        if not (is_int(f["module"]) and -1 <= f["module"] < nmod):
            die("%s: frame module %r out of range" % (where, f["module"]))
        if f.get("kind") == "python":
            # a Python frame: no address, its file, function and line
            if f["module"] != -1 or not isinstance(f.get("function"), str) or \
                    not isinstance(f.get("file"), str) or not is_int(f.get("line")):
                die("%s: bad Python frame %r" % (where, f))
            continue
        if f["module"] < 0:
            die("%s: a frame has no module (module -1, offset %#x)" % (where, f["offset"]))
    for st in s["stacks"]:
        need(st, ["frames", "depth"], "stack")
        for i in st["frames"]:
            if not (is_int(i) and 0 <= i < nfr):
                die("%s: stack frame index %r out of range" % (where, i))
        # depth 0 with one frame: only the caller is known (no unwinder yet)
        if st["depth"] < len(st["frames"]) and not (st["depth"] == 0 and len(st["frames"]) == 1):
            die("%s: depth %d < %d frames" % (where, st["depth"], len(st["frames"])))
    size = count = 0
    for t in s["traces"]:
        need(t, ["stack", "domain", "size", "count", "allocated_size", "allocated_count"], "trace")
        if not (is_int(t["stack"]) and 0 <= t["stack"] < nst):
            die("%s: trace stack %r out of range" % (where, t["stack"]))
        if t["size"] < 0 or t["count"] < 0:
            die("%s: negative live figure in %r" % (where, t))
        if t["allocated_size"] < t["size"] or t["allocated_count"] < t["count"]:
            die("%s: allocated < live in %r" % (where, t))
        if t["domain"] == 65535:
            continue  # the program's mappings: not part of the heap's figures
        size += t["size"]
        count += t["count"]
    if size != m["current"]:
        die("%s: sum of trace sizes %d != memory.current %d" % (where, size, m["current"]))
    r = s.get("rss")
    if r is not None:
        # every resident byte in exactly one category, and the kernel's figure
        total = sum(c["rss"] for c in r["categories"])
        if total != r["rss"]:
            die("%s: rss categories add up to %d, not %d" % (where, total, r["rss"]))
        lo = min(r["kernel_rss"], r.get("kernel_rss_before", r["kernel_rss"]))
        hi = max(r["kernel_rss"], r.get("kernel_rss_before", r["kernel_rss"]))
        if r["rss"] < 0.98 * lo - 256 * 1024 or r["rss"] > 1.02 * hi + 256 * 1024:
            die("%s: rss %d is not within 2%% of the kernel's %d..%d" % (where, r["rss"], lo, hi))
    if count != m["blocks"]:
        die("%s: sum of trace counts %d != memory.blocks %d" % (where, count, m["blocks"]))
    if m["peak"] < m["current"]:
        die("%s: peak %d < current %d" % (where, m["peak"], m["current"]))
    pk = s["peak"]
    need(pk, ["current", "traces"], "peak")
    psum = 0
    for t in pk["traces"]:
        need(t, ["stack", "domain", "size", "count"], "peak trace")
        if not (is_int(t["stack"]) and 0 <= t["stack"] < nst):
            die("%s: peak trace stack %r out of range" % (where, t["stack"]))
        psum += t["size"]
    if psum != pk["current"]:
        die("%s: sum of peak trace sizes %d != peak.current %d" % (where, psum, pk["current"]))
    if pk["current"] > m["peak"]:
        die("%s: peak.current %d > memory.peak %d" % (where, pk["current"], m["peak"]))
    lk = s["leaks"]
    need(lk, ["checked", "summary", "stacks"], "leaks")
    for k in ("definite", "indirect", "possible", "reachable"):
        need(lk["summary"], [k], "leaks.summary")
    for ls in lk["stacks"]:
        if not (0 <= ls["stack"] < nst):
            die("%s: leak stack %r out of range" % (where, ls["stack"]))
    if s["symbolized"] is not False:
        die("%s: a raw snapshot says symbolized %r" % (where, s["symbolized"]))


def innermost(s, t):
    st = s["stacks"][t["stack"]]
    if not st["frames"]:
        return None
    f = s["frames"][st["frames"][0]]
    return s["modules"][f["module"]] if f["module"] >= 0 else None, f["offset"]


def exe(path):
    s = load(path)
    rows = []
    for t in s["traces"]:
        if t["count"] == 0 or t["domain"] != 0:
            continue
        inner = innermost(s, t)
        if inner and inner[0] and inner[0]["path"] == s["process"]["exe"]:
            rows.append((t["size"], t["count"]))
    for r in sorted(rows):
        print("%d %d" % r)


def where(path, size):
    s = load(path)
    for t in s["traces"]:
        if t["size"] == size and t["count"] > 0:
            mod, off = innermost(s, t)
            print("%s %s %#x" % (mod["path"] if mod else "?", mod["build_id"] if mod else "?", off))


def main(argv):
    if len(argv) >= 2 and argv[0] == "valid":
        for p in argv[1:]:
            valid(p)
    elif len(argv) == 2 and argv[0] == "exe":
        exe(argv[1])
    elif len(argv) == 3 and argv[0] == "where":
        where(argv[1], int(argv[2]))
    elif len(argv) == 3 and argv[0] == "get":
        s = load(argv[1])
        v = eval(argv[2], {"s": s, "sum": sum, "len": len, "any": any, "all": all,
                           "max": max, "min": min, "sorted": sorted, "set": set, "abs": abs})
        print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)
    else:
        die("usage: shim_check.py valid FILE... | exe FILE | where FILE SIZE | get FILE EXPR")


if __name__ == "__main__":
    main(sys.argv[1:])
