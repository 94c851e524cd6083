// fleetpage.js — the fleet map: every vehicle as a marker coloured by status with its heading,
// moving as the stream's changes arrive; a search box by id, a side list sortable by status or
// last update (the first 300 rows of the selection are drawn: the list is for finding, the map
// for seeing), counters per status and the changes per second.
import { MapView, COLORS } from './map.js';
import { STATUSES } from './fleet.js';
import { el, clear, age, timeEl } from './util.js';

const LIST_MAX = 300;

export function fleetPage(root, app) {
  const fleet = app.fleet;
  const mapwrap = el('div', { class: 'mapwrap' });
  const counters = el('div', { class: 'counters', id: 'counters' });
  const search = el('input', { type: 'search', placeholder: 'Search vehicle id…', id: 'search', 'aria-label': 'search by vehicle id' });
  const sort = el('select', { id: 'sort', 'aria-label': 'sort by' },
    el('option', { value: 'status' }, 'Sort: status'), el('option', { value: 'updated' }, 'Sort: last update'),
    el('option', { value: 'id' }, 'Sort: id'));
  const summary = el('div', { class: 'small muted', id: 'listsummary' });
  const list = el('div', { class: 'list', id: 'vlist' });
  const fitBtn = el('button', { type: 'button', onclick: () => fitAll() }, 'Fit fleet');
  const zin = el('button', { type: 'button', onclick: () => map.zoomAt(map.w / 2, map.h / 2, 2), 'aria-label': 'zoom in' }, '+');
  const zout = el('button', { type: 'button', onclick: () => map.zoomAt(map.w / 2, map.h / 2, 0.5), 'aria-label': 'zoom out' }, '−');
  mapwrap.append(el('div', { class: 'maptools' }, zin, zout, fitBtn), counters,
    el('div', { class: 'attrib' }, 'Base map: Natural Earth (world-atlas); roads: the fleet\'s recent tracks'));
  root.append(el('div', { class: 'fleet' }, mapwrap,
    el('div', { class: 'side' }, el('div', { class: 'head' }, search, sort, summary), list)));

  const map = new MapView(mapwrap, {
    items: () => fleet.vehicles.values(),
    onPick: (v) => { location.hash = `#/vehicle/${v.id}`; },
  });
  app.map = map;

  function bounds() {
    let b = null;
    for (const v of fleet.vehicles.values()) {
      if (v.lat == null) continue;
      if (!b) b = [v.lng, v.lat, v.lng, v.lat];
      else b = [Math.min(b[0], v.lng), Math.min(b[1], v.lat), Math.max(b[2], v.lng), Math.max(b[3], v.lat)];
    }
    return b;
  }
  function fitAll() {
    const b = bounds();
    if (b) map.fit([b[0] - 0.01, b[1] - 0.01, b[2] + 0.01, b[3] + 0.01]);
  }

  let lastCount = fleet.updates, lastAt = performance.now(), rate = 0;
  function renderCounters() {
    const now = performance.now();
    rate = ((fleet.updates - lastCount) * 1000) / Math.max(1, now - lastAt);
    lastCount = fleet.updates;
    lastAt = now;
    const c = fleet.counts();
    clear(counters).append(
      el('span', { dataset: { count: 'total' } }, `${fleet.vehicles.size} vehicles`),
      ...STATUSES.map((s) => el('span', { dataset: { count: s } }, el('span', { class: `dot st-${s}` }), `${s} ${c[s] || 0}`)),
      el('span', { dataset: { count: 'rate' } }, `${rate.toFixed(1)} updates/s`));
  }

  const order = Object.fromEntries(['alarm', 'offline', 'moving', 'idle', 'parked'].map((s, i) => [s, i]));
  function renderList() {
    const qtext = search.value.trim();
    let rows = [...fleet.vehicles.values()];
    if (qtext) rows = rows.filter((v) => String(v.id).includes(qtext) || (v.device_id && String(v.device_id).includes(qtext)));
    const by = sort.value;
    rows.sort(by === 'updated' ? (a, b) => (b.ts || 0) - (a.ts || 0) || a.id - b.id
      : by === 'id' ? (a, b) => a.id - b.id
        : (a, b) => order[a.status] - order[b.status] || a.id - b.id);
    summary.textContent = rows.length > LIST_MAX ? `${rows.length} vehicles, the first ${LIST_MAX} listed` : `${rows.length} vehicles`;
    const now = fleet.now();
    clear(list).append(...rows.slice(0, LIST_MAX).map((v) =>
      el('div', { class: `row${map.selected === v ? ' sel' : ''}`, dataset: { id: v.id, status: v.status }, onclick: () => { location.hash = `#/vehicle/${v.id}`; },
        onmouseenter: () => { map.selected = v; map.redraw(); } },
      el('span', null, el('span', { class: `dot st-${v.status}` }), String(v.id)),
      el('span', null, v.status),
      el('span', { class: 'muted', title: v.ts ? `UTC ${new Date(v.ts).toISOString()}` : '' }, age(v.ts, now)))));
    // an exact id: show it
    const hit = qtext && fleet.vehicles.get(Number(qtext));
    if (hit && hit.lat != null && map.selected !== hit) {
      map.selected = hit;
      map.setView(hit.lng, hit.lat, Math.max(map.view.k, 200000));
    }
  }
  search.addEventListener('input', renderList);
  sort.addEventListener('change', renderList);

  const off = fleet.on((kind) => {
    if (kind === 'snapshot') {
      fitAll();
      renderList();
      renderCounters();
    }
    map.redraw();
  });
  // lists and counters once a second, the base map's roads every 5 s
  const t1 = setInterval(() => { renderCounters(); renderList(); }, 1000);
  const t2 = setInterval(() => map.invalidateBase(), 5000);
  if (fleet.state.loaded) {
    requestAnimationFrame(() => { fitAll(); renderList(); renderCounters(); });
  }
  return () => {
    off();
    clearInterval(t1);
    clearInterval(t2);
    map.destroy();
    app.map = null;
  };
}
