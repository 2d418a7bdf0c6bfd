#!/bin/sh
# man_pages.sh - every page renders as a person will see it: with groff
# (man -l), which nests the quoting macros mandoc -Tlint accepts; every
# tracemem or rcgc page named in a SEE ALSO exists once installed; every
# public function of tracemem.h and rcgc.h has a page of its own name
# (man/links.sh), which renders.
. "$top_srcdir/tests/integration/lib.sh"
if command -v man >/dev/null 2>&1; then
    render() { MANWIDTH=80 man -l "$1"; }
elif command -v groff >/dev/null 2>&1; then
    render() { groff -s -mandoc -Tutf8 "$1"; }
else
    skip "neither man nor groff is installed"
fi

# the installed layout, links included
M=$WORK/man
mkdir -p "$M/man1" "$M/man3" "$M/man5"
for p in "$top_srcdir"/man/*.[135]; do
    cp "$p" "$M/man${p##*.}/"
done
sh "$top_srcdir/man/links.sh" install "$M/man3" "$top_srcdir"/man/*.3 || fail "links.sh install"

cd "$M" || fail "cd $M"
for p in man*/*.[135]; do
    render "$p" >"$WORK/out" 2>"$WORK/err" || fail "$p: does not render: $(cat "$WORK/err")"
    [ -s "$WORK/err" ] && fail "$p: renders with warnings: $(head -3 "$WORK/err")"
    [ "$(wc -l <"$WORK/out")" -gt 5 ] || fail "$p: renders to almost nothing"
    # quotes open and close in turn, never nested or left open; a quoted
    # word is not followed by a doubled ASCII quote ("pass or "fail"")
    python3 - "$p" "$WORK/out" <<'PY' || fail "$p: quotes do not pair"
import sys
text = open(sys.argv[2], encoding="utf-8").read()
for o, c in (("\u201c", "\u201d"), ("\u2018", "\u2019")):
    depth = 0
    for i, ch in enumerate(text):
        if ch == o:
            depth += 1
        elif ch == c:
            depth -= 1
        if depth > 1 or depth < 0:
            sys.exit("%s: %r nested or unopened near: %r" % (sys.argv[1], o + c, text[max(0, i - 60):i + 20]))
    if depth:
        sys.exit("%s: %r left open" % (sys.argv[1], o))
import re
m = re.search(r'[A-Za-z0-9]""', text)
if m:
    sys.exit("%s: doubled quote near %r" % (sys.argv[1], text[max(0, m.start() - 40):m.end() + 10]))
PY
    # SEE ALSO: our own pages must exist
    sed -n '/^SEE ALSO/,/^[A-Z]/p' "$WORK/out" | grep -oE '(tracemem|rcgc)[A-Za-z0-9_.-]*\([0-9]\)' |
        while read -r ref; do
            name=${ref%(*} sec=${ref#*(}
            sec=${sec%)}
            [ -f "man$sec/$name.$sec" ] || { echo "$p: SEE ALSO names $ref, which is not installed" >&2; exit 1; }
        done || fail "$p: SEE ALSO names a page that does not exist"
done

# every public function opens a page under its own name
fns=$(sed -n 's/^\(TRACEMEM_API\|RCGC_API\) .*[ *]\([a-z_0-9]*\)(.*/\2/p' \
    "$top_srcdir/include/tracemem.h" "$top_srcdir/include/rcgc.h")
[ "$(echo "$fns" | wc -l)" -ge 45 ] || fail "found only $(echo "$fns" | wc -l) public functions in the headers"
for f in $fns; do
    [ -f "man3/$f.3" ] || fail "no page for $f (man $f fails)"
    render "man3/$f.3" >"$WORK/out" 2>"$WORK/err" || fail "man3/$f.3 does not render"
    grep -q "$f" "$WORK/out" || fail "man $f opens a page that does not name it"
done
exit 0
