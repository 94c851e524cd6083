// lake-duckdb.mjs RAW_DIR OUT_DIR — the DuckDB side of bench/lake.sh: the same conversion as
// `fleetpipe lake convert` in one SQL statement on one thread. Prints {"seconds", "rows"}.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/verify/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const [raw, out] = process.argv.slice(2);
const db = await (await DuckDBInstance.create(':memory:')).connect();
await db.run('SET threads = 1');
const t0 = process.hrtime.bigint();
await db.run(`COPY (
  SELECT m.object, m.type, m.id, m.device_id, CAST(m.messaged_at AS TIMESTAMPTZ) AS messaged_at, m.seq,
         CAST(x.timestamp_iso AS TIMESTAMPTZ) AS timestamp_iso, x.lat, x.lng, x.speed, x.heading,
         x.odometer, x.engine_on,
         strftime(CAST(x.timestamp_iso AS TIMESTAMPTZ) AT TIME ZONE 'UTC', '%Y-%m-%d') AS dt,
         strftime(CAST(x.timestamp_iso AS TIMESTAMPTZ) AT TIME ZONE 'UTC', '%H') AS hour
  FROM (SELECT *, unnest(measurements) AS x
        FROM read_json('${raw}/**/*.jsonl', format = 'newline_delimited')) m
  ORDER BY id, timestamp_iso)
  TO '${out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hour))`);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const r = await db.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${out}/**/*.parquet')`);
console.log(JSON.stringify({ seconds, rows: Number(r.getRowObjects()[0].n) }));
