// martduck.mjs — runs the marts' SQL (config/warehouse/sql) in DuckDB over the Parquet lake,
// exactly as the scheduler runs it in PostgreSQL, and prints the rows: the proof that the marts
// are portable SQL (docs/warehouse.md, "Marts").
//
// usage: node martduck.mjs --ddl DDL.sql --ds YYYY-MM-DD [--ds ...] [--params FILE]
//                          [--set NAME=VALUE ...] [--sql-dir DIR] [--compare ROWS.jsonl]
//        node martduck.mjs --render MART --ds YYYY-MM-DD [--params FILE] [--set ...]
//
// DDL.sql is the output of `fleetpipe lake ddl --to LAKE`; its DuckDB views are created in a
// schema named lake, so lake.vehicle_kinematic resolves as it does in PostgreSQL. Then
// schema.sql runs unchanged, and per --ds the mart tasks of the pipeline (--params, a pipeline
// file such as config/warehouse/pipeline.json) as the scheduler runs them: first those of its
// @hourly DAGs for each hour of the local day, then those of its @daily DAGs, in the order the
// file lists them (the shipped file lists upstream tasks first), each as
//   BEGIN; DELETE FROM <table> WHERE <delete_where>; INSERT INTO <table> <rendered SELECT>; COMMIT
// Rendering is textual substitution of {{ data_interval_start }} / {{ data_interval_end }}
// (ISO-8601 UTC, "2026-03-02T15:00:00Z": local midnight of ds and of the next day in
// params.timezone, or the hour's bounds), {{ ds }} and {{ params.NAME }} (the pipeline's params,
// then --set); an unknown name is an error. Output: one JSON line per mart row,
// {"mart":"vehicle_daily","vehicle_id":1,"day":"2026-03-03",...}, sorted by mart and key.
//
// --compare ROWS.jsonl: rows in the same shape from another engine (PostgreSQL: see
// tests/integration/warehouse_pipeline.sh for the query) are compared instead of printed: the
// same keys, integers and dates equal, doubles within 1e-9 relative (or 1e-9 absolute near 0)
// — both engines add the same doubles, but in a different order. Prints one JSON summary line;
// exit 1 on any difference.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
export const MARTS = [
  { name: 'vehicle_hourly', key: ['vehicle_id', 'hour_start'] },
  { name: 'reefer_hourly', key: ['vehicle_id', 'zone', 'hour_start'] },
  { name: 'vehicle_daily', key: ['vehicle_id', 'day'] },
  { name: 'reefer_daily', key: ['vehicle_id', 'zone', 'day'] },
  { name: 'fleet_daily', key: ['day'] },
];

function parseArgs(argv) {
  const o = { ds: [], set: [], params: path.join(root, 'config/warehouse/pipeline.json'),
              sqlDir: path.join(root, 'config/warehouse/sql') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--ddl') o.ddl = v();
    else if (a === '--ds') o.ds.push(v());
    else if (a === '--params') o.params = v();
    else if (a === '--set') o.set.push(v());
    else if (a === '--sql-dir') o.sqlDir = v();
    else if (a === '--compare') o.compare = v();
    else if (a === '--render') o.render = v();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.ds.length) throw new Error('--ds is required');
  return o;
}

// Offset (ms) of time zone tz from UTC at instant ms.
function tzOffset(tz, ms) {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric',
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}

// UTC instant of local midnight of date ds (YYYY-MM-DD) in tz.
export function localMidnight(tz, ds) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ds);
  if (!m) throw new Error(`ds ${ds} is not YYYY-MM-DD`);
  const naive = Date.UTC(+m[1], +m[2] - 1, +m[3]);
  let t = naive - tzOffset(tz, naive);
  t = naive - tzOffset(tz, t); // the offset at the instant itself (DST days)
  return t;
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

export function interval(tz, ds) {
  const start = localMidnight(tz, ds);
  const [y, mo, d] = ds.split('-').map(Number);
  const next = new Date(Date.UTC(y, mo - 1, d + 1)).toISOString().slice(0, 10);
  return { data_interval_start: iso(start), data_interval_end: iso(localMidnight(tz, next)), ds };
}

// The pipeline's mart tasks: {hourly: [...], daily: [...]}, each {name, sql, table, where}.
export function martTasks(file) {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  const out = { hourly: [], daily: [] };
  for (const d of j.dags || []) {
    const kind = { '@hourly': 'hourly', '@daily': 'daily' }[d.schedule];
    for (const t of d.tasks.filter((x) => x.type === 'mart')) {
      if (!kind) throw new Error(`dag ${d.id}: schedule ${d.schedule} (martduck knows @hourly and @daily)`);
      out[kind].push({ name: t.id, sql: t.sql, table: t.table, where: t.delete_where ?? "day = '{{ ds }}'" });
    }
  }
  return out;
}

// The hours of a day's interval, as template variables.
export function hours(vars) {
  const out = [];
  for (let t = Date.parse(vars.data_interval_start); t < Date.parse(vars.data_interval_end); t += 3600e3)
    out.push({ data_interval_start: iso(t), data_interval_end: iso(t + 3600e3), ds: vars.ds });
  return out;
}

export function loadParams(file, sets = []) {
  // a pipeline file (its "params") or a plain object of params
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  const p = j.dags ? { ...j.params } : j;
  delete p._doc;
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i < 1) throw new Error(`--set ${s}: want NAME=VALUE`);
    p[s.slice(0, i)] = s.slice(i + 1);
  }
  return p;
}

// The scheduler's substitution: {{ name }} with optional spaces; every name must be known.
export function render(sql, vars, params) {
  return sql.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (_, name) => {
    const v = name.startsWith('params.') ? params[name.slice(7)] : vars[name];
    if (v === undefined) throw new Error(`template {{ ${name} }} has no value`);
    return String(v);
  });
}

// A row as plain JSON values: BIGINT strings to numbers, dates as YYYY-MM-DD, timestamps as
// YYYY-MM-DDTHH:MM:SS (DuckDB writes a space, PostgreSQL's to_jsonb a T).
function norm(row) {
  const o = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === 'string' && /^-?\d+$/.test(v)) o[k] = Number(v);
    else if (typeof v === 'string' && /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d$/.test(v)) o[k] = v.replace(' ', 'T');
    else o[k] = v;
  }
  return o;
}

const keyOf = (m, r) => [m.name, ...m.key.map((k) => r[k])].join('|');

function compare(duck, other) {
  const byKey = (rows) => new Map(rows.map((r) => [keyOf(MARTS.find((m) => m.name === r.mart), r), r]));
  const a = byKey(duck), b = byKey(other);
  const res = { rows_duckdb: a.size, rows_other: b.size, missing: [], extra: [], diffs: [], max_rel: {} };
  for (const k of a.keys()) if (!b.has(k)) res.missing.push(k);
  for (const k of b.keys()) if (!a.has(k)) res.extra.push(k);
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y) continue;
    for (const col of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const u = x[col] ?? null, v = y[col] ?? null;
      if (u === v) continue;
      if (typeof u === 'number' && typeof v === 'number') {
        const d = Math.abs(u - v), rel = d / Math.max(Math.abs(u), Math.abs(v));
        const m = `${x.mart}.${col}`;
        res.max_rel[m] = Math.max(res.max_rel[m] ?? 0, rel);
        if (d <= 1e-9 || rel <= 1e-9) continue;
      }
      if (res.diffs.length < 20) res.diffs.push({ key: k, col, duckdb: u, other: v });
      else res.diffs_more = (res.diffs_more ?? 0) + 1;
    }
  }
  res.ok = !res.missing.length && !res.extra.length && !res.diffs.length;
  return res;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const params = loadParams(o.params, o.set);
  const sqlOf = (name) => fs.readFileSync(path.join(o.sqlDir, `${name}.sql`), 'utf8');
  if (o.render) {
    // --render MART: the day's SQL; --render MART@HH: the SQL of hour HH (UTC) of the day's interval
    const [mart, hh] = o.render.split('@');
    for (const ds of o.ds) {
      let vars = interval(params.timezone, ds);
      if (hh !== undefined) vars = hours(vars).find((h) => h.data_interval_start.slice(11, 13) === hh);
      if (!vars) throw new Error(`--render ${o.render}: no such hour in ${ds}`);
      process.stdout.write(render(sqlOf(mart), vars, params));
    }
    return 0;
  }
  const tasks = martTasks(o.params);
  if (!tasks.daily.length) throw new Error(`${o.params}: no @daily mart tasks (want a pipeline file)`);
  if (!o.ddl) throw new Error('--ddl is required');
  const db = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
  const run = async (sql) => (await db.runAndReadAll(sql)).getRowObjectsJson();
  await run('CREATE SCHEMA lake');
  const views = fs.readFileSync(o.ddl, 'utf8').split('\n').filter((l) => /^CREATE OR REPLACE VIEW /.test(l));
  if (!views.length) throw new Error(`${o.ddl}: no DuckDB views (want the output of fleetpipe lake ddl)`);
  await run("SET schema = 'lake'");
  for (const v of views) await run(v);
  // warehouse init creates lake.deadletter before any dead letter arrives (src/warehouse/load.c);
  // a lake without one has no view for it: the same empty table here
  const dl = await run("SELECT 1 FROM information_schema.tables WHERE table_schema = 'lake' AND table_name = 'deadletter'");
  if (!dl.length)
    await run(`CREATE TABLE deadletter (received_at TIMESTAMPTZ, error_class VARCHAR, error_message VARCHAR,
      source_topic VARCHAR, source_partition BIGINT, source_offset BIGINT, mqtt_topic VARCHAR,
      device_id VARCHAR, value_bytes BIGINT, value VARCHAR, dt DATE, hour INTEGER)`);
  await run("SET schema = 'main'");
  await run(sqlOf('schema'));
  const task = async (t, vars) => {
    const select = render(fs.readFileSync(path.join(o.sqlDir, path.basename(t.sql)), 'utf8'), vars, params);
    await run('BEGIN');
    await run(`DELETE FROM ${t.table} WHERE ${render(t.where, vars, params)}`);
    await run(`INSERT INTO ${t.table} ${select}`);
    await run('COMMIT');
  };
  for (const ds of o.ds) {
    const vars = interval(params.timezone, ds);
    for (const h of hours(vars)) for (const t of tasks.hourly) await task(t, h);
    for (const t of tasks.daily) await task(t, vars);
  }
  const rows = [];
  for (const t of [...tasks.hourly, ...tasks.daily]) {
    const m = MARTS.find((x) => `mart.${x.name}` === t.table);
    if (!m) throw new Error(`${t.table}: martduck knows no key for it (MARTS)`);
    const order = m.key.join(', ');
    for (const r of await run(`SELECT '${m.name}' AS mart, * FROM ${t.table} ORDER BY ${order}`))
      rows.push(norm(r));
  }
  if (o.compare) {
    const other = fs.readFileSync(o.compare, 'utf8').split('\n').filter((l) => l.trim()).map((l) => norm(JSON.parse(l)));
    const res = compare(rows, other);
    console.log(JSON.stringify(res));
    return res.ok ? 0 : 1;
  }
  for (const r of rows) console.log(JSON.stringify(r));
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((rc) => process.exit(rc), (e) => {
    console.error(`martduck: ${e.message}`);
    process.exit(2);
  });
}
