// heapdiff.mjs — what grew between two V8 heap snapshots (.heapsnapshot, as bench/web.sh writes
// with HEAP_SNAPSHOTS=DIR): self size and count per node kind (objects and closures by their
// constructor name, strings by their representation), the largest growth first. For sliced
// strings (substrings that keep their parent string alive) it also sums the parents they hold.
//   node bench/heapdiff.mjs start.heapsnapshot end.heapsnapshot [rows]
import { readFileSync } from 'node:fs';

function summarise(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const m = s.snapshot.meta, nf = m.node_fields.length, ef = m.edge_fields.length;
  const types = m.node_types[0], etypes = m.edge_types[0];
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => m.node_fields.indexOf(f));
  const [eType, eTo] = ['type', 'to_node'].map((f) => m.edge_fields.indexOf(f));
  const nodes = s.nodes, edges = s.edges, strings = s.strings;
  const by = new Map();
  let slicedParents = 0, slicedN = 0;
  const parentSeen = new Set();
  for (let i = 0, e = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + iType]];
    const name = strings[nodes[i + iName]];
    const key = ['object', 'closure', 'native', 'array'].includes(type) ? `${type} ${name.slice(0, 60)}` : type;
    const a = by.get(key) || { n: 0, size: 0 };
    a.n++;
    a.size += nodes[i + iSize];
    by.set(key, a);
    const ne = nodes[i + iEdges];
    if (type === 'sliced string') {
      slicedN++;
      for (let k = 0; k < ne; k++) {
        const ed = e + k * ef;
        if (etypes[edges[ed + eType]] === 'internal' && strings[edges[ed + 1]] === 'parent') {
          const to = edges[ed + eTo];
          if (!parentSeen.has(to)) {
            parentSeen.add(to);
            slicedParents += nodes[to + iSize];
          }
        }
      }
    }
    e += ne * ef;
  }
  let total = 0;
  for (const a of by.values()) total += a.size;
  return { by, total, slicedN, slicedParents, parents: parentSeen.size };
}

const [a, b, rows = 15] = process.argv.slice(2);
const A = summarise(a), B = summarise(b);
const mb = (x) => (x / 2 ** 20).toFixed(2);
console.log(`heap: ${mb(A.total)} MB -> ${mb(B.total)} MB (${B.total >= A.total ? '+' : ''}${mb(B.total - A.total)} MB)`);
console.log(`sliced strings: ${A.slicedN} -> ${B.slicedN}, holding ${A.parents} -> ${B.parents} parent strings of ${mb(A.slicedParents)} -> ${mb(B.slicedParents)} MB`);
const keys = new Set([...A.by.keys(), ...B.by.keys()]);
const d = [...keys].map((k) => {
  const x = A.by.get(k) || { n: 0, size: 0 }, y = B.by.get(k) || { n: 0, size: 0 };
  return { k, dn: y.n - x.n, ds: y.size - x.size, n: y.n, size: y.size };
}).sort((p, q) => q.ds - p.ds).slice(0, Number(rows));
for (const r of d) console.log(`${(r.ds >= 0 ? '+' : '') + mb(r.ds)} MB\t${r.dn >= 0 ? '+' : ''}${r.dn}\t(${mb(r.size)} MB, ${r.n})\t${r.k}`);
