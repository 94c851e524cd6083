// webcheck.mjs — the web console checked in a real browser (Debian's chromium, headless, through
// playwright-core) against a running pipeline that tests/integration/web_console.sh starts. Every
// expectation comes from outside the page: redis-cli, kcat and the API's own answers. Changes are
// made the way devices make them: records produced into Kafka (kcat), which the connectors write
// into Redis.
//
//   node webcheck.mjs --url http://127.0.0.1:P --viewer TOKEN --operator TOKEN --redis-port N
//     --bootstrap BS --ids redis_ids.json --shots DIR --serve-pid FILE --hold FILE
//
// Prints one JSON line {"summary": "...", ...figures} and exits 0; the first failed check throws
// (exit 1, its message on stderr).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const URL0 = args.url;
const XSS = '<img src=x onerror=alert(1)>';
const out = {};
const t00 = Date.now();

function check(ok, msg) {
  if (!ok) throw new Error(msg);
}
const rcli = (...a) => execFileSync('redis-cli', ['-p', args['redis-port'], '--raw', ...a], { encoding: 'utf8' }).trim();
const produce = (topic, lines) =>
  execFileSync('kcat', ['-P', '-b', args.bootstrap, '-t', topic, '-K', '|'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'ignore'] });
const kcat = (...a) => execFileSync('kcat', ['-C', '-b', args.bootstrap, '-e', '-q', '-X', 'fetch.wait.max.ms=10', ...a], { encoding: 'utf8' });
async function apiGet(path, token = args.operator) {
  const r = await fetch(`${URL0}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  check(r.ok, `GET ${path}: HTTP ${r.status}`);
  return r.json();
}
async function waitFor(desc, secs, fn) {
  const end = Date.now() + secs * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${secs} s waiting for ${desc}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sample = (id, fields, at = new Date()) => {
  const dev = `dev-${String(id).padStart(6, '0')}`;
  return `${dev}|${JSON.stringify({ object: 'vehicle', type: 'kinematic', id, device_id: dev, messaged_at: at.toISOString(),
    seq: 900000 + Math.floor(Math.random() * 99999), measurements: [{ timestamp_iso: at.toISOString(), ...fields }] })}`;
};

// ---- 1. the page's headers, before any browser
{
  const r = await fetch(`${URL0}/`, { headers: { 'Accept-Encoding': 'gzip' } });
  check(r.status === 200, `GET /: HTTP ${r.status}`);
  const csp = r.headers.get('content-security-policy') || '';
  check(/script-src 'self'(;|$)/.test(csp) && !csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), `CSP of /: ${csp}`);
  check(r.headers.get('x-content-type-options') === 'nosniff', 'nosniff on /');
  check(r.headers.get('content-type').startsWith('text/html'), `content type of /: ${r.headers.get('content-type')}`);
  check(r.headers.get('cache-control') === 'no-cache', `index.html must be revalidated: ${r.headers.get('cache-control')}`);
  const html = await r.text();
  const js = /src="(\/assets\/app-[^"]+\.js)"/.exec(html)?.[1];
  const css = /href="(\/assets\/app-[^"]+\.css)"/.exec(html)?.[1];
  check(js && css, 'index.html names its hashed script and style');
  for (const [path, type] of [[js, 'text/javascript'], [css, 'text/css']]) {
    const a = await fetch(`${URL0}${path}`, { headers: { 'Accept-Encoding': 'gzip' } });
    check(a.status === 200 && a.headers.get('content-type').startsWith(type), `${path}: ${a.status} ${a.headers.get('content-type')}`);
    check(/immutable/.test(a.headers.get('cache-control')), `${path} cache: ${a.headers.get('cache-control')}`);
    check(a.headers.get('content-encoding') === 'gzip', `${path} not gzipped`);
  }
  const missing = await fetch(`${URL0}/assets/nope.js`);
  check(missing.status === 404, `an unknown asset: ${missing.status}`);
  out.csp = csp;
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
const dialogs = [], pageErrors = [], cspViolations = [];
page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) cspViolations.push(m.text()); });
const shot = (name) => page.screenshot({ path: join(args.shots, `${name}.png`) });
const fp = (expr, arg) => page.evaluate(expr, arg);

try {
  // ---- 2. sign-in
  await page.goto(`${URL0}/`);
  await page.waitForSelector('#login');
  await page.fill('#token', 'not-a-token-0123456789');
  await page.click('#login button');
  await page.waitForFunction(() => document.getElementById('loginerr')?.textContent.includes('not valid'));
  await shot('login');
  await page.fill('#token', args.viewer);
  await page.click('#login button');
  await page.waitForFunction(() => window.__fleetpipe.ready, null, { timeout: 20000 });
  check((await fp(() => window.__fleetpipe.role)) === 'viewer', 'viewer role');
  await page.evaluate(() => { location.hash = '#/vehicle/3'; });
  await page.waitForSelector('#detail[data-loaded]');
  check((await page.$('#commands')) === null && (await page.$('[data-command]')) === null, 'a viewer sees command buttons');
  // the token is in no URL and no storage
  check(!page.url().includes(args.viewer), 'token in the URL');
  check(!(await fp(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)).includes(args.viewer), 'token in storage');
  await page.click('#logout');
  await page.waitForSelector('#login');
  await page.fill('#token', args.operator);
  await page.click('#login button');
  await page.waitForFunction(() => window.__fleetpipe.ready, null, { timeout: 20000 });
  check((await fp(() => window.__fleetpipe.role)) === 'operator', 'operator role');

  // an inline script does not run (CSP)
  const inline = await fp(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.head.append(s);
    return window.__inlineRan === true;
  });
  check(!inline, 'an inline script ran despite the CSP');
  await waitFor('the CSP violation report', 5, () => cspViolations.length > 0);

  // ---- 3. the map holds exactly what Redis holds
  await page.evaluate(() => { location.hash = '#/map'; });
  await page.waitForSelector('#counters [data-count=total]');
  const want = JSON.parse(readFileSync(args.ids, 'utf8'));
  const ids = await fp(() => window.__fleetpipe.ids());
  check(JSON.stringify(ids) === JSON.stringify(want), `map ids ${JSON.stringify(ids)} != redis ${JSON.stringify(want)}`);
  const api = await apiGet('/vehicles?limit=1000');
  const apiCounts = {};
  for (const v of api.data) apiCounts[v.status] = (apiCounts[v.status] || 0) + 1;
  await page.waitForFunction((n) => document.querySelector('#counters [data-count=total]').textContent === `${n} vehicles`, want.length);
  const counts = await fp(() => window.__fleetpipe.counts());
  for (const s of Object.keys(apiCounts)) check(counts[s] === apiCounts[s], `status ${s}: map ${counts[s]}, API ${apiCounts[s]}`);
  const drawn = await fp((ids) => ids.filter((id) => window.__fleetpipe.marker(id)).length, want);
  check(drawn === want.length, `markers drawn for ${drawn} of ${want.length} vehicles`);
  await page.waitForTimeout(400);
  await shot('map');
  out.vehicles = want.length;
  out.statuses = apiCounts;

  // a vehicle moves: its marker is drawn at the new place
  const lat0 = Number(rcli('hget', 'vehicle:5', 'lat')), lng0 = Number(rcli('hget', 'vehicle:5', 'lng'));
  const before = await fp(() => window.__fleetpipe.marker(5));
  const lat1 = Math.round((lat0 + 0.004) * 1e6) / 1e6, lng1 = Math.round((lng0 - 0.003) * 1e6) / 1e6;
  produce('fms.vehicle', [sample(5, { lat: lat1, lng: lng1, speed: 42, heading: 200, odometer: 1, engine_on: true })]);
  await waitFor('vehicle 5 moved in Redis', 20, () => Number(rcli('hget', 'vehicle:5', 'lat')) === lat1);
  const tRedis = Date.now();
  await page.waitForFunction(([la, ln]) => { const m = window.__fleetpipe.marker(5); return m && m.lat === la && m.lng === ln; }, [lat1, lng1], { timeout: 10000, polling: 20 });
  const moveMs = Date.now() - tRedis;
  const after = await fp(() => window.__fleetpipe.marker(5));
  check(Math.abs(after.x - after.check[0]) < 0.01 && Math.abs(after.y - after.check[1]) < 0.01, 'marker not at its projected position');
  check(Math.hypot(after.x - before.x, after.y - before.y) > 1, 'marker did not move on screen');
  check(moveMs <= 2000, `the marker moved ${moveMs} ms after Redis held the change (over 2 s)`);
  out.move_ms = moveMs;

  // ---- 5. device data is text (a new vehicle whose device fields are HTML)
  const dev = XSS;
  const at = new Date();
  produce('fms.vehicle', [`dev-000099|${JSON.stringify({ object: 'vehicle', type: 'kinematic', id: 99, device_id: dev, messaged_at: at.toISOString(), seq: 1,
    measurements: [{ timestamp_iso: at.toISOString(), lat: lat0, lng: lng0, speed: 0, heading: 10, odometer: 1, engine_on: false, label: XSS }] })}`]);
  await waitFor('vehicle 99 in Redis', 20, () => rcli('hget', 'vehicle:99', 'label') === XSS);
  await page.waitForFunction(() => window.__fleetpipe.ids().includes(99), null, { timeout: 10000 });
  const want13 = rcli('zrange', 'fleet:vehicles', '0', '-1').split('\n').map(Number);
  check(JSON.stringify(await fp(() => window.__fleetpipe.ids())) === JSON.stringify(want13), 'map ids after a new vehicle');
  await page.evaluate(() => { location.hash = '#/vehicle/99'; });
  await page.waitForSelector('#detail[data-loaded] [data-field=label]');
  const label = await page.textContent('[data-field=label] td:nth-child(2)');
  check(label === XSS, `label shown as ${JSON.stringify(label)}`);
  check((await page.textContent('#device')) === XSS, 'device id not shown as text');
  check((await page.$$('img')).length === 0, 'an <img> element was made from device data');
  await page.waitForTimeout(300);
  check(dialogs.length === 0, `dialogs opened: ${dialogs.join(', ')}`);

  // ---- 4. the detail page's numbers are the API's
  await page.evaluate(() => { location.hash = '#/vehicle/3'; });
  await page.waitForSelector('#detail[data-loaded]');
  await page.waitForSelector('#kpis [data-kpi]');
  const shown = await fp(() => Object.fromEntries([...document.querySelectorAll('#values tr[data-field]')]
    .map((r) => [r.dataset.field, JSON.parse(r.querySelector('[data-value]').dataset.value)])));
  const v3 = (await apiGet('/vehicles/3')).data;
  const apiFields = Object.fromEntries(Object.entries(v3.fields).map(([k, f]) => [k, f.value]));
  for (const z of v3.cargo) for (const [k, f] of Object.entries(z)) if (k !== 'zone') apiFields[`${k}.z${z.zone}`] = f.value;
  check(JSON.stringify(Object.keys(shown).sort()) === JSON.stringify(Object.keys(apiFields).sort()),
    `detail fields ${Object.keys(shown)} != API ${Object.keys(apiFields)}`);
  for (const k of Object.keys(apiFields)) check(JSON.stringify(shown[k]) === JSON.stringify(apiFields[k]), `field ${k}: page ${shown[k]}, API ${apiFields[k]}`);
  check((await page.textContent('#status')) === v3.status, 'status badge');
  const samples = Number(await page.getAttribute('#tracknote', 'data-samples'));
  const to = Date.now(), from = to - 3600e3;
  let nTrack = 0, after_ = '';
  for (;;) {
    const t = await apiGet(`/vehicles/3/track?from=${from}&to=${to}&limit=5000${after_ ? `&after=${after_}` : ''}`);
    nTrack += t.data.length;
    if (!t.pagination.hasNextPage) break;
    after_ = t.pagination.endCursor;
  }
  check(samples > 0 && samples === nTrack, `track: page ${samples} samples, API ${nTrack}`);
  const kpiShown = await fp(() => Object.fromEntries([...document.querySelectorAll('#kpis [data-kpi]')]
    .map((r) => [r.dataset.kpi, JSON.parse(r.querySelector('[data-value]').dataset.value)])));
  const today = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Seoul' }).format(new Date());
  const kpiApi = (await apiGet(`/reports/vehicle-daily?day=${today}&ids=3`)).data[0];
  check(kpiApi && kpiApi.distance_km === 123.456, `the mart row: ${JSON.stringify(kpiApi)}`);
  for (const [k, val] of Object.entries(kpiApi)) if (k !== 'vehicle_id' && k !== 'day') check(JSON.stringify(kpiShown[k]) === JSON.stringify(val), `KPI ${k}: page ${kpiShown[k]}, API ${val}`);
  check(await page.$('[data-command=ping]'), 'an operator sees the command buttons');
  // the screenshot: a moving vehicle, if there is one
  const moving = api.data.find((v) => v.status === 'moving' && v.id !== 5)?.id ?? 3;
  await page.evaluate((id) => { location.hash = `#/vehicle/${id}`; }, moving);
  await page.waitForSelector(`#detail[data-vehicle="${moving}"][data-loaded]`);
  await page.waitForTimeout(800);
  await shot('vehicle');
  out.track_samples = samples;
  out.fields_compared = Object.keys(apiFields).length;

  // ---- 6. a dead letter made by the test, listed with its reason
  produce('fms.vehicle', ['dev-000001|{"object":"vehicle","id":1,"broken']);
  const classes = await waitFor('the dead letters in fms.deadletter', 20, () => {
    const h = kcat('-t', 'fms.deadletter', '-f', '%h\n').split('\n').filter(Boolean);
    return h.length >= 2 ? h : null; // redis-live's and the dynamodb connector's
  });
  const byClass = {};
  for (const h of classes) {
    const c = /(?:^|,)error\.class=([^,]*)/.exec(h)?.[1] ?? '(none)';
    byClass[c] = (byClass[c] || 0) + 1;
  }
  await page.evaluate(() => { location.hash = '#/pipeline'; });
  await page.waitForSelector('#pipeline[data-loaded] #connectors [data-connector]');
  for (const [c, n] of Object.entries(byClass))
    await page.waitForSelector(`#deadletters [data-reason="${c}"] [data-count="${n}"]`, { timeout: 12000 });
  const connectors = await fp(() => [...document.querySelectorAll('#connectors [data-connector]')].map((r) => r.dataset.connector));
  check(connectors.length === 5, `connectors listed: ${connectors}`);
  await page.waitForSelector('#throughput [data-topic="fms.vehicle"]');
  await page.waitForTimeout(300);
  await shot('pipeline');
  const reason = Object.keys(byClass)[0];
  await page.click(`#deadletters [data-reason="${reason}"] a`);
  await page.waitForSelector('#payload');
  const payload = await page.textContent('#payload');
  check(payload === '{"object":"vehicle","id":1,"broken', `dead letter payload shown as ${JSON.stringify(payload)}`);
  check((await page.textContent('[data-header="error.class"] td:nth-child(2)')) === reason, 'the error.class header');
  await shot('topics');
  out.dead_letters = byClass;

  // ---- 7. serve restarts: banner, then every change once, in order
  const lastBefore = await fp(() => window.__fleetpipe.lastEventId);
  await page.evaluate(() => { location.hash = '#/map'; });
  await page.waitForSelector('#counters [data-count=total]');
  writeFileSync(args.hold, '');
  execFileSync('kill', [readFileSync(args['serve-pid'], 'utf8').trim()]);
  await page.waitForSelector('#banner:not([hidden])', { timeout: 15000 });
  const bannerText = await page.textContent('#banner');
  check(/disconnected/i.test(bannerText), `banner: ${bannerText}`);
  const lat6 = Number(rcli('hget', 'vehicle:6', 'lat'));
  const moves = [];
  for (let i = 1; i <= 5; i++) moves.push(sample(6, { lat: Math.round((lat6 + i * 0.001) * 1e6) / 1e6, lng: 127.01, speed: 30 + i, heading: 90, odometer: 2, engine_on: true }, new Date(Date.now() + i)));
  produce('fms.vehicle', moves);
  const lastLat6 = Math.round((lat6 + 5 * 0.001) * 1e6) / 1e6;
  await waitFor('the changes in Redis while serve is down', 20, () => Number(rcli('hget', 'vehicle:6', 'lat')) === lastLat6);
  await shot('disconnected');
  rmSync(args.hold);
  await page.waitForFunction(() => document.getElementById('banner').hidden && window.__fleetpipe.connected, null, { timeout: 20000 });
  await page.waitForFunction((la) => window.__fleetpipe.vehicle(6)?.lat === la, lastLat6, { timeout: 10000 });
  const events = await fp(() => window.__fleetpipe.events());
  const xr = rcli('xrange', 'fleet:stream', events[0], '+').split('\n').filter((l) => /^\d+-\d+$/.test(l));
  const last = xr[xr.length - 1];
  await page.waitForFunction((id) => window.__fleetpipe.lastEventId === id, last, { timeout: 10000 });
  const all = await fp(() => window.__fleetpipe.events());
  check(JSON.stringify(all) === JSON.stringify(xr), `the page's change ids (${all.length}) != Redis' stream (${xr.length}) from ${events[0]}`);
  check(all.includes(lastBefore) && all.indexOf(lastBefore) < all.length - 5, 'the changes after the restart');
  out.stream_ids = all.length;

  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  check(dialogs.length === 0, `dialogs: ${dialogs.join('; ')}`);
  // the only CSP report is the test's own inline script
  check(cspViolations.length === 1, `CSP violations: ${cspViolations.join('; ')}`);
} finally {
  await browser.close();
}
out.seconds = Math.round((Date.now() - t00) / 1000);
out.summary = `${out.vehicles} vehicles = redis, marker moved ${out.move_ms} ms after Redis, ${out.fields_compared} fields and ${out.track_samples} track samples = API, XSS shown as text, dead letters ${JSON.stringify(out.dead_letters)} listed, ${out.stream_ids} change ids across a serve restart = Redis' stream, ${out.seconds} s`;
console.log(JSON.stringify(out));
