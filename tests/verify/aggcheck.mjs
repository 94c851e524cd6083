// aggcheck.mjs INPUT OUTPUT DLQ — checks the aggregate connector's windows against DuckDB SQL
// over the same input, sharing no code with fleetpipe.
//
// INPUT: NDJSON, one {"p": partition, "line": arrival order, "m": message} per produced message
// (only messages that are valid JSON). OUTPUT: the result topic as "<key>\t<value>" lines, DLQ:
// the sample-level dead letters as "<error.class>\t<source.partition>\t<source.offset>\t
// <source.record>" lines. Parameters from the environment: WINDOW_MS, LATENESS_MS, GROUP (comma
// list), FIELD (one numeric field).
//
// The model: a sample is its measurements element merged over the message's other fields (the
// element wins, as SplitArrayField does); it is invalid when its time (timestamp_iso) does not parse, a group field is
// missing, null, an object or an array, or FIELD is neither a number nor null/absent; it is
// future when dated more than MAX_FUTURE_MS (default 1 h, 0: no limit) ahead of the clock; it is
// late when its window's end is at or below the partition's watermark before it (the largest
// valid, not future event time seen earlier on the partition, in arrival order, minus
// LATENESS_MS); every other
// sample is in its window (GROUP BY group key, floor(time / WINDOW_MS)). Compares every window
// (count, min and max exactly, sum within 1e-9 relative), that every record of one key has one
// value (a replay re-emits only identical records), and the late, invalid and future counts (dead letters
// deduplicated by partition, offset and record index). Prints a JSON summary; exits 1 on any
// difference.
import fs from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [input, output, dlq] = process.argv.slice(2);
const W = Number(process.env.WINDOW_MS), L = Number(process.env.LATENESS_MS);
// aggregate.max.future: a sample dated more than this ahead of the clock is a dead letter
// (future) and moves no watermark; the clock is this run's (the connector's was minutes earlier,
// which only matters for a sample within minutes of the limit)
const MF = Number(process.env.MAX_FUTURE_MS ?? 3600000), NOW = Date.now();
const futureCut = MF > 0 ? NOW + MF : Number.MAX_SAFE_INTEGER;
const group = process.env.GROUP.split(','), field = process.env.FIELD;
const db = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
const q = async (sql) => (await db.runAndReadAll(sql)).getRowObjectsJson();
const lit = (s) => `'${s.replaceAll("'", "''")}'`;
const jt = (path) => `json_type(rec, ${lit(path)})`;

const groupValid = group.map((g) => `${jt('$.' + g)} IN ('BIGINT','UBIGINT','DOUBLE','VARCHAR','BOOLEAN')`).join(' AND ');
const groupKey = group.map((g) => `CASE WHEN ${jt('$.' + g)} = 'VARCHAR' THEN rec->>${lit('$.' + g)} ELSE json_extract(rec, ${lit('$.' + g)})::VARCHAR END`).join(` || '#' || `);
await q(`CREATE TABLE m AS SELECT * FROM read_json(${lit(input)}, format='newline_delimited',
           columns={p: 'INTEGER', line: 'BIGINT', m: 'JSON'})`);
await q(`CREATE TABLE s AS
  WITH e AS (
    SELECT p, line, idx, json_merge_patch(m, el) AS rec FROM (
      SELECT p, line, m, generate_subscripts(arr, 1) - 1 AS idx, unnest(arr) AS el
      FROM (SELECT p, line, m, CAST(json_extract(m, '$.measurements') AS JSON[]) AS arr FROM m))),
  v AS (
    SELECT p, line, idx, rec,
      CASE WHEN ${jt('$.timestamp_iso')} = 'VARCHAR'
           THEN epoch_ms(TRY_CAST(rec->>'$.timestamp_iso' AS TIMESTAMPTZ)) END AS ts,
      CASE WHEN ${jt('$.' + field)} IN ('BIGINT','UBIGINT','DOUBLE')
           THEN CAST(json_extract(rec, ${lit('$.' + field)}) AS DOUBLE) END AS x,
      coalesce(${jt('$.' + field)}, 'NULL') IN ('BIGINT','UBIGINT','DOUBLE','NULL') AS x_ok,
      coalesce(${groupValid}, false) AS g_ok
    FROM e),
  ok AS (SELECT *, ts IS NOT NULL AND x_ok AND g_ok AS valid FROM v)
  SELECT *, valid AND ts > ${futureCut} AS future, CASE WHEN valid THEN ${groupKey} END AS gkey,
    CASE WHEN valid THEN (ts // ${W}) * ${W} END AS ws
  FROM ok`);
await q(`CREATE TABLE judged AS
  SELECT *, valid AND NOT future AND prev IS NOT NULL AND ws + ${W} <= prev - ${L} AS late FROM (
    SELECT *, max(CASE WHEN valid AND NOT future THEN ts END) OVER (PARTITION BY p ORDER BY line, idx
              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev FROM s)`);
const [counts] = await q(`SELECT count(*) AS samples, count(*) FILTER (NOT valid) AS invalid,
                                 count(*) FILTER (late) AS late, count(*) FILTER (future) AS future FROM judged`);
const expected = new Map();
for (const r of await q(`SELECT gkey || '#' || strftime(make_timestamp(ws * 1000), '%Y-%m-%dT%H:%M:%S.000Z') AS key,
       count(*) AS samples, count(x) AS n, sum(x) AS sum, min(x) AS min, max(x) AS max
     FROM judged WHERE valid AND NOT late AND NOT future GROUP BY gkey, ws`))
  expected.set(r.key, r);

// ---- what fleetpipe emitted
const got = new Map();
const problems = [];
let records = 0;
for (const line of fs.readFileSync(output, 'utf8').split('\n')) {
  if (!line) continue;
  const tab = line.indexOf('\t');
  const key = line.slice(0, tab), value = line.slice(tab + 1);
  records++;
  if (got.has(key) && got.get(key).raw !== value)
    problems.push(`${key}: emitted twice with different values:\n  ${got.get(key).raw}\n  ${value}`);
  got.set(key, { raw: value, v: JSON.parse(value) });
}
const close = (a, b) => (a === b) || (a != null && b != null && Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)));
for (const [key, e] of expected) {
  const g = got.get(key);
  if (!g) { problems.push(`${key}: missing (${JSON.stringify(e)})`); continue; }
  const f = g.v[field] ?? {};
  const num = (x) => (x == null ? null : Number(x));
  if (Number(g.v.samples) !== Number(e.samples) || Number(f.count) !== Number(e.n) ||
      num(f.min) !== num(e.min) || num(f.max) !== num(e.max) || !close(num(f.sum), num(e.sum)) || g.v.final !== true)
    problems.push(`${key}: got ${g.raw}, DuckDB says ${JSON.stringify(e)}`);
}
for (const key of got.keys()) if (!expected.has(key)) problems.push(`${key}: emitted, but DuckDB has no such window`);

const seen = new Set();
let late = 0, invalid = 0, future = 0, dlqRecords = 0;
for (const line of (dlq && fs.existsSync(dlq) ? fs.readFileSync(dlq, 'utf8') : '').split('\n')) {
  if (!line) continue;
  const [cls, p, o, r] = line.split('\t');
  if (!r || (cls !== 'late' && cls !== 'invalid' && cls !== 'future')) continue; // no source.record: a whole message
  dlqRecords++;
  if (seen.has(`${p}/${o}/${r}`)) continue;
  seen.add(`${p}/${o}/${r}`);
  if (cls === 'late') late++; else if (cls === 'future') future++; else invalid++;
}
const summary = {
  samples: Number(counts.samples), windows_expected: expected.size, windows_got: got.size,
  records, late_expected: Number(counts.late), late_got: late, invalid_expected: Number(counts.invalid),
  invalid_got: invalid, future_expected: Number(counts.future), future_got: future,
  dead_letters_with_replays: dlqRecords,
  aggregated_got: [...got.values()].reduce((a, g) => a + Number(g.v.samples), 0),
  problems: problems.length, first_problems: problems.slice(0, 5),
};
console.log(JSON.stringify(summary));
if (problems.length || summary.late_expected !== late || summary.invalid_expected !== invalid ||
    summary.future_expected !== future) process.exit(1);
