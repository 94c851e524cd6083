# xadd.awk — N synthetic changes for the Fleet API's stream tests, as the redis sink writes them
# (XADD <stream> * d {"id":..,"ts":..,"fields":{..}}), in Redis' wire protocol for
# `redis-cli --pipe`. Vehicle v = i % vehicles + 1, speed = i (so a client can check order),
# and a pad of `pad` bytes to make each event big.
#   awk -v n=1000 -v vehicles=50 -v pad=100 -v start=1 -v key=fleet:stream -f xadd.awk
function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
BEGIN {
  p = sprintf("%" pad "s", ""); gsub(/ /, "x", p)
  for (i = start; i < start + n; i++) {
    d = sprintf("{\"id\":%d,\"ts\":%.0f,\"fields\":{\"speed\":%d,\"pad\":\"%s\"}}",
                i % vehicles + 1, 1767571200000 + i * 1000, i, p)
    printf "*5\r\n"; bulk("XADD"); bulk(key); bulk("*"); bulk("d"); bulk(d)
  }
}
