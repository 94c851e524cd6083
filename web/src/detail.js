// detail.js — one vehicle: its latest values with their age (live from the stream), the last
// hour's track on a map, speed and each cargo zone's temperature (5-minute averages, min/max and
// the setpoint band), today's KPIs from the marts, and — for operators only — commands that show
// pending -> delivered -> answered with the device's own answer.
import uPlot from 'uplot';
import { api, q, ApiError } from './api.js';
import { MapView, COLORS } from './map.js';
import { el, clear, timeEl, age, num, text, localTime, localDay, timeZone, sleep } from './util.js';

const HOUR = 3600e3;
const UNITS = { speed: 'km/h', heading: '°', odometer: 'km', lat: '°', lng: '°', battery_voltage: 'V',
  fuel_level: '%', engine_rpm: 'rpm', temperature: '°C', setpoint: '°C', storage_free_mb: 'MB' };
const unitOf = (k) => UNITS[k.replace(/\.z\d+$/, '')] || '';

function errorText(e) {
  return e instanceof ApiError ? `${e.status ? `HTTP ${e.status}: ` : ''}${e.message}` : String(e.message || e);
}

// uPlot options shared by the charts: times in the fleet's zone, UTC in the legend (hover).
function chartOpts(title, width, series, yLabel, hooks) {
  const tz = timeZone();
  return {
    title, width, height: 220,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
    scales: { x: { time: true } },
    axes: [{ label: `time (${tz})`, labelSize: 18 }, { label: yLabel, labelSize: 18 }],
    series: [{ label: 'time', value: (u, v) => (v == null ? '—' : `${localTime(v * 1e3)} (UTC ${new Date(v * 1e3).toISOString().slice(11, 19)})`) }, ...series],
    hooks: hooks || {},
  };
}

export function detailPage(root, app, id) {
  const fleet = app.fleet;
  const page = el('div', { class: 'page', id: 'detail', dataset: { vehicle: id } });
  root.append(page);
  const head = el('h1');
  const valuesBox = el('div', { class: 'card' }, el('h2', null, 'Latest values'));
  const values = el('div', { id: 'values' });
  valuesBox.append(values);
  const trackBox = el('div', { class: 'card' }, el('h2', null, 'Last hour\'s track'));
  const trackMap = el('div', { class: 'trackmap' });
  const trackNote = el('div', { class: 'small muted', id: 'tracknote' });
  trackBox.append(trackMap, trackNote);
  const speedBox = el('div', { class: 'card' }, el('h2', null, 'Speed'));
  const speedChart = el('div', { class: 'chart', id: 'speedchart' });
  speedBox.append(speedChart);
  const tempBox = el('div', { class: 'card' }, el('h2', null, 'Cargo temperature (5-minute windows)'));
  const tempChart = el('div', { class: 'chart', id: 'tempchart' });
  tempBox.append(tempChart);
  const kpiBox = el('div', { class: 'card' }, el('h2', null, 'Today\'s KPIs'));
  const kpis = el('div', { id: 'kpis' });
  kpiBox.append(kpis);
  const cmdBox = el('div', { class: 'card', id: 'commands' }, el('h2', null, 'Commands'));
  page.append(head, el('div', { class: 'grid' }, valuesBox, trackBox, speedBox, tempBox, kpiBox,
    app.role === 'operator' ? cmdBox : null));

  let alive = true;
  let track = [];
  const tmap = new MapView(trackMap, {
    items: () => { const v = fleet.vehicles.get(id); return v ? [v] : []; },
    overlay: (ctx, view) => {
      if (track.length < 2) return;
      ctx.beginPath();
      track.forEach((s, i) => {
        const [x, y] = view.project(s.lng, s.lat);
        if (i) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      });
      ctx.strokeStyle = '#2456b3';
      ctx.lineWidth = 2.5;
      ctx.stroke();
    },
  });
  const charts = [];

  function renderHead(v) {
    clear(head).append(`Vehicle ${id}`, v ? el('span', { class: `badge ${v.status}`, id: 'status' }, v.status) : null,
      v?.device_id != null ? el('span', { class: 'small muted', id: 'device' }, text(v.device_id)) : null,
      el('a', { href: '#/map', class: 'small' }, '← fleet map'));
  }

  function renderValues() {
    const v = fleet.vehicles.get(id);
    renderHead(v);
    if (!v) {
      clear(values).append(el('p', { class: 'muted' }, 'Not in the live state.'));
      return;
    }
    const now = fleet.now();
    const rows = Object.keys(v.fields).sort().map((k) => {
      const f = v.fields[k];
      const u = unitOf(k);
      return el('tr', { dataset: { field: k } },
        el('td', null, k),
        el('td', { class: typeof f.value === 'number' ? 'num' : '', dataset: { value: JSON.stringify(f.value) } },
          typeof f.value === 'number' ? `${num(f.value, 6)}${u ? ` ${u}` : ''}` : text(f.value)),
        el('td', { class: 'nowrap' }, timeEl(f.at, true)),
        el('td', { class: 'muted nowrap' }, age(f.at, now)));
    });
    clear(values).append(
      el('p', { class: 'small' }, 'Updated ', timeEl(v.ts), ` (${age(v.ts, now)})`,
        v.alarms?.length ? el('span', { class: 'err' }, ` · alarms: ${v.alarms.map((a) => a.kind + (a.zone ? ` zone ${a.zone}` : '')).join(', ')}`) : null),
      el('table', null, el('thead', null, el('tr', null, el('th', null, 'field'), el('th', null, 'value'), el('th', null, `at (${timeZone()})`), el('th', null, 'age'))),
        el('tbody', null, rows)));
  }

  async function loadVehicle() {
    try {
      const a = await api(`/vehicles/${id}`);
      if (!alive) return null;
      fleet.vehicles.set(id, fleet.fromApi(a.data, fleet.vehicles.get(id)));
      renderValues();
      return a.data;
    } catch (e) {
      clear(values).append(el('p', { class: 'err' }, errorText(e)));
      return null;
    }
  }

  async function loadTrack(to) {
    const from = to - HOUR;
    track = [];
    let after = '';
    try {
      for (let pages = 0; pages < 10; pages++) {
        const r = await api(`/vehicles/${id}/track?${q({ from, to, limit: 5000, after })}`);
        for (const s of r.data) if (typeof s.lat === 'number' && typeof s.lng === 'number') track.push({ ...s, t: Date.parse(s.time) });
        if (!r.pagination.hasNextPage) break;
        after = r.pagination.endCursor;
      }
    } catch (e) {
      trackNote.textContent = `Track unavailable: ${errorText(e)}`;
      speedChart.append(el('p', { class: 'muted' }, trackNote.textContent));
      return;
    }
    if (!alive) return;
    trackNote.textContent = `${track.length} samples, ${localTime(from)} – ${localTime(to)} (${timeZone()})`;
    trackNote.dataset.samples = track.length;
    if (track.length) {
      let b = [track[0].lng, track[0].lat, track[0].lng, track[0].lat];
      for (const s of track) b = [Math.min(b[0], s.lng), Math.min(b[1], s.lat), Math.max(b[2], s.lng), Math.max(b[3], s.lat)];
      tmap.fit([b[0] - 0.003, b[1] - 0.003, b[2] + 0.003, b[3] + 0.003]);
    } else {
      const v = fleet.vehicles.get(id);
      if (v?.lat != null) tmap.setView(v.lng, v.lat, 300000);
    }
    tmap.invalidateBase();
    const xs = track.map((s) => s.t / 1e3), ys = track.map((s) => (typeof s.speed === 'number' ? s.speed : null));
    charts.push(new uPlot(chartOpts('', speedChart.clientWidth || 480,
      [{ label: 'speed', stroke: COLORS.moving, width: 1.5, value: (u, v) => (v == null ? '—' : `${num(v)} km/h`) }], 'speed (km/h)'),
    [xs, ys], speedChart));
  }

  async function loadTemps(to) {
    let r;
    try {
      r = await api(`/vehicles/${id}/aggregates?${q({ field: 'temperature', from: to - HOUR * 6, to })}`);
    } catch (e) {
      tempChart.append(el('p', { class: 'muted' }, `Aggregates unavailable: ${errorText(e)}`));
      return;
    }
    if (!alive) return;
    const zones = [...new Set(r.data.map((w) => w.zone))].sort((a, b) => a - b);
    if (!zones.length) {
      tempChart.append(el('p', { class: 'muted' }, 'No 5-minute windows in the last 6 hours.'));
      return;
    }
    const xs = [...new Set(r.data.map((w) => Date.parse(w.window_start) / 1e3))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const data = [xs];
    const series = [];
    const palette = ['#2456b3', '#b83280', '#2c7a7b', '#c05621'];
    const v = fleet.vehicles.get(id);
    const bands = [];
    zones.forEach((z, zi) => {
      const avg = new Array(xs.length).fill(null), mn = avg.slice(), mx = avg.slice();
      for (const w of r.data) if (w.zone === z) {
        const i = at.get(Date.parse(w.window_start) / 1e3);
        avg[i] = w.avg;
        mn[i] = w.min;
        mx[i] = w.max;
      }
      const c = palette[zi % palette.length];
      const unit = (u, val) => (val == null ? '—' : `${num(val, 2)} °C`);
      data.push(avg, mn, mx);
      series.push({ label: `zone ${z} avg`, stroke: c, width: 2, value: unit },
        { label: `zone ${z} min`, stroke: c, width: 1, dash: [4, 3], value: unit },
        { label: `zone ${z} max`, stroke: c, width: 1, dash: [4, 3], value: unit });
      const sp = v?.fields[`setpoint.z${z}`]?.value;
      if (typeof sp === 'number') bands.push({ lo: sp - fleet.rules.reefer_tolerance_c, hi: sp + fleet.rules.reefer_tolerance_c, c });
    });
    const band = (u) => {
      const ctx = u.ctx;
      for (const b of bands) {
        const y0 = u.valToPos(b.hi, 'y', true), y1 = u.valToPos(b.lo, 'y', true);
        ctx.save();
        ctx.fillStyle = 'rgba(31,157,85,.12)';
        ctx.fillRect(u.bbox.left, y0, u.bbox.width, y1 - y0);
        ctx.restore();
      }
    };
    const opts = chartOpts('', tempChart.clientWidth || 480, series, 'temperature (°C)', { drawClear: [band] });
    if (bands.length) {
      const lo = Math.min(...bands.map((b) => b.lo)), hi = Math.max(...bands.map((b) => b.hi));
      opts.scales.y = { range: (u, dmin, dmax) => [Math.min(dmin ?? lo, lo) - 0.5, Math.max(dmax ?? hi, hi) + 0.5] };
    }
    charts.push(new uPlot(opts, data, tempChart));
    tempChart.append(el('p', { class: 'small muted' }, `Shaded: setpoint ± ${fleet.rules.reefer_tolerance_c} °C (the alarm band).`));
  }

  async function loadKpis(to) {
    const day = localDay(to);
    try {
      const r = await api(`/reports/vehicle-daily?${q({ day, ids: id })}`);
      if (!alive) return;
      const row = r.data[0];
      if (!row) {
        clear(kpis).append(el('p', { class: 'muted' }, `No mart row for ${day} yet.`));
        return;
      }
      clear(kpis).append(el('p', { class: 'small muted' }, `mart.vehicle_daily, ${day}`),
        el('table', null, el('tbody', null, Object.entries(row).filter(([k]) => k !== 'vehicle_id' && k !== 'day').map(([k, val]) =>
          el('tr', { dataset: { kpi: k } }, el('td', null, k.replace(/_/g, ' ')),
            el('td', { class: 'num', dataset: { value: JSON.stringify(val) } }, typeof val === 'number' ? num(val, 3) : text(val)))))));
    } catch (e) {
      clear(kpis).append(el('p', { class: 'muted' }, `KPIs unavailable: ${errorText(e)}`));
    }
  }

  // ---- commands (operators only; the API refuses viewers anyway)
  const cmdList = el('div', { id: 'cmdlist' });
  if (app.role === 'operator') {
    const zone = el('select', { 'aria-label': 'zone' }, el('option', { value: '1' }, 'zone 1'), el('option', { value: '2' }, 'zone 2'));
    const sp = el('input', { type: 'number', step: '0.5', min: '-30', max: '25', value: '-18', 'aria-label': 'setpoint °C', size: 5 });
    cmdBox.append(el('div', { class: 'cmds' },
      el('button', { type: 'button', dataset: { command: 'ping' }, onclick: () => send('ping', {}) }, 'Ping'),
      el('button', { type: 'button', dataset: { command: 'upload_video' }, onclick: () => {
        const until = Date.now();
        send('upload_video', { from: new Date(until - 10 * 60e3).toISOString(), until: new Date(until).toISOString() });
      } }, 'Upload video (last 10 min)'),
      zone, sp, el('span', null, '°C'),
      el('button', { type: 'button', dataset: { command: 'set_setpoint' }, onclick: () => send('set_setpoint', { zone: Number(zone.value), setpoint: Number(sp.value) }) }, 'Set setpoint')),
    cmdList);
  }

  // One command's row: its status badge, the steps it went through with the API's times
  // (pending -> delivered -> answered | failed | timeout), and the device's own answer (status,
  // result, completed_at as the device sent them). data-* attributes carry the same for the tests:
  // data-status, data-command-id, data-seen (every status the row showed, in order).
  const FINAL = ['answered', 'failed', 'timeout'];
  const STEPS = [['pending', 'requested_at'], ['delivered', 'delivered_at'], ['answered', 'answered_at'],
    ['failed', 'answered_at'], ['timeout', 'timed_out_at']];
  const isoTime = (iso) => el('time', { datetime: iso, title: `UTC ${iso}` }, localTime(Date.parse(iso)));

  function renderCommand(row, c) {
    const status = c.status || 'pending';
    if (row.dataset.status !== status) {
      row.dataset.seen = `${row.dataset.seen ? `${row.dataset.seen} ` : ''}${status}`;
      row.dataset.status = status;
    }
    const badge = row.querySelector('.badge');
    badge.className = `badge ${status}`;
    badge.textContent = status;
    const steps = [];
    for (const [st, key] of STEPS) {
      if (!c[key] || (st === 'answered' && status !== 'answered') || (st === 'failed' && status !== 'failed')) continue;
      if (steps.length) steps.push(' → ');
      steps.push(el('span', { dataset: { step: st } }, `${st} `, isoTime(c[key])));
    }
    if (!FINAL.includes(status) && c.deadline) steps.push(el('span', { class: 'muted' }, ' · deadline ', isoTime(c.deadline)));
    clear(row.querySelector('.steps')).append(...steps);
    const answer = row.querySelector('[data-answer]'), note = row.querySelector('.note');
    const r = c.response || c.late_response || null;
    if (r) {
      answer.hidden = false;
      answer.textContent = JSON.stringify({ status: r.status, result: r.result, completed_at: r.completed_at }, null, 1);
    }
    if (status === 'timeout')
      note.textContent = c.late_response ? 'The device answered after the deadline (its late answer below).' : 'No answer from the device before the deadline.';
    else if (c.error) note.textContent = text(c.error);
  }

  async function send(command, args) {
    const row = el('div', { class: 'cmd', dataset: { command } },
      el('div', null, el('b', null, command), ' ', el('span', { class: 'badge pending' }, 'sending'), ' ',
        el('span', { class: 'small muted cmdid' })),
      el('div', { class: 'small steps' }), el('div', { class: 'small note' }),
      el('pre', { hidden: true, dataset: { answer: '' } }));
    cmdList.prepend(row);
    let c;
    try {
      c = await api(`/vehicles/${id}/commands`, { method: 'POST', body: { command, args } });
    } catch (e) {
      const badge = row.querySelector('.badge');
      badge.className = 'badge failed';
      badge.textContent = 'refused';
      row.dataset.status = 'refused';
      row.querySelector('.note').textContent = errorText(e);
      return;
    }
    row.dataset.commandId = c.command_id;
    row.querySelector('.cmdid').textContent = c.command_id;
    for (;;) {
      renderCommand(row, c);
      if (!['pending', 'delivered'].includes(c.status) || !alive) break; // final (or unknown: stop)
      await sleep(500);
      try {
        c = await api(`/commands/${c.command_id}`);
        row.querySelector('.note').textContent = '';
      } catch (e) {
        row.querySelector('.note').textContent = `${errorText(e)}; retrying`;
      }
    }
  }

  const off = fleet.on((kind, v) => {
    if (kind === 'change' && v.id === id) tmap.redraw();
  });
  // the values (and their ages) once a second, changes included
  const tick = setInterval(renderValues, 1000);
  renderValues();
  (async () => {
    const a = await loadVehicle();
    const newest = a?.updated_at ? Date.parse(a.updated_at) : Date.now();
    const to = fleet.dataClock ? newest : Date.now();
    await Promise.all([loadTrack(to), loadTemps(to), loadKpis(to)]);
    if (alive) page.dataset.loaded = 'true';
  })();

  return () => {
    alive = false;
    off();
    clearInterval(tick);
    tmap.destroy();
    for (const c of charts) c.destroy();
  };
}
