// rawsplit.mjs — lays simulator output (JSON lines) out as the raw-lake connector would: per
// Kafka topic fms.<object>, partition id % PARTS, one object per (topic, partition, UTC hour
// of messaged_at), named raw/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<p>+<start offset, 20
// digits>.jsonl, offsets counting the messages of each (topic, partition) in arrival order.
//
//   node rawsplit.mjs SIM.jsonl OUTDIR [PARTS] [HOLD_ID HOLD_HOUR LATEDIR]
//
// With HOLD_ID and HOLD_HOUR (UTC, "2026-03-02T03"), that vehicle's messages of that hour are
// held back, as from a device that was offline: they arrive after everything else, so they get
// the source's next offsets and become one late object of their old hour, written under LATEDIR
// (same layout) for the test to add later. Prints {"objects", "messages", "held"} as JSON.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const [simFile, outDir, partsArg, holdId, holdHour, lateDir] = process.argv.slice(2);
const parts = Number(partsArg || 2);
const objects = new Map(); // name -> lines
const offsets = new Map(); // topic+p -> next offset
const current = new Map(); // topic+p -> {hour, name}
const held = [];
let messages = 0;

function utcHour(iso) {
  return new Date(iso).toISOString().slice(0, 13); // 2026-03-02T03
}

function place(line, msg, dir) {
  const topic = `fms.${msg.object}`;
  const src = `${topic}+${msg.id % parts}`;
  const hour = utcHour(msg.messaged_at);
  const off = offsets.get(src) ?? 0;
  offsets.set(src, off + 1);
  let cur = current.get(src);
  if (!cur || cur.hour !== hour || cur.dir !== dir) {
    const name = path.join(dir, 'raw', topic, `dt=${hour.slice(0, 10)}`, `hour=${hour.slice(11, 13)}`,
      `${src}+${String(off).padStart(20, '0')}.jsonl`);
    cur = { hour, name, dir };
    current.set(src, cur);
    objects.set(name, []);
  }
  objects.get(cur.name).push(line);
}

const rl = readline.createInterface({ input: fs.createReadStream(simFile), crlfDelay: Infinity });
for await (const line of rl) {
  if (!line) continue;
  const msg = JSON.parse(line);
  messages++;
  if (holdId && msg.id === Number(holdId) && utcHour(msg.messaged_at) === holdHour) {
    held.push([line, msg]);
    continue;
  }
  place(line, msg, outDir);
}
for (const src of current.keys()) current.delete(src); // the late ones start an object of their own
for (const [line, msg] of held) place(line, msg, lateDir);
for (const [name, lines] of objects) {
  fs.mkdirSync(path.dirname(name), { recursive: true });
  fs.writeFileSync(name, lines.join('\n') + '\n');
}
console.log(JSON.stringify({ objects: objects.size, messages, held: held.length }));
