# py_churn.py - allocation-heavy CPython loop (run with PYTHONMALLOC=malloc so
# every object goes through malloc/free): dicts of tuples and strings built
# and dropped, list growth, string joins.
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
total = 0
keep = []
for i in range(n):
    d = {"id": i, "name": "item-%d" % i, "tags": [str(i % 7), str(i % 11)]}
    t = (d["name"], len(d["tags"]), i * 3)
    keep.append(t)
    if len(keep) > 5000:
        total += sum(x[1] for x in keep)
        keep = keep[2500:]
    total += len(",".join(d["tags"]))
print("py_churn", n, total)
