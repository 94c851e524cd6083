// fleet.js — the console's live copy of the fleet: the /vehicles snapshot, then every change of
// the stream applied in order. A vehicle's status is derived here with the server's own rules
// (from /whoami: offline after, alarms, moving speed; docs/serve.md "GET /vehicles"), so a change
// recolours its marker at once; the snapshot's status is the server's.
import { api, q } from './api.js';
import { parseTime } from './util.js';
import { ChangeStream } from './stream.js';

export const STATUSES = ['moving', 'idle', 'parked', 'offline', 'alarm'];
const TRAIL = 32; // recent positions kept per vehicle (the map's "roads")
// The change ids received, newest EVENTS of them, for the tests (window.__fleetpipe.events():
// none missed, none twice). Kept as numbers in a ring allocated once: an id string cut from the
// stream's text is a V8 sliced string that keeps the whole chunk it came from alive, so 40,000
// of them held ~10 MB of stream text at 10,000 changes/s (docs/performance.md, "Web console").
const EVENTS = 40000;

export class Fleet {
  constructor(whoami) {
    this.rules = whoami.status_rules;
    this.dataClock = whoami.clock === 'data';
    this.vehicles = new Map();
    this.listeners = new Set();
    this.newest = 0;
    this.updates = 0; // changes applied, for updates/s
    this.eventMs = new Float64Array(EVENTS); // ids received ("<ms>-<seq>"), a ring; eventN in all
    this.eventSeq = new Float64Array(EVENTS);
    this.eventN = 0;
    this.stream = new ChangeStream((t, d, id) => this.onEvent(t, d, id), (s) => this.onState(s));
    this.state = { connected: false, attempt: 0, error: null, loaded: false };
  }

  now() {
    return this.dataClock && this.newest ? this.newest : Date.now();
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(kind, v) {
    for (const fn of this.listeners) fn(kind, v);
  }

  // Every page of /vehicles, then the stream from the first page's streamCursor.
  async load() {
    let after = '', cursor = null;
    const fresh = new Map();
    for (;;) {
      const page = await api(`/vehicles?${q({ limit: 1000, after })}`);
      if (cursor == null) cursor = page.streamCursor;
      for (const v of page.data) fresh.set(v.id, this.fromApi(v, this.vehicles.get(v.id)));
      if (!page.pagination.hasNextPage) break;
      after = page.pagination.endCursor;
    }
    this.vehicles = fresh;
    this.state.loaded = true;
    this.emit('snapshot');
    this.stream.start(cursor);
  }

  fromApi(a, old) {
    const v = old || { id: a.id, trail: new Float64Array(TRAIL * 2), trailN: 0, trailAt: 0 };
    v.device_id = a.device_id;
    v.fields = {};
    for (const [k, f] of Object.entries(a.fields || {})) v.fields[k] = { value: f.value, at: parseTime(f.at) };
    for (const z of a.cargo || [])
      for (const [k, f] of Object.entries(z))
        if (k !== 'zone') v.fields[`${k}.z${z.zone}`] = { value: f.value, at: parseTime(f.at) };
    v.ts = parseTime(a.updated_at);
    if (v.ts > this.newest) this.newest = v.ts;
    v.status = a.status;
    v.alarms = a.alarms || [];
    this.position(v);
    return v;
  }

  position(v) {
    const lat = v.fields.lat?.value, lng = v.fields.lng?.value;
    if (typeof lat !== 'number' || typeof lng !== 'number') {
      v.lat = v.lng = null;
      return;
    }
    if (v.lat !== lat || v.lng !== lng) {
      const i = (v.trailAt % TRAIL) * 2;
      v.trail[i] = lng;
      v.trail[i + 1] = lat;
      v.trailAt++;
      v.trailN = Math.min(TRAIL, v.trailN + 1);
    }
    v.lat = lat;
    v.lng = lng;
    v.heading = typeof v.fields.heading?.value === 'number' ? v.fields.heading.value : null;
    v.speed = typeof v.fields.speed?.value === 'number' ? v.fields.speed.value : null;
  }

  // The server's rules (live.c, derive): offline, alarm, moving, idle, parked.
  derive(v) {
    const r = this.rules, f = v.fields;
    const alarms = [];
    const bat = f.battery_voltage?.value;
    if (typeof bat === 'number' && bat < r.battery_low_v) alarms.push({ kind: 'battery_low', value: bat });
    for (const k in f) {
      if (!k.startsWith('temperature.z')) continue;
      const z = k.slice(13);
      const t = f[k].value, sp = f[`setpoint.z${z}`]?.value;
      if (typeof t === 'number' && typeof sp === 'number' && Math.abs(t - sp) > r.reefer_tolerance_c)
        alarms.push({ kind: 'reefer_excursion', zone: +z, value: t, setpoint: sp });
    }
    v.alarms = alarms;
    if (v.ts == null || this.now() - v.ts > r.offline_after_ms) return 'offline';
    if (alarms.length) return 'alarm';
    if (typeof f.speed?.value === 'number' && f.speed.value >= r.moving_kmh) return 'moving';
    if (f.engine_on?.value === true || f.ignition?.value === true) return 'idle';
    return 'parked';
  }

  // A stream event: change (apply), gap (history lost: reload), overflow (reconnect resumes).
  onEvent(type, d, id) {
    if (type === 'gap') {
      this.emit('gap', d);
      this.load().catch((e) => this.emit('error', e));
      return;
    }
    if (type !== 'change') return;
    this.record(id);
    const vid = d.vehicle_id;
    let v = this.vehicles.get(vid);
    if (!v) {
      v = { id: vid, trail: new Float64Array(TRAIL * 2), trailN: 0, trailAt: 0, fields: {}, ts: null, status: 'offline', alarms: [] };
      this.vehicles.set(vid, v);
      this.emit('added', v);
    }
    const at = parseTime(d.at);
    for (const [k, val] of Object.entries(d.fields || {})) {
      if (k === 'device_id') v.device_id = val;
      v.fields[k] = { value: val, at };
    }
    if (at != null && (v.ts == null || at > v.ts)) v.ts = at;
    if (at > this.newest) this.newest = at;
    this.position(v);
    v.status = this.derive(v);
    this.updates++;
    this.emit('change', v);
  }

  record(id) {
    const dash = id ? id.indexOf('-') : -1;
    const i = this.eventN % EVENTS;
    this.eventMs[i] = dash > 0 ? Number(id.slice(0, dash)) : NaN;
    this.eventSeq[i] = dash > 0 ? Number(id.slice(dash + 1)) : NaN;
    this.eventN++;
  }

  // The newest EVENTS change ids received, oldest first, as the stream sent them.
  events() {
    const n = Math.min(this.eventN, EVENTS), out = new Array(n);
    for (let k = 0; k < n; k++) {
      const i = (this.eventN - n + k) % EVENTS;
      out[k] = Number.isNaN(this.eventMs[i]) ? '?' : `${this.eventMs[i]}-${this.eventSeq[i]}`;
    }
    return out;
  }

  onState(s) {
    Object.assign(this.state, s);
    this.emit('state', this.state);
  }

  // Re-derives every status (offline comes with time, not with a change).
  tick() {
    let changed = 0;
    for (const v of this.vehicles.values()) {
      if (v.ts == null) continue;
      const st = this.derive(v);
      if (st !== v.status) {
        v.status = st;
        changed++;
      }
    }
    if (changed) this.emit('recolour');
  }

  counts() {
    const c = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const v of this.vehicles.values()) c[v.status] = (c[v.status] || 0) + 1;
    return c;
  }
}
