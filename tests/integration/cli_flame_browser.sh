#!/bin/sh
# The HTML flame graph's search box in a real browser (headless Chromium
# driven by puppeteer-core): a valid expression colours the matching
# frames; an invalid one is said in red next to the box ("invalid regular
# expression: ...") while every frame stays drawn and the colouring stays
# as it was; a valid one again clears the message. Leaves a screenshot of
# the page with the message at tests/work/cli_flame_browser.png.
# Skipped without node, chromium or puppeteer-core (.ci/run installs it
# into tests/work/npm; TRACEMEM_NODE_PATH names another node_modules).
# cli_flamegraph.sh runs the same script against a stand-in for the DOM.
. "$top_srcdir/tests/integration/lib.sh"

[ -e "$SHIM" ] || skip "no shim at $SHIM"
command -v node >/dev/null 2>&1 || skip "no node"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || skip "no chromium"
NODE_PATH=${TRACEMEM_NODE_PATH:-$top_builddir/tests/work/npm/node_modules:$top_srcdir/tests/work/npm/node_modules}
export NODE_PATH
node -e 'require.resolve("puppeteer-core")' 2>/dev/null ||
    skip "no puppeteer-core in $NODE_PATH (npm install --prefix tests/work/npm puppeteer-core)"
TO=
command -v timeout >/dev/null 2>&1 && TO="timeout 180"

cd "$WORK" || fail "no $WORK"
"$TM" run -q -o "$WORK/a.json" "$PROGS/tm_allocs" 2 || fail "run"
"$TM" flamegraph a.json -o a.html || fail "flamegraph html exited $?"
SHOT=$top_builddir/tests/work/cli_flame_browser.png
rm -f "$SHOT"

cat > browser.js <<'JS'
const puppeteer = require('puppeteer-core');
const [, , exe, file, shot] = process.argv;
const fails = [];
const check = (what, ok, got) => { if (!ok) fails.push(what + ': ' + JSON.stringify(got)); };

// what a person sees: the message, how many frames are drawn, which are
// coloured by the search
function look() {
  const err = document.getElementById('searcherr');
  const box = err && err.getBoundingClientRect();
  const gs = Array.prototype.slice.call(document.querySelectorAll('g.f'));
  const drawn = g => {
    const r = g.querySelector('rect').getBoundingClientRect();
    return getComputedStyle(g).display !== 'none' && r.width > 0 && r.height > 0;
  };
  const name = g => {
    const t = g.querySelector('title').textContent;
    return t.slice(0, t.lastIndexOf(' ('));
  };
  return {
    shown: !!err && !err.hidden && box.width > 0 && box.height > 0,
    text: err ? err.textContent : '(no #searcherr element)',
    colour: err ? getComputedStyle(err).color : null,
    frames: gs.length,
    drawn: gs.filter(drawn).length,
    hits: gs.filter(g => getComputedStyle(g.querySelector('rect')).fill === 'rgb(224, 64, 224)')
            .map(name).sort(),
    matched: document.getElementById('matched').textContent,
  };
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: exe, headless: true, timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    await page.setViewport({ width: 1240, height: 420 });
    await page.goto('file://' + file, { waitUntil: 'load' });
    const search = async text => {
      await page.click('#search', { clickCount: 3 });
      await page.keyboard.press('Backspace');
      await page.type('#search', text);
      return page.evaluate(look);
    };

    let s = await page.evaluate(look);
    check('frames drawn at first', s.frames > 3 && s.drawn === s.frames, s);
    check('no message at first', !s.shown && s.text === '', s);

    s = await search('^make_');
    check('valid search colours make_buffer', s.hits.join() === 'make_buffer', s.hits);
    check('valid search share', /^matched: [0-9.]+%$/.test(s.matched), s.matched);
    check('no message for a valid search', !s.shown, s);
    const before = s;

    // one more key makes it invalid: said, and the graph as it was
    await page.type('#search', '(');
    s = await page.evaluate(look);
    check('invalid: message shown', s.shown, s);
    check('invalid: message text', s.text.startsWith('invalid regular expression: ') &&
          s.text.includes('^make_('), s.text);
    check('invalid: message in red', s.colour === 'rgb(204, 0, 0)', s.colour);
    check('invalid: every frame drawn', s.frames === before.frames && s.drawn === s.frames, s);
    check('invalid: colouring kept', s.hits.join() === before.hits.join(), s.hits);
    check('invalid: share kept', s.matched === before.matched, s.matched);
    check('invalid: box marked', await page.$eval('#search', e => e.getAttribute('aria-invalid')) === 'true', null);
    await page.screenshot({ path: shot });

    s = await search('leak_');
    check('valid again: message gone', !s.shown && s.text === '', s);
    check('valid again: colours leak_pages', s.hits.join() === 'leak_pages', s.hits);
    check('valid again: every frame drawn', s.drawn === s.frames, s);
    check('no script errors', errors.length === 0, errors);
  } finally {
    await browser.close();
  }
  console.log(fails.length ? 'FAILED: ' + fails.join('; ') : 'ok');
})().catch(e => { console.log('ERROR: ' + (e && e.stack || e)); });
JS
out=$($TO node browser.js "$CHROMIUM" "$WORK/a.html" "$SHOT" 2>&1)
assert_eq "browser" ok "$out"
[ -s "$SHOT" ] || fail "no screenshot at $SHOT"
note "screenshot: $SHOT"
exit 0
