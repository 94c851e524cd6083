// webcommands.mjs — the console's command buttons clicked in a real browser (Debian's chromium,
// headless, through playwright-core), for tests/integration/web_commands.sh: an operator opens a
// vehicle's detail page, clicks each button named in --online, then each in --offline on another
// vehicle's page, and waits until every row shows a final status (answered, failed, timeout).
// This script only reads what the page shows; web_commands.sh compares it with
// GET /api/v1/commands/{id} and with the device's command_response that kcat reads from Kafka.
//
//   node webcommands.mjs --url http://127.0.0.1:P --operator TOKEN --viewer TOKEN
//     --online 1:ping,upload_video,set_setpoint --offline 3:ping --shots DIR
//
// Prints one JSON line {"commands": [{vehicle, command, command_id, status, seen, steps, answer,
// note}...]} and exits 0; a failed check throws (exit 1, its message on stderr).
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const check = (ok, msg) => { if (!ok) throw new Error(msg); };
const plan = (s) => { const [v, cmds] = s.split(':'); return { vehicle: Number(v), commands: cmds.split(',') }; };

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 1100 } })).newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
const out = { commands: [] };

// What a command's row shows: its id, status, every status it showed, the steps with their
// times (the <time> datetime of each), the device's answer (parsed from the text shown) and the
// note.
const readRow = (id) => page.evaluate((cid) => {
  const r = document.querySelector(`#cmdlist .cmd[data-command-id="${cid}"]`);
  const answer = r.querySelector('[data-answer]');
  return {
    command: r.dataset.command, command_id: cid, status: r.dataset.status, seen: r.dataset.seen.split(' '),
    badge: r.querySelector('.badge').textContent,
    steps: Object.fromEntries([...r.querySelectorAll('[data-step]')].map((s) => [s.dataset.step, s.querySelector('time').getAttribute('datetime')])),
    answer: answer.hidden ? null : JSON.parse(answer.textContent),
    note: r.querySelector('.note').textContent,
  };
}, id);

async function signIn(token) {
  await page.goto(`${args.url}/`);
  await page.waitForSelector('#login');
  await page.fill('#token', token);
  await page.click('#login button');
  await page.waitForFunction(() => window.__fleetpipe.ready, null, { timeout: 20000 });
}

async function open(vehicle) {
  await page.evaluate((v) => { location.hash = `#/vehicle/${v}`; }, vehicle);
  await page.waitForSelector(`#detail[data-vehicle="${vehicle}"] [data-command=ping]`);
}

// Clicks each button of the plan; returns the new rows' command ids, in click order.
async function click({ vehicle, commands }) {
  await open(vehicle);
  const ids = [];
  for (const c of commands) {
    const n = await page.$$eval('#cmdlist .cmd', (rs) => rs.length);
    await page.click(`#commands button[data-command=${c}]`);
    // the new row is prepended; it has its id once POST answered 202
    await page.waitForFunction((k) => { const r = document.querySelectorAll('#cmdlist .cmd'); return r.length === k + 1 && r[0].dataset.commandId; }, n);
    const id = await page.$eval('#cmdlist .cmd', (r) => r.dataset.commandId);
    const first = await readRow(id);
    check(first.command === c && first.seen[0] === 'pending', `${c}: the row's first status is ${first.seen[0]}, want pending`);
    ids.push(id);
  }
  return ids;
}

async function settle(vehicle, ids, secs) {
  for (const id of ids) {
    await page.waitForFunction((cid) => ['answered', 'failed', 'timeout'].includes(
      document.querySelector(`#cmdlist .cmd[data-command-id="${cid}"]`)?.dataset.status), id, { timeout: secs * 1000, polling: 100 });
    const r = await readRow(id);
    check(r.badge === r.status, `${id}: badge ${r.badge}, status ${r.status}`);
    out.commands.push({ vehicle, ...r });
  }
}

try {
  // a viewer: no buttons, even on the page of a vehicle that has a device
  await signIn(args.viewer);
  await page.evaluate(() => { location.hash = '#/vehicle/1'; });
  await page.waitForSelector('#detail[data-vehicle="1"][data-loaded]');
  check((await page.$('#commands')) === null, 'a viewer sees the command buttons');
  await page.click('#logout');
  await signIn(args.operator);
  check((await page.evaluate(() => window.__fleetpipe.role)) === 'operator', 'operator role');

  const on = plan(args.online), off = args.offline ? plan(args.offline) : null;
  const onIds = await click(on);
  await settle(on.vehicle, onIds, 60);
  await page.screenshot({ path: join(args.shots, 'commands.png'), fullPage: true });
  await page.locator('#commands').screenshot({ path: join(args.shots, 'commands-card.png') });
  if (off) {
    const offIds = await click(off);
    await settle(off.vehicle, offIds, 90);
    await page.screenshot({ path: join(args.shots, 'commands-timeout.png'), fullPage: true });
  }
  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
