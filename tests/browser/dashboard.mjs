// The dashboard in a real browser: headless Chromium (Debian's, never downloaded) driven by
// playwright-core opens the page served by tests/programs/ui_host, sees the figures move as the
// workload allocates, clicks "Force cleanup" and sees its result, and saves a screenshot.
// Every request that leaves the dashboard's origin is refused and fails the test: the page
// must work offline.
//   node dashboard.mjs URL ARTIFACTS_DIR
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [url, outDir] = process.argv.slice(2);
const executablePath = process.env.ASTROLAB_CHROMIUM || '/usr/bin/chromium';
const origin = new URL(url).origin;
const failures = [];
const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Polls cond() from Node (page.waitForFunction would eval a string in the page, which the
// dashboard's Content-Security-Policy rightly forbids).
async function waitFor(cond, what, timeout = 10000) {
  for (const end = Date.now() + timeout; Date.now() < end; await sleep(100)) if (await cond()) return true;
  throw new Error('timed out waiting for ' + what);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrolab-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath, headless: true, viewport: { width: 1400, height: 1100 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const outside = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin + '/')) return route.continue();
    outside.push(u);
    return route.abort();
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await page.goto(url);
  await waitFor(async () => (await page.textContent('#conn')) === 'live', 'the page to go live', 15000);
  check(true, 'the page connects to the live server');

  // The numbers move: the workload allocates a 64 KiB block every 20 ms.
  const first = await page.$eval('#current', (e) => Number(e.dataset.bytes));
  const samples0 = await page.$eval('#timeline-info', (e) => parseInt(e.textContent, 10) || 0);
  await waitFor(async () => (await page.$eval('#current', (e) => Number(e.dataset.bytes))) !== first, 'current bytes to move').catch(() => {});
  const second = await page.$eval('#current', (e) => Number(e.dataset.bytes));
  check(Number.isFinite(first) && second !== first, `current bytes move (${first} -> ${second})`);
  await sleep(1200);
  const samples1 = await page.$eval('#timeline-info', (e) => parseInt(e.textContent, 10) || 0);
  check(samples1 > samples0, `the timeline grows (${samples0} -> ${samples1} samples)`);
  check(await page.$('#chart canvas') !== null, 'the timeline chart is drawn (uPlot canvas)');
  const consumers = await page.$eval('#consumers-body', (e) => e.textContent);
  check(consumers.includes('struct sample_batch'), 'top consumers show the workload\'s blocks');
  const system = await page.$eval('#system-body', (e) => e.textContent);
  check(system.includes('RAM') && system.includes('astrolab'), 'system status is shown');
  const registry = await page.$eval('#registry-body', (e) => e.textContent);
  check(/\d+ registered/.test(registry), `registered objects are counted (${registry})`);

  // Force cleanup: the registered 8 MiB tile cache is released.
  await page.waitForSelector('#btn-cleanup:not([disabled])');
  await page.click('#btn-cleanup');
  await waitFor(async () => /-> \d+/.test(await page.textContent('#action-result')), 'the cleanup result');
  const text = await page.$eval('#action-result', (e) => e.textContent);
  const status = Number(/-> (\d+)/.exec(text)[1]);
  const result = JSON.parse(text.slice(text.indexOf('\n') + 1));
  check(status === 200, `force cleanup answers 200 (${status})`);
  check(result.success === true && result.callbacks_run >= 1, `it ran the release functions (${result.callbacks_run})`);
  check(result.bytes_released >= 8 * 1024 * 1024, `it released the cache (${result.bytes_released} bytes)`);

  // Without the token the buttons are off and the server refuses.
  const bare = await context.newPage();
  await bare.goto(origin + '/');
  check(await bare.$eval('#btn-cleanup', (b) => b.disabled), 'without ?token= the actions are disabled');
  const refused = await bare.evaluate(async () => (await fetch('/api/cleanup', { method: 'POST' })).status);
  check(refused === 403, `a POST without the token is refused (${refused})`);
  const unread = await bare.evaluate(async () => (await fetch('/api/stats')).status);
  check(unread === 403, `a read without the token is refused too (${unread})`);
  await bare.close();

  await sleep(600); // let the chart draw the drop
  fs.mkdirSync(outDir, { recursive: true });
  const shot = path.join(outDir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  check(fs.statSync(shot).size > 10000, `screenshot saved: ${shot}`);
  check(outside.length === 0, `no request left the dashboard's origin (${outside.join(', ') || 'none'})`);
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
