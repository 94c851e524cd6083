#!/usr/bin/env node
// dynamodb-ceiling.js — the "store's own ceiling" for bench/dynamodb.sh: how fast the local
// DynamoDB (dynalite) takes the very BatchWriteItem bodies fleetpipe sends, from a minimal client.
//
//   node dynamodb-ceiling.js capture --target http://127.0.0.1:PORT --out FILE
//       a pass-through proxy that appends every BatchWriteItem body (one line each) to FILE;
//       prints "listening PORT" when ready.
//   node dynamodb-ceiling.js replay --endpoint http://127.0.0.1:PORT --bodies FILE
//       --from TABLE --to TABLE [--concurrency N]
//       sends the captured bodies (table name FROM replaced by TO, same length) with N requests
//       in flight over keep-alive connections, each signed with SigV4 beforehand (aws4,
//       credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region AWS_REGION), and prints
//       "items N requests R seconds S". Fails on any non-200 answer or UnprocessedItems.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const aws4 = require(path.join(__dirname, '..', 'tests', 'servers', 'node_modules', 'aws4'));

const mode = process.argv[2];
const args = {};
for (let i = 3; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

if (mode === 'capture') {
  const target = new URL(args.target);
  const out = fs.openSync(args.out, 'a');
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (/BatchWriteItem$/.test(req.headers['x-amz-target'] || '')) fs.writeSync(out, body.toString('utf8') + '\n');
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(body);
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
} else if (mode === 'replay') {
  const ep = new URL(args.endpoint);
  const from = JSON.stringify(args.from), to = JSON.stringify(args.to);
  if (from.length !== to.length) throw new Error('--from and --to must have the same length');
  const bodies = fs.readFileSync(args.bodies, 'utf8').split('\n').filter((l) => l)
    .map((l) => Buffer.from(l.replace(from, to), 'utf8'));
  let items = 0;
  for (const b of bodies) items += (b.toString('utf8').match(/"PutRequest"/g) || []).length;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const creds = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
  const region = process.env.AWS_REGION || 'us-east-1';
  // Signed before the clock starts, so the figure is the server's, not the client's CPU
  // (the signatures stay valid for 15 minutes).
  const signed = bodies.map((body) => aws4.sign({
    host: ep.host, path: '/', method: 'POST', service: 'dynamodb', region, body,
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.BatchWriteItem' },
  }, creds).headers);
  function send(i) {
    const body = bodies[i];
    return new Promise((resolve, reject) => {
      const req = http.request({ host: ep.hostname, port: ep.port, method: 'POST', path: '/', headers: signed[i], agent }, (res) => {
        const out = [];
        res.on('data', (c) => out.push(c));
        res.on('end', () => {
          const txt = Buffer.concat(out).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${txt.slice(0, 300)}`));
          const un = JSON.parse(txt).UnprocessedItems || {};
          if (Object.keys(un).length) return reject(new Error('UnprocessedItems from a local server'));
          resolve();
        });
      });
      req.on('error', reject);
      req.setNoDelay(true);
      req.end(body);
    });
  }
  const n = parseInt(args.concurrency || '1', 10);
  let next = 0;
  async function worker() {
    while (next < bodies.length) await send(next++);
  }
  const t0 = process.hrtime.bigint();
  Promise.all(Array.from({ length: n }, worker)).then(() => {
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`items ${items} requests ${bodies.length} seconds ${s.toFixed(3)}`);
    agent.destroy();
  }, (e) => { console.error('replay: ' + e.message); process.exit(1); });
} else {
  console.error('usage: dynamodb-ceiling.js capture|replay ...');
  process.exit(2);
}
