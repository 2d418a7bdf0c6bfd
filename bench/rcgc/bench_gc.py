"""bench_gc.py - CPython's gc.collect() on the shapes of bench_rcgc.c.

Prints "shape ns_per_object objects found" per line; best of 5 runs of the
process CPU time of gc.collect(), as bench_rcgc.c measures.
Nodes use __slots__ so that each is one GC object, as in the C version.
"""
import gc
import sys
import time


class Node:
    __slots__ = ("other",)

    def __init__(self):
        self.other = None


def cycles2(n):
    for _ in range(n // 2):
        a, b = Node(), Node()
        a.other, b.other = b, a
    a = b = None
    t = time.process_time_ns()
    found = gc.collect()
    return time.process_time_ns() - t, found


def ring(n):
    first = last = Node()
    for _ in range(n - 1):
        x = Node()
        last.other = x
        last = x
    last.other = first
    first = last = x = None
    t = time.process_time_ns()
    found = gc.collect()
    return time.process_time_ns() - t, found


def live(n):
    keep = [Node() for _ in range(n)]
    for i in range(n - 1):
        keep[i].other = keep[i + 1]
    t = time.process_time_ns()
    found = gc.collect()
    dt = time.process_time_ns() - t
    del keep
    return dt, found


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    gc.disable()
    for name, fn in (("cycles2", cycles2), ("ring", ring), ("live", live)):
        best, found = None, 0
        for _ in range(5):
            gc.collect()
            dt, found = fn(n)
            best = dt if best is None or dt < best else best
        print("%s %.1f %d %d" % (name, best / n, n, found))


main()
