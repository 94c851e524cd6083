// lakecheck.mjs RAW_DIR LAKE_DIR — checks a converted lake against its raw JSON lines with two
// independent Parquet readers (DuckDB and hyparquet), sharing no code with fleetpipe.
//
// From the raw objects alone it computes every row (measurements split, element fields winning),
// its table <object>_<type>, its partition (UTC dt/hour of timestamp_iso) and its file (named
// after the raw object), and the order inside the file (id, timestamp, arrival). A row belongs
// in the lake exactly when all its non-null fields are catalog columns of a compatible type;
// otherwise it must be in _failed/. Then every value and null of every file is compared, as DuckDB
// reads it and as hyparquet reads it. Prints a JSON summary; exits 1 at the first difference.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const [rawDir, lakeDir] = process.argv.slice(2);
const die = (msg) => { console.error(`lakecheck: ${msg}`); process.exit(1); };
// Integer literals become BigInt (exact int64), other numbers stay doubles: needs the literal's
// source text, which node 20 gives with --harmony-json-parse-with-source.
if (typeof JSON.parse('1', (k, v, c) => c) !== 'object') die('run node with --harmony-json-parse-with-source');
const parse = (s) => JSON.parse(s, (k, v, c) => (typeof v === 'number' && /^-?\d+$/.test(c.source) ? BigInt(c.source) : v));
const show = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? `${x}n` : x));
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
  if (e.name.startsWith('.') || e.name.startsWith('_')) return [];
  const p = path.join(d, e.name);
  return e.isDirectory() ? walk(p) : [p];
});

const catalogs = {};
for (const f of fs.readdirSync(path.join(lakeDir, '_catalog'))) {
  if (f.startsWith('_')) continue; // _watermark.json: the lake's watermark, not a table
  const c = JSON.parse(fs.readFileSync(path.join(lakeDir, '_catalog', f), 'utf8'));
  catalogs[c.Name] = Object.fromEntries(c.StorageDescriptor.Columns.map((k) => [k.Name, k.Type]));
}

// ---- expected, from the raw objects
const utf8 = new TextDecoder('utf-8', { fatal: true });
const expected = new Map(); // "<table>/dt=../hour=../<base>.parquet" -> rows
let rowsIn = 0, failed = 0;
const rawNames = walk(rawDir).filter((f) => /\.jsonl(\.zst)?$/.test(f)).sort();
for (const f of rawNames) {
  const base = path.basename(f).replace(/\.zst$/, '').replace(/\.jsonl$/, '');
  let text;
  try {
    text = f.endsWith('.zst') ? execFileSync('zstd', ['-dcq', f], { maxBuffer: 1 << 30 }) : fs.readFileSync(f);
  } catch { continue; } // unreadable: the lake queues the object, not rows
  let arrival = 0;
  for (let at = 0; at < text.length;) {
    let nl = text.indexOf(10, at);
    if (nl < 0) nl = text.length;
    const bytes = text.subarray(at, nl);
    at = nl + 1;
    if (/^[ \t\r]*$/.test(bytes.toString('latin1'))) continue; // JSON whitespace only
    let msg;
    // invalid UTF-8 is invalid JSON (RFC 8259)
    try { msg = parse(utf8.decode(bytes)); } catch { rowsIn++; failed++; continue; }
    // periodic messages are split; event messages (no measurements) are one row each
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) { rowsIn++; failed++; continue; }
    const event = !('measurements' in msg);
    const ms = msg.measurements;
    if (!event && (!Array.isArray(ms) || ms.some((e) => !e || typeof e !== 'object' || Array.isArray(e)))) { rowsIn++; failed++; continue; }
    for (const e of event ? [{}] : ms) {
      rowsIn++;
      const row = { ...msg, ...e };
      if (!event) delete row.measurements;
      if ('measurements' in e) row.measurements = e.measurements;
      const ok = (s) => typeof s === 'string' && /^[a-z0-9_]{1,64}$/.test(s);
      // a row without timestamp_iso (an event) is partitioned by when it was sent
      const tv = row.timestamp_iso !== undefined ? row.timestamp_iso : row.messaged_at;
      const ts = typeof tv === 'string' ? Date.parse(tv) : NaN;
      const table = `${row.object}_${row.type}`;
      const cols = catalogs[table];
      if (!ok(row.object) || !ok(row.type) || Number.isNaN(ts) || !cols || !fits(row, cols)) { failed++; continue; }
      const d = new Date(Math.floor(ts / 3600000) * 3600000).toISOString();
      const key = `${table}/dt=${d.slice(0, 10)}/hour=${d.slice(11, 13)}/${base}.parquet`;
      if (!expected.has(key)) expected.set(key, []);
      expected.get(key).push({ row, ts, arrival: arrival++ });
    }
  }
}

function fits(row, cols) {
  for (const [k, v] of Object.entries(row)) {
    if (v === null) continue;
    const t = cols[k];
    if (!t) return false;
    if (t === 'timestamp' ? typeof v !== 'string' || Number.isNaN(Date.parse(v))
      : t === 'string' ? (typeof v !== 'string' || !v.isWellFormed()) && typeof v !== 'object'
        : t === 'boolean' ? typeof v !== 'boolean'
          : t === 'bigint' ? typeof v !== 'bigint' : typeof v !== 'number' && typeof v !== 'bigint') return false;
  }
  return true;
}

// what a reader should give for a raw value of a column type, as a comparable string
function want(v, t) {
  if (v === null || v === undefined) return 'null';
  if (t === 'timestamp') return String(Date.parse(v));
  if (t === 'string') return typeof v === 'object' ? `json:${show(v)}` : `s:${v}`;
  if (t === 'double') return String(Number(v));
  return String(v);
}
function got(v, t) {
  if (v === null || v === undefined) return 'null';
  if (t === 'timestamp') return String(v instanceof Date ? v.getTime() : Number(v));
  if (t === 'string') {
    if (/^[[{]/.test(v)) { try { return `json:${show(parse(v))}`; } catch { /* plain */ } }
    return `s:${v}`;
  }
  if (t === 'double') return String(Number(v));
  return String(v);
}

// ---- actual, with both readers
const db = await (await DuckDBInstance.create(':memory:')).connect();
const seen = new Set();
let rowsChecked = 0, files = 0;
for (const [table, cols] of Object.entries(catalogs)) {
  const glob = path.join(lakeDir, table, '*', '*', '*.parquet');
  const sel = Object.entries(cols).map(([k, t]) => (t === 'timestamp' ? `epoch_ms("${k}") AS "${k}"` : `"${k}"`)).join(', ');
  const res = await db.runAndReadAll(`SELECT ${sel}, filename, file_row_number FROM read_parquet('${glob}', union_by_name = true, filename = true, file_row_number = true) ORDER BY filename, file_row_number`);
  const byFile = new Map();
  for (const r of res.getRowObjects()) {
    const rel = path.relative(lakeDir, r.filename);
    if (!byFile.has(rel)) byFile.set(rel, []);
    byFile.get(rel).push(r);
  }
  for (const [rel, actual] of byFile) {
    files++;
    seen.add(rel);
    const exp = (expected.get(rel) || []).slice().sort((a, b) =>
      Number(a.row.id ?? -Infinity) - Number(b.row.id ?? -Infinity) || a.ts - b.ts || a.arrival - b.arrival);
    if (exp.length !== actual.length) die(`${rel}: DuckDB reads ${actual.length} rows, want ${exp.length}`);
    const buf = fs.readFileSync(path.join(lakeDir, rel));
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const hy = await parquetReadObjects({ file: ab, compressors });
    if (hy.length !== exp.length) die(`${rel}: hyparquet reads ${hy.length} rows, want ${exp.length}`);
    for (let i = 0; i < exp.length; i++) {
      for (const [k, t] of Object.entries(cols)) {
        const w = want(exp[i].row[k], t);
        const a = got(actual[i][k], t);
        if (a !== w) die(`${rel} row ${i} column ${k}: DuckDB reads ${a}, want ${w}`);
        if (!(k in hy[i]) && w === 'null') continue; // a column added after this file was written
        const h = got(hy[i][k], t);
        if (h !== w) die(`${rel} row ${i} column ${k}: hyparquet reads ${h}, want ${w}`);
      }
      rowsChecked++;
    }
  }
}
for (const k of expected.keys()) if (!seen.has(k)) die(`missing file ${k} (${expected.get(k).length} rows)`);

let queued = 0;
const fdir = path.join(lakeDir, '_failed');
if (fs.existsSync(fdir)) {
  for (const f of fs.readdirSync(fdir)) {
    for (const l of fs.readFileSync(path.join(fdir, f), 'utf8').split('\n')) if (l && !JSON.parse(l).object) queued++;
  }
}
if (queued !== failed) die(`_failed holds ${queued} rows, want ${failed}`);
if (rowsChecked + failed !== rowsIn) die(`rows: ${rowsChecked} + ${failed} failed != ${rowsIn} in`);
console.log(JSON.stringify({ raw_objects: rawNames.length, rows_in: rowsIn, rows_checked: rowsChecked, rows_failed: failed, files }));
