"""bench_gc.py - CPython's gc.collect() on the shapes of bench_rcgc.c.

Prints "shape ns_per_object objects found" per line; best of 5 runs of the
process CPU time of gc.collect(), less the time of a gc.collect() over the
interpreter's own objects alone, as bench_rcgc.c measures.
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


def chain(n):
    """n nodes, each referring to the next: (head, last)."""
    head = last = Node()
    for _ in range(n - 1):
        x = Node()
        last.other = x
        last = x
    return head, last


def ring(n):
    first, last = chain(n)
    last.other = first
    first = last = None
    t = time.process_time_ns()
    found = gc.collect()
    return time.process_time_ns() - t, found


def live(n):
    # a chain held by its head only, as in bench_rcgc.c: a list holding
    # every node would give gc.collect() a million more references to scan
    head = chain(n)[0]
    t = time.process_time_ns()
    found = gc.collect()
    dt = time.process_time_ns() - t
    del head
    return dt, found


def empty_collection():
    """CPU time of gc.collect() over the interpreter's own objects alone
    (best of 20): subtracted, so that only the shape's objects count."""
    best = None
    for _ in range(20):
        t = time.process_time_ns()
        gc.collect()
        dt = time.process_time_ns() - t
        best = dt if best is None or dt < best else best
    return best


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    gc.disable()
    base = empty_collection()
    for name, fn in (("cycles2", cycles2), ("ring", ring), ("live", live)):
        best, found = None, 0
        for _ in range(5):
            gc.collect()
            dt, found = fn(n)
            best = dt if best is None or dt < best else best
        print("%s %.1f %d %d" % (name, (best - base) / n, n, found))


main()
