#!/bin/sh
# Real programs: definite and indirect block counts agree with Valgrind's
# (libc's own allocations - thread bookkeeping, TLS, atexit lists, stdio -
# must not show up as leaks). Reachable counts differ by design: Valgrind
# runs __libc_freeres first, and blocks from before the shim started are
# not traced.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/leaks_common.sh"

have_valgrind || skip "valgrind is not installed"

compare() {
    name=$1
    shift
    out=$WORK/$name.json
    run_shim $out 120 "$@" >/dev/null 2>&1 </dev/null || fail "$name: exit status $?"
    assert_eq "$name: checked" true "$(json "$out" 's["leaks"]["checked"]')"
    ours=$(leak_counts "$out")
    vg=$(vg_counts "$@")
    note "$name: tracemem $ours, valgrind $vg (definite indirect possible reachable)"
    assert_eq "$name: definite, indirect as valgrind" "$(first_two "$vg")" "$(first_two "$ours")"
}

compare cxx "$PROGS/leaks_cxx"
assert_eq "cxx: definite, indirect" "4 4" "$(first_two "$(leak_counts "$WORK/cxx.json")")"
ran=1
for py in /usr/bin/python3 python3; do
    p=$(command -v $py 2>/dev/null) || continue
    # a pyenv shim is a script: run the interpreter itself
    p=$("$p" -c 'import sys; print(sys.executable)' 2>/dev/null) || continue
    compare python "$p" -c pass
    break
done
command -v perl >/dev/null 2>&1 && compare perl perl -e 1
command -v sqlite3 >/dev/null 2>&1 &&
    compare sqlite3 sqlite3 :memory: "create table t(a); insert into t values (1); select * from t;"
exit 0
