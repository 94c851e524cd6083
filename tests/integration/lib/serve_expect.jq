# serve_expect.jq — what GET /api/v1/vehicles must say, from the simulator's messages alone.
# Input (-n, --slurpfile): $v = redis_expect.jq's {"<id>": {"<field>": {v, ts}}} over the vehicle
# messages and the cargo messages renamed to "<field>.z<zone>" (as redis.field.suffix does).
# Output: {"<id>": {status, ts, fields: {name: {v, ts}}, cargo: {"<zone>": {name: {v, ts}}}}}
# with the status rule of docs/serve.md: offline (no sample for 10 min before the newest sample
# of the fleet), alarm (battery_voltage < 11.5, or a zone's |temperature - setpoint| > 2), moving
# (speed >= 1), idle (engine_on or ignition true), parked.
($v[0]) as $all
| ([$all[] | .[] | .ts] | max) as $now
| $all | with_entries(
    .value as $f
    | ([$f[] | .ts] | max) as $ts
    | ([$f | to_entries[] | select(.key | test("\\.z[0-9]+$")) | (.key | capture("^(?<n>.*)\\.z(?<z>[0-9]+)$")) as $c
        | {zone: $c.z, name: $c.n, val: .value}]
       | group_by(.zone) | map({key: .[0].zone, value: (map({key: .name, value: .val}) | from_entries)})
       | from_entries) as $cargo
    | ([$cargo[] | select(.temperature and .setpoint)
        | select(((.temperature.v - .setpoint.v) | fabs) > 2)] | length) as $exc
    | (if $now - $ts > 600000 then "offline"
       elif (($f.battery_voltage.v // 99) < 11.5) or $exc > 0 then "alarm"
       elif ($f.speed.v // 0) >= 1 then "moving"
       elif $f.engine_on.v == true or $f.ignition.v == true then "idle"
       else "parked" end) as $status
    | .value = {status: $status, ts: $ts,
                fields: ($f | with_entries(select(.key | test("\\.z[0-9]+$") | not))),
                cargo: $cargo})
