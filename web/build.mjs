// build.mjs — bundles the web console (src/) into dist/ with esbuild: dist/index.html, and
// dist/assets/ with content-hashed names (app-<hash>.js, app-<hash>.css, the two world-atlas
// maps), each with a gzip twin (.gz) that `fleetpipe serve` sends to browsers that accept gzip.
// Writes dist/sizes.json: raw and gzip bytes of each file, and of the initial load (docs/web.md).
//
//   node build.mjs            (npm run build)
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const assets = join(dist, 'assets');
rmSync(dist, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const hash8 = (buf) => createHash('sha256').update(buf).digest('base64url').slice(0, 10).replace(/[-_]/g, 'x');

// The base maps: Natural Earth via world-atlas, copied with hashed names; the coarse one is part
// of the initial load, the detailed one is fetched when the map is zoomed in (src/map.js).
const atlas = {};
for (const [key, file] of [['ATLAS_110M', 'countries-110m.json'], ['ATLAS_50M', 'countries-50m.json']]) {
  const src = join(here, 'node_modules/world-atlas', file);
  const name = `${basename(file, '.json')}-${hash8(readFileSync(src))}.json`;
  copyFileSync(src, join(assets, name));
  atlas[key] = JSON.stringify(`/assets/${name}`);
}

const result = await esbuild.build({
  entryPoints: { app: join(here, 'src/main.js') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  outdir: assets,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  define: atlas,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const outs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outs.find((f) => f.endsWith('.js'));
const css = outs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild wrote ${outs.join(', ')}: want one .js and one .css`);

const html = readFileSync(join(here, 'src/index.html'), 'utf8')
  .replace('%APP_CSS%', `/assets/${css}`)
  .replace('%APP_JS%', `/assets/${js}`);
writeFileSync(join(dist, 'index.html'), html);

// gzip twins and the size report
const sizes = { files: {}, initial: { raw: 0, gzip: 0, files: [] }, total: { raw: 0, gzip: 0 } };
const initial = new Set(['index.html', `assets/${js}`, `assets/${css}`, JSON.parse(atlas.ATLAS_110M).slice(1)]);
for (const rel of ['index.html', ...readdirSync(assets).map((f) => `assets/${f}`)]) {
  const p = join(dist, rel);
  const raw = readFileSync(p);
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(`${p}.gz`, gz);
  sizes.files[rel] = { raw: raw.length, gzip: gz.length };
  sizes.total.raw += raw.length;
  sizes.total.gzip += gz.length;
  if (initial.has(rel)) {
    sizes.initial.raw += raw.length;
    sizes.initial.gzip += gz.length;
    sizes.initial.files.push(rel);
  }
}
writeFileSync(join(dist, 'sizes.json'), JSON.stringify(sizes, null, 1) + '\n');

const kb = (n) => (n / 1024).toFixed(1);
console.log(`web: initial load ${kb(sizes.initial.gzip)} KiB gzipped (${kb(sizes.initial.raw)} KiB raw; ${sizes.initial.files.join(', ')}); all files ${kb(sizes.total.gzip)} KiB gzipped`);
if (sizes.initial.gzip > 300 * 1024) {
  console.error('web: the initial load is over its 300 KB gzipped budget (docs/web.md)');
  process.exit(1);
}
