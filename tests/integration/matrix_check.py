#!/usr/bin/env python3
"""matrix_check.py - the two checks of tests/integration/matrix.sh that need
more than the shell.

  list DIR
      One line per entry under DIR, sorted by path: type, permission bits,
      then sha256 of a regular file's content or a symlink's target, then
      the path relative to DIR. Two runs that wrote the same files print the
      same lines. Timestamps, inodes and owners are left out: they differ
      between any two runs.

  snaps DIR TPID RC [EXE:MIN]...
      The snapshots (*.json) a traced run wrote into DIR. TPID is the pid of
      the `timeout` that started the traced command (the root process's
      parent), RC the command's exit status. Fails (exit 1, one problem a
      line on stdout) when:
        - a snapshot is not valid JSON or lacks memory.current / traces;
        - memory.current < 0, or a trace (live or in the peak record) has a
          negative size or count, or
          the trace sizes / counts do not add up to memory.current / blocks;
        - the root process exited normally (RC < 124) and wrote none;
        - a process that wrote one has a parent (other than TPID, or init
          after the parent ended) that wrote none: the parent either exited
          normally without a snapshot or died of a signal, which none of the
          matrix's commands makes a parent do;
        - fewer than MIN processes whose executable is EXE wrote one.
      Prints nothing when all is well.
"""
import hashlib
import json
import os
import stat
import sys


def listing(top):
    rows = []
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            mode = "%04o" % stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                rows.append((rel, "l %s -> %s" % (mode, os.readlink(p))))
            elif stat.S_ISDIR(st.st_mode):
                rows.append((rel, "d %s" % mode))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                rows.append((rel, "f %s %s" % (mode, h.hexdigest())))
            else:
                rows.append((rel, "o %s" % mode))
    for rel, what in sorted(rows):
        print("%s %s" % (what, rel))


def check_one(path, problems):
    name = os.path.basename(path)
    try:
        with open(path) as f:
            s = json.load(f)
        m = s["memory"]
        proc = s["process"]
        pid, ppid, exe = proc["pid"], proc["ppid"], proc["exe"]
        traces = s["traces"]
    except Exception as e:  # noqa: BLE001 - any reason is a failure
        problems.append("%s: not a readable snapshot: %s" % (name, e))
        return None
    if m["current"] < 0:
        problems.append("%s: memory.current %d < 0" % (name, m["current"]))
    for what, ts in (("trace", traces), ("peak trace", s.get("peak", {}).get("traces", []))):
        neg = [t for t in ts if t["size"] < 0 or t["count"] < 0]
        if neg:
            t = neg[0]
            problems.append("%s: %d %s(s) with a negative size or count, first: size %d count %d"
                            % (name, len(neg), what, t["size"], t["count"]))
    # domain 65535 (the program's own mappings) is not in the heap's figures
    size = sum(t["size"] for t in traces if t["domain"] != 65535)
    count = sum(t["count"] for t in traces if t["domain"] != 65535)
    rss = s.get("rss")
    if rss is not None:
        total = sum(c["rss"] for c in rss["categories"])
        if total != rss["rss"]:
            problems.append("%s: rss categories add up to %d, not %d" % (name, total, rss["rss"]))
        # the kernel's figure before and after the walk (threads run meanwhile)
        lo = min(rss["kernel_rss"], rss.get("kernel_rss_before", rss["kernel_rss"]))
        hi = max(rss["kernel_rss"], rss.get("kernel_rss_before", rss["kernel_rss"]))
        if rss["rss"] < 0.98 * lo - 256 * 1024 or rss["rss"] > 1.02 * hi + 256 * 1024:
            problems.append("%s: rss %d not within 2%% of the kernel's %d..%d" % (name, rss["rss"], lo, hi))
    if size != m["current"] or count != m["blocks"]:
        problems.append("%s: traces add up to %d bytes in %d blocks, memory says %d in %d"
                        % (name, size, count, m["current"], m["blocks"]))
    return pid, ppid, os.path.basename(exe)


def snaps(top, tpid, rc, expect):
    problems = []
    procs = {}  # pid -> (ppid, exe base names seen, file name)
    for name in sorted(os.listdir(top)):
        if not name.endswith(".json"):
            continue
        got = check_one(os.path.join(top, name), problems)
        if got is None:
            continue
        pid, ppid, exe = got
        ent = procs.setdefault(pid, [ppid, set(), name])
        ent[1].add(exe)
    if rc < 124 and not any(p[0] == tpid for p in procs.values()):
        problems.append("the command exited %d but its process wrote no snapshot" % rc)
    for pid, (ppid, exes, name) in sorted(procs.items()):
        # ppid 1: the parent ended first and the process was reparented
        # to init; whether the parent wrote a snapshot cannot be told.
        if ppid not in (tpid, 1) and ppid not in procs:
            problems.append("process %d (parent of %s) wrote no snapshot" % (ppid, name))
    for e in expect:
        exe, want = e.rsplit(":", 1)
        n = sum(1 for p in procs.values() if exe in p[1])
        if n < int(want):
            problems.append("%d process(es) of %s wrote a snapshot, at least %s expected"
                            % (n, exe, want))
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "list":
        listing(argv[1])
        return 0
    if len(argv) >= 4 and argv[0] == "snaps":
        return snaps(argv[1], int(argv[2]), int(argv[3]), argv[4:])
    sys.stderr.write("usage: matrix_check.py list DIR | snaps DIR TPID RC [EXE:MIN]...\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
