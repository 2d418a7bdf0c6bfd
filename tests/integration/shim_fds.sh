#!/bin/sh
# shim_fds.sh - the shim holds no descriptor the program can see: open()
# returns the same numbers, /proc/self/fd lists the same entries, and a
# program that closes every descriptor and reuses the numbers keeps its
# data while the unwinder checks addresses (tests/progs/shim_fds.c). Also
# python3's os.open(), as a new user tried it.
. "$top_srcdir/tests/integration/lib.sh"
PROG=$PROGS/shim_fds

"$PROG" >"$WORK/plain" 2>&1 || fail "untraced run failed: $(cat "$WORK/plain")"
grep -q "^read back: 24 'the program's own bytes'$" "$WORK/plain" || fail "untraced run: $(cat "$WORK/plain")"
for nf in 64 2; do
    TRACEMEM_NFRAMES=$nf TRACEMEM_OUTPUT="$WORK/s.$nf.json" timeout 60 env LD_PRELOAD="$SHIM" "$PROG" \
        >"$WORK/traced" 2>&1 || fail "traced run failed: $(cat "$WORK/traced")"
    diff "$WORK/plain" "$WORK/traced" >&2 || fail "NFRAMES=$nf: the program saw other descriptors or lost data"
    [ -s "$WORK/s.$nf.json" ] || fail "NFRAMES=$nf: no snapshot"
done

# The unwinder really went through the frame without CFI: stacks of the
# 64 blocks reach main (the frame-pointer fallback worked), so its checks ran.
if [ "$(uname -m)" = x86_64 ]; then
    n=$(json "$WORK/s.64.json" 'max(s["stacks"][t["stack"]]["depth"] for t in s["traces"] if t["allocated_count"] == 64)')
    [ "$n" -ge 3 ] || fail "stacks through the frame without CFI are $n deep"
fi

if command -v python3 >/dev/null; then
    code='import os; print(os.open("/dev/null", os.O_RDONLY)); print(sorted(os.listdir("/proc/self/fd")))'
    want=$(python3 -c "$code")
    got=$(TRACEMEM_OUTPUT="$WORK/py.json" LD_PRELOAD="$SHIM" python3 -c "$code")
    assert_eq "python3 descriptors" "$want" "$got"
fi
exit 0
