// aggregate-duckdb.mjs MESSAGES.jsonl [FLEETPIPE_OUT.tsv] — the DuckDB side of bench/aggregate.sh:
// the windows of the aggregate connector (5-minute tumbling windows per id and zone: count, sum,
// min, max and avg of temperature) in one SQL statement on one thread, over the same NDJSON
// messages, `measurements` unnested in SQL. Prints {"seconds", "cpu_seconds", "samples",
// "windows"}; seconds covers reading the file, the unnest and the GROUP BY into a table, not
// reading the result out; cpu_seconds is the process's user+system time over the same span.
// With FLEETPIPE_OUT.tsv (key TAB value per line, as `kcat -f '%k\t%s\n'` prints the connector's
// output topic) it then compares every window: same keys, same counts, min and max, sums equal to
// 1e-9 relative; adds "check": "ok" or exits 1 naming the first difference.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/verify/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const [input, fpOut] = process.argv.slice(2);
const db = await (await DuckDBInstance.create(':memory:')).connect();
await db.run('SET threads = 1');
await db.run("SET TimeZone = 'UTC'");
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage(); // user+system of every thread of this process, in microseconds
// Explicit columns: no schema sampling, and timestamp_iso parsed with its offset (+09:00).
await db.run(`CREATE TABLE w AS
  SELECT id, x.zone AS zone,
         time_bucket(INTERVAL '5 minutes', CAST(x.timestamp_iso AS TIMESTAMPTZ)) AS ws,
         count(x.temperature) AS n, sum(x.temperature) AS s, min(x.temperature) AS lo,
         max(x.temperature) AS hi, avg(x.temperature) AS mean, count(*) AS samples
  FROM (SELECT id, unnest(measurements) AS x
        FROM read_json('${input}', format = 'newline_delimited',
          columns = {id: 'BIGINT',
                     measurements: 'STRUCT(timestamp_iso VARCHAR, zone BIGINT, temperature DOUBLE)[]'}))
  GROUP BY ALL`);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cu = process.cpuUsage(c0);
const cpu_seconds = (cu.user + cu.system) / 1e6; // > seconds would mean more than one thread
const tot = (await db.runAndReadAll('SELECT count(*) AS w, sum(samples) AS s FROM w')).getRowObjects()[0];
const result = { seconds, cpu_seconds, samples: Number(tot.s), windows: Number(tot.w) };
if (fpOut) {
  const rows = (await db.runAndReadAll(`SELECT id, zone, strftime(ws, '%Y-%m-%dT%H:%M:%S.000Z') AS ws,
      n, s, lo, hi FROM w`)).getRowObjects();
  const got = new Map();
  for (const line of fs.readFileSync(fpOut, 'utf8').split('\n')) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    got.set(line.slice(0, tab), JSON.parse(line.slice(tab + 1)));
  }
  const bad = (msg) => { console.log(JSON.stringify({ ...result, check: msg })); process.exit(1); };
  if (got.size !== rows.length) bad(`fleetpipe emitted ${got.size} windows, DuckDB has ${rows.length}`);
  for (const r of rows) {
    const key = `${r.id}#${r.zone}#${r.ws}`;
    const g = got.get(key);
    if (!g) bad(`window ${key} missing from fleetpipe's output`);
    const t = g.temperature;
    if (t.count !== Number(r.n) || t.min !== r.lo || t.max !== r.hi ||
        Math.abs(t.sum - r.s) > 1e-9 * Math.max(1, Math.abs(r.s)))
      bad(`window ${key}: fleetpipe ${JSON.stringify(t)}, DuckDB count ${r.n} sum ${r.s} min ${r.lo} max ${r.hi}`);
  }
  result.check = 'ok';
}
console.log(JSON.stringify(result));
