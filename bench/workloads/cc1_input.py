#!/usr/bin/env python3
"""cc1_input.py - writes the C file bench/cli.sh compiles with gcc's cc1:
20 system headers and 280 functions over structs, loops and switches,
each calling the one before (deterministic; ~340 KB once preprocessed,
about 2 s of cc1 -O2)."""
import random

random.seed(14)
HEADERS = ("stdio stdlib string math ctype errno time unistd fcntl signal pthread "
           "sys/stat sys/types sys/mman dirent dlfcn locale wchar inttypes stdint").split()
print("\n".join("#include <%s.h>" % h for h in HEADERS))
for i in range(280):
    size = random.randint(2, 64)
    mul = random.randint(1, 99)
    add = random.randint(1, 999)
    sub = random.randint(1, 9)
    tail = "f%d((struct s%d *)x, n/2)" % (i - 1, i - 1) if i else "0"
    print("""
struct s%(i)d { int a[%(size)d]; double d; char *p; struct s%(i)d *next; };
static int f%(i)d(struct s%(i)d *x, int n) {
    int acc = 0;
    for (int i = 0; i < n; i++) {
        switch ((i * %(mul)d) & 7) {
        case 0: acc += x->a[i %% 2] * %(add)d; break;
        case 1: acc ^= (int)(x->d * i); break;
        case 2: if (x->next) acc += f%(i)d(x->next, n - 1); break;
        case 3: acc += (int)strlen(x->p ? x->p : "abc"); break;
        default: acc -= i * %(sub)d;
        }
    }
    return acc + %(tail)s;
}""" % dict(i=i, size=size, mul=mul, add=add, sub=sub, tail=tail))
print("int main(void){ struct s279 z = {0}; return f279(&z, 3); }")
