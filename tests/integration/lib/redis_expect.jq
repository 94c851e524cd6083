# redis_expect.jq — the Redis sink's expected state, computed from the simulator's messages
# without fleetpipe: split `measurements`, then per vehicle and field keep the value of the
# newest sample (of two with an equal time, the greater value as the sink stores it, compared byte
# by byte: strings as they are, everything else as its JSON text). Run as
#   jq -n -c -f redis_expect.jq MESSAGES.jsonl
# Output: {"<id>": {"<field>": {"v": value, "ts": ms}, ...}, ...}

# epoch ms of ISO-8601 text with an offset (or Z), or of a number (already epoch ms)
def epoch_ms:
  if type == "number" then .
  else
    capture("^(?<d>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?<t>[0-9]{2}:[0-9]{2}:[0-9]{2})(?<f>\\.[0-9]+)?(?<z>Z|[+-][0-9]{2}:?[0-9]{2})$") as $c
    | (($c.d + "T" + $c.t + "Z") | fromdateiso8601) as $s
    | (if $c.z == "Z" then 0
       else ($c.z | gsub(":"; "")) as $z
         | (($z[1:3] | tonumber) * 3600 + ($z[3:5] | tonumber) * 60)
           * (if $z[0:1] == "-" then -1 else 1 end) end) as $off
    | (if $c.f then (($c.f[1:] + "000")[0:3] | tonumber) else 0 end) as $frac
    | ($s - $off) * 1000 + $frac
  end;

reduce (inputs | . as $msg | $msg.measurements[] | ($msg | del(.measurements)) + .) as $r ({};
  ($r.id | tostring) as $id
  | ($r.timestamp_iso | epoch_ms) as $ts
  | reduce ($r | to_entries[] | select(.key != "id" and .key != "timestamp_iso" and .value != null)) as $f (.;
      def text: if type == "string" then . else tojson end;
      (.[$id][$f.key]) as $old
      | if ($old.ts // -1e18) < $ts
           or (($old.ts // -1e18) == $ts and (($f.value | text) | explode) >= (($old.v | text) | explode))
        then .[$id][$f.key] = {v: $f.value, ts: $ts} else . end))
