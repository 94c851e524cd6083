# Helpers for the DynamoDB sink tests (sourced after connect.bash and aws.bash): the seed
# design's example connector, and the expected table computed from the simulator's file output
# with jq alone (no fleetpipe code), so the sink is checked against an independent model.

# ddb_connector NAME ENDPOINT [EXTRA_JSON_MEMBERS]: writes $tmp/NAME.json — the seed example
# (split measurements, pk ${id}#${object}#${type}, sk = timestamp_iso in UTC, engine_on dropped).
ddb_connector() { # NAME ENDPOINT [EXTRA_JSON_MEMBERS] [TASKS, default 2]
  local name=$1 ep=$2 extra=${3:-} tasks=${4:-2}
  cat >"$tmp/$name.json" <<JSON
{"name": "$name", "config": {
  "connector.class": "dynamodb",
  "topics.regex": "fms\\\\.(vehicle|cargo)",
  "tasks.max": "$tasks",
  "aws.dynamodb.table": "fms",
  "aws.dynamodb.endpoint": "$ep",
  "transforms": "split,pk,ts,drop",
  "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "transforms.pk.type": "InsertFieldInStringTemplate",
  "transforms.pk.field": "pk",
  "transforms.pk.value": "\${id}#\${object}#\${type}",
  "transforms.ts.type": "TimestampConverter",
  "transforms.ts.field": "timestamp_iso",
  "transforms.ts.target.type": "string",
  "transforms.drop.type": "ReplaceField",
  "transforms.drop.exclude": "engine_on",
  "transforms.drop.renames": "timestamp_iso:sk",
  "errors.tolerance": "all",
  "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false",
  "consumer.override.session.timeout.ms": "6000",
  "consumer.override.heartbeat.interval.ms": "500"${extra:+,
  $extra}
}}
JSON
}

# The example connector's records, in jq: one per measurement, parent fields minus the array,
# element fields merged in, engine_on dropped, timestamp_iso -> sk in UTC with milliseconds.
ddb_records_jq='
def utc_ms:
  capture("^(?<b>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?<f>\\.[0-9]+)?(?<o>Z|[+-][0-9]{2}:[0-9]{2})$") as $m
  | (($m.b + "Z") | fromdateiso8601)
    - (if $m.o == "Z" then 0
       else ((if $m.o[0:1] == "-" then -1 else 1 end)
             * (($m.o[1:3] | tonumber) * 3600 + ($m.o[4:6] | tonumber) * 60)) end)
  | strftime("%Y-%m-%dT%H:%M:%S") + "." + ((($m.f // ".") [1:] + "000")[0:3]) + "Z";
. as $p | .measurements[] | ($p | del(.measurements)) + .
  | del(.engine_on) | .sk = (.timestamp_iso | utc_ms) | del(.timestamp_iso)
  | .pk = "\(.id)#\(.object)#\(.type)"'

# ddb_plain: DynamoDB JSON items (one per line) -> plain JSON, numbers as numbers, keys sorted.
ddb_plain_jq='def plain: if type != "object" then .
  elif has("S") then .S elif has("N") then (.N | tonumber) elif has("BOOL") then .BOOL
  elif has("NULL") then null elif has("M") then (.M | map_values(plain))
  elif has("L") then (.L | map(plain)) else error("unknown type") end;
map_values(plain)'

# ddb_dump ENDPOINT FILE: every item of table fms, plain, sorted.
ddb_dump() {
  "$FP" dynamodb scan --table fms --endpoint "$1" >"$2.raw" || fail "dynamodb scan failed"
  jq -c -S "$ddb_plain_jq" <"$2.raw" | sort >"$2"
}

# ddb_expected GOOD_JSONL FILE: the table the good input must leave: last record per (pk, sk) in
# input order (Kafka order per device, and a pk belongs to one device), plain, sorted.
ddb_expected() {
  jq -c "$ddb_records_jq" <"$1" >"$2.records"
  jq -c -s -S 'reduce .[] as $r ({}; .[$r.pk + "\u0000" + $r.sk] = $r) | .[]' <"$2.records" | sort >"$2"
}
