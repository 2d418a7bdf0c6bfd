#!/bin/sh
# tracemem report in a real browser (headless Chromium driven by
# puppeteer-core, as cli_flame_browser.sh): on tests/data/report-timeline.json
# (a hand-made snapshot with a "timeline": 7 samples, a peak of 4200400
# bytes at 50 ms, two events, leaks of every kind, a gc section) the chart's
# points follow the samples and the peak is marked where it is; dragging
# over 5-25 ms redraws the flame graph with what was live at 20 ms, and
# "allocated during the range" over 25-45 ms with what was allocated then;
# zooming reveals a box too narrow to see; search colours; the sites table
# sorts by a clicked column; leaks and the collector are listed. Then a
# real run of tm_allocs (one snapshot: no chart, a flame graph, leaks) and
# interval snapshots of tm_grow (a chart drawn from the snapshots' times,
# one point per snapshot at its heap). The RSS legend hides and shows the
# RSS (the scale follows), and an RSS 100 times the heap starts hidden. No
# page errors anywhere. Leaves a
# screenshot of each page in tests/work/report_browser-*.png.
. "$top_srcdir/tests/integration/lib.sh"

command -v node >/dev/null 2>&1 || skip "no node"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || skip "no chromium"
NODE_PATH=${TRACEMEM_NODE_PATH:-$top_builddir/tests/work/npm/node_modules:$top_srcdir/tests/work/npm/node_modules}
export NODE_PATH
node -e 'require.resolve("puppeteer-core")' 2>/dev/null ||
    skip "no puppeteer-core in $NODE_PATH (npm install --prefix tests/work/npm puppeteer-core)"
TO=
command -v timeout >/dev/null 2>&1 && TO="timeout 240"

cd "$WORK" || fail "no $WORK"
"$TM" report "$DATA/report-timeline.json" -o t.html || fail "report exited $?"
"$TM" report "$DATA/report-timeline.json" "$DATA/cli-a.json" -o two.html || fail "report of two exited $?"
# the same run with an RSS 100 times larger (an interpreter's modules): the
# heap must not be flattened into the axis
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["timeline"]["samples"]:
    s[2] *= 100
json.dump(d, open("bigrss.json", "w"))' "$DATA/report-timeline.json" || fail "bigrss.json"
"$TM" report bigrss.json -o bigrss.html || fail "report of bigrss.json exited $?"
! grep -q 'src=\|href=\|https\?://[^w]' t.html || fail "external resource in t.html"
REAL=
if [ -e "$SHIM" ]; then
    # without the shim's timeline (TRACEMEM_TIMELINE=0): the page says so
    TRACEMEM_TIMELINE=0 "$TM" run -q -o "$WORK/r.json" "$PROGS/tm_allocs" 3 || fail "run tm_allocs"
    "$TM" report r.json -o r.html || fail "report of r.json exited $?"
    # no timeline either: the chart is drawn from the snapshots themselves
    TRACEMEM_TIMELINE=0 "$TM" run -q --interval 0.05 -o "$WORK/g.%n.json" "$PROGS/tm_grow" 30 10 || fail "run tm_grow"
    set -- g.*.json
    [ $# -ge 2 ] || fail "tm_grow wrote $# snapshots"
    "$TM" report "$@" -o g.html || fail "report of $* exited $?"
    # heap at each snapshot, in seq order, as the chart should draw it
    python3 -c '
import json, sys
v = sorted((json.load(open(f)) for f in sys.argv[1:]), key=lambda s: s["snapshot"]["seq"])
print(",".join(str(s["memory"]["current"]) for s in v))' "$@" > g.heaps || fail "g.heaps"
    REAL=1
else
    note "no shim at $SHIM: only the hand-made snapshot's page is tested"
fi
SHOTS=$top_builddir/tests/work
rm -f "$SHOTS"/report_browser-*.png

cat > report.js <<'JS'
const puppeteer = require('puppeteer-core');
const fs = require('fs');
const [, , exe, dir, shots, real] = process.argv;
const fails = [];
const check = (what, ok, got) => { if (!ok) fails.push(what + ': ' + JSON.stringify(got)); };

// the flame graph as drawn: names of the boxes a person can see
function boxes() {
  return Array.from(document.querySelectorAll('#fg g.f')).filter(g => {
    const r = g.querySelector('rect').getBoundingClientRect();
    return getComputedStyle(g).display !== 'none' && r.width > 0;
  }).map(g => { const t = g.querySelector('title').textContent; return t.slice(0, t.lastIndexOf(' (')); });
}
const set = a => Array.from(new Set(a)).sort().join(',');

async function open(browser, file, errors) {
  const page = await browser.newPage();
  page.on('pageerror', e => errors.push(file + ': ' + String(e)));
  page.on('console', m => { if (m.type() === 'error') errors.push(file + ': console: ' + m.text()); });
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto('file://' + dir + '/' + file, { waitUntil: 'load' });
  return page;
}
// drags across the chart from time a to time b (seconds)
async function drag(page, a, b) {
  const p = await page.evaluate((a, b) => {
    const area = document.getElementById('area').getBoundingClientRect();
    const S = JSON.parse(document.getElementById('data').textContent).procs[0].timeline.samples;
    const tmax = S[S.length - 1][0] / 1e9;
    return { y: area.top + area.height / 2, x0: area.left + a / tmax * area.width, x1: area.left + b / tmax * area.width };
  }, a, b);
  await page.mouse.move(p.x0, p.y);
  await page.mouse.down();
  await page.mouse.move((p.x0 + p.x1) / 2, p.y, { steps: 3 });
  await page.mouse.move(p.x1, p.y, { steps: 3 });
  await page.mouse.up();
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: exe, headless: true, timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const errors = [];
  try {
    /* --- the hand-made timeline --- */
    let page = await open(browser, 't.html', errors);
    let s = await page.evaluate(() => {
      const pts = Array.from(document.querySelectorAll('#chart circle.pt'))
        .map(c => [+c.getAttribute('data-i'), +c.getAttribute('cx'), +c.getAttribute('cy')]);
      const peak = document.querySelector('#peak');
      const pc = peak && peak.querySelector('circle');
      return { pts, peak: peak && [+peak.getAttribute('data-i'), +pc.getAttribute('cx'), +pc.getAttribute('cy'),
                                    peak.querySelector('text').textContent],
               events: document.querySelectorAll('#chart g.ev').length,
               rss: !!document.querySelector('#chart #rssline'),
               heapline: document.querySelector('#chart #heapline').getAttribute('points').split(' ').length,
               cards: Array.from(document.querySelectorAll('.card')).map(c => c.textContent) };
    });
    const heap = [0, 4096, 9096, 5596, 6096, 4200400, 4200400], ts = [0, 10, 20, 30, 40, 50, 60];
    check('one point per sample', s.pts.length === 7 && s.heapline === 7, s.pts.length);
    // points: y falls linearly with heap, x grows linearly with time
    if (s.pts.length === 7) {
      const y0 = s.pts[0][2], ky = (s.pts[5][2] - y0) / heap[5], x0 = s.pts[0][1], kx = (s.pts[6][1] - x0) / 60;
      s.pts.forEach((p, i) => {
        check('point ' + i + ' y', Math.abs(p[2] - (y0 + ky * heap[i])) < 0.05, p);
        check('point ' + i + ' x', Math.abs(p[1] - (x0 + kx * ts[i])) < 0.05, p);
      });
      check('heap drawn upwards', ky < 0, ky);
      check('peak mark at sample 5', s.peak && s.peak[0] === 5 && Math.abs(s.peak[1] - s.pts[5][1]) < 0.01 &&
            Math.abs(s.peak[2] - s.pts[5][2]) < 0.01, s.peak);
    }
    check('peak label', s.peak && s.peak[3] === 'peak 4.0 MiB', s.peak);
    check('two events marked', s.events === 2, s.events);
    check('RSS drawn', s.rss, s.rss);
    // the RSS legend hides the RSS and the scale follows the heap, and back
    const chartState = () => page.evaluate(() => ({
      rss: !!document.querySelector('#chart #rssline'),
      legend: document.getElementById('rsslegend').firstChild.textContent,
      peaky: +document.querySelector('#peak circle').getAttribute('cy'),
      top: +document.getElementById('area').getAttribute('y'),
    }));
    const clickRssKey = () => page.evaluate(() =>
      document.querySelector('#chart rect.rsskey').dispatchEvent(new MouseEvent('click', { bubbles: true })));
    let c0 = await chartState();
    await clickRssKey();
    let c1 = await chartState();
    check('RSS hidden by its legend', !c1.rss && c1.legend.includes('hidden: click to show'), c1);
    check('heap scaled to its peak', Math.abs(c1.peaky - c1.top) < 0.01 && c0.peaky > c1.peaky + 10, [c0, c1]);
    await clickRssKey();
    let c2 = await chartState();
    check('RSS shown again', c2.rss && c2.legend === '\u2014 RSS' && Math.abs(c2.peaky - c0.peaky) < 0.01, c2);
    check('summary: peak', s.cards.some(c => c === '4.0 MiBpeak heap'), s.cards);
    check('summary: definite leaks', s.cards.some(c => c === '300 B / 3definite leaks'), s.cards);

    // the flame graph of the whole run: live at the end
    let b = await page.evaluate(boxes);
    // at 1180 px for 4 MiB, read_config's 300 bytes (0.08 px) and the
    // recursive build_tree's 200 are under 0.1 px: not drawn
    check('whole run boxes', set(b) === 'all,alloc_node,big_table,build_tree,foo_alloc,main', set(b));
    check('the 200-byte build_tree is too narrow to draw', b.filter(n => n === 'build_tree').length === 1, b);
    // zoom into build_tree: its recursive call appears
    await page.evaluate(() => {
      const g = Array.from(document.querySelectorAll('#fg g.f')).find(g => g.querySelector('title').textContent.startsWith('build_tree (1,700 bytes'));
      g.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    });
    b = await page.evaluate(boxes);
    check('zoom reveals the recursive build_tree', b.filter(n => n === 'build_tree').length === 2 &&
          !b.includes('big_table'), b);
    const inner = await page.evaluate(() => {
      const g = Array.from(document.querySelectorAll('#fg g.f')).find(g => g.querySelector('title').textContent.startsWith('build_tree (200 bytes'));
      return +g.querySelector('rect').getAttribute('width');
    });
    check('revealed box is wide', inner > 50, inner);
    await page.click('#reset');

    // drag over 5-25 ms: live at 20 ms (sample 2) = foo_alloc 4096 + alloc_node 5000
    await drag(page, 0.005, 0.025);
    b = await page.evaluate(boxes);
    check('range 5-25 ms, live', set(b) === 'all,alloc_node,build_tree,foo_alloc,main', set(b));
    let total = await page.evaluate(() => document.querySelector('#fg g.f title').textContent);
    check('range 5-25 ms total', total.startsWith('all (9,096 bytes, 100.00%)'), total);
    let title = await page.evaluate(() => document.getElementById('flametitle').textContent);
    check('range title', title.startsWith('live at 0.020 s'), title);
    await page.screenshot({ path: shots + '/report_browser-range.png', fullPage: true });
    // allocated during 25-45 ms (samples 3-4): 500 + 300 + 200, not foo_alloc
    await page.click('#mode-alloc');
    await drag(page, 0.025, 0.045);
    b = await page.evaluate(boxes);
    check('range 25-45 ms, allocated', set(b) === 'all,alloc_node,build_tree,main,read_config', set(b));
    total = await page.evaluate(() => document.querySelector('#fg g.f title').textContent);
    check('allocated total', total.startsWith('all (1,000 bytes, 100.00%)'), total);
    await page.click('#mode-live');
    b = await page.evaluate(boxes);
    check('same range, live at 40 ms', set(b) === 'all,alloc_node,build_tree,foo_alloc,main,read_config', set(b));
    await page.click('#whole');
    b = await page.evaluate(boxes);
    check('whole run again', b.includes('big_table'), b);

    // search colours the matching boxes
    await page.type('#search', '^foo_');
    const hits = await page.evaluate(() => Array.from(document.querySelectorAll('#fg g.f rect'))
      .filter(r => getComputedStyle(r).fill === 'rgb(224, 64, 224)').length);
    check('search colours foo_alloc', hits === 1, hits);
    // icicle view: the root on top
    await page.click('#invert');
    const ys = await page.evaluate(() => Array.from(document.querySelectorAll('#fg g.f rect')).map(r => +r.getAttribute('y')));
    check('icicle: root on top', ys.length > 1 && ys[0] === Math.min(...ys), ys);
    await page.click('#invert');
    // file:line in the labels
    await page.click('#lines');
    const label = await page.evaluate(() => Array.from(document.querySelectorAll('#fg g.f text'))
      .map(t => t.textContent).find(t => t.startsWith('big_table')));
    check('file:line label', label === 'big_table /src/app/main.c:30', label);
    await page.click('#lines');

    // sites: by live bytes first; a click on Allocations sorts by it
    const rows = () => page.evaluate(() => Array.from(document.querySelectorAll('#sitetable tbody tr'))
      .map(r => r.children[0].textContent + '|' + r.children[5].textContent));
    let r = await rows();
    check('sites by live', r.length === 6 && r[0].startsWith('big_table|'), r);
    await page.evaluate(() => document.querySelector('#sitetable th[data-col="5"]').click());
    r = await rows();
    check('sites by allocations', r[0] === 'foo_alloc|1,002', r);
    await page.evaluate(() => document.querySelector('#sitetable th[data-col="5"]').click());
    r = await rows();
    check('sites by allocations, ascending', r[r.length - 1] === 'foo_alloc|1,002', r);

    // leaks by kind with their stacks; the collector
    s = await page.evaluate(() => ({
      def: document.querySelector('#leaks-definite h3').textContent,
      defstack: document.querySelector('#leaks-definite details summary').textContent,
      frames: Array.from(document.querySelectorAll('#leaks-definite ol.stack li')).map(l => l.textContent),
      gc: !document.getElementById('gc').hidden,
      gcev: document.querySelectorAll('#gcchart circle.gcev').length,
      gcrows: document.querySelectorAll('#gctable tr').length,
    }));
    check('definite leaks', s.def === 'definite: 300 B in 3 blocks', s.def);
    check('definite stack', s.defstack === '300 B in 3 blocks from read_config (/src/app/main.c:20)', s.defstack);
    check('definite frames', s.frames.join('|') === 'read_config /src/app/main.c:20|main /src/app/main.c:9', s.frames);
    check('gc shown', s.gc && s.gcev === 8 && s.gcrows === 4, s);
    await page.screenshot({ path: shots + '/report_browser-timeline.png', fullPage: true });
    await page.close();

    /* --- an RSS that dwarfs the heap starts hidden --- */
    page = await open(browser, 'bigrss.html', errors);
    c0 = await chartState();
    check('big RSS: hidden at first', !c0.rss && c0.legend === '\u2014 RSS (up to 512.5 MiB, hidden: click to show)', c0);
    check('big RSS: heap peak at the top', Math.abs(c0.peaky - c0.top) < 0.01, c0);
    await page.screenshot({ path: shots + '/report_browser-bigrss.png', fullPage: true });
    const before = await page.evaluate(() => document.getElementById('flametitle').textContent);
    await clickRssKey();
    c1 = await chartState();
    check('big RSS: shown on a click', c1.rss && c1.peaky > c0.peaky + 100, c1);
    // the click toggled; it did not choose a time range
    title = await page.evaluate(() => document.getElementById('flametitle').textContent);
    const band = await page.evaluate(() => document.getElementById('selection').getAttribute('visibility'));
    check('big RSS: no range chosen', title === before && band === 'hidden', [before, title, band]);
    await page.close();

    /* --- two processes: the menu switches the whole page --- */
    page = await open(browser, 'two.html', errors);
    const peakCard = () => page.evaluate(() => document.querySelector('#card-peak .v').textContent);
    s = await page.evaluate(() => ({ bar: !document.getElementById('procbar').hidden,
      rows: document.querySelectorAll('#procs tr').length }));
    check('two: menu and table', s.bar && s.rows === 3, s);
    check('two: first process', await peakCard() === '4.0 MiB', await peakCard());
    await page.select('#proc', '1');
    check('two: second process', await peakCard() === '9.8 KiB', await peakCard());
    b = await page.evaluate(boxes);
    check('two: its flame graph', set(b) === '0x7fff1234,all,alloc_node,build_tree,foo_alloc,main,read_config', set(b));
    s = await page.evaluate(() => document.getElementById('timenote').textContent);
    check('two: no timeline said', s.startsWith('No timeline'), s);
    await page.close();

    if (real) {
      /* --- one snapshot of a real run --- */
      page = await open(browser, 'r.html', errors);
      s = await page.evaluate(() => ({
        note: document.getElementById('timenote').textContent,
        sites: document.querySelectorAll('#sitetable tbody tr').length,
        leaks: document.querySelectorAll('#leaklist details').length,
      }));
      b = await page.evaluate(boxes);
      check('real: boxes', b.includes('leak_pages') && b.includes('make_buffer') && b.includes('main'), b);
      check('real: no timeline said', s.note.startsWith('No timeline'), s.note);
      check('real: sites', s.sites >= 2, s.sites);
      check('real: leaks listed', s.leaks >= 1, s.leaks);
      await page.screenshot({ path: shots + '/report_browser-run.png', fullPage: true });
      await page.close();

      /* --- interval snapshots: the chart from their times --- */
      page = await open(browser, 'g.html', errors);
      const heaps = fs.readFileSync(dir + '/g.heaps', 'utf8').trim().split(',').map(Number);
      s = await page.evaluate(() => Array.from(document.querySelectorAll('#chart circle.pt')).map(c => +c.getAttribute('cy')));
      check('snapshots: one point each', s.length === heaps.length, [s.length, heaps.length]);
      const top = heaps.indexOf(Math.max(...heaps)), low = heaps.indexOf(Math.min(...heaps));
      if (s.length === heaps.length && heaps[top] > heaps[low])
        heaps.forEach((h, i) => {
          const want = s[low] + (s[top] - s[low]) * (h - heaps[low]) / (heaps[top] - heaps[low]);
          check('snapshot point ' + i, Math.abs(s[i] - want) < 0.05, [s[i], want]);
        });
      await drag(page, 0, 0.1);
      b = await page.evaluate(boxes);
      check('snapshots: a range redraws', b.includes('main') && b.length >= 2, b);
      await page.screenshot({ path: shots + '/report_browser-interval.png', fullPage: true });
      await page.close();
    }
  } finally {
    await browser.close();
  }
  check('no page errors', errors.length === 0, errors);
  console.log(fails.length ? 'FAILED: ' + fails.join('; ') : 'ok');
})().catch(e => { console.log('ERROR: ' + (e && e.stack || e)); });
JS
out=$($TO node report.js "$CHROMIUM" "$WORK" "$SHOTS" "$REAL" 2>&1)
assert_eq "browser" ok "$out"
for f in timeline range bigrss; do
    [ -s "$SHOTS/report_browser-$f.png" ] || fail "no screenshot $SHOTS/report_browser-$f.png"
done
note "screenshots: $SHOTS/report_browser-*.png"
exit 0
