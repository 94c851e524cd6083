// map.js — a Web Mercator map drawn on two canvases, with no tile server: the base (Natural
// Earth countries from world-atlas, via d3-geo and topojson-client, plus the fleet's own recent
// tracks as its roads) is drawn into an offscreen canvas only when the view settles, and shifted
// or scaled as a bitmap while the user pans or zooms; the markers are drawn on top, batched by
// colour, only in frames where something changed. That keeps 10,000 moving vehicles smooth.
import { geoMercator, geoPath } from 'd3-geo';
import { feature, mesh } from 'topojson-client';

const D2R = Math.PI / 180;
const mercY = (lat) => Math.log(Math.tan(Math.PI / 4 + Math.max(-85, Math.min(85, lat)) * D2R / 2));
export const COLORS = { moving: '#1f9d55', idle: '#d69e2e', parked: '#3b6fd8', offline: '#8a939e', alarm: '#d64545' };

// Marker sprites: a row per status, a column per heading step (and one for "no heading": a dot).
const SPRITE = 18, HEADINGS = 24, DENSE = 2500; // more markers than DENSE on screen: squares
const STATUS_ROW = { moving: 0, idle: 1, parked: 2, offline: 3, alarm: 4 };
let sheetCache = null;
function sprites(dpr) {
  if (sheetCache?.dpr === dpr) return sheetCache.canvas;
  const c = document.createElement('canvas');
  const S = SPRITE * dpr;
  c.width = S * (HEADINGS + 1);
  c.height = S * 5;
  const ctx = c.getContext('2d');
  ctx.scale(dpr, dpr);
  for (const [status, row] of Object.entries(STATUS_ROW)) {
    for (let col = 0; col <= HEADINGS; col++) {
      const x = col * SPRITE + SPRITE / 2, y = row * SPRITE + SPRITE / 2;
      ctx.beginPath();
      if (col < HEADINGS) {
        // an arrow along the heading (0 = north, clockwise)
        const a = col * 15 * D2R, sa = Math.sin(a), ca = Math.cos(a);
        ctx.moveTo(x + 7 * sa, y - 7 * ca);
        ctx.lineTo(x + 4 * ca - 4 * sa, y + 4 * sa + 4 * ca);
        ctx.lineTo(x - 4 * ca - 4 * sa, y - 4 * sa + 4 * ca);
        ctx.closePath();
      } else {
        ctx.arc(x, y, 4, 0, 2 * Math.PI);
      }
      ctx.fillStyle = COLORS[status];
      ctx.fill();
      ctx.lineWidth = 0.7;
      ctx.strokeStyle = 'rgba(0,0,0,.5)';
      ctx.stroke();
    }
  }
  sheetCache = { dpr, canvas: c };
  return c;
}

// The base map's data: the coarse atlas at once, the detailed one when first zoomed in.
const atlas = { coarse: null, fine: null, fineLoading: false, waiting: new Set() };
function shapes(topo) {
  const c = topo.objects.countries;
  return { land: feature(topo, topo.objects.land || c), borders: mesh(topo, c, (a, b) => a !== b) };
}
export async function loadAtlas() {
  if (!atlas.coarse) atlas.coarse = shapes(await (await fetch(ATLAS_110M)).json());
}
function wantFine(view) {
  if (atlas.fine || atlas.fineLoading) return;
  atlas.fineLoading = true;
  fetch(ATLAS_50M).then((r) => r.json()).then((t) => {
    atlas.fine = shapes(t);
    for (const v of atlas.waiting) v.invalidateBase();
  }).catch(() => { atlas.fineLoading = false; });
  atlas.waiting.add(view);
}

export class MapView {
  // opts.items(): iterable of {lat, lng, heading, status, trail?}; opts.onPick(item);
  // opts.overlay(ctx, view): extra drawing (a track)
  constructor(parent, opts = {}) {
    this.opts = opts;
    this.wrap = parent;
    this.base = document.createElement('canvas');
    this.top = document.createElement('canvas');
    this.top.setAttribute('aria-label', 'map');
    parent.append(this.top);
    this.ctx = this.top.getContext('2d');
    this.bctx = this.base.getContext('2d');
    this.view = { lng: 127, lat: 37.5, k: 3000 }; // k: pixels per radian of longitude
    this.baseView = null;
    this.dirty = true;
    this.baseDirty = true;
    this.interacting = false;
    this.settle = 0;
    this.selected = null;
    this.frameTimes = null;
    this.drawMs = 0; // time spent drawing, and frames drawn (bench/web.sh)
    this.draws = 0;
    this.resize();
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(parent);
    this.bind();
    this.raf = requestAnimationFrame((t) => this.frame(t));
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    this.ro.disconnect();
    atlas.waiting.delete(this);
    this.top.remove();
  }

  resize() {
    const r = this.wrap.getBoundingClientRect();
    this.w = Math.max(1, r.width);
    this.h = Math.max(1, r.height);
    this.dpr = window.devicePixelRatio || 1;
    for (const c of [this.top, this.base]) {
      c.width = Math.round(this.w * this.dpr);
      c.height = Math.round(this.h * this.dpr);
    }
    this.invalidateBase();
  }

  invalidateBase() {
    this.baseDirty = true;
    this.dirty = true;
  }

  redraw() {
    this.dirty = true;
  }

  project(lng, lat, v = this.view) {
    return [this.w / 2 + v.k * (lng - v.lng) * D2R, this.h / 2 - v.k * (mercY(lat) - mercY(v.lat))];
  }

  unproject(x, y, v = this.view) {
    const lng = v.lng + (x - this.w / 2) / v.k / D2R;
    const my = mercY(v.lat) - (y - this.h / 2) / v.k;
    return [lng, (2 * Math.atan(Math.exp(my)) - Math.PI / 2) / D2R];
  }

  setView(lng, lat, k) {
    this.view = { lng: ((lng + 540) % 360) - 180, lat: Math.max(-84, Math.min(84, lat)), k: Math.max(80, Math.min(4e7, k)) };
    this.changed();
  }

  changed() {
    this.dirty = true;
    this.baseDirty = true;
    this.settle = performance.now() + 150;
  }

  // Fits [minLng, minLat, maxLng, maxLat] with a margin.
  fit(b, maxK = 2e6) {
    if (!b) return;
    const [x0, y0, x1, y1] = [b[0] * D2R, mercY(b[1]), b[2] * D2R, mercY(b[3])];
    const k = Math.min((this.w * 0.85) / Math.max(x1 - x0, 1e-6), (this.h * 0.85) / Math.max(y1 - y0, 1e-6), maxK);
    const my = (y0 + y1) / 2;
    this.setView((b[0] + b[2]) / 2, (2 * Math.atan(Math.exp(my)) - Math.PI / 2) / D2R, k);
  }

  zoomAt(x, y, factor) {
    const [lng, lat] = this.unproject(x, y);
    const k = Math.max(80, Math.min(4e7, this.view.k * factor));
    // keep (lng, lat) under the cursor
    const nv = { ...this.view, k };
    const [px, py] = this.project(lng, lat, nv);
    const [clng, clat] = this.unproject(this.w / 2 + (px - x), this.h / 2 + (py - y), nv);
    this.setView(clng, clat, k);
  }

  bind() {
    const c = this.top;
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY, view: { ...this.view }, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      c.classList.add('dragging');
      this.interacting = true;
      const [lng, lat] = this.unproject(this.w / 2 - dx, this.h / 2 - dy, drag.view);
      this.setView(lng, lat, drag.view.k);
    });
    c.addEventListener('pointerup', (e) => {
      c.classList.remove('dragging');
      this.interacting = false;
      const was = drag;
      drag = null;
      if (was && !was.moved) {
        const r = c.getBoundingClientRect();
        this.pick(e.clientX - r.left, e.clientY - r.top);
      }
    });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      this.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
  }

  pick(x, y) {
    if (!this.opts.items || !this.opts.onPick) return;
    let best = null, bd = 100;
    for (const it of this.opts.items()) {
      if (it.sx == null) continue;
      const d = (it.sx - x) ** 2 + (it.sy - y) ** 2;
      if (d < bd) {
        bd = d;
        best = it;
      }
    }
    if (best) this.opts.onPick(best);
  }

  frame(t) {
    this.raf = requestAnimationFrame((tt) => this.frame(tt));
    if (this.frameTimes) this.frameTimes.push(t);
    const settled = !this.interacting && t >= this.settle;
    if (this.baseDirty && settled) {
      this.drawBase();
      this.dirty = true;
    }
    if (!this.dirty) return;
    this.dirty = false;
    const t0 = performance.now();
    this.drawTop();
    this.drawMs += performance.now() - t0;
    this.draws++;
  }

  drawBase() {
    const v = this.view, ctx = this.bctx, w = this.w, h = this.h;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#cfe0ee';
    ctx.fillRect(0, 0, w, h);
    const fine = v.k > 1500;
    if (fine) wantFine(this);
    const data = (fine && atlas.fine) || atlas.coarse;
    if (data) {
      const proj = geoMercator().scale(v.k).center([v.lng, v.lat]).translate([w / 2, h / 2]).clipExtent([[-2, -2], [w + 2, h + 2]]);
      const path = geoPath(proj, ctx);
      ctx.beginPath();
      path(data.land);
      ctx.fillStyle = '#f4f1ea';
      ctx.fill();
      ctx.strokeStyle = '#9bb3c7';
      ctx.lineWidth = 0.8;
      ctx.stroke();
      ctx.beginPath();
      path(data.borders);
      ctx.strokeStyle = '#b9a9a0';
      ctx.setLineDash([3, 2]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    // the fleet's own recent tracks, as roads
    if (this.opts.items && v.k > 20000) {
      ctx.beginPath();
      for (const it of this.opts.items()) {
        if (!it.trailN || it.trailN < 2) continue;
        const n = it.trailN, start = it.trailAt - n;
        for (let j = 0; j < n; j++) {
          const i = ((start + j) % (it.trail.length / 2)) * 2;
          const [x, y] = this.project(it.trail[i], it.trail[i + 1]);
          if (j === 0) ctx.moveTo(x, y);
          else ctx.lineTo(x, y);
        }
      }
      ctx.strokeStyle = 'rgba(120,110,100,.35)';
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    this.baseView = { ...v };
    this.baseDirty = false;
    this.baseAt = performance.now();
  }

  drawTop() {
    const ctx = this.ctx, v = this.view, b = this.baseView;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (b) {
      // the cached base, moved to the current view
      const s = v.k / b.k;
      const tx = this.w / 2 + v.k * (b.lng - v.lng) * D2R - s * this.w / 2;
      const ty = this.h / 2 - v.k * (mercY(b.lat) - mercY(v.lat)) - s * this.h / 2;
      if (s !== 1 || tx || ty) {
        ctx.fillStyle = '#cfe0ee';
        ctx.fillRect(0, 0, this.top.width, this.top.height);
      }
      ctx.drawImage(this.base, tx * this.dpr, ty * this.dpr, this.base.width * s, this.base.height * s);
    }
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    if (this.opts.overlay) this.opts.overlay(ctx, this);
    if (this.opts.items) this.drawMarkers(ctx);
    this.drawScale(ctx);
  }

  // A scale bar (km at the view's centre latitude): 1, 2 or 5 x 10^n, about 100 px long.
  drawScale(ctx) {
    const mPerPx = 6378137 / this.view.k / Math.cos(Math.min(85, Math.abs(this.view.lat)) * D2R);
    let m = mPerPx * 100;
    const p = 10 ** Math.floor(Math.log10(m));
    m = m / p >= 5 ? 5 * p : m / p >= 2 ? 2 * p : p;
    const px = m / mPerPx, x = this.w - px - 16, y = this.h - 26;
    ctx.fillStyle = 'rgba(255,255,255,.8)';
    ctx.fillRect(x - 6, y - 14, px + 12, 22);
    ctx.strokeStyle = '#333';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x, y - 4);
    ctx.lineTo(x, y);
    ctx.lineTo(x + px, y);
    ctx.lineTo(x + px, y - 4);
    ctx.stroke();
    ctx.fillStyle = '#333';
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText(m >= 1000 ? `${m / 1000} km` : `${m} m`, x + 2, y - 5);
  }

  drawMarkers(ctx) {
    const w = this.w, h = this.h, v = this.view, dpr = this.dpr;
    const x0 = this.w / 2 - v.k * v.lng * D2R, y0 = this.h / 2 + v.k * mercY(v.lat);
    const vis = [];
    let sel = null;
    for (const it of this.opts.items()) {
      if (it.lat == null) {
        it.sx = it.sy = null;
        continue;
      }
      const x = x0 + v.k * it.lng * D2R, y = y0 - v.k * mercY(it.lat);
      it.sx = x;
      it.sy = y;
      it.drawnLat = it.lat;
      it.drawnLng = it.lng;
      if (x < -10 || y < -10 || x > w + 10 || y > h + 10) continue;
      vis.push(it);
      if (it === this.selected) sel = it;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (vis.length > DENSE) {
      // many on screen (a fleet-wide view): a square per vehicle in its status colour, one colour
      // at a time; software canvases (no GPU) fill 10,000 squares in ~4 ms, copy 10,000 sprites
      // in ~20 ms and fill 10,000 paths in ~80 ms. Headings show once zoomed in.
      const r = Math.round(3 * dpr), d = 2 * r;
      for (const status of Object.keys(STATUS_ROW)) {
        ctx.fillStyle = COLORS[status];
        for (const it of vis) if ((STATUS_ROW[it.status] ?? 3) === STATUS_ROW[status]) ctx.fillRect(Math.round(it.sx * dpr) - r, Math.round(it.sy * dpr) - r, d, d);
      }
    } else {
      // a pre-drawn sprite per status and heading (24 steps of 15 degrees), at whole pixels
      const sheet = sprites(dpr);
      const S = SPRITE * dpr, half = SPRITE / 2;
      for (const it of vis) {
        const row = STATUS_ROW[it.status] ?? STATUS_ROW.offline;
        const col = it.heading == null ? HEADINGS : Math.round((((it.heading % 360) + 360) % 360) / 15) % HEADINGS;
        ctx.drawImage(sheet, col * S, row * S, S, S, Math.round((it.sx - half) * dpr), Math.round((it.sy - half) * dpr), S, S);
      }
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (sel) {
      ctx.beginPath();
      ctx.arc(sel.sx, sel.sy, 11, 0, 2 * Math.PI);
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#1c2430';
      ctx.stroke();
    }
  }

}
