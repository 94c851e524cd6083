#!/usr/bin/env node
// slack-receiver.js — a test-only webhook receiver that answers as Slack's incoming webhooks do
// (200 "ok"; 400 "invalid_payload"; 404 "channel_not_found" or, for an unknown URL,
// "no_service"; 429 "rate_limited" with Retry-After; 500 "rollup_error"), and records every
// request so a test asserts from the record, never from the client's logs. Plain Node, no npm
// packages.
//
//   node slack-receiver.js --paths /services/T0/B0/SECRET,/hooks/generic [--port 0]
//        [--control-port 0]
//
// Prints "listening PORT CONTROL_PORT" on stdout when ready. The control port (never the
// webhook port, which "down" closes):
//   POST /_mode {"mode": "ok|invalid_payload|channel_not_found|429|500|down",
//                "count": N, "retry_after": SECONDS}
//        the next N requests (default: all until the next /_mode) get that answer, then "ok"
//        again; "down" closes the webhook port at once (connection refused) and any other mode
//        opens it again on the same port. count does not apply to "down".
//   GET /_requests  every request so far: [{"n","at","path","content_type","body","json",
//        "valid","status","answer"}] (json: the parsed body or null; valid: the body is a
//        Slack payload within Slack's block limits — for /services/ paths — or a JSON object)
//   POST /_reset    forgets the record, mode back to ok
// A Slack path ("/services/...") in "ok" mode still answers 400 invalid_payload when the body
// is not a valid payload, as Slack does: the test of a sender is also a test of its payload.
'use strict';
const http = require('http');

const args = { port: '0', 'control-port': '0', paths: '' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const paths = new Set(args.paths.split(',').filter(Boolean));
if (!paths.size) {
  console.error('usage: slack-receiver.js --paths P1[,P2] [--port 0] [--control-port 0]');
  process.exit(2);
}

let mode = 'ok';
let count = -1; // requests left in mode; -1: until changed
let retryAfter = 1;
let requests = [];
let port = parseInt(args.port, 10);

// Slack's payload rules that matter here: "text" or "blocks"; blocks within Block Kit's limits.
function slackValid(j) {
  if (!j || typeof j !== 'object' || Array.isArray(j)) return false;
  if (typeof j.text !== 'string' && !Array.isArray(j.blocks)) return false;
  if (j.text !== undefined && (typeof j.text !== 'string' || j.text.length === 0)) return false;
  if (j.blocks === undefined) return true;
  if (!Array.isArray(j.blocks) || j.blocks.length > 50) return false;
  const textOk = (t, max, types) =>
    t && typeof t === 'object' && types.includes(t.type) && typeof t.text === 'string' &&
    t.text.length > 0 && [...t.text].length <= max;
  for (const b of j.blocks) {
    if (!b || typeof b !== 'object') return false;
    if (b.type === 'header') {
      if (!textOk(b.text, 150, ['plain_text'])) return false;
    } else if (b.type === 'section') {
      if (b.text === undefined && b.fields === undefined) return false;
      if (b.text !== undefined && !textOk(b.text, 3000, ['plain_text', 'mrkdwn'])) return false;
      if (b.fields !== undefined) {
        if (!Array.isArray(b.fields) || b.fields.length > 10) return false;
        for (const f of b.fields) if (!textOk(f, 2000, ['plain_text', 'mrkdwn'])) return false;
      }
    } else if (b.type === 'context') {
      if (!Array.isArray(b.elements) || !b.elements.length || b.elements.length > 10) return false;
      for (const e of b.elements) if (!textOk(e, 3000, ['plain_text', 'mrkdwn'])) return false;
    } else if (b.type !== 'divider') {
      return false;
    }
  }
  return true;
}

function answerFor(path, valid) {
  let m = mode;
  if (m !== 'ok' && count === 0) m = 'ok';
  if (m !== 'ok' && count > 0) count--;
  if (!paths.has(path)) return [404, 'no_service', {}];
  switch (m) {
    case 'invalid_payload':
      return [400, 'invalid_payload', {}];
    case 'channel_not_found':
      return [404, 'channel_not_found', {}];
    case '429':
      return [429, 'rate_limited', { 'Retry-After': String(retryAfter) }];
    case '500':
      return [500, 'rollup_error', {}];
    default:
      return valid ? [200, 'ok', {}] : [400, 'invalid_payload', {}];
  }
}

const sockets = new Set();
const hook = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let j = null;
    try {
      j = JSON.parse(body);
    } catch (e) {
      j = null;
    }
    const slack = req.url.startsWith('/services/');
    const valid = req.method === 'POST' && (slack ? slackValid(j) : !!j && typeof j === 'object' && !Array.isArray(j));
    const [status, answer, headers] = answerFor(req.url, valid);
    requests.push({
      n: requests.length + 1,
      at: Date.now(),
      method: req.method,
      path: req.url,
      content_type: req.headers['content-type'] || null,
      body,
      json: j,
      valid,
      status,
      answer,
    });
    res.writeHead(status, Object.assign({ 'Content-Type': 'text/html' }, headers));
    res.end(answer);
  });
});
hook.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

function openHook(cb) {
  if (hook.listening) return cb();
  hook.listen(port, '127.0.0.1', () => {
    port = hook.address().port;
    cb();
  });
}
function closeHook(cb) {
  if (!hook.listening) return cb();
  hook.close(() => cb());
  for (const s of sockets) s.destroy();
}

const control = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const reply = (status, o) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    if (req.method === 'GET' && req.url === '/_requests') return reply(200, requests);
    if (req.method === 'POST' && req.url === '/_reset') {
      requests = [];
      mode = 'ok';
      count = -1;
      return openHook(() => reply(200, { mode }));
    }
    if (req.method === 'POST' && req.url === '/_mode') {
      let o;
      try {
        o = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        return reply(400, { error: 'body: expected JSON' });
      }
      const modes = ['ok', 'invalid_payload', 'channel_not_found', '429', '500', 'down'];
      if (!modes.includes(o.mode)) return reply(400, { error: 'mode: one of ' + modes.join('|') });
      mode = o.mode;
      count = Number.isInteger(o.count) ? o.count : -1;
      retryAfter = Number.isInteger(o.retry_after) ? o.retry_after : 1;
      if (mode === 'down') return closeHook(() => reply(200, { mode }));
      return openHook(() => reply(200, { mode, count, port }));
    }
    reply(404, { error: 'unknown control path' });
  });
});

openHook(() => {
  control.listen(parseInt(args['control-port'], 10), '127.0.0.1', () => {
    console.log('listening ' + port + ' ' + control.address().port);
  });
});
