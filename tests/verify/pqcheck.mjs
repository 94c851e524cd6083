// pqcheck.mjs — checks a Parquet file written by fleetpipe with two independent readers,
// DuckDB (@duckdb/node-api) and hyparquet, against the rows it must hold.
//
//   node pqcheck.mjs FILE.parquet EXPECTED.jsonl [--schema name:type,...] [--encoding dict|plain]
//
// EXPECTED.jsonl has one JSON object per row in file order; a missing key is null. Integer
// tokens are compared exactly (BigInt) for bigint and timestamp (epoch milliseconds) columns;
// doubles bit-exactly (-0 is not 0, NaN equals NaN; "NaN"/"Infinity"/"-Infinity" as strings).
// Both readers must return every value; DuckDB's parquet_schema must show the logical types
// fleetpipe promises (UTF8 strings, TIMESTAMP(isAdjustedToUTC, MILLIS)); per chunk, the
// statistics (min/max/null_count, as hyparquet and DuckDB decode them) must equal those computed
// from EXPECTED. Every chunk's encodings must be ones fleetpipe writes (PLAIN_DICTIONARY,
// PLAIN, DELTA_BINARY_PACKED for integers, BYTE_STREAM_SPLIT for doubles, RLE levels); with
// --encoding plain no chunk may have a dictionary, with --encoding dict at least one must (the
// writer picks each chunk's encoding by its cost, so a dictionary is not promised per chunk).
// Prints "ok N rows" and exits 0, or prints the first difference and exits 1.
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const NUM = '\u0001'; // marks a number token kept as text

function fail(msg) {
  console.error(`pqcheck: ${file}: ${msg}`);
  process.exit(1);
}

// JSON.parse with every number token kept as its text (prefixed with NUM), so that 64-bit
// integers survive.
function parseLine(line) {
  let out = '';
  for (let i = 0; i < line.length; ) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      out += line.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(line.slice(i));
      out += JSON.stringify(NUM + m[0]);
      i += m[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

function expectedValue(type, v, where) {
  if (v === undefined || v === null) return null;
  const num = typeof v === 'string' && v.startsWith(NUM) ? v.slice(1) : null;
  switch (type) {
    case 'boolean':
      if (typeof v !== 'boolean') fail(`${where}: expected value is not a boolean`);
      return v;
    case 'bigint':
    case 'timestamp':
      if (num === null) fail(`${where}: expected value is not an integer`);
      return BigInt(num);
    case 'double':
      if (num !== null) return Number(num);
      if (['NaN', 'Infinity', '-Infinity'].includes(v)) return Number(v);
      return fail(`${where}: expected value is not a number`);
    default:
      if (typeof v !== 'string') fail(`${where}: expected value is not a string`);
      return v;
  }
}

function same(type, got, want) {
  if (got === null || got === undefined || want === null) return (got ?? null) === want;
  if (type === 'double') return Object.is(got, want);
  if (type === 'bigint' || type === 'timestamp') {
    if (got instanceof Date) got = BigInt(got.getTime());
    else if (typeof got === 'number') got = BigInt(got);
    return got === want;
  }
  return got === want;
}

const show = (v) => (typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : JSON.stringify(v));

function compareValues(type, a, b) {
  if (type === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

// Statistics a chunk of values must carry: nulls, and min/max without NaN, zeros signed.
function chunkStats(type, values) {
  let nulls = 0n;
  let min;
  let max;
  for (const v of values) {
    if (v === null) nulls++;
    else if (!(type === 'double' && Number.isNaN(v))) {
      if (min === undefined || compareValues(type, v, min) < 0) min = v;
      if (max === undefined || compareValues(type, v, max) > 0) max = v;
    }
  }
  if (type === 'double' && min === 0) min = -0;
  if (type === 'double' && max === 0) max = 0;
  return { nulls, min, max };
}

const DUCK_TYPES = {
  BOOLEAN: 'boolean',
  BIGINT: 'bigint',
  DOUBLE: 'double',
  VARCHAR: 'string',
  'TIMESTAMP WITH TIME ZONE': 'timestamp',
};
const PHYSICAL = {
  boolean: 'BOOLEAN',
  bigint: 'INT64',
  double: 'DOUBLE',
  string: 'BYTE_ARRAY',
  timestamp: 'INT64',
};

const args = process.argv.slice(2);
const file = args[0];
const expectedPath = args[1];
if (!file || !expectedPath) {
  console.error('usage: pqcheck.mjs FILE.parquet EXPECTED.jsonl [--schema n:t,...] [--encoding dict|plain]');
  process.exit(2);
}
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quoted = (name) => `"${name.replaceAll('"', '""')}"`;
const sqlFile = `'${file.replaceAll("'", "''")}'`;

const con = await (await DuckDBInstance.create(':memory:')).connect();
const query = async (sql) => (await con.runAndReadAll(sql)).getRowObjects();

// ---- schema ----
const described = await query(`DESCRIBE SELECT * FROM read_parquet(${sqlFile})`);
const cols = described.map((d) => ({ name: d.column_name, type: DUCK_TYPES[d.column_type] }));
for (const [i, c] of cols.entries())
  if (!c.type) fail(`column ${c.name}: DuckDB type ${described[i].column_type} is not one fleetpipe writes`);
const schemaOpt = opt('--schema');
if (schemaOpt !== undefined) {
  const got = cols.map((c) => `${c.name}:${c.type}`).join(',');
  if (got !== schemaOpt) fail(`schema is ${got}, expected ${schemaOpt}`);
}
const pschema = await query(`SELECT * FROM parquet_schema(${sqlFile})`);
if (pschema.length !== cols.length + 1 || Number(pschema[0].num_children) !== cols.length)
  fail('parquet_schema is not a root with one leaf per column');
for (const [i, c] of cols.entries()) {
  const s = pschema[i + 1];
  const where = `parquet_schema of ${c.name}`;
  if (s.name !== c.name || s.repetition_type !== 'OPTIONAL' || s.type !== PHYSICAL[c.type])
    fail(`${where}: ${s.name} ${s.repetition_type} ${s.type}`);
  const conv = { string: 'UTF8', timestamp: 'TIMESTAMP_MILLIS' }[c.type] ?? null;
  if (s.converted_type !== conv) fail(`${where}: converted_type ${s.converted_type}`);
  const lt = s.logical_type ?? '';
  if (c.type === 'string' && lt !== 'StringType()') fail(`${where}: logical type ${lt}`);
  if (c.type === 'timestamp' && !(lt.includes('isAdjustedToUTC=1') && lt.includes('MILLIS=MilliSeconds()')))
    fail(`${where}: logical type ${lt}`);
  if (!['string', 'timestamp'].includes(c.type) && lt !== '') fail(`${where}: logical type ${lt}`);
}

// ---- expected rows ----
const lines = readFileSync(expectedPath, 'utf8').split('\n').filter((l) => l !== '');
const expected = lines.map((l, r) => {
  const o = parseLine(l);
  for (const k of Object.keys(o))
    if (!cols.some((c) => c.name === k)) fail(`${expectedPath} row ${r}: no column ${k} in the file`);
  return cols.map((c) => expectedValue(c.type, o[c.name], `${expectedPath} row ${r} ${c.name}`));
});

function compareRows(reader, rows) {
  if (rows.length !== expected.length) fail(`${reader}: ${rows.length} rows, expected ${expected.length}`);
  for (let r = 0; r < rows.length; r++)
    for (const [i, c] of cols.entries())
      if (!same(c.type, rows[r][i], expected[r][i]))
        fail(`${reader}: row ${r} column ${c.name}: ${show(rows[r][i])}, expected ${show(expected[r][i])}`);
}

// ---- DuckDB ----
const select = cols.map((c) => (c.type === 'timestamp' ? `epoch_ms(${quoted(c.name)})` : quoted(c.name)));
const duck = await con.runAndReadAll(
  `SELECT ${select.join(', ')} FROM read_parquet(${sqlFile}, file_row_number = true) ORDER BY file_row_number`,
);
compareRows('duckdb', duck.getRows());

// ---- hyparquet ----
const buf = await asyncBufferFromFile(file);
const meta = await parquetMetadataAsync(buf);
const objs = await parquetReadObjects({ file: buf, compressors });
compareRows('hyparquet', objs.map((o) => cols.map((c) => o[c.name])));
if (!String(meta.created_by).startsWith('fleetpipe version ')) fail(`created_by ${meta.created_by}`);
if (BigInt(meta.num_rows) !== BigInt(expected.length)) fail(`num_rows ${meta.num_rows}`);

// ---- statistics and encodings per chunk ----
const duckMeta = await query(
  `SELECT * FROM parquet_metadata(${sqlFile}) ORDER BY row_group_id, column_id`,
);
const encoding = opt('--encoding');
let base = 0;
let dictChunks = 0;
for (const [g, rg] of meta.row_groups.entries()) {
  const n = Number(rg.num_rows);
  for (const [i, c] of cols.entries()) {
    const where = `row group ${g} column ${c.name}`;
    const want = chunkStats(c.type, expected.slice(base, base + n).map((row) => row[i]));
    const md = rg.columns[i].meta_data;
    const st = md.statistics ?? {};
    if (BigInt(st.null_count) !== want.nulls) fail(`${where}: null_count ${st.null_count}, expected ${want.nulls}`);
    for (const k of ['min', 'max'])
      if (!same(c.type, st[`${k}_value`] ?? null, want[k] ?? null))
        fail(`${where}: hyparquet ${k}_value ${show(st[`${k}_value`])}, expected ${show(want[k])}`);
    const d = duckMeta.find((x) => Number(x.row_group_id) === g && Number(x.column_id) === i);
    if (BigInt(d.stats_null_count) !== want.nulls) fail(`${where}: DuckDB null_count ${d.stats_null_count}`);
    for (const k of ['min', 'max']) {
      const s = d[`stats_${k}_value`];
      if (s === null) {
        // DuckDB hides double statistics when the chunk holds NaN or infinities.
        const hidden = c.type === 'double' && expected.slice(base, base + n).some((row) => row[i] !== null && !Number.isFinite(row[i]));
        if (want[k] !== undefined && !hidden) fail(`${where}: DuckDB has no ${k}_value`);
        continue;
      }
      const got = {
        boolean: () => s === 'true',
        bigint: () => BigInt(s),
        double: () => Number(s),
        string: () => s,
        timestamp: () => BigInt(Date.parse(s.replace(' ', 'T').replace(/\+00$/, 'Z'))),
      }[c.type]();
      if (!same(c.type, got, want[k] ?? null)) fail(`${where}: DuckDB ${k}_value ${s}, expected ${show(want[k])}`);
    }
    const hasDict = d.dictionary_page_offset !== null;
    if (hasDict !== d.encodings.includes('PLAIN_DICTIONARY')) fail(`${where}: encodings ${d.encodings}`);
    const allowed = { PLAIN_DICTIONARY: c.type !== 'boolean', PLAIN: true, RLE: true,
      DELTA_BINARY_PACKED: c.type === 'bigint' || c.type === 'timestamp', BYTE_STREAM_SPLIT: c.type === 'double' };
    const encs = Array.isArray(d.encodings) ? d.encodings : String(d.encodings).split(/,\s*/);
    for (const e of encs) if (!allowed[e]) fail(`${where}: encoding ${e} for a ${c.type} column`);
    if (encoding === 'plain' && hasDict) fail(`${where}: encodings ${d.encodings}, expected plain`);
    dictChunks += hasDict ? 1 : 0;
  }
  base += n;
}
if (base !== expected.length) fail(`row groups hold ${base} rows`);
if (encoding === 'dict' && !dictChunks) fail('no chunk is dictionary-encoded, expected some');
console.log(`ok ${expected.length} rows`);
