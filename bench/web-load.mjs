// web-load.mjs — bench/web.sh's fleet: N vehicles, each one kinematic sample per second (a
// message with one measurement, as a device that sends every second would), for S seconds, as
// "key|value" lines for kcat -P -K'|'. Paced in 20 slices a second; prints nothing else.
//   node web-load.mjs N S
const [n, secs] = process.argv.slice(2).map(Number);
const t0 = Date.now();
const pos = Array.from({ length: n + 1 }, (_, i) => ({ lat: 37.4 + ((i * 7919) % 1000) / 2500, lng: 126.8 + ((i * 104729) % 1000) / 2000, h: (i * 37) % 360 }));
let seq = 1;
const out = process.stdout;
for (let s = 0; s < secs; s++) {
  for (let slice = 0; slice < 20; slice++) {
    const due = t0 + s * 1000 + slice * 50;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let buf = '';
    const at = new Date().toISOString();
    for (let id = 1 + slice; id <= n; id += 20) {
      const p = pos[id];
      p.h = (p.h + 3) % 360;
      p.lat += Math.cos((p.h * Math.PI) / 180) * 0.00008;
      p.lng += Math.sin((p.h * Math.PI) / 180) * 0.0001;
      const dev = `dev-${String(id).padStart(6, '0')}`;
      buf += `${dev}|{"object":"vehicle","type":"kinematic","id":${id},"device_id":"${dev}","messaged_at":"${at}","seq":${seq},"measurements":[{"timestamp_iso":"${at}","lat":${p.lat.toFixed(6)},"lng":${p.lng.toFixed(6)},"speed":${(20 + (id % 60)).toFixed(1)},"heading":${p.h},"odometer":${seq},"engine_on":true}]}\n`;
    }
    seq++;
    if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
  }
}
