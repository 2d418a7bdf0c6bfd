#!/bin/sh
# tracemem leaks/check on the hand-made snapshots tests/data/leaks*.json:
# text, JSON, JUnit, GitHub annotations and generated suppressions byte for
# byte equal to tests/data/golden/*, with the expected exit status.
. "$top_srcdir/tests/integration/lib.sh"

cd "$DATA" || fail "no $DATA"
unset GITHUB_WORKSPACE
# check NAME STATUS ARGS...
check() {
    name=$1 want=$2; shift 2
    "$TM" "$@" > "$WORK/$name" 2> "$WORK/$name.err"
    rc=$?
    [ "$rc" = "$want" ] ||
        fail "$name: tracemem $* exited $rc, not $want: $(cat "$WORK/$name.err")"
    [ -s "$WORK/$name.err" ] && fail "$name: unexpected stderr: $(cat "$WORK/$name.err")"
    diff -u "golden/$name" "$WORK/$name" || fail "$name differs from golden/$name"
}
check leaks.txt 0 leaks leaks.json
check leaks-all.json 0 leaks leaks.json --kinds all --format json
check leaks-supp.txt 0 leaks leaks.json --suppressions leaks.valgrind.supp \
    --suppressions leaks.lsan.supp
check leaks-unchecked.txt 0 leaks leaks-unchecked.json
check leaks-gen.supp 0 leaks leaks.json --gen-suppressions
check check.txt 1 check leaks.json
check check-baseline.txt 1 check --baseline leaks-base.json leaks-grown.json
check check-baseline.json 1 check --baseline leaks-base.json --format json \
    leaks-grown.json
check check-github.txt 1 check --format github leaks.json
check check-baseline-github.txt 1 check --baseline leaks-base.json \
    --format github leaks-grown.json
check check-junit.xml 1 check --format junit --suppressions leaks.lsan.supp \
    leaks.json
exit 0
