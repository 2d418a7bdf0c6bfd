# py_frames.py - pure-Python allocation under a few levels of Python calls
# (run with PYTHONMALLOC=malloc): every capture walks the thread's Python
# frames. Used by bench/py.sh to price Python frames in the stacks.
import sys


class Record:
    __slots__ = ("key", "tags", "payload")

    def __init__(self, key, i):
        self.key = key
        self.tags = [str(i % 7), str(i % 11)]
        self.payload = {"n": i, "s": "v%d" % i}


def make(i):
    return Record("k%d" % i, i)


def batch(start, n):
    return [make(i) for i in range(start, start + n)]


def level(depth, start, n):
    if depth == 0:
        return batch(start, n)
    return level(depth - 1, start, n)


def main(rounds):
    total = 0
    keep = []
    for r in range(rounds):
        items = level(6, r * 100, 100)
        total += sum(len(x.tags) for x in items)
        keep.append(items)
        if len(keep) > 40:
            keep = keep[20:]
    print("py_frames", rounds, total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
