// The page of `astrolab run --html FILE` in a real browser: headless Chromium (Debian's, never
// downloaded) driven by playwright-core opens the page from file:// with every request refused,
// checks that the flame graphs, the timeline and the tables are drawn from the embedded report,
// that a function name made of markup stays text, and saves a screenshot.
//   node run_html.mjs PAGE.html ARTIFACTS_DIR
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [pagePath, outDir] = process.argv.slice(2);
const executablePath = process.env.ASTROLAB_CHROMIUM || '/usr/bin/chromium';
const url = pathToFileURL(path.resolve(pagePath)).href;
const failures = [];
const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond, what, timeout = 10000) {
  for (const end = Date.now() + timeout; Date.now() < end; await sleep(100)) if (await cond()) return true;
  throw new Error('timed out waiting for ' + what);
}
// The function name tests/programs/plain_html.c gives its leaking function.
const HOSTILE = "</script><img src=x onerror=alert(1)>&amp;'<!--";

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrolab-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath, headless: true, viewport: { width: 1300, height: 1000 }, offline: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const requests = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    requests.push(u);
    return route.abort();
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  const dialogs = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });

  await page.goto(url);
  await waitFor(async () => (await page.getAttribute('body', 'data-ready')) === 'true', 'the page to draw');
  check(true, 'the page loads from file:// and runs its scripts');

  // Flame graphs: d3-flame-graph draws one <svg> per graph, a <g class="frame"> per frame.
  for (const id of ['flame-peak', 'flame-leaks', 'flame-allocs']) {
    const frames = await page.$$eval(`#${id} svg g.frame`, (gs) => gs.length);
    check(frames >= 2, `#${id} is drawn (${frames} frames)`);
  }
  // The peak is held by build_catalogue through xmalloc: its frame is labelled, and the peak's
  // graph shows what the JSON says (320,000 bytes).
  await waitFor(async () => (await page.$$eval('#flame-peak .d3-flame-graph-label',
    (ds) => ds.map((d) => d.textContent).join('\n'))).includes('build_catalogue'), 'the labels', 5000)
    .catch(() => {});
  const peakLabels = await page.$$eval('#flame-peak .d3-flame-graph-label', (ds) => ds.map((d) => d.textContent));
  check(peakLabels.some((t) => t.startsWith('build_catalogue (plain_html.c:')),
    `the peak's flame graph names build_catalogue (${peakLabels.slice(0, 6).join(' | ')})`);
  check(peakLabels.some((t) => t.startsWith('xmalloc (')), 'and the wrapper above it, xmalloc');
  const report = await page.$eval('#astrolab-report', (s) => JSON.parse(s.textContent));
  const total = Number(await page.getAttribute('#flame-peak', 'data-total'));
  check(total === report.peak.sites_bytes && total === 320000,
    `the peak's graph adds up to the report's peak (${total} of ${report.peak.sites_bytes})`);
  const peakTitles = await page.$$eval('#flame-peak svg g.frame title', (ts) => ts.map((t) => t.textContent));
  check(peakTitles.some((t) => t.startsWith('all: 312.5 KiB (100.0%)')), 'the root frame holds all of it');
  const leakTotal = Number(await page.getAttribute('#flame-leaks', 'data-total'));
  check(leakTotal === 2100, `the leaks' graph adds up to the leaked bytes (${leakTotal})`);

  // The hostile name: shown as text in the leaks' graph and table, never parsed as markup.
  const leakNames = await page.$$eval('#flame-leaks svg g.frame', (gs) => gs.map((g) => g.getAttribute('name')));
  check(leakNames.some((n) => n && n.startsWith(HOSTILE + ' (plain_html.c:')),
    'the leaks\' flame graph names the hostile function, as text');
  const leakTable = await page.textContent('#table-leaks');
  check(leakTable.includes(HOSTILE), 'the leaks table shows the hostile name as text');
  check(await page.$$eval('img', (is) => is.length) === 0, 'no <img> was injected by a name');
  check(dialogs.length === 0, `no script in a name ran (${dialogs.join(', ') || 'none'})`);

  // The timeline: uPlot draws on a canvas, with its two series in the legend.
  check(await page.$('#timeline-chart canvas') !== null, 'the timeline is drawn (uPlot canvas)');
  const legend = await page.textContent('#timeline-chart .u-legend');
  check(legend.includes('tracked bytes') && legend.includes('RSS'), 'the timeline has tracked bytes and RSS');
  check(/^\d+ samples$/.test(await page.textContent('#timeline-info')), 'the timeline counts its samples');

  // The tables.
  const peakTable = await page.textContent('#table-peak');
  check(peakTable.includes('build_catalogue') && peakTable.includes('312.5 KiB'), 'the peak table lists build_catalogue');
  check(peakTable.includes('via xmalloc (plain_html.c:') && peakTable.includes('called from main (plain_html.c:'),
    'with the wrapper it went through and its caller');
  const temps = await page.textContent('#table-temporaries');
  check(temps.includes('500') && temps.includes('main (plain_html.c:'), 'temporaries: 500 in main');
  const hot = await page.textContent('#table-hot');
  check(hot.includes('main (plain_html.c:') && hot.includes('build_catalogue'), 'hot sites are listed');
  check((await page.textContent('#program')).includes('plain_html'), 'the header names the program');

  fs.mkdirSync(outDir, { recursive: true });
  const shot = path.join(outDir, 'run_html.png');
  await page.screenshot({ path: shot, fullPage: true });
  check(fs.statSync(shot).size > 10000, `screenshot saved: ${shot}`);
  check(requests.length === 0, `no request left the page (${requests.join(', ') || 'none'})`);
  check(errors.length === 0, `no script errors (${errors.join('; ') || 'none'})`);
} catch (e) {
  failures.push(e.message);
  console.log('FAIL ' + e.stack);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(failures.length ? `${failures.length} failed` : 'every check passed');
process.exit(failures.length ? 1 : 0);
