// sse-latency.mjs — N clients on the Fleet API's /api/v1/stream; each event's latency is the time
// it arrives minus its Redis stream id's milliseconds (Redis' clock when the change was
// appended; same machine). Runs until `seconds` pass, then prints one JSON line with p50, p99,
// max, the events received per client and clients that missed any.
//   node sse-latency.mjs URL CLIENTS SECONDS EXPECTED_EVENTS
const [url, nclients, seconds, expected] = process.argv.slice(2);
const lat = [];
const counts = [];
async function client(i) {
  counts[i] = 0;
  const res = await fetch(url, { signal: AbortSignal.timeout(Number(seconds) * 1000) });
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body) {
      const now = Date.now();
      buf += dec.decode(chunk, { stream: true });
      let k;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, k);
        buf = buf.slice(k + 2);
        const m = /^id: (\d+)-\d+$/m.exec(ev);
        if (!m) continue;
        lat.push(now - Number(m[1]));
        counts[i]++;
      }
    }
  } catch (e) {
    if (e.name !== 'TimeoutError' && e.name !== 'AbortError') throw e;
  }
}
await Promise.all([...Array(Number(nclients)).keys()].map(client));
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
console.log(JSON.stringify({ clients: Number(nclients), events: lat.length, p50_ms: q(50), p99_ms: q(99),
  max_ms: lat[lat.length - 1], min_per_client: Math.min(...counts), missed: counts.filter((c) => c < Number(expected)).length }));
