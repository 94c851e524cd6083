// rle_hyparquet.mjs — cross-checks src/parquet/rle.c against an independent implementation, the
// RLE/bit-packing hybrid of the hyparquet reader and hyparquet-writer (npm), in both directions:
// our hand-written vectors and our encodings of random data decode the same with hyparquet, and
// hyparquet-writer's encodings decode the same with ours. Not part of ctest (npm packages are
// not build dependencies). Usage, from the repository root after building build/:
//   npm install --prefix /tmp/rlecheck hyparquet@1.31.5 hyparquet-writer@0.17.0
//   cc -std=c11 -Isrc tests/crosscheck/rle_tool.c build/libfpcore.a -o /tmp/rle_tool
//   node tests/crosscheck/rle_hyparquet.mjs /tmp/rlecheck/node_modules /tmp/rle_tool
//
// Only bit widths 0..24 are compared: hyparquet 1.31.5 / hyparquet-writer 0.17.0 unpack and pack
// with JavaScript's 32-bit shifts, so from width 25 on their reader misreads (their own writer's
// output too) and at width 32 their writer emits zeros. Widths 25..32 are covered by the
// hand-written vectors and round trips of test_rle.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const [mods, tool] = process.argv.slice(2)
const WIDTH_MAX = 24
const { readRleBitPackedHybrid } = await import(`${mods}/hyparquet/src/encoding.js`)
const { writeRleBitPackedHybrid } = await import(`${mods}/hyparquet-writer/src/encoding.js`)
const { ByteWriter } = await import(`${mods}/hyparquet-writer/src/bytewriter.js`)

function theirDecode(bytes, width, n) {
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 }
  const out = new Array(n).fill(0)
  readRleBitPackedHybrid(reader, width, out, bytes.length)
  return out.map(x => x >>> 0)
}

function theirEncode(values, width) {
  const w = new ByteWriter()
  writeRleBitPackedHybrid(w, values, width)
  return new Uint8Array(w.getBuffer())
}

function ours(lines) {
  const r = spawnSync(tool, { input: lines.join('\n') + '\n', maxBuffer: 1 << 28 })
  return r.stdout.toString().split('\n').slice(0, lines.length)
}

const hex = b => Buffer.from(b).toString('hex')
const unhex = s => new Uint8Array(Buffer.from(s, 'hex'))
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

function parseValues(s) {
  if (s === '-') return []
  const out = []
  for (const m of s.matchAll(/\(([\d,]+)\)(?:\*(\d+))?|(\d+)(?:\.\.(\d+))?(?:\*(\d+))?/g)) {
    let group
    if (m[1]) group = m[1].split(',').map(Number)
    else if (m[4]) group = Array.from({ length: +m[4] - +m[3] + 1 }, (_, i) => +m[3] + i)
    else group = [+m[3]]
    const rep = +(m[2] ?? m[5] ?? 1)
    for (let r = 0; r < rep; r++) out.push(...group)
  }
  return out
}

let fails = 0, checked = 0
const fail = msg => { fails++; if (fails < 20) console.log('DIFF', msg) }

// 1. The hand-written vectors decode the same with hyparquet.
for (const line of readFileSync('tests/data/rle/cases.txt', 'utf8').split('\n')) {
  const m = line.match(/^(enc|len|dict) (\d+) (\S+) => (.*)$/)
  if (!m) continue
  const w = +m[2], vals = parseValues(m[3])
  if (w > WIDTH_MAX) continue
  let bytes = unhex(m[4].split(' ').filter(t => t !== '-')
    .map(t => { const [b, r] = t.split('*'); return b.repeat(r ? +r : 1) }).join(''))
  if (m[1] === 'len') bytes = bytes.subarray(4)
  if (m[1] === 'dict') bytes = bytes.subarray(1)
  const got = theirDecode(bytes, w, vals.length)
  if (!same(got, vals)) fail(`vector ${line}: hyparquet reads ${got.slice(0, 20)}`)
  checked++
}
console.log(`vectors decoded by hyparquet: ${checked}`)

// 2. Random runs at every width: ours -> theirs and theirs -> ours.
let seed = 12345
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296
const cases = []
for (let w = 0; w <= WIDTH_MAX; w++) {
  for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 64, 100, 1000, 5000]) {
    for (let rep = 0; rep < 4; rep++) {
      const mask = w === 32 ? 0xffffffff : (2 ** w) - 1
      const v = []
      while (v.length < n) {
        const x = Math.floor(rnd() * (mask + 1)) >>> 0
        const run = rnd() < 0.3 ? 1 + Math.floor(rnd() * 40) : 1
        for (let k = 0; k < run && v.length < n; k++) v.push(x)
      }
      cases.push({ w, v })
    }
  }
}
const encs = ours(cases.map(c => `enc ${c.w} ${c.v.length} ${c.v.join(' ')}`))
let oursBytes = 0, theirsBytes = 0, identical = 0
const theirEncs = cases.map(c => theirEncode(c.v, c.w))
const decs = ours(cases.map((c, i) => `dec ${c.w} ${c.v.length} ${hex(theirEncs[i])}`))
cases.forEach((c, i) => {
  if (encs[i].startsWith('ERR')) return fail(`ours failed w=${c.w} n=${c.v.length}: ${encs[i]}`)
  const got = theirDecode(unhex(encs[i]), c.w, c.v.length)
  if (!same(got, c.v)) fail(`hyparquet decodes our w=${c.w} n=${c.v.length} differently`)
  const back = decs[i] === '' ? [] : decs[i].split(' ').map(Number)
  if (decs[i].startsWith('ERR') || !same(back, c.v))
    fail(`we decode hyparquet-writer's w=${c.w} n=${c.v.length} differently: ${decs[i].slice(0, 80)}`)
  if (encs[i] === hex(theirEncs[i])) identical++
  else if (process.env.SHOW) console.log(`w=${c.w} n=${c.v.length} ours ${encs[i].slice(0, 40)} theirs ${hex(theirEncs[i]).slice(0, 40)}`)
  oursBytes += encs[i].length / 2
  theirsBytes += theirEncs[i].length
})
console.log(`random cases: ${cases.length} both ways (widths 0..${WIDTH_MAX}); ` +
  `encoded size ours ${oursBytes} B, hyparquet-writer ${theirsBytes} B, byte-identical ${identical}`)
console.log(fails ? `${fails} disagreements` : 'no disagreements')
process.exit(fails ? 1 : 0)
