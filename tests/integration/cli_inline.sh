#!/bin/sh
# tracemem symbolize inside inline functions nested six deep (tm_inline,
# built -O2 -g): for every frame of tm_inline in the snapshot's stacks the
# function, file:line and inlined chain must be what eu-addr2line -i (or
# binutils' addr2line -i) says of the same address, the return address
# minus one - the whole chain, innermost first.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
if command -v eu-addr2line >/dev/null; then
    a2l=eu-addr2line
elif command -v addr2line >/dev/null; then
    a2l=addr2line
else
    skip "no eu-addr2line or addr2line"
fi
cd "$WORK" || fail "no $WORK"
unset DEBUGINFOD_URLS
cp "$PROGS/tm_inline" prog
TRACEMEM_OUTPUT="$WORK/raw.json" TRACEMEM_AT_EXIT=snapshot preload ./prog || fail "tm_inline exited $?"
"$TM" symbolize raw.json -o sym.json 2> err || fail "symbolize: $(cat err)"
[ -s err ] && fail "warnings: $(cat err)"

# one line per frame of the program: "OFFSET name file:line name file:line ..."
# (file names reduced to their last component, as addr2line may print
# them relative)
python3 - sym.json > ours.txt <<'PY' || fail "reading sym.json"
import json, os, sys
s = json.load(open(sys.argv[1]))
prog = [i for i, m in enumerate(s["modules"]) if m["path"].endswith("/prog")]
seen = set()
for t in s["traces"]:
    for fi in s["stacks"][t["stack"]]["frames"]:
        f = s["frames"][fi]
        if f.get("module") not in prog or f["offset"] in seen:
            continue
        seen.add(f["offset"])
        chain = [(f.get("function"), f.get("file"), f.get("line"))]
        chain += [(i.get("function"), i.get("file"), i.get("line")) for i in f.get("inlined", [])]
        print("%x" % f["offset"], " ".join("%s %s:%s" % (n, os.path.basename(p or "??"), l or 0)
                                           for n, p, l in chain))
PY
[ "$(wc -l < ours.txt)" -ge 3 ] || fail "too few frames of the program: $(cat ours.txt)"
# the deepest chain must really be deep: depth6 ... depth1 in outer
deepest=$(awk '{ if (NF > m) m = NF } END { print (m - 1) / 2 }' ours.txt)
[ "$deepest" -ge 7 ] || fail "no frame with the whole chain: $(cat ours.txt)"
grep -q "^[0-9a-f]* depth6 .* depth5 .* depth4 .* depth3 .* depth2 .* depth1 .* outer " ours.txt ||
    fail "chain depth6..outer missing: $(cat ours.txt)"

n=0
while read -r off chain; do
    pc=$(printf '%x' $((0x$off - 1)))
    # name lines and location lines alternate; eu-addr2line writes
    # file:line:column, addr2line file:line (discriminator N)
    theirs=$($a2l -f -i -e prog "0x$pc" | awk '
        NR % 2 == 1 { name = $1; next }
        { loc = $1; if (loc ~ /:[0-9]+:[0-9]+$/) sub(/:[0-9]+$/, "", loc)
          if (loc ~ /^\?\?:/) loc = "??:0"  # no line known
          n = split(loc, p, "/"); printf "%s%s %s", (NR > 2 ? " " : ""), name, p[n] }')
    [ "$chain" = "$theirs" ] || fail "at $off: tracemem says '$chain', $a2l -i says '$theirs'"
    n=$((n + 1))
done < ours.txt
echo "$n frames agree with $a2l -i (up to $deepest functions deep)"
