#!/usr/bin/env node
// aws-proxy.js — a test-only HTTP proxy in front of s3rver or dynalite that does what those
// servers do not: it verifies every request's SigV4 signature with an independent signer (the
// npm package aws4), checks Content-MD5 and X-Amz-Content-Sha256 against the body, answers
// AbortMultipartUpload (s3rver has none) and a repeated CompleteMultipartUpload as S3 does
// (404 NoSuchUpload), and injects faults real AWS produces but the local
// servers never do (throttling, UnprocessedItems, dropped connections).
//
//   node aws-proxy.js --target http://127.0.0.1:PORT --service s3|dynamodb [--port 0]
//        [--secret S3RVER] [--log FILE] [--throttle-every N] [--unprocessed-every N]
//        [--reset-every N] [--lose-every N [--lose-match REGEX]] [--deny-part N]
//
// Prints "listening PORT" on stdout when ready. One JSON line per request goes to --log:
// {"method","path","op","signed","status","fault"} (signed: the SignedHeaders list). --deny-part N answers the Nth UploadPart with 403
// AccessDenied, an error no retry can fix. --lose-every N forwards the Nth request and then drops
// the connection instead of answering: the request took effect but the client never heard
// (with --lose-match, N counts only requests whose "METHOD path" matches the regex). A signature that does not verify is answered 403
// SignatureDoesNotMatch and never forwarded.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const aws4 = require('aws4');

const args = { port: '0', secret: 'S3RVER' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.target || !args.service) {
  console.error('usage: aws-proxy.js --target URL --service s3|dynamodb [options]');
  process.exit(2);
}
const target = new URL(args.target);
const every = (name) => parseInt(args[name] || '0', 10);
const log = args.log ? fs.openSync(args.log, 'a') : null;
let n = 0;
let parts = 0;
let matched = 0;
const completed = new Set(); // multipart uploads s3rver completed

function record(o) {
  if (log !== null) fs.writeSync(log, JSON.stringify(o) + '\n');
}

function reply(res, status, code, message, entry) {
  entry.status = status;
  record(entry);
  if (args.service === 'dynamodb') {
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#' + code, message }));
  } else {
    res.writeHead(status, { 'Content-Type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  }
}

// Recomputes the signature of the request as received; returns an error text or null.
function verify(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'malformed Authorization header';
  const [, accessKeyId, , region, service, signedNames, signature] = m;
  if (service !== args.service) return `signed for service ${service}`;
  const headers = {};
  const include = {};
  for (const name of signedNames.split(';')) {
    if (req.headers[name] === undefined) return `signed header ${name} not sent`;
    headers[name] = req.headers[name];
    include[name] = true;
  }
  if (!headers.host) return 'Host not signed';
  const signer = new aws4.RequestSigner({
    method: req.method, path: req.url, headers, body, service, region,
    host: headers.host, doNotModifyHeaders: true, extraHeadersToInclude: include,
  }, { accessKeyId, secretAccessKey: args.secret });
  // aws4 takes the signing time from X-Amz-Date only when it may modify headers; otherwise it
  // signs with the proxy's clock, and a request that crosses a second boundary in flight fails.
  signer.datetime = headers['x-amz-date'];
  if (!signer.datetime) return 'X-Amz-Date not signed';
  if (signer.signature() !== signature) {
    record({ mismatch: req.url, canonical: signer.canonicalString() });
    return 'signature does not match';
  }
  return null;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const i = ++n;
    const entry = { method: req.method, path: req.url, op: (req.headers['x-amz-target'] || '').replace(/^.*\./, '') };
    const bad = verify(req, body);
    entry.signed = (/SignedHeaders=([^,]+)/.exec(req.headers.authorization || '') || [])[1];
    if (bad) return reply(res, 403, 'SignatureDoesNotMatch', bad, entry);
    const md5 = req.headers['content-md5'];
    if (md5 !== undefined && md5 !== crypto.createHash('md5').update(body).digest('base64'))
      return reply(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.', entry);
    const sha = req.headers['x-amz-content-sha256'];
    if (sha && sha !== 'UNSIGNED-PAYLOAD' && sha !== crypto.createHash('sha256').update(body).digest('hex'))
      return reply(res, 400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.', entry);
    if (args.service === 's3' && req.method === 'PUT' && /[?&]partNumber=/.test(req.url) && md5 === undefined)
      return reply(res, 400, 'InvalidRequest', 'fleetpipe expects Content-MD5 on every part', entry);
    if (args.service === 's3' && req.method === 'PUT' && /[?&]partNumber=/.test(req.url) &&
        ++parts === every('deny-part')) {
      entry.fault = 'deny';
      return reply(res, 403, 'AccessDenied', 'Access Denied', entry);
    }
    if (every('reset-every') && i % every('reset-every') === 0) {
      entry.fault = 'reset';
      record(entry);
      return req.socket.destroy();
    }
    if (every('throttle-every') && i % every('throttle-every') === 0) {
      entry.fault = 'throttle';
      return args.service === 'dynamodb'
        ? reply(res, 400, 'ThrottlingException', 'Rate of requests exceeds the allowed throughput.', entry)
        : reply(res, 503, 'SlowDown', 'Please reduce your request rate.', entry);
    }
    const uploadId = (/[?&]uploadId=([^&]+)/.exec(req.url) || [])[1];
    if (args.service === 's3' && req.method === 'POST' && uploadId && completed.has(uploadId))
      // What S3 answers to a Complete repeated after success (s3rver answers 500 forever).
      return reply(res, 404, 'NoSuchUpload', 'The specified upload does not exist.', entry);
    if (args.service === 's3' && req.method === 'DELETE' && /[?&]uploadId=/.test(req.url)) {
      entry.op = 'AbortMultipartUpload';
      entry.status = 204;
      record(entry);
      res.writeHead(204);
      return res.end();
    }
    let forward = body;
    let unprocessed = null;
    if (entry.op === 'BatchWriteItem' && every('unprocessed-every') && i % every('unprocessed-every') === 0) {
      // Keep the first half of each table's requests, hand the rest back as unprocessed.
      const q = JSON.parse(body.toString('utf8'));
      unprocessed = {};
      for (const t of Object.keys(q.RequestItems)) {
        const items = q.RequestItems[t];
        const keep = Math.floor(items.length / 2);
        unprocessed[t] = items.slice(keep);
        q.RequestItems[t] = items.slice(0, keep);
        if (!keep) delete q.RequestItems[t];
      }
      if (!Object.keys(q.RequestItems).length) {
        entry.fault = 'unprocessed';
        entry.status = 200;
        record(entry);
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0' });
        return res.end(JSON.stringify({ UnprocessedItems: unprocessed }));
      }
      forward = Buffer.from(JSON.stringify(q));
      entry.fault = 'unprocessed';
    }
    const headers = Object.assign({}, req.headers, { host: target.host, 'content-length': forward.length });
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (ur) => {
      const out = [];
      ur.on('data', (c) => out.push(c));
      ur.on('end', () => {
        let data = Buffer.concat(out);
        if (unprocessed && ur.statusCode === 200) {
          const r = JSON.parse(data.toString('utf8'));
          r.UnprocessedItems = Object.assign(r.UnprocessedItems || {}, unprocessed);
          data = Buffer.from(JSON.stringify(r));
        }
        entry.status = ur.statusCode;
        if (req.method === 'POST' && uploadId && ur.statusCode === 200) completed.add(uploadId);
        const lose = every('lose-every') &&
          (!args['lose-match'] || new RegExp(args['lose-match']).test(req.method + ' ' + req.url)) &&
          ++matched % every('lose-every') === 0;
        if (lose) {
          entry.fault = 'lost';
          record(entry);
          return req.socket.destroy();
        }
        record(entry);
        const h = Object.assign({}, ur.headers);
        if (req.method !== 'HEAD') h['content-length'] = data.length; // HEAD: the object's size
        delete h['transfer-encoding'];
        res.writeHead(ur.statusCode, h);
        res.end(data);
      });
    });
    up.on('error', (e) => reply(res, 502, 'InternalError', 'proxy: ' + e.message, entry));
    up.end(forward);
  });
});
server.keepAliveTimeout = 60000;
server.listen(parseInt(args.port, 10), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
