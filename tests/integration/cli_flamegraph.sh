#!/bin/sh
# tracemem flamegraph on tm_allocs: the SVG is well-formed XML, every frame
# has a tooltip and a rect, make_buffer and leak_pages have the widths
# their bytes say (2000 : 4096*LEAKS); the HTML page embeds the same SVG
# with its script and nothing from outside; --diff paints exactly the
# grown frames red; --metric peak/leaked; bad input and usage -> exit 2
# with one line and no output file.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
cd "$WORK" || fail "no $WORK"
"$TM" run -q -o "$WORK/old.json" "$PROGS/tm_allocs" 2 || fail "run 1"
"$TM" run -q -o "$WORK/new.json" "$PROGS/tm_allocs" 5 || fail "run 2"

# frames FILE.svg: one line per frame, "NAME WIDTH FILL BYTES", from the
# tooltips ("NAME (1,234 bytes, 12.34%...)") and rects.
frames() {
    python3 - "$1" <<'PY'
import re, sys
from xml.dom import minidom
text = open(sys.argv[1]).read()
if text.lstrip().startswith("<!DOCTYPE html>"):
    text = text[text.index("<svg "):text.index("</svg>") + 6]
doc = minidom.parseString(text)
for g in doc.getElementsByTagName("g"):
    if g.getAttribute("class") != "f":
        continue
    title = g.getElementsByTagName("title")[0].firstChild.data
    rect = g.getElementsByTagName("rect")[0]
    m = re.match(r"(.*) \(([0-9,]+) bytes, ", title)
    print(m.group(1), rect.getAttribute("width"), rect.getAttribute("fill"),
          m.group(2).replace(",", ""))
PY
}
# field NAME COLUMN: column 2 (width), 3 (fill) or 4 (bytes) of frame NAME
field() { awk -v n="$1" -v c="$2" '$1 == n { print $c; exit }' frames.txt; }
live() { json "$1" 'sum(t["size"] for t in s["traces"])'; }

"$TM" flamegraph new.json -o new.svg || fail "flamegraph exited $?"
frames new.svg > frames.txt || fail "new.svg is not well-formed XML"
assert_eq "all" "$(live new.json)" "$(field all 4)"
assert_eq "all width" 1180.00 "$(field all 2)"
assert_eq "leak_pages bytes" 20480 "$(field leak_pages 4)"
assert_eq "make_buffer bytes" 2000 "$(field make_buffer 4)"
assert_eq "widths ratio" ok "$(awk -v a="$(field make_buffer 2)" -v b="$(field leak_pages 2)" \
    'BEGIN { r = a / b; print (r > 2000 / 20480 * 0.99 && r < 2000 / 20480 * 1.01) ? "ok" : r }')"
assert_eq "width of main" ok "$(awk -v w="$(field main 2)" -v b="$(field main 4)" -v t="$(field all 4)" \
    'BEGIN { e = 1180 * b / t; print (w > e - 0.01 && w < e + 0.01) ? "ok" : w " vs " e }')"
grep -q '^leak_pages [0-9.]* #[0-9a-f]\{6\} ' frames.txt || fail "colour: $(grep leak_pages frames.txt)"
# the tooltip gives the source line of the call (tm_allocs.c's SITE_LEAK)
line=$(grep -nF '/* SITE_LEAK */' "$top_srcdir/tests/progs/tm_allocs.c" | head -1 | cut -d: -f1)
grep -q "^at .*/tm_allocs\.c:$line</title>" new.svg || fail "no file:line in leak_pages' tooltip: $(grep -A1 '<title>leak_pages' new.svg)"
# the same function has the same colour in every graph
"$TM" flamegraph old.json -o old.svg || fail "flamegraph old"
assert_eq "stable colour" "$(field leak_pages 3)" \
    "$(frames old.svg | awk '$1 == "leak_pages" { print $3 }')"

# HTML: the same frames, a script, nothing loaded from outside
"$TM" flamegraph new.json -o new.html || fail "flamegraph html exited $?"
frames new.html > html.txt || fail "the SVG in new.html is not well-formed"
cmp -s frames.txt html.txt || fail "HTML frames differ from the SVG's"
grep -q "<script>" new.html || fail "no script"
grep -q 'id="search"' new.html || fail "no search box"
! grep -q 'src=\|href=\|https\?://[^w]' new.html || fail "external resource in new.html"

# the page's script, run by node against a stand-in for the DOM: clicking
# leak_pages zooms it to the full width (callers greyed, other frames
# hidden), Reset zoom restores the widths, search sums the matches, an
# invalid expression is said next to the box and leaves the graph alone
# (cli_flame_browser.sh does the same in a real browser)
if command -v node >/dev/null 2>&1; then
    python3 - new.html > dom.json <<'PY' || fail "cannot read new.html"
import json, sys
from xml.dom import minidom
text = open(sys.argv[1]).read()
svg = minidom.parseString(text[text.index("<svg "):text.index("</svg>") + 6])
out = {"script": text[text.index("<script>") + 8:text.index("</script>")],
       "frames": []}
for g in svg.getElementsByTagName("g"):
    if g.getAttribute("class") == "f":
        r = g.getElementsByTagName("rect")[0]
        out["frames"].append({
            "x": g.getAttribute("data-x"), "w": g.getAttribute("data-w"),
            "d": g.getAttribute("data-d"),
            "title": g.getElementsByTagName("title")[0].firstChild.data,
            "rx": r.getAttribute("x"), "rw": r.getAttribute("width")})
print(json.dumps(out))
PY
    cat > dom.js <<'JS'
const fs = require('fs');
const page = JSON.parse(fs.readFileSync(process.argv[2]));
function el(attrs) {
  return { attrs: Object.assign({}, attrs), style: {}, textContent: '', on: {},
    getAttribute(n) { return n in this.attrs ? String(this.attrs[n]) : null; },
    setAttribute(n, v) { this.attrs[n] = v; },
    removeAttribute(n) { delete this.attrs[n]; },
    addEventListener(t, f) { (this.on[t] = this.on[t] || []).push(f); },
    fire(t) { (this.on[t] || []).forEach(f => f({ target: this })); } };
}
const gs = page.frames.map(f => {
  const g = el({ 'data-x': f.x, 'data-w': f.w, 'data-d': f.d });
  g.rect = el({ x: f.rx, width: f.rw }); g.text = el({}); g.title = el({});
  g.title.textContent = f.title; g.name = f.title.slice(0, f.title.lastIndexOf(' ('));
  g.querySelector = s => ({ rect: g.rect, text: g.text, title: g.title })[s];
  return g;
});
const svg = el({ width: 1200 });
svg.querySelectorAll = () => gs;
const ids = { details: el({}), reset: el({}), search: el({}), matched: el({}),
              searcherr: Object.assign(el({}), { hidden: true }) };
global.document = { querySelector: () => svg, getElementById: id => ids[id] };
eval(page.script);
const byName = n => gs.find(g => g.name === n);
const near = (a, b) => Math.abs(+a - +b) < 0.01;
const fails = [];
const check = (what, ok) => { if (!ok) fails.push(what); };
const leak = byName('leak_pages'), mb = byName('make_buffer'), main = byName('main');
leak.fire('mouseover');
check('details', ids.details.textContent === leak.title.textContent);
leak.fire('click');
check('zoomed x', near(leak.rect.getAttribute('x'), 10));
check('zoomed width', near(leak.rect.getAttribute('width'), 1180));
check('caller full width', near(main.rect.getAttribute('width'), 1180));
check('caller greyed', main.style.opacity === 0.6);
check('sibling hidden', mb.style.display === 'none');
check('label', leak.text.textContent === 'leak_pages');
ids.reset.fire('click');
check('reset width', near(mb.rect.getAttribute('width'), page.frames[gs.indexOf(mb)].rw));
check('reset shown', mb.style.display === '');
ids.search.value = '^make_';
ids.search.fire('input');
check('search colour', mb.rect.style.fill === '#e040e0' && leak.rect.style.fill === '');
check('search share ' + ids.matched.textContent,
      ids.matched.textContent === 'matched: ' + (100 * +mb.getAttribute('data-w')).toFixed(2) + '%');
const share = ids.matched.textContent;
ids.search.value = '(make_';
ids.search.fire('input');
check('bad regex said', !ids.searcherr.hidden &&
      /^invalid regular expression: ./.test(ids.searcherr.textContent));
check('bad regex marks the box', ids.search.getAttribute('aria-invalid') === 'true');
check('bad regex keeps the graph', mb.rect.style.fill === '#e040e0' &&
      leak.rect.style.fill === '' && ids.matched.textContent === share);
ids.search.value = 'leak_';
ids.search.fire('input');
check('message gone', ids.searcherr.hidden && ids.searcherr.textContent === '' &&
      ids.search.getAttribute('aria-invalid') === null);
check('search again', leak.rect.style.fill === '#e040e0' && mb.rect.style.fill === '');
console.log(fails.length ? 'FAILED: ' + fails.join(', ') : 'ok');
JS
    assert_eq "script" ok "$(node dom.js dom.json 2>&1)"
else
    note "no node: the page's script is not exercised"
fi

# --diff: widths from NEW; leak_pages (+12288) alone is red, at full
# strength; make_buffer did not change
"$TM" flamegraph new.json --diff old.json -o diff.svg || fail "diff exited $?"
frames diff.svg > frames.txt || fail "diff.svg not well-formed"
assert_eq "diff width" "$(frames new.svg | awk '$1 == "leak_pages" { print $2 }')" "$(field leak_pages 2)"
assert_eq "grew" "#ff1e1e" "$(field leak_pages 3)"
assert_eq "same" "#e6e6e6" "$(field make_buffer 3)"
grep -q '<title>leak_pages (20,480 bytes, [0-9.]*%; +12,288 bytes)' diff.svg ||
    fail "diff tooltip: $(grep -o '<title>leak_pages[^<]*' diff.svg)"
"$TM" flamegraph old.json --diff new.json -o shrink.svg || fail "shrink"
frames shrink.svg > frames.txt
assert_eq "shrank" "#1e1eff" "$(field leak_pages 3)"

# metrics: peak record and leaks
"$TM" flamegraph new.json --metric peak -o peak.svg || fail "peak exited $?"
frames peak.svg > frames.txt
assert_eq "peak total" "$(json new.json 'sum(t["size"] for t in s["peak"]["traces"])')" "$(field all 4)"
if [ "$(json new.json 's["leaks"]["checked"]')" = true ]; then
    "$TM" flamegraph new.json --metric leaked -o leaked.svg || fail "leaked exited $?"
    frames leaked.svg > frames.txt
    assert_eq "leaked total" \
        "$(json new.json 'sum(x["bytes"] for x in s["leaks"]["stacks"] if x["kind"] in ("definite", "indirect"))')" \
        "$(field all 4)"
    "$TM" flamegraph new.json --metric leaked --kinds all -o leaked.svg || fail "--kinds all exited $?"
    frames leaked.svg > frames.txt
    assert_eq "leaked total, all kinds" \
        "$(json new.json 'sum(x["bytes"] for x in s["leaks"]["stacks"])')" "$(field all 4)"
else
    note "no leak check in the snapshot: --metric leaked not tested"
fi

# errors: one line, exit 2, no output file
expect_error() {   # expect_error PATTERN ARGS...
    pat=$1; shift
    "$TM" flamegraph "$@" > out.txt 2> err.txt
    assert_eq "exit of $*" 2 $?
    assert_eq "lines of $*" 1 "$(wc -l < err.txt)"
    grep -q "$pat" err.txt || fail "message of $*: $(cat err.txt)"
    [ ! -e bad.svg ] || fail "bad.svg written for $*"
    ls | grep -q '\.tmp\.' && fail "temporary file left by $*"
    :
}
expect_error "^tracemem: $DATA/bad-notjson.json: " "$DATA/bad-notjson.json" -o bad.svg
expect_error "^tracemem: $DATA/bad-index-stack.json: " "$DATA/bad-index-stack.json" -o bad.svg
expect_error "^tracemem: missing.json: " missing.json -o bad.svg
expect_error "^tracemem flamegraph: --metric: unknown metric 'size'" new.json --metric size -o bad.svg
expect_error "^tracemem flamegraph: -o: 'bad.png' must end in .svg or .html" new.json -o bad.png
expect_error "^tracemem flamegraph: -o OUT is required" new.json
expect_error "^tracemem flamegraph: --kinds applies to --metric leaked only" new.json --kinds all -o bad.svg
expect_error "^tracemem flamegraph: --kinds: bad list 'lost'" new.json --metric leaked --kinds lost -o bad.svg
python3 -c "
import json; s = json.load(open('new.json')); del s['peak']
json.dump(s, open('nopeak.json', 'w'))"
expect_error "^tracemem: nopeak.json: no peak record in this snapshot\$" nopeak.json --metric peak -o bad.svg
"$TM" flamegraph new.json -o "$WORK/no/such/dir/x.svg" 2> err.txt
assert_eq "unwritable exit" 2 $?
grep -q "^tracemem: $WORK/no/such/dir/x.svg: cannot create: " err.txt || fail "unwritable: $(cat err.txt)"
exit 0
