// The dashboard in a real browser: headless Chromium (Debian's chromium, driven by
// puppeteer-core) loads / from a fanoutd with live traffic and checks that the topic
// table shows the published topic, that the rate rises while publishing, and that the
// tail view (WebSocket) shows exactly the published events its pattern matches, and that
// the latency panel plots the server's own receive → send histogram (GET /api/v1/latency,
// fed by a TCP subscriber here: fanout-sub beside fanout-pub).
// Screenshots (dark and light) go to $FANOUT_SHOTS (default: the test's directory).
// Exit 77 (skip) without a Chromium.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { spawn } from 'node:child_process';
import puppeteer from 'puppeteer-core';
import { check, fail, md, publish, sleep, DIR, HTTP, PUB, TCP } from './lib.mjs';

const CHROMIUM = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser']
  .find((p) => existsSync(p));
if (!CHROMIUM) {
  console.error('SKIP: no chromium (tools/test installs Debian\'s chromium)');
  process.exit(77);
}
const SHOTS = process.env.FANOUT_SHOTS || DIR;

publish([md('first', 'dash', 'S00001', 'NYSE', 1)], 'first');
const browser = await puppeteer.launch({
  executablePath: CHROMIUM, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const timer = setTimeout(() => fail('the dashboard test took over 90 s'), 90000);
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText}`));
  await page.setViewport({ width: 1400, height: 1100 });
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  await page.goto(`http://${HTTP}/`, { waitUntil: 'load' });
  await page.waitForSelector('#topics tr[data-topic="dash"]', { timeout: 10000 });
  const rateOf = () => page.$eval('#topics tr[data-topic="dash"] td.rate-in', (td) => td.textContent);
  const parse = (t) => (t.endsWith('k') ? Number(t.slice(0, -1)) * 1e3 : t.endsWith('M') ? Number(t.slice(0, -1)) * 1e6 : Number(t));
  const idle = parse(await rateOf());

  // Tail with a pattern, then publish at a steady rate for a while.
  await page.select('#tail-topic', 'dash');
  await page.type('#tail-pattern', 'S00001.>');
  await page.click('#tail-start');
  await page.waitForFunction(() => document.getElementById('tail-state').textContent.startsWith('tailing'),
    { timeout: 5000 });
  // A TCP subscriber: its sends are what the reactors time (the tail is the admin
  // thread's WebSocket, not timed there).
  const sub = spawn(`${dirname(PUB)}/fanout-sub`, ['--connect', TCP, '--topic', 'dash', '--count',
    '--quiet', '--timeout', '15'], { stdio: 'ignore' });
  const subDone = new Promise((r) => sub.on('exit', r));
  await sleep(300);	// subscribed before the traffic
  const pub = spawn(PUB, ['--connect', TCP, '--topic', 'dash', '--rate', '2000', '--duration', '8',
    '--symbols', '10', '--quiet'], { stdio: 'ignore' });
  const pubDone = new Promise((r) => pub.on('exit', r));
  let busy = 0;
  for (let i = 0; i < 60 && busy < 500; i++) {
    await sleep(250);
    busy = parse(await rateOf());
  }
  check(busy >= 500, `the topic's rate did not rise while publishing (${idle} then ${busy})`);
  const card = parse(await page.$eval('#rate-in', (e) => e.textContent));
  check(card >= 500, `the events-in card: ${card}`);
  await page.waitForFunction(() => document.querySelectorAll('#tail tbody tr').length >= 20, { timeout: 10000 });
  // Its own tail is a WebSocket subscription, listed with the others.
  await page.waitForFunction(() => [...document.querySelectorAll('#subs tbody tr')]
    .some((tr) => tr.dataset.sub.startsWith('ws-') && tr.cells[3].textContent === 'WebSocket json' &&
      tr.cells[1].textContent === 'dash' && tr.cells[4].textContent === 'S00001.>'), { timeout: 5000 });
  // The server's latency: its figures in the page, its curve drawn, labelled as the
  // server's receive → send.
  await page.waitForFunction(() => (window.fanoutDashboard.server?.count || 0) >= 50, { timeout: 10000 });
  const srv = await page.evaluate(() => window.fanoutDashboard.server);
  check(srv.source === 'server receive -> send' && srv.sampleEvery === 64, `latency source: ${JSON.stringify(srv).slice(0, 200)}`);
  check(srv.p50Ns > 0 && srv.p50Ns <= srv.p99Ns && srv.p99Ns <= srv.maxNs && srv.maxNs < 60e9,
    `server percentiles: p50 ${srv.p50Ns} p99 ${srv.p99Ns} max ${srv.maxNs}`);
  const heading = await page.$eval('#latency-chart', (c) => c.parentElement.querySelector('h2').textContent);
  check(heading.includes('server receive → send'), `latency heading: ${heading}`);
  const summaryText = await page.$eval('#latency-summary', (e) => e.textContent);
  check(/^server: p50 [0-9.]+(ns|µs|ms|s) · .* sends timed \(1 in 64\)/.test(summaryText),
    `latency summary: ${summaryText}`);
  // The curve is on the canvas: its color appears along the plot (not only the legend).
  const drawn = await page.evaluate(() => {
    const c = document.getElementById('latency-chart'), g = c.getContext('2d');
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i + 2] > 200 && d[i] < 140) n++;	// --out, dark
    return n;
  });
  check(drawn > 50, `no server curve on the latency canvas (${drawn} pixels)`);
  await sleep(1500);	// a few more seconds of traffic in the charts
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${SHOTS}/dashboard-dark.png`, fullPage: true });
  await page.click('#theme');
  await sleep(1200);
  await page.screenshot({ path: `${SHOTS}/dashboard-light.png`, fullPage: true });
  const light = await page.evaluate(() => document.documentElement.classList.contains('light'));
  check(light, 'the theme button did not switch to light');
  const code = await pubDone;
  check(code === 0, `fanout-pub exited ${code}`);
  sub.kill('SIGINT');
  await subDone;
  await sleep(1000);

  // Every tail row is the topic's and matches the pattern; the count is what was published
  // with that key (fanout-pub's synthetic symbols: S00000..S00009, key SYMBOL.EXCHANGE.trade).
  const rows = await page.$$eval('#tail tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  check(rows.length > 0, 'no tail rows');
  for (const r of rows)
    check(r[1] === 'dash' && r[3].startsWith('S00001.'), `a tail row that does not match: ${r.join(' | ')}`);
  const tailed = await page.evaluate(() => window.fanoutDashboard.tailCount);
  const res = await fetch(`http://${HTTP}/api/v1/topics/dash/stats`);
  check(res.ok, `topic stats: ${res.status}`);
  const lat = await page.evaluate(() => window.fanoutDashboard.lat.length);
  check(lat === tailed, `latency samples ${lat} for ${tailed} tailed events`);
  check(tailed >= 1000 && tailed <= 2000, `tailed ${tailed} events of S00001 (of ~16000 over 10 symbols)`);
  check(errors.length === 0, `browser errors: ${errors.join('; ')}`);
  console.log(`PASS: topic row, rate ${idle} -> ${busy}/s, ${tailed} tailed events all S00001.*; ` +
    `screenshots in ${SHOTS}`);
} finally {
  clearTimeout(timer);
  await browser.close();
}
process.exit(0);
