// entropy.mjs — rewrites simulated vehicle/kinematic lines (stdin -> stdout) into high-entropy
// samples: random speeds, positions and headings (the same keys and shapes), so the lake
// benchmark also measures files whose values do not repeat. Deterministic (seeded).
//   node entropy.mjs [device|full] <in.jsonl >out.jsonl
// device: rounded as devices send them (6 decimals for positions, 2 for speed, whole degrees);
// full: every bit of the double random (the hardest case for any encoding).
import { createInterface } from 'node:readline';

let s = 0x2545f491;
const rand = () => {
  s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
  return s / 4294967296;
};
const full = process.argv[2] === 'full';
const round = (x, d) => (full ? x : Math.round(x * d) / d);
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (!line) continue;
  const m = JSON.parse(line);
  for (const x of m.measurements ?? []) {
    x.lat = round(33 + rand() * 5, 1e6);
    x.lng = round(125 + rand() * 5, 1e6);
    x.speed = round(rand() * 120, 100);
    x.heading = full ? rand() * 360 : Math.floor(rand() * 360);
  }
  out.push(JSON.stringify(m));
  if (out.length >= 1000) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
