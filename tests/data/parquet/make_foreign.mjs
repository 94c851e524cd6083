// make_foreign.mjs — regenerates the files of tests/data/parquet written by DuckDB (not by
// fleetpipe), which test_parquet reads to check the reader against another writer: RLE_DICTIONARY,
// data pages v1 and v2, snappy/zstd/none, and what it must refuse (v2's DELTA_BINARY_PACKED and
// BYTE_STREAM_SPLIT encodings, TIMESTAMP in microseconds).
//   node tests/data/parquet/make_foreign.mjs   (needs tests/verify/node_modules)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../verify/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const con = await (await DuckDBInstance.create(':memory:')).connect();
// 300 rows: row i has flag = i%3=0, n = i*i-1000, d = i/4, s = 'k'||(i%7) with 'é' on odd
// rows; every 10th row is null in every column.
const rows = `SELECT
  CASE WHEN i % 10 = 9 THEN NULL ELSE i % 3 = 0 END AS flag,
  CASE WHEN i % 10 = 9 THEN NULL ELSE i * i - 1000 END::BIGINT AS n,
  CASE WHEN i % 10 = 9 THEN NULL ELSE i / 4 END::DOUBLE AS d,
  CASE WHEN i % 10 = 9 THEN NULL ELSE 'k' || (i % 7) || CASE WHEN i % 2 = 1 THEN 'é' ELSE '' END END AS s
  FROM range(300) t(i) ORDER BY i`;
for (const [name, opts] of [
  ['duckdb_v1_snappy', "COMPRESSION snappy"],
  ['duckdb_v2_zstd', "COMPRESSION zstd, PARQUET_VERSION v2"],
  ['duckdb_v1_none', "COMPRESSION uncompressed, ROW_GROUP_SIZE 100"],
]) {
  await con.run(`COPY (${rows}) TO '${join(here, name)}.parquet' (FORMAT parquet, ${opts})`);
}
await con.run(`COPY (SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' AS ts) TO '${join(here, 'duckdb_micros')}.parquet' (FORMAT parquet)`);
