#!/bin/sh
# tracemem symbolize on raw snapshots of copies of tm_allocs: with DWARF,
# with only a symbol table, with a separate debug file found through
# .gnu_debuglink, through a build-id directory (also after the binary is
# deleted), and a binary changed since the run (warning, left as
# module+offset, never a wrong name).
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
for t in strip objcopy readelf; do
    command -v $t >/dev/null || skip "no $t"
done
SRC=$top_srcdir/tests/progs/tm_allocs.c
LEAK=$(grep -n "SITE_LEAK " "$SRC" | cut -d: -f1)
cd "$WORK" || fail "no $WORK"
unset DEBUGINFOD_URLS
# All copies share one build-id: the build-id directory is only searched
# where it is meant to be found.
NODIR=":.debug:$WORK/none"
WITHDIR=":.debug:$WORK/debug"
export TRACEMEM_DEBUGINFO_PATH="$NODIR"

# raw NAME: runs ./NAME under the shim, raw snapshot raw-NAME.json
raw() {
    TRACEMEM_OUTPUT="$WORK/raw-$1.json" TRACEMEM_AT_EXIT=snapshot \
        preload "./$1" 3 || fail "$1 exited $?"
    [ "$(json "raw-$1.json" 's["symbolized"]')" = false ] || fail "not raw"
}
# leak_frame FILE FIELD: FIELD of the innermost frame of the 12288-byte trace
leak_frame() {
    json "$1" "[s['frames'][s['stacks'][t['stack']]['frames'][0]].get('$2') for t in s['traces'] if t['size'] == 12288][0]"
}
build_id() {
    readelf -n "$1" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p'
}

cp "$PROGS/tm_allocs" full
cp full nodebug && strip --strip-debug nodebug
cp full linked && objcopy --only-keep-debug linked linked.debug &&
    objcopy --strip-debug --add-gnu-debuglink=linked.debug linked
cp full byid && objcopy --only-keep-debug byid byid.debug && strip --strip-debug byid
id=$(build_id byid)
[ -n "$id" ] || skip "no build-id in the test program"
mkdir -p "debug/.build-id/$(echo "$id" | cut -c1-2)"
mv byid.debug "debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug"
cp full changed
for p in full nodebug linked byid changed; do raw $p; done

# DWARF in the binary; symbolize writes -o, and in place by default
"$TM" symbolize raw-full.json -o sym-full.json 2> err || fail "symbolize: $(cat err)"
[ -s err ] && fail "warnings: $(cat err)"
assert_eq "symbolized" true "$(json sym-full.json 's["symbolized"]')"
assert_eq "function" leak_pages "$(leak_frame sym-full.json function)"
assert_eq "line" "$LEAK" "$(leak_frame sym-full.json line)"
case $(leak_frame sym-full.json file) in */tests/progs/tm_allocs.c) ;;
    *) fail "file: $(leak_frame sym-full.json file)" ;; esac
assert_eq "raw untouched" null "$(leak_frame raw-full.json function)"
cp raw-full.json inplace.json
"$TM" symbolize inplace.json || fail "symbolize in place"
cmp -s inplace.json sym-full.json || fail "in place differs from -o"
"$TM" symbolize raw-full.json -o - | grep -q '"function": *"leak_pages"' ||
    fail "symbolize -o -"

# symbol table only: function, no file
"$TM" symbolize raw-nodebug.json -o sym.json || fail "nodebug"
assert_eq "symtab function" leak_pages "$(leak_frame sym.json function)"
assert_eq "no file" null "$(leak_frame sym.json file)"
"$TM" top --by lineno --format json raw-nodebug.json > top.json
assert_eq "lineno key without lines" "leak_pages (nodebug)" \
    "$(json top.json 's["stats"][0]["key"]')"

# .gnu_debuglink next to the binary
"$TM" symbolize raw-linked.json -o sym.json || fail "linked"
assert_eq "debuglink line" "$LEAK" "$(leak_frame sym.json line)"

# build-id directory, and still after the binary is gone
export TRACEMEM_DEBUGINFO_PATH="$WITHDIR"
"$TM" symbolize raw-byid.json -o sym.json || fail "byid"
assert_eq "build-id line" "$LEAK" "$(leak_frame sym.json line)"
rm byid
"$TM" symbolize raw-byid.json -o sym.json 2> err || fail "byid deleted"
[ -s err ] && fail "warnings: $(cat err)"
assert_eq "deleted binary, build-id line" "$LEAK" "$(leak_frame sym.json line)"

# changed since the run: one warning, frames stay module+offset
export TRACEMEM_DEBUGINFO_PATH="$NODIR"
objcopy --remove-section .note.gnu.build-id changed
"$TM" top --by lineno --format json raw-changed.json > top.json 2> err ||
    fail "top on a changed module exited $?"
assert_eq "warnings" 1 "$(grep -c 'module .*/changed changed since the run' err)"
grep -q "build-id $(build_id full) in the snapshot, none on disk" err ||
    fail "warning: $(cat err)"
case $(json top.json 's["stats"][0]["key"]') in changed+0x*) ;;
    *) fail "key of a changed module: $(json top.json 's["stats"][0]["key"]')" ;; esac
rm changed
"$TM" top raw-changed.json > /dev/null 2> err || fail "top, module gone"
grep -q "module .*/changed: cannot read it" err || fail "warning: $(cat err)"
exit 0
