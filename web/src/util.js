// util.js — small helpers every page uses: building elements (text only: nothing from a device
// or the API is ever parsed as HTML), times in the fleet's time zone with UTC on hover, numbers.

// el('div', {class: 'x', onclick: f, dataset: {id: 1}}, child, 'text', ...): children that are
// strings become text nodes; attributes never take HTML.
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

let tz = 'UTC';
let fmt = null;
export function setTimeZone(zone) {
  try {
    fmt = new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    tz = zone;
  } catch {
    fmt = null;
    tz = 'UTC';
  }
}
export const timeZone = () => tz;

// "2026-01-05 09:07:59" in the fleet's zone
export function localTime(ms) {
  if (ms == null || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return fmt ? fmt.format(d) : d.toISOString().replace('T', ' ').slice(0, 19);
}

// The offset of the fleet's zone at ms, in minutes east of UTC (for chart axes).
export function zoneOffsetMin(ms) {
  if (!fmt) return 0;
  const p = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

// The local day (YYYY-MM-DD) of ms in the fleet's zone.
export const localDay = (ms) => localTime(ms).slice(0, 10);

// A <time> showing the local time, UTC in its title (hover).
// short: only the time of day when it is today's (in the fleet's zone).
export function timeEl(ms, short) {
  if (ms == null || !Number.isFinite(ms)) return el('span', { class: 'muted' }, '—');
  let t = localTime(ms);
  if (short && t.slice(0, 10) === localTime(Date.now()).slice(0, 10)) t = t.slice(11);
  return el('time', { datetime: new Date(ms).toISOString(), title: `UTC ${new Date(ms).toISOString()}` }, t);
}

export const parseTime = (iso) => (iso == null ? null : Date.parse(iso));

export function age(ms, now) {
  if (ms == null) return '—';
  let s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  s = Math.round(s / 60);
  if (s < 90) return `${s} min ago`;
  s = Math.round(s / 60);
  if (s < 48) return `${s} h ago`;
  return `${Math.round(s / 24)} d ago`;
}

export function num(v, digits = 1) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v == null ? '—' : String(v);
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

// A value of the API as text: strings as they are, anything else as JSON.
export const text = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
