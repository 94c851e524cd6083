#!/usr/bin/env bash
# `fleetpipe lake` without data conversion: help lists it, exit codes (2 for configuration),
# `lake ddl` from a Glue-shaped catalog (Athena with backticks, DuckDB with double quotes and a
# local path for file:// lakes, s3:// kept, identifiers with quotes doubled, the compression
# property from Parameters.compressionType).
source "$(dirname "$0")/lib/connect.bash"

"$FP" help | grep -q '^  lake ' || fail "fleetpipe help does not list lake"
"$FP" help lake | grep -q 'lake watch' || fail "fleetpipe help lake does not list watch"
rc=0; "$FP" lake 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "lake without a subcommand exited $rc"
rc=0; "$FP" lake convert --to "$tmp/x" 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "convert without --from exited $rc"
rc=0; "$FP" lake convert --from "$tmp/r" --to "$tmp/x" --since yesterday 2>"$tmp/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "--since 'yesterday'" "$tmp/err" || fail "bad --since: exit $rc, $(cat "$tmp/err")"

lake=$tmp/lake
mkdir -p "$lake/_catalog"
cat >"$lake/_catalog/vehicle_kinematic.json" <<JSON
{"Name":"vehicle_kinematic","DatabaseName":"fleet","TableType":"EXTERNAL_TABLE",
 "Parameters":{"classification":"parquet","compressionType":"snappy"},
 "PartitionKeys":[{"Name":"dt","Type":"string"},{"Name":"hour","Type":"string"}],
 "StorageDescriptor":{"Columns":[{"Name":"id","Type":"bigint"},{"Name":"speed","Type":"double"},
   {"Name":"engine_on","Type":"boolean"},{"Name":"timestamp_iso","Type":"timestamp"},{"Name":"odd\`name","Type":"string"}],
   "Location":"file://$lake/vehicle_kinematic/"},"Partitions":[]}
JSON
cat >"$lake/_catalog/cargo_temperature.json" <<'JSON'
{"Name":"cargo_temperature","DatabaseName":"fleet","StorageDescriptor":{"Columns":[{"Name":"zone","Type":"bigint"}],
 "Location":"s3://bucket/lake/cargo_temperature/"}}
JSON
"$FP" lake ddl --to "file://$lake" >"$tmp/all.sql" || fail "lake ddl"
cat >"$tmp/want.sql" <<SQL
-- cargo_temperature (Athena / Redshift Spectrum)
CREATE EXTERNAL TABLE IF NOT EXISTS \`fleet\`.\`cargo_temperature\` (
  \`zone\` bigint
)
PARTITIONED BY (\`dt\` string, \`hour\` string)
STORED AS PARQUET
LOCATION 's3://bucket/lake/cargo_temperature/'
MSCK REPAIR TABLE \`fleet\`.\`cargo_temperature\`;

-- DuckDB
CREATE OR REPLACE VIEW "cargo_temperature" AS SELECT * FROM read_parquet('s3://bucket/lake/cargo_temperature/*/*/*.parquet', hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER}, union_by_name = true);

-- vehicle_kinematic (Athena / Redshift Spectrum)
CREATE EXTERNAL TABLE IF NOT EXISTS \`fleet\`.\`vehicle_kinematic\` (
  \`id\` bigint,
  \`speed\` double,
  \`engine_on\` boolean,
  \`timestamp_iso\` timestamp,
  \`odd\`\`name\` string
)
PARTITIONED BY (\`dt\` string, \`hour\` string)
STORED AS PARQUET
LOCATION 'file://$lake/vehicle_kinematic/'
TBLPROPERTIES ('parquet.compression'='SNAPPY');
MSCK REPAIR TABLE \`fleet\`.\`vehicle_kinematic\`;

-- DuckDB
CREATE OR REPLACE VIEW "vehicle_kinematic" AS SELECT * FROM read_parquet('$lake/vehicle_kinematic/*/*/*.parquet', hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER}, union_by_name = true);

SQL
diff "$tmp/want.sql" "$tmp/all.sql" >&2 || fail "lake ddl output differs (want < > got)"
"$FP" lake ddl --to "$lake" --table cargo_temperature --database other >"$tmp/one.sql" || fail "ddl --table"
grep -q 'EXISTS `other`.`cargo_temperature`' "$tmp/one.sql" || fail "--database not used"
grep -q vehicle_kinematic "$tmp/one.sql" && fail "--table printed another table"
rc=0; "$FP" lake ddl --to "$lake" --table nope 2>/dev/null || rc=$?
[[ $rc -eq 1 ]] || fail "ddl of a missing table exited $rc"
# The codec comes from the catalog's Parameters.compressionType: none gives no property, a value
# fleetpipe never writes is an error naming the file.
jq '.Parameters.compressionType = "none"' "$lake/_catalog/vehicle_kinematic.json" >"$tmp/none.json"
cp "$tmp/none.json" "$lake/_catalog/vehicle_kinematic.json"
"$FP" lake ddl --to "$lake" --table vehicle_kinematic >"$tmp/none.sql" || fail "ddl of an uncompressed table"
grep -q "parquet.compression" "$tmp/none.sql" && fail "compression property for an uncompressed table: $(cat "$tmp/none.sql")"
grep -q "^MSCK REPAIR TABLE" "$tmp/none.sql" || fail "no MSCK REPAIR TABLE: $(cat "$tmp/none.sql")"
jq '.Parameters.compressionType = "lz4"' "$tmp/none.json" >"$lake/_catalog/vehicle_kinematic.json"
rc=0; "$FP" lake ddl --to "$lake" --table vehicle_kinematic 2>"$tmp/err" || rc=$?
[[ $rc -eq 1 ]] && grep -q 'vehicle_kinematic.json: Parameters: unknown compressionType "lz4"' "$tmp/err" ||
  fail "an unknown compressionType: exit $rc, $(cat "$tmp/err")"
cp "$tmp/none.json" "$lake/_catalog/vehicle_kinematic.json"
echo 'not json' >"$lake/_catalog/broken.json"
rc=0; "$FP" lake ddl --to "$lake" 2>"$tmp/err" || rc=$?
[[ $rc -ne 0 ]] && grep -q broken.json "$tmp/err" || fail "a broken catalog file is not reported"

echo "lake_cli: ok"
