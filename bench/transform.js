// The Node.js baseline for bench/transform.sh: the same split + pk + drop as
// bench/transform-connector.json, with JSON.parse/JSON.stringify, one line at a time.
'use strict';
const fs = require('fs');
const [input, output] = process.argv.slice(2);
const data = fs.readFileSync(input, 'utf8');
const out = [];
let n = 0;
for (const line of data.split('\n')) {
  if (!line) continue;
  const msg = JSON.parse(line);
  const parent = Object.assign({}, msg);
  delete parent.measurements;
  for (const m of msg.measurements) {
    const rec = Object.assign({}, parent, m);
    rec.pk = `${rec.id}#${rec.object}#${rec.type}`;
    delete rec.engine_on;
    out.push(JSON.stringify(rec));
    n++;
  }
}
fs.writeFileSync(output, out.join('\n') + '\n');
