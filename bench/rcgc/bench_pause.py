"""bench_pause.py - CPython's collector pauses on the workload of
bench_pause.c: LIVE nodes in rings of 10 (records) held from a list, then
STEADY node creations, each new record replacing a random old one, which
becomes a garbage cycle. Automatic collection on (the interpreter's
thresholds); each collection of the steady phase is one pause, timed with
time.perf_counter() (wall) and time.thread_time() (CPU) from
gc.callbacks' start to stop; "preempted" counts the pauses during which
the thread was switched out (involuntary context switches), and
"wall_max_unpreempted_ms" is the longest of the others.

Usage: bench_pause.py [LIVE [STEADY]] (default 10000000 5000000).
"""
import gc
import resource
import sys
import time

RING = 10


class Node:
    __slots__ = ("other",)

    def __init__(self):
        self.other = None


def record():
    first = last = Node()
    for _ in range(RING - 1):
        x = Node()
        last.other = x
        last = x
    last.other = first
    return first


def main():
    live = int(sys.argv[1]) if len(sys.argv) > 1 else 10000000
    steady = int(sys.argv[2]) if len(sys.argv) > 2 else 5000000
    nrec = live // RING
    recs = [record() for _ in range(nrec)]
    gc.collect()

    pauses, cpus = [], []
    start = [0.0, 0.0, 0]
    collected = [0]
    # pauses during which the thread was switched out (involuntary
    # context switches), and the longest wall-clock pause of the others
    preempted = [0, 0.0]

    def cb(phase, info):
        if phase == "start":
            start[2] = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
            start[0] = time.perf_counter()
            start[1] = time.thread_time()
        else:
            wall = time.perf_counter() - start[0]
            cpus.append(time.thread_time() - start[1])
            pauses.append(wall)
            collected[0] += info["collected"]
            if resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw != start[2]:
                preempted[0] += 1
            elif wall > preempted[1]:
                preempted[1] = wall

    gc.callbacks.append(cb)
    # the same generator as bench_pause.c
    rng = 88172645463325252
    mask = (1 << 64) - 1
    t = time.perf_counter()
    done = 0
    while done < steady:
        rng ^= (rng << 13) & mask
        rng ^= rng >> 7
        rng ^= (rng << 17) & mask
        recs[rng % nrec] = record()
        done += RING
    t = time.perf_counter() - t
    gc.callbacks.remove(cb)

    print("impl cpython-%d.%d" % sys.version_info[:2])
    print("live %d\nsteady %d\nseconds %.3f\ncollections %d\ncollected %d"
          % (live, steady, t, len(pauses), collected[0]))
    report("wall", pauses, steady)
    print("preempted %d\nwall_max_unpreempted_ms %.4f" % (preempted[0], preempted[1] * 1e3))
    report("cpu", cpus, steady)


def report(kind, v, objects):
    """KIND_total_s, KIND_ns_per_object and the percentiles of v."""
    v = sorted(v)
    n = len(v)
    total = sum(v)
    print("%s_total_s %.6f\n%s_ns_per_object %.1f" % (kind, total, kind, total * 1e9 / objects))
    for q, name in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
        print("%s_%s_ms %.4f" % (kind, name, v[int(q * (n - 1) + 0.5)] * 1e3 if n else 0.0))
    print("%s_max_ms %.4f" % (kind, v[-1] * 1e3 if n else 0.0))

main()
