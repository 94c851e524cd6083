// web-measure.mjs — bench/web.sh's browser side: opens the console's fleet map in headless
// chromium (playwright-core from tests/verify), waits for the whole fleet, then measures two
// phases of the same page: "rest" (no updates) and "load" (while bench/web.sh's fleet sends), each
// as requestAnimationFrame deltas (frame time p50/p95/p99/max) and the JS heap after a forced GC
// (CDP Runtime.getHeapUsage: V8's used size and the backing stores outside it) at the start and
// the end of the load and once the load has ended and the stream is quiet, and once a second
// without a GC (the floor and peak per 10 s). Prints one JSON line.
//   node web-measure.mjs URL VEHICLES REST_SECONDS LOAD_SECONDS READY_FILE GO_FILE [DONE_FILE]
// (GO_FILE: written when the rest phase is over; READY_FILE: waited for before the load phase;
// DONE_FILE: written when the load phase's frames are measured)
import { existsSync, writeFileSync } from 'node:fs';
const [url, n, restS, loadS, readyFile, goFile, doneFile] = process.argv.slice(2);
const { chromium } = await import(`${process.env.FP_SRC || '.'}/tests/verify/node_modules/playwright-core/index.mjs`);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
const cdp = await page.context().newCDPSession(page);
// The JS heap after a forced GC: V8's used size, and the backing stores outside it (array
// buffers and external strings: the stream's decoded text chunks are external strings, so ids
// cut from them hold memory that usedSize does not show). Two GCs: the first may only queue
// finalisers.
const heap = async () => {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const u = await cdp.send('Runtime.getHeapUsage');
  return { used: u.usedSize, backing: u.backingStorageSize ?? 0 };
};
// HEAP_SNAPSHOTS=DIR: also a heap snapshot (after the GC) at the start and once quiet after the load,
// DIR/start.heapsnapshot and DIR/end.heapsnapshot, for bench/heapdiff.mjs
async function snapshot(name) {
  if (!process.env.HEAP_SNAPSHOTS) return;
  const parts = [];
  const onChunk = (c) => parts.push(c.chunk);
  cdp.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
  await cdp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  cdp.off('HeapProfiler.addHeapSnapshotChunk', onChunk);
  writeFileSync(`${process.env.HEAP_SNAPSHOTS}/${name}.heapsnapshot`, parts.join(''));
}
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];
async function frames(seconds) {
  await page.evaluate(() => window.__fleetpipe.frames(true));
  const u0 = await page.evaluate(() => window.__fleetpipe.updates());
  const c0 = await page.evaluate(() => window.__fleetpipe.cost());
  // the heap as the page lives it (no forced GC) once a second: its floor is what GC keeps
  const used = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await page.waitForTimeout(Math.min(1000, end - Date.now()));
    const u = await cdp.send('Runtime.getHeapUsage');
    used.push(u.usedSize + (u.backingStorageSize ?? 0));
  }
  const t = await page.evaluate(() => window.__fleetpipe.frames(false));
  const u1 = await page.evaluate(() => window.__fleetpipe.updates());
  const c1 = await page.evaluate(() => window.__fleetpipe.cost());
  const d = t.slice(1).map((x, i) => x - t[i]).sort((a, b) => a - b);
  return { frames: d.length, p50_ms: +pct(d, 50).toFixed(1), p95_ms: +pct(d, 95).toFixed(1), p99_ms: +pct(d, 99).toFixed(1),
    max_ms: +d[d.length - 1].toFixed(1), updates_per_s: Math.round((u1 - u0) / seconds),
    // main-thread share: the stream's parsing and applying, and the map's drawing (per draw)
    stream_pct: +((100 * (c1.stream_ms - c0.stream_ms)) / (seconds * 1000)).toFixed(1),
    draw_pct: +((100 * (c1.draw_ms - c0.draw_ms)) / (seconds * 1000)).toFixed(1),
    draw_ms_each: c1.draws > c0.draws ? +((c1.draw_ms - c0.draw_ms) / (c1.draws - c0.draws)).toFixed(1) : null,
    // per 10 s of the phase: the lowest and highest heap seen without a forced GC (MB)
    heap_nogc_mb: Array.from({ length: Math.ceil(used.length / 10) }, (_, i) => used.slice(i * 10, i * 10 + 10))
      .map((w) => [+(Math.min(...w) / 2 ** 20).toFixed(1), +(Math.max(...w) / 2 ** 20).toFixed(1)]) };
}
try {
  await page.goto(url);
  await page.waitForFunction((k) => window.__fleetpipe.ready && window.__fleetpipe.ids().length >= k, Number(n), { timeout: 120000, polling: 500 });
  await page.waitForTimeout(2000);
  const rest = await frames(Number(restS));
  const heap0 = await heap();
  await snapshot('start');
  writeFileSync(goFile, '');
  while (!existsSync(readyFile)) await page.waitForTimeout(100);
  const load = await frames(Number(loadS));
  if (doneFile) writeFileSync(doneFile, '');
  const heap1 = await heap();
  // the same once the load has ended and the page has applied what was in flight (the stream's
  // queues hold live data under load): at rest like the start, so the two compare
  const quiet = Date.now() + 60000;
  for (let u = -1, u1; Date.now() < quiet && (u1 = await page.evaluate(() => window.__fleetpipe.updates())) !== u; u = u1)
    await page.waitForTimeout(2000);
  const heap2 = await heap();
  await snapshot('end');
  await page.screenshot({ path: `${process.env.SHOT || '/dev/null'}` }).catch(() => {});
  console.log(JSON.stringify({ vehicles: await page.evaluate(() => window.__fleetpipe.ids().length), rest, load,
    heap_start_mb: +(heap0.used / 2 ** 20).toFixed(1), heap_end_mb: +(heap1.used / 2 ** 20).toFixed(1),
    backing_start_mb: +(heap0.backing / 2 ** 20).toFixed(1), backing_end_mb: +(heap1.backing / 2 ** 20).toFixed(1),
    heap_quiet_mb: +(heap2.used / 2 ** 20).toFixed(1), backing_quiet_mb: +(heap2.backing / 2 ** 20).toFixed(1) }));
} finally {
  await browser.close();
}
