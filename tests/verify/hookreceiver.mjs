// hookreceiver.mjs — a webhook receiver for tests/integration/serve_webhooks.sh, written with
// Node's own http and crypto only (no fleetpipe code): it verifies every delivery's signature
// independently, records what it got, and can be told to fail.
//
//   node hookreceiver.mjs serve PORT SECRETS.json LOG.jsonl
//       Listens on 127.0.0.1:PORT. POST <any path> is a delivery: one "req" line when it arrives
//       and one "done" line when it is answered go to LOG (webhook id, delivery id, attempt,
//       instance, whether HMAC-SHA256(secret, timestamp "." body) equals the v1 signature, the
//       timestamp's skew, the event ids and types, the gap events, how many requests of that
//       webhook were in flight at once). The secret comes from SECRETS ({webhookId: secret},
//       read per request). GET /control?mode=ok|fail|hang|slow&ms=N sets how it answers:
//       200, 500, never (until the sender gives up), or 200 after N ms.
//   node hookreceiver.mjs check LOG WEBHOOK_ID EXPECTED_IDS
//       One JSON line about the deliveries of WEBHOOK_ID that the receiver accepted (answered
//       2xx, whether or not the sender read the answer): events, distinct, duplicates, missing
//       (ids of EXPECTED_IDS, one stream id a line, never accepted), outOfOrder (a new id that
//       arrived after a larger one), badSignatures, maxInflight, instances, gaps.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const [mode, ...args] = process.argv.slice(2);

const cmp = (a, b) => {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
};

if (mode === 'serve') {
  const [port, secretsPath, logPath] = args;
  const log = fs.openSync(logPath, 'a');
  const write = (o) => fs.writeSync(log, JSON.stringify(o) + '\n');
  let how = { mode: 'ok', ms: 0 };
  const inflight = new Map();
  let seq = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'GET' && url.pathname === '/control') {
      how = { mode: url.searchParams.get('mode') || 'ok', ms: Number(url.searchParams.get('ms') || 0) };
      write({ kind: 'control', t: Date.now(), ...how });
      res.end(JSON.stringify(how));
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const n = ++seq;
      const wid = req.headers['x-fleetpipe-webhook-id'] || '';
      const ts = req.headers['x-fleetpipe-timestamp'] || '';
      const sig = req.headers['x-fleetpipe-signature'] || '';
      let secrets = {};
      try {
        secrets = JSON.parse(fs.readFileSync(secretsPath, 'utf8'));
      } catch {}
      let sigOk = false;
      if (secrets[wid] && sig.startsWith('v1=')) {
        const want = crypto.createHmac('sha256', secrets[wid]).update(`${ts}.`).update(raw).digest();
        const got = Buffer.from(sig.slice(3), 'hex');
        sigOk = got.length === want.length && crypto.timingSafeEqual(got, want);
      }
      let body = null;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {}
      const events = body?.events ?? [];
      const now = inflight.get(wid) ?? 0;
      inflight.set(wid, now + 1);
      let open = true;
      const finish = (status) => {
        if (!open) return;
        open = false;
        inflight.set(wid, inflight.get(wid) - 1);
        write({ kind: 'done', n, webhook: wid, t: Date.now(), status });
      };
      write({
        kind: 'req', n, t: Date.now(), path: url.pathname, webhook: wid,
        delivery: req.headers['x-fleetpipe-delivery-id'], attempt: Number(req.headers['x-fleetpipe-attempt']),
        instance: req.headers['x-fleetpipe-instance'], sigOk, skew: Math.abs(Date.now() / 1000 - Number(ts)),
        bodyWebhook: body?.webhookId, bodyDelivery: body?.deliveryId, bytes: raw.length,
        inflight: now + 1, mode: how.mode,
        ids: events.filter((e) => e.eventType !== 'webhook.gap').map((e) => e.eventId),
        types: [...new Set(events.map((e) => e.eventType))],
        gaps: events.filter((e) => e.eventType === 'webhook.gap').map((e) => e.data),
        vehicles: events.filter((e) => e.eventType === 'vehicle.state_changed').map((e) => e.data?.vehicle_id),
        commands: events.filter((e) => e.eventType === 'command.state_changed').map((e) => [e.data?.command_id, e.data?.status]),
      });
      res.on('close', () => finish(res.writableEnded ? res.statusCode : 'closed'));
      // the receiver's decision, whether or not the sender is still there to read it (a
      // sender killed mid-request leaves a batch the receiver has processed)
      const answer = (code) => {
        write({ kind: 'answered', n, webhook: wid, t: Date.now(), status: code, senderGone: !open });
        if (!open) return;
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(code < 300 ? '{"ok":true}' : '{"error":"told to fail"}');
      };
      if (how.mode === 'fail') answer(500);
      else if (how.mode === 'hang') {} // the sender's timeout ends it
      else if (how.mode === 'slow') setTimeout(() => answer(200), how.ms);
      else answer(200);
    });
  });
  server.keepAliveTimeout = 1000;
  server.listen(Number(port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
} else if (mode === 'check') {
  const [logPath, wid, expectedPath] = args;
  const lines = fs.readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const reqs = new Map();
  let maxInflight = 0, badSignatures = 0, requests = 0, badBodies = 0, maxSkew = 0;
  const accepted = [];
  for (const l of lines) {
    if (l.webhook !== wid) continue;
    if (l.kind === 'req') {
      reqs.set(l.n, l);
      requests++;
      maxInflight = Math.max(maxInflight, l.inflight);
      if (!l.sigOk) badSignatures++;
      if (l.bodyWebhook !== wid || l.bodyDelivery !== l.delivery) badBodies++;
      maxSkew = Math.max(maxSkew, l.skew);
    } else if (l.kind === 'answered' && l.status >= 200 && l.status < 300) accepted.push(reqs.get(l.n));
  }
  const seen = new Set();
  let events = 0, duplicates = 0, outOfOrder = 0, max = null;
  const dupIds = [];
  const gaps = [];
  const instances = new Set();
  for (const r of accepted) {
    instances.add(r.instance);
    gaps.push(...r.gaps);
    for (const id of r.ids) {
      events++;
      if (seen.has(id)) {
        duplicates++;
        dupIds.push(id);
        continue;
      }
      if (max && cmp(id, max) < 0) outOfOrder++;
      seen.add(id);
      if (!max || cmp(id, max) > 0) max = id;
    }
  }
  const expected = expectedPath ? fs.readFileSync(expectedPath, 'utf8').split('\n').filter(Boolean) : [];
  const missing = expected.filter((id) => !seen.has(id));
  const want = new Set(expected);
  const extra = [...seen].filter((id) => !want.has(id)).length;
  console.log(JSON.stringify({
    requests, accepted: accepted.length, events, distinct: seen.size, duplicates, dupIds,
    missing: missing.length, firstMissing: missing.slice(0, 3), extra, outOfOrder, badSignatures,
    badBodies, maxSkew: Math.round(maxSkew), maxInflight, instances: [...instances], gaps, last: max,
  }));
} else {
  console.error('usage: hookreceiver.mjs serve PORT SECRETS LOG | check LOG WEBHOOK_ID EXPECTED');
  process.exit(2);
}
