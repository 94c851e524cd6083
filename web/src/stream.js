// stream.js — the API's change stream (/api/v1/stream, Server-Sent Events) read with fetch, so
// the token can go as a header (EventSource cannot send one) and so the resume point is ours:
// every reconnect sends Last-Event-ID = the last id received, and the server sends every change
// after it exactly once (docs/serve.md, "GET /stream"). It reconnects by itself with a short
// backoff and tells its listener whether it is connected.
import { authHeaders } from './api.js';
import { sleep } from './util.js';

// A copy of s that does not share its text: V8 cuts a substring of 13 characters or more as a
// slice that keeps the whole parent string alive, here a decoded chunk of the stream (up to MBs
// after a stall). What outlives its chunk (the last id, an unfinished event) is copied.
const detach = (s) => (s && s.length >= 13 ? JSON.parse(JSON.stringify(s)) : s);

export class ChangeStream {
  // onEvent(type, data, id), onState({connected, attempt, error})
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.running = false;
    this.ctrl = null;
    this.connected = false;
    this.busyMs = 0; // time spent parsing and applying events (bench/web.sh)
  }

  start(fromId) {
    if (fromId) this.lastId = fromId;
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    this.ctrl?.abort();
  }

  setState(connected, attempt, error) {
    this.connected = connected;
    this.onState({ connected, attempt, error });
  }

  async loop() {
    let attempt = 0;
    while (this.running) {
      let error = null;
      try {
        await this.once(() => { attempt = 0; this.setState(true, 0, null); });
        error = 'the server ended the stream';
      } catch (e) {
        if (!this.running) break;
        error = e.message || String(e);
      }
      attempt++;
      this.setState(false, attempt, error);
      await sleep(Math.min(500 * attempt, 3000));
    }
  }

  async once(onOpen) {
    this.ctrl = new AbortController();
    const headers = authHeaders({ Accept: 'text/event-stream' });
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const res = await fetch('/api/v1/stream', { headers, signal: this.ctrl.signal, cache: 'no-store' });
    if (!res.ok) throw new Error(`stream: HTTP ${res.status}`);
    onOpen();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    // no byte for longer than the server's idle timeout: the connection is dead
    let watchdog;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => this.ctrl.abort(), 35000);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        arm();
        buf += value;
        // every complete event of the chunk, then one cut (not one copy of the rest per event)
        let start = 0, end;
        const t0 = performance.now();
        while ((end = buf.indexOf('\n\n', start)) >= 0) {
          this.dispatch(buf.slice(start, end));
          start = end + 2;
        }
        if (start) buf = detach(buf.slice(start));
        this.lastId = detach(this.lastId);
        this.busyMs += performance.now() - t0;
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  dispatch(block) {
    let type = 'message', id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line[0] === ':') continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (!data.length) return;
    if (id) this.lastId = id;
    let parsed;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    this.onEvent(type, parsed, id);
  }
}
