// apicheck.mjs — the Fleet API's answers against its own OpenAPI document, with validators that
// are not fleetpipe's: @seriousme/openapi-schema-validator proves the document is valid OpenAPI
// 3.0, then Ajv checks every saved answer against the schema of its operation and status.
//
//   node apicheck.mjs DOC.json [ANSWERS_DIR]
//
// ANSWERS_DIR holds `<operationId>.<n>.json` (an answer of the operation's 2xx response) or
// `<operationId>.<status>.<n>.json`. Prints one JSON line {"document": "valid", "answers": N,
// "operations": [...]} and exits 0; any problem is printed and exits 1.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const [docPath, dir] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, 'utf8'));
const v = new Validator();
const res = await v.validate(doc);
if (!res.valid) {
  console.error('the OpenAPI document is not valid:', JSON.stringify(res.errors, null, 1));
  process.exit(1);
}

// every operation's responses, by operationId
const ops = {};
for (const [path, item] of Object.entries(doc.paths))
  for (const [method, op] of Object.entries(item))
    if (op.operationId) ops[op.operationId] = { path, method, responses: op.responses };

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ components: doc.components }, 'doc');
// OpenAPI 3.0's nullable, as Ajv reads it, and the document's $refs resolved against it
const fix = (s) => JSON.parse(JSON.stringify(s).replaceAll('"#/components/', '"doc#/components/'));
const resolve = (r) => (r && r.$ref ? resolve(r.$ref.split('/').slice(1).reduce((o, k) => o[k], doc)) : r);

let answers = 0;
const seen = new Set();
const bad = [];
for (const f of dir ? readdirSync(dir).filter((x) => x.endsWith('.json')).sort() : []) {
  const parts = f.replace(/\.json$/, '').split('.');
  const op = ops[parts[0]];
  if (!op) {
    bad.push(`${f}: no operation ${parts[0]} in the document`);
    continue;
  }
  const status = parts.length === 3 ? parts[1] : Object.keys(op.responses).find((s) => s.startsWith('2'));
  const resp = resolve(op.responses[status]);
  const schema = resp?.content?.['application/json']?.schema;
  if (!schema) {
    bad.push(`${f}: ${parts[0]} documents no JSON answer for ${status}`);
    continue;
  }
  const body = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const check = ajv.compile(fix(schema));
  if (!check(body)) bad.push(`${f}: ${ajv.errorsText(check.errors)}`);
  answers++;
  seen.add(parts[0]);
}
if (bad.length) {
  console.error(bad.join('\n'));
  process.exit(1);
}
console.log(JSON.stringify({ document: 'valid', answers, operations: [...seen].sort() }));
