# memo.py - an unbounded memo dict, and a C buffer leaked through ctypes.
import ctypes, sys, time

libc = ctypes.CDLL(None)                     # the process scope: malloc as the program sees it
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]

_pages = {}                                  # bug: memo without a bound


def render(n):
    if n not in _pages:
        _pages[n] = ("<p>%d</p>" % n) * 500
    return _pages[n]


def read_header(n):
    buf = libc.malloc(4096)                  # bug: never passed to libc.free
    ctypes.memset(buf, 0, 4096)
    return n


requests = int(sys.argv[1]) if len(sys.argv) > 1 else 50
print("serving", requests, "requests", flush=True)
for n in range(requests):
    render(n)
    read_header(n)
    time.sleep(0.02)
