# redis_compare.jq — differences between the expected state (redis_expect.jq, as $exp) and the
# hashes read back from Redis (input: {"<id>": {"<field>": "<text>", ...}}). Prints one line per
# difference; nothing when they agree. Values compare by type: numbers numerically (Redis
# holds the JSON text), strings exactly, booleans as true/false, objects and arrays as JSON.
def same($want; $got):
  if $got == null then false
  elif ($want | type) == "string" then $got == $want
  elif ($want | type) == "number" then ($got | tonumber? // null) == $want
  elif ($want | type) == "boolean" then $got == ($want | tostring)
  else ($got | fromjson? // null) == $want end;

. as $act
| (($exp | keys) - ($act | keys) | .[] | "vehicle \(.) missing in Redis"),
  (($act | keys) - ($exp | keys) | .[] | "vehicle \(.) in Redis but not expected"),
  ($exp | to_entries[] | .key as $id | .value as $fields | select($act[$id]) | $act[$id] as $h
   | (($fields | to_entries[]
       | select(same(.value.v; $h[.key]) | not)
       | "vehicle \($id) field \(.key): want \(.value.v | tojson), got \($h[.key] | tojson)"),
      ($fields | to_entries[]
       | select($h[.key + ":ts"] != (.value.ts | tostring))
       | "vehicle \($id) field \(.key):ts: want \(.value.ts), got \($h[.key + ":ts"])"),
      (([$fields[].ts] | max | tostring) as $t
       | select($h.ts != $t) | "vehicle \($id) ts: want \($t), got \($h.ts)"),
      (($h | keys) - ([$fields | keys[] | ., . + ":ts"] + ["ts"]) | .[]
       | "vehicle \($id): unexpected hash field \(.)")))
