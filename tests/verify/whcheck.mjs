// whcheck.mjs — what the lake's Parquet files hold, by DuckDB (no fleetpipe code), in a shape
// PostgreSQL can produce too, for tests/integration/warehouse_load.sh:
//
//   node whcheck.mjs duck LAKE_DIR     per table: rows per "dt/HH" partition and per column
//                                      [non-null count, aggregate] (bigint: sum, double: sum
//                                      rounded to 3 places, boolean: count true, string: sum of
//                                      byte lengths, timestamp: sum of epoch ms), as JSON
//   node whcheck.mjs sql LAKE_DIR      the one PostgreSQL query that returns the same JSON from
//                                      schema lake (the catalog gives tables and columns)
//   node whcheck.mjs compare A B       exit 1 (and the differences on stdout) unless the two
//                                      JSON files agree (doubles to 1e-9 relative)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const [mode, a, b] = process.argv.slice(2);

function catalog(lake) {
  const dir = path.join(lake, '_catalog');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('_')).sort().map((f) => {
    const c = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    return { name: c.Name, cols: c.StorageDescriptor.Columns.map((x) => ({ name: x.Name, type: x.Type })) };
  });
}

const qi = (s) => '"' + s.replace(/"/g, '""') + '"';

function duckAgg(c) {
  const q = qi(c.name);
  switch (c.type) {
    case 'bigint': return `sum(${q})::VARCHAR`;
    case 'double': return `round(sum(${q}::DOUBLE), 3)`;
    case 'boolean': return `count(*) FILTER (WHERE ${q})`;
    case 'string': return `sum(strlen(${q}))::VARCHAR`;
    case 'timestamp': return `sum(epoch_ms(${q}::TIMESTAMP))::VARCHAR`;
  }
  throw new Error('type ' + c.type);
}

function pgAgg(c) {
  const q = qi(c.name);
  switch (c.type) {
    case 'bigint': return `sum(${q})::text`;
    case 'double': return `round(sum(${q})::numeric, 3)`;
    case 'boolean': return `count(*) FILTER (WHERE ${q})`;
    case 'string': return `sum(octet_length(${q}))::text`;
    case 'timestamp': return `sum((extract(epoch FROM ${q}) * 1000)::bigint)::text`;
  }
  throw new Error('type ' + c.type);
}

async function duck(lake) {
  const { DuckDBInstance } = require('@duckdb/node-api');
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  await db.run("SET TimeZone = 'UTC'");
  const out = {};
  for (const t of catalog(lake)) {
    const src = `read_parquet('${path.join(lake, t.name)}/*/*/*.parquet', hive_partitioning = true, hive_types_autocast = false, union_by_name = true)`;
    const parts = {};
    for (const r of (await db.runAndReadAll(`SELECT substr(dt, 1) || '/' || hour AS k, count(*)::INTEGER AS n FROM ${src} GROUP BY 1`)).getRowObjects())
      parts[r.k] = r.n;
    const cols = {};
    const sel = t.cols.map((c) => `count(${qi(c.name)})::INTEGER, ${duckAgg(c)}`).join(', ');
    const row = (await db.runAndReadAll(`SELECT ${sel} FROM ${src}`)).getRows()[0];
    t.cols.forEach((c, i) => {
      let v = row[2 * i + 1];
      if (v !== null && typeof v === 'object') v = Number(v.toString());
      cols[c.name] = [Number(row[2 * i]), v === null ? null : (c.type === 'double' || c.type === 'boolean' ? Number(v) : String(v))];
    });
    out[t.name] = { parts, cols };
  }
  return out;
}

function sql(lake) {
  const tables = catalog(lake).map((t) => {
    const cols = t.cols.map((c) => `${pgLit(c.name)}, json_build_array(count(${qi(c.name)}), ${pgAgg(c)})`).join(', ');
    const parts = `(SELECT coalesce(json_object_agg(k, n), '{}') FROM (SELECT to_char(dt, 'YYYY-MM-DD') || '/' || lpad(hour::text, 2, '0') AS k, count(*) AS n FROM lake.${qi(t.name)} GROUP BY 1) s)`;
    return `${pgLit(t.name)}, (SELECT json_build_object('parts', ${parts}, 'cols', json_build_object(${cols})) FROM lake.${qi(t.name)})`;
  });
  return `SELECT json_build_object(${tables.join(', ')})`;
}

function pgLit(s) {
  return "'" + s.replace(/'/g, "''") + "'";
}

function compare(x, y) {
  const diffs = [];
  const walk = (p, u, v) => {
    if (typeof u === 'number' && typeof v === 'number') {
      if (Math.abs(u - v) > 1e-9 * Math.max(1, Math.abs(u)) + 0.0011) diffs.push(`${p}: ${u} != ${v}`);
      return;
    }
    if (u && v && typeof u === 'object' && typeof v === 'object') {
      for (const k of new Set([...Object.keys(u), ...Object.keys(v)])) walk(`${p}.${k}`, u[k], v[k]);
      return;
    }
    if (String(u) !== String(v)) diffs.push(`${p}: ${JSON.stringify(u)} != ${JSON.stringify(v)}`);
  };
  walk('', x, y);
  return diffs;
}

if (mode === 'duck') console.log(JSON.stringify(await duck(a)));
else if (mode === 'sql') console.log(sql(a));
else if (mode === 'compare') {
  const d = compare(JSON.parse(fs.readFileSync(a, 'utf8')), JSON.parse(fs.readFileSync(b, 'utf8')));
  if (d.length) { console.log(d.slice(0, 20).join('\n')); process.exit(1); }
  console.log('same');
} else {
  console.error('usage: whcheck.mjs duck|sql LAKE | compare A B');
  process.exit(2);
}
