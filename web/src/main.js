// main.js — the console's shell: sign-in (the token stays in memory; GET /whoami says the role),
// the hash routes (#/map, #/vehicle/<id>, #/pipeline, #/topics[/<topic>]), the banner while the
// change stream is down, and window.__fleetpipe, a read-only view of the page's state for the
// browser tests and the benchmark (tests/verify/webcheck.mjs, bench/web.sh).
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, setToken, ApiError } from './api.js';
import { Fleet } from './fleet.js';
import { fleetPage } from './fleetpage.js';
import { detailPage } from './detail.js';
import { pipelinePage, topicsPage } from './pipeline.js';
import { el, clear, setTimeZone } from './util.js';

const $ = (id) => document.getElementById(id);
const app = { fleet: null, role: null, whoami: null, map: null };
let unmount = null;

function banner(textOrNull, kind) {
  const b = $('banner');
  b.hidden = !textOrNull;
  b.className = `banner${kind === 'error' ? ' error' : ''}`;
  b.textContent = textOrNull || '';
}

function loginForm(message) {
  const view = clear($('view'));
  $('top').hidden = true;
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'bearer token', 'aria-label': 'API token' });
  const err = el('div', { class: 'err', id: 'loginerr' }, message || '');
  const form = el('form', { class: 'login', id: 'login' },
    el('h1', null, 'fleetpipe console'),
    el('p', { class: 'muted' }, 'Sign in with a token of the server\'s --tokens file. It is kept in this page\'s memory only: reloading the page signs you out.'),
    input, err, el('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    err.textContent = '';
    try {
      await start(await api('/whoami'));
    } catch (ex) {
      setToken('');
      err.textContent = ex instanceof ApiError && ex.status === 401 ? 'That token is not valid.' : `Cannot sign in: ${ex.message}`;
    }
  });
  view.append(form);
  input.focus();
}

async function start(who) {
  app.whoami = who;
  app.role = who.role;
  setTimeZone(who.timezone);
  $('top').hidden = false;
  $('who').textContent = `${who.name} · ${who.role} · ${who.timezone}`;
  $('logout').hidden = !who.tokens;
  app.fleet?.stream.stop();
  const fleet = new Fleet(who);
  app.fleet = fleet;
  fleet.on((kind, s) => {
    if (kind !== 'state' || !fleet.state.loaded) return;
    if (s.connected) banner(null);
    else banner(`Live updates disconnected (${s.error || 'connection lost'}); reconnecting${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}…`);
  });
  setInterval(() => fleet.tick(), 5000);
  route();
  for (;;) {
    try {
      await fleet.load();
      break;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return loginForm('The token is no longer valid.');
      banner(`Cannot load the fleet: ${e.message}; retrying…`, 'error');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  banner(null);
}

function route() {
  if (!app.fleet) return;
  unmount?.();
  unmount = null;
  const view = clear($('view'));
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  const nav = parts[0] === 'vehicle' ? 'map' : parts[0] || 'map';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
  if (parts[0] === 'vehicle' && /^\d+$/.test(parts[1] || '')) unmount = detailPage(view, app, Number(parts[1]));
  else if (parts[0] === 'pipeline') unmount = pipelinePage(view, app);
  else if (parts[0] === 'topics') unmount = topicsPage(view, app, parts[1] ? decodeURIComponent(parts[1]) : null, params);
  else unmount = fleetPage(view, app);
}

window.addEventListener('hashchange', route);
$('logout').addEventListener('click', () => {
  setToken('');
  app.fleet?.stream.stop();
  app.fleet = null;
  unmount?.();
  unmount = null;
  banner(null);
  loginForm();
});

// For tests and benchmarks: what the page holds and where it drew each marker.
window.__fleetpipe = {
  get ready() { return !!app.fleet?.state.loaded; },
  get connected() { return !!app.fleet?.stream.connected; },
  get lastEventId() { return app.fleet?.stream.lastId ?? null; },
  get role() { return app.role; },
  events: () => app.fleet?.events() ?? [],
  ids: () => [...(app.fleet?.vehicles.keys() ?? [])].sort((a, b) => a - b),
  counts: () => app.fleet?.counts() ?? {},
  updates: () => app.fleet?.updates ?? 0,
  vehicle: (id) => {
    const v = app.fleet?.vehicles.get(id);
    return v ? { id: v.id, status: v.status, lat: v.lat, lng: v.lng, heading: v.heading, ts: v.ts,
      fields: Object.fromEntries(Object.entries(v.fields).map(([k, f]) => [k, f.value])) } : null;
  },
  // where the map last drew vehicle id: screen position and the position it drew
  marker: (id) => {
    const v = app.fleet?.vehicles.get(id), m = app.map;
    if (!v || !m || v.sx == null) return null;
    const [x, y] = m.project(v.drawnLng, v.drawnLat);
    return { x: v.sx, y: v.sy, lat: v.drawnLat, lng: v.drawnLng, check: [x, y], status: v.status };
  },
  project: (lng, lat) => app.map?.project(lng, lat) ?? null,
  // where the main thread's time went: parsing and applying the stream, drawing the map
  cost: () => ({ stream_ms: app.fleet?.stream.busyMs ?? 0, draw_ms: app.map?.drawMs ?? 0, draws: app.map?.draws ?? 0 }),
  frames: (on) => {
    const m = app.map;
    if (!m) return null;
    if (on) m.frameTimes = [];
    const t = m.frameTimes;
    if (!on) m.frameTimes = null;
    return t;
  },
};

(async () => {
  // Without --tokens every caller is an operator: no sign-in needed.
  try {
    await start(await api('/whoami'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) loginForm();
    else {
      banner(`The Fleet API does not answer: ${e.message}`, 'error');
      loginForm();
    }
  }
})();
