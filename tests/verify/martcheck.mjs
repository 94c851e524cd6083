// martcheck.mjs — the daily marts computed a second time, independently: from the simulator's
// raw JSON lines with this file's own code (no SQL, no DuckDB, no Parquet), then compared with
// the rows PostgreSQL holds, and with the simulator's ground truth.
//
//   node martcheck.mjs PIPELINE.json PG_ROWS.json TRUTH.jsonl DAY[,DAY...] RAW.jsonl...
//
// PG_ROWS.json: {"vehicle_daily": [rows], "reefer_daily": [rows]} as PostgreSQL's to_json gives
// them. The rules are the ones docs/warehouse.md states for the marts, applied to the whole day
// at once (PostgreSQL adds up hourly partials): a sample lasts until the next one of its vehicle
// (and zone) if that is at most lookahead_s later, else the period, capped, and counts where it
// overlaps the day; distance only from a predecessor at most lookback_s earlier; trips start at
// a moving sample after >= trip_stop_s without one or after the engine was off; ...; the params
// come from PIPELINE.json. The one rule that names hours: the odometer's running maximum
// restarts lookback_s before each hour of the day. Days are local days of params.timezone, which must be a fixed offset
// zone here (Asia/Seoul: +09:00, no daylight saving since 1988).
//
// Tolerances: counts (samples, trips, harsh events, door openings) exact; seconds, minutes,
// km, temperatures and volts within 1e-6 absolute + 1e-9 relative (both sides sum the same
// doubles, in other orders). Against the ground truth (the simulator's own odometer of the
// vehicle model): distance within 0.5% + 0.05 km (the model's per-second steps against the
// samples' 0.1 m odometer), door openings of each zone exact for whole days (the model opens
// the vehicle's door, every zone reports it).
// Prints one JSON line: {"rows", "columns": {name: max difference}, "truth": {...}, "bad": [...]}.
import fs from 'node:fs';
import readline from 'node:readline';

const [pipeFile, pgFile, truthFile, daysArg, ...rawFiles] = process.argv.slice(2);
const P = JSON.parse(fs.readFileSync(pipeFile, 'utf8')).params;
const pg = JSON.parse(fs.readFileSync(pgFile, 'utf8'));
const days = daysArg.split(',');
const OFFSET_S = { 'Asia/Seoul': 9 * 3600, UTC: 0 }[P.timezone];
if (OFFSET_S === undefined) throw new Error(`martcheck: zone ${P.timezone} is not a fixed offset it knows`);

const dayStart = (d) => Date.parse(`${d}T00:00:00Z`) / 1000 - OFFSET_S;

// ---- read the raw messages: rows per table, as the lake splits them ----
const kin = new Map(), stat = new Map(), cargo = new Map(), events = new Map();
const push = (m, k, v) => { if (!m.has(k)) m.set(k, []); m.get(k).push(v); };
for (const f of rawFiles) {
  const rl = readline.createInterface({ input: fs.createReadStream(f), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    let m;
    try { m = JSON.parse(line); } catch { continue; }
    const kind = `${m.object}/${m.type}`;
    if (kind === 'vehicle/event') {
      push(events, m.id, { t: Date.parse(m.occurred_at) / 1000, event: m.event });
      continue;
    }
    for (const s of m.measurements || []) {
      const t = Date.parse(s.timestamp_iso) / 1000;
      if (kind === 'vehicle/kinematic') push(kin, m.id, { ...s, t, seq: m.seq });
      else if (kind === 'vehicle/status') push(stat, m.id, { ...s, t, seq: m.seq });
      else if (kind === 'cargo/temperature') push(cargo, `${m.id}#${s.zone}`, { ...s, t, seq: m.seq, id: m.id });
    }
  }
}
const byTime = (a, b) => a.t - b.t || a.seq - b.seq;
for (const m of [kin, stat, cargo]) for (const v of m.values()) v.sort(byTime);

function haversineKm(a, b) {
  const r = (x) => (x * Math.PI) / 180;
  const h = Math.sin(r(b.lat - a.lat) / 2) ** 2 +
    Math.cos(r(a.lat)) * Math.cos(r(b.lat)) * Math.sin(r(b.lng - a.lng) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// A sample's duration: until the next sample if that is at most lookahead_s later, else the
// protocol's period; at most the cap. Its overlap with [s0, s1) is what counts in the day.
function overlap(x, next, period, cap, s0, s1) {
  const gap = next ? next.t - x.t : Infinity;
  const full = Math.min(gap <= P.lookahead_s ? gap : period, cap);
  return Math.max(0, Math.min(x.t + full, s1) - Math.max(x.t, s0));
}
const hourOf = (t, s0) => s0 + Math.floor((t - s0) / 3600) * 3600;

// ---- vehicle_daily ----
function vehicleDay(id, d) {
  const s0 = dayStart(d), s1 = s0 + 86400, L = P.lookback_s;
  const all = kin.get(id) || [];
  const r = { distance_km: 0, gps_distance_km: 0, drive_s: 0, idle_s: 0, engine_on_s: 0, trips: 0,
    max_speed: -Infinity, speeding_s: 0, samples: 0 };
  let lastMoving = null, lastOff = null, hour = null, odoMax = -Infinity;
  for (let i = 0; i < all.length; i++) {
    const x = all[i], prev = i > 0 ? all[i - 1] : null;
    if (x.t >= s1) break;
    const own = x.t >= s0;
    if (own && hourOf(x.t, s0) !== hour) {
      // the odometer's running maximum restarts lookback_s before each hour
      hour = hourOf(x.t, s0);
      odoMax = -Infinity;
      for (let j = i - 1; j >= 0 && all[j].t >= hour - L; j--) odoMax = Math.max(odoMax, all[j].odometer);
    }
    const dur = overlap(x, all[i + 1], P.kinematic_period_s, P.kinematic_cap_s, s0, s1);
    const moving = x.speed >= P.moving_kmh;
    if (moving) r.drive_s += dur;
    if (x.engine_on && !moving) r.idle_s += dur;
    if (x.engine_on) r.engine_on_s += dur;
    if (x.speed > P.speeding_kmh) r.speeding_s += dur;
    if (own) {
      r.samples++;
      const near = prev && x.t - prev.t <= L;
      if (near && x.odometer > odoMax) r.distance_km += x.odometer - odoMax;
      if (near && prev.t !== x.t && !(prev.lat === x.lat && prev.lng === x.lng)) {
        const km = haversineKm(prev, x);
        if (km > 0 && km * 3600 <= P.gps_max_kmh * (x.t - prev.t)) r.gps_distance_km += km;
      }
      if (moving && (lastMoving === null || x.t - lastMoving >= P.trip_stop_s || (lastOff !== null && lastOff > lastMoving)))
        r.trips++;
      r.max_speed = Math.max(r.max_speed, x.speed);
      odoMax = Math.max(odoMax, x.odometer);
    }
    if (moving) lastMoving = x.t;
    if (!x.engine_on) lastOff = x.t;
  }
  if (!r.samples) return null;
  r.utilization = r.engine_on_s / 86400;
  const ev = (events.get(id) || []).filter((e) => e.t >= s0 && e.t < s1);
  const distinct = (name) => new Set(ev.filter((e) => e.event === name).map((e) => e.t)).size;
  r.harsh_accel = distinct(P.harsh_accel_event);
  r.harsh_brake = distinct(P.harsh_brake_event);
  r.harsh_per_100km = r.distance_km > 0 ? ((r.harsh_accel + r.harsh_brake) * 100) / r.distance_km : null;
  const st = stat.get(id) || [];
  let bmin = null, fuel = 0, seen = 0;
  for (let i = 0; i < st.length; i++) {
    const x = st[i], prev = i > 0 ? st[i - 1] : null;
    if (x.t < s0 || x.t >= s1) continue;
    seen++;
    bmin = bmin === null ? x.battery_voltage : Math.min(bmin, x.battery_voltage);
    if (prev && x.t - prev.t <= L && prev.fuel_level > x.fuel_level) fuel += prev.fuel_level - x.fuel_level;
  }
  r.battery_min_v = seen ? bmin : null;
  r.fuel_used_pct = seen ? fuel : null;
  return r;
}

// ---- reefer_daily ----
function reeferDay(key, d) {
  const s0 = dayStart(d), s1 = s0 + 86400, L = P.lookback_s;
  const all = cargo.get(key) || [];
  const r = { monitored_s: 0, excursion_s: 0, door_open_s: 0, door_openings: 0, samples: 0,
    min_temperature: Infinity, max_temperature: -Infinity, sum: 0, longest_s: 0 };
  let run = 0, prevExc = false;
  for (let i = 0; i < all.length; i++) {
    const x = all[i], prev = i > 0 ? all[i - 1] : null;
    if (x.t >= s1) break;
    const own = x.t >= s0;
    const dur = overlap(x, all[i + 1], P.cargo_period_s, P.cargo_cap_s, s0, s1);
    if (!own && dur <= 0) continue; // the day's samples: its own, and the one reaching into it
    const exc = Math.abs(x.temperature - x.setpoint) > P.reefer_tolerance_c;
    r.monitored_s += dur;
    if (exc) {
      r.excursion_s += dur;
      run = prevExc ? run + dur : dur;
      r.longest_s = Math.max(r.longest_s, run);
    }
    prevExc = exc;
    if (x.door_open) r.door_open_s += dur;
    if (!own) continue;
    r.samples++;
    if (x.door_open && !(prev && prev.door_open && x.t - prev.t <= L)) r.door_openings++;
    r.min_temperature = Math.min(r.min_temperature, x.temperature);
    r.max_temperature = Math.max(r.max_temperature, x.temperature);
    r.sum += x.temperature;
  }
  if (!r.samples) return null;
  return {
    monitored_min: r.monitored_s / 60, excursion_min: r.excursion_s / 60,
    longest_excursion_min: r.longest_s / 60, door_open_min: r.door_open_s / 60,
    door_openings: r.door_openings,
    compliance_pct: r.monitored_s > 0 ? 100 * (1 - r.excursion_s / r.monitored_s) : null,
    min_temperature: r.min_temperature, avg_temperature: r.sum / r.samples,
    max_temperature: r.max_temperature, samples: r.samples,
  };
}

// ---- compare ----
const EXACT = new Set(['samples', 'trips', 'harsh_accel', 'harsh_brake', 'door_openings']);
const columns = {}, bad = [];
function compare(mart, key, want, got) {
  if (!got) { bad.push(`${mart} ${key}: missing in PostgreSQL`); return; }
  for (const [c, w] of Object.entries(want)) {
    const g = got[c];
    if (w === null || g === null || g === undefined) {
      if (w !== (g ?? null)) bad.push(`${mart} ${key} ${c}: want ${w}, got ${g}`);
      continue;
    }
    const diff = Math.abs(Number(g) - w);
    columns[`${mart}.${c}`] = Math.max(columns[`${mart}.${c}`] || 0, diff);
    const tol = EXACT.has(c) ? 0 : 1e-6 + 1e-9 * Math.abs(w);
    if (!(diff <= tol)) bad.push(`${mart} ${key} ${c}: want ${w}, got ${g}`);
  }
}
let rows = 0;
const pgVehicle = new Map((pg.vehicle_daily || []).map((r) => [`${r.vehicle_id}@${r.day}`, r]));
const pgReefer = new Map((pg.reefer_daily || []).map((r) => [`${r.vehicle_id}#${r.zone}@${r.day}`, r]));
const wantKeys = new Set();
for (const d of days) {
  for (const id of kin.keys()) {
    const w = vehicleDay(id, d);
    if (!w) continue;
    const k = `${id}@${d}`;
    wantKeys.add(k);
    compare('vehicle_daily', k, w, pgVehicle.get(k));
    rows++;
  }
  for (const zk of cargo.keys()) {
    const w = reeferDay(zk, d);
    if (!w) continue;
    const k = `${zk}@${d}`;
    wantKeys.add(k);
    compare('reefer_daily', k, w, pgReefer.get(k));
    rows++;
  }
}
for (const k of [...pgVehicle.keys(), ...pgReefer.keys()])
  if (days.includes(k.split('@')[1]) && !wantKeys.has(k)) bad.push(`${k}: in PostgreSQL, not in the raw data`);

// ---- the simulator's ground truth ----
const truth = { days: 0, max_distance_rel: 0, door_openings_checked: 0 };
if (truthFile && fs.existsSync(truthFile)) {
  for (const line of fs.readFileSync(truthFile, 'utf8').split('\n')) {
    if (!line) continue;
    const t = JSON.parse(line);
    if (t.kind !== 'summary' || !days.includes(t.day) || !t.whole_day) continue;
    const g = pgVehicle.get(`${t.id}@${t.day}`);
    if (!g) { if (t.distance_km > 0) bad.push(`truth ${t.id}@${t.day}: no mart row`); continue; }
    truth.days++;
    const diff = Math.abs(g.distance_km - t.distance_km);
    truth.max_distance_rel = Math.max(truth.max_distance_rel, t.distance_km ? diff / t.distance_km : diff);
    if (diff > 0.005 * t.distance_km + 0.05) bad.push(`truth ${t.id}@${t.day}: distance ${g.distance_km} km, the model drove ${t.distance_km}`);
    // the model opens the vehicle's cargo door: every zone reports it
    for (const r of pgReefer.values()) {
      if (r.vehicle_id !== t.id || r.day !== t.day) continue;
      truth.door_openings_checked++;
      if (Number(r.door_openings) !== t.door_openings)
        bad.push(`truth ${t.id}@${t.day} zone ${r.zone}: ${r.door_openings} door openings, the model had ${t.door_openings}`);
    }
  }
}
console.log(JSON.stringify({ rows, columns, truth, bad: bad.slice(0, 20), nbad: bad.length }));
process.exit(bad.length || !rows ? 1 : 0);
