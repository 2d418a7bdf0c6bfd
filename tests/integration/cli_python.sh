#!/bin/sh
# A real interpreter: python3 under tracemem run --python (PYTHONMALLOC=
# malloc), ~2000 bytearrays of 1000 bytes at the peak, attributed to
# CPython's PyByteArray_Resize by name in the raw stacks and to the Python
# frame that made them by default (cli_pyframes.sh tests those).
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
# the interpreter itself, not a wrapper script (pyenv shims)
PY=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))') ||
    skip "no python3"
command -v nm >/dev/null || skip "no nm"
{ nm -D "$PY"; nm -D "$(dirname "$PY")/../lib/"libpython3*.so* 2>/dev/null; } |
    grep -q ' T PyByteArray_Resize$' || skip "PyByteArray_Resize not exported"
cd "$WORK" || fail "no $WORK"
unset DEBUGINFOD_URLS
"$TM" run --python -q -o "$WORK/py.%p.json" "$PY" -c \
    'x = [bytearray(1000) for i in range(2000)]; import os; print(os.environ["PYTHONMALLOC"])' \
    > out || fail "run exited $?"
assert_eq "PYTHONMALLOC" malloc "$(cat out)"
snap=$(only_file "$WORK/py.*.json")
"$TM" top --peak --by function -n 0 --keep-alloc-frames --format json "$snap" > top.json || fail top
# the peak record is kept within 1 % of the true peak (PEAK_INACCURACY)
assert_eq "bytearrays by function" '["PyByteArray_Resize"]' \
    "$(json top.json '[x["key"] for x in s["stats"] if 1900 <= x["count"] <= 2000 and x["size"] >= 1900000]')"
# folded (the default): the interpreter's frames inside the Python frame
# go, the Python frame (the list comprehension) is the innermost shown,
# with the bytearray objects and their buffers (2 blocks each)
"$TM" top --peak --by function -n 0 --format json "$snap" > top.json || fail top
assert_eq "bytearrays by Python function" '["<listcomp>"]' \
    "$(json top.json '[x["key"] for x in s["stats"] if 3800 <= x["count"] <= 4000 and x["size"] >= 1900000]')"

# without --python: an interpreter is recognised (ELF: Py_BytesMain), and
# so is a script whose "#!" names one; run says so in one line on stderr
prog='import os; print(os.environ.get("PYTHONMALLOC", "unset"))'
"$TM" run -o "$WORK/auto.%p.json" "$PY" -c "$prog" > out 2> err || fail "run exited $?"
assert_eq "PYTHONMALLOC, auto" malloc "$(cat out)"
assert_eq "said once" 1 "$(grep -c 'runs on CPython: PYTHONMALLOC=malloc is set' err)"
cp "$PY" "$WORK/interp" # not named python*: found by its dynamic symbols
"$TM" run -q -o "$WORK/auto.%p.json" "$WORK/interp" -c "$prog" > out || fail "run interp exited $?"
assert_eq "PYTHONMALLOC, renamed interpreter" malloc "$(cat out)"
printf '#!/usr/bin/env %s\n%s\n' "$PY" "$prog" > "$WORK/script"
chmod +x "$WORK/script"
"$TM" run -q -o "$WORK/auto.%p.json" "$WORK/script" > out || fail "run script exited $?"
assert_eq "PYTHONMALLOC, script" malloc "$(cat out)"
# the user's choice is kept, and nothing is said
PYTHONMALLOC=pymalloc "$TM" run -o "$WORK/auto.%p.json" "$PY" -c "$prog" > out 2> err ||
    fail "run pymalloc exited $?"
assert_eq "PYTHONMALLOC, user's" pymalloc "$(cat out)"
grep -q "CPython" err && fail "said something: $(cat err)"
# not an interpreter: the environment is the program's own
"$TM" run -q -o "$WORK/auto.%p.json" sh -c 'echo "${PYTHONMALLOC-unset}"' > out || fail "run sh exited $?"
assert_eq "PYTHONMALLOC, sh" unset "$(cat out)"
exit 0
