// mapcount.mjs URL — the web console's fleet map in headless chromium (playwright-core): opens
// URL (a server without tokens: the console opens at once), waits for the map, and prints
// {"ids": [...], "drawn": n} — the vehicle ids the map holds, sorted, and how many of them have
// a marker drawn. For tests/integration/e2e.sh, which compares them with Redis' index.
import { chromium } from 'playwright-core';

const url = process.argv[2];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  await page.goto(`${url}#/map`);
  await page.waitForFunction(() => window.__fleetpipe?.ready, null, { timeout: 30000 });
  await page.waitForSelector('#counters [data-count=total]', { timeout: 30000 });
  const ids = (await page.evaluate(() => window.__fleetpipe.ids())).map(Number).sort((a, b) => a - b);
  const drawn = await page.evaluate((ids) => ids.filter((id) => window.__fleetpipe.marker(id)).length, ids);
  console.log(JSON.stringify({ ids, drawn }));
} finally {
  await browser.close();
}
