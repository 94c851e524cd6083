// pipeline.js — the pipeline's own health (GET /pipeline every 5 s: each connector's state, tasks
// and lag, dead letters by reason, the newest data-quality result of every check, the warehouse
// scheduler's runs per DAG, and the other stages' counters — bridge, lake watch, scheduler — with
// rates from two readings), the topics'
// throughput (from the high watermarks of GET /topics between two polls: the API gives no rates,
// a rate needs two readings), and the topic browser (GET /topics/{t}/messages) that shows each
// message's headers and payload as text.
import uPlot from 'uplot';
import { api, q, ApiError } from './api.js';
import { el, clear, timeEl, num, text, localTime, timeZone } from './util.js';

const POLL = 5000;
const errorText = (e) => (e instanceof ApiError ? `${e.status ? `HTTP ${e.status}: ` : ''}${e.message}` : String(e.message || e));
const badge = (s) => el('span', { class: `badge ${s}` }, String(s));
const table = (heads, rows) => el('table', null, el('thead', null, el('tr', null, heads.map((h) => el('th', null, h)))), el('tbody', null, rows));

// throughput and lag history, kept while the console is open (for the trend charts)
const history = { t: [], topics: new Map(), lag: new Map(), lastHigh: null, lastStages: null };

function unavailable(part) {
  return el('p', { class: 'muted' }, `unavailable: ${part?.error || 'no answer'}`);
}

export function pipelinePage(root, app) {
  const page = el('div', { class: 'page', id: 'pipeline' });
  root.append(page);
  const connect = el('div', { id: 'connectors' });
  const rates = el('div', { id: 'throughput' });
  const dlq = el('div', { id: 'deadletters' });
  const dq = el('div', { id: 'dataquality' });
  const stages = el('div', { id: 'stages' });
  const sched = el('div', { id: 'scheduler' });
  const generated = el('span', { class: 'small muted' });
  const lagChart = el('div', { class: 'chart' });
  page.append(el('h1', null, 'Pipeline', generated),
    el('div', { class: 'grid' },
      el('div', { class: 'card' }, el('h2', null, 'Connectors: tasks and lag'), connect, lagChart),
      el('div', { class: 'card' }, el('h2', null, 'Stages: throughput'), stages),
      el('div', { class: 'card' }, el('h2', null, 'Topics: throughput'), rates),
      el('div', { class: 'card' }, el('h2', null, 'Warehouse scheduler: runs per DAG'), sched),
      el('div', { class: 'card' }, el('h2', null, 'Dead letters by reason'), dlq),
      el('div', { class: 'card' }, el('h2', null, 'Data quality (newest interval of each check)'), dq)));
  let alive = true, chart = null;

  function renderConnect(c) {
    if (!c?.available) return clear(connect).append(unavailable(c));
    const rows = [];
    for (const k of c.connectors) {
      rows.push(el('tr', { dataset: { connector: k.name } }, el('td', null, text(k.name)), el('td', null, badge(k.state)),
        el('td', { class: 'num' }, `${k.tasks_running}/${k.tasks_total}`),
        el('td', { class: 'num', dataset: { lag: k.lag ?? '' } }, k.lag == null ? '—' : num(k.lag)),
        el('td', { class: 'num' }, num(k.records_lost))));
      for (const t of k.tasks || [])
        rows.push(el('tr', { class: 'small' }, el('td', { class: 'muted' }, `  task ${t.id}`), el('td', null, badge(t.state)),
          el('td', { class: 'muted' }, text(t.worker_id ?? '')), el('td', { class: 'num' }, t.lag == null ? '—' : num(t.lag)),
          el('td', { class: 'muted' }, t.reason ? text(t.reason).slice(0, 200) : '')));
    }
    clear(connect).append(el('p', { class: 'small muted' }, text(c.url)),
      table(['connector', 'state', 'tasks', 'lag (records)', 'lost'], rows));
  }

  function renderDlq(d) {
    if (!d?.available) return clear(dlq).append(unavailable(d));
    const reasons = Object.entries(d.by_reason || {}).sort((a, b) => b[1] - a[1]);
    const max = Math.max(1, ...reasons.map((r) => r[1]));
    clear(dlq).append(
      el('p', { class: 'small muted' }, `${text(d.topic)}: ${num(d.retained)} retained, ${num(d.scanned)} counted${d.complete ? '' : ` (${text(d.note || 'partial')})`}`),
      reasons.length ? table(['reason (error.class)', 'messages', ''], reasons.map(([r, n]) => {
        const bar = el('div', { class: 'bar' });
        bar.style.width = `${Math.round((n / max) * 160)}px`;
        return el('tr', { dataset: { reason: r } },
          el('td', null, el('a', { href: `#/topics/${encodeURIComponent(d.topic)}?reason=${encodeURIComponent(r)}` }, r)),
          el('td', { class: 'num', dataset: { count: n } }, num(n)), el('td', null, bar));
      })) : el('p', { class: 'muted' }, 'No dead letters.'));
  }

  function renderDq(d) {
    if (!d?.available) return clear(dq).append(unavailable(d));
    if (d.exists === false) return clear(dq).append(el('p', { class: 'muted' }, 'No check has run yet (ops.dq_results does not exist).'));
    const by = d.by_status || {};
    clear(dq).append(el('p', null, ...Object.entries(by).map(([s, n]) => el('span', null, badge(s), ` ${n}  `))),
      table(['check', 'target', 'interval', 'status', 'observed', 'ratio', 'threshold'], (d.results || []).map((r) =>
        el('tr', { dataset: { check: r.check_name } }, el('td', null, text(r.check_name)), el('td', null, text(r.target ?? '')),
          el('td', { class: 'small' }, timeEl(Date.parse(r.interval_start))), el('td', null, badge(r.status)),
          el('td', { class: 'num' }, num(r.observed)), el('td', { class: 'num' }, r.ratio == null ? '—' : num(r.ratio, 4)),
          el('td', { class: 'num' }, r.threshold == null ? '—' : num(r.threshold, 4))))),
      ...trend(d.trend));
  }

  // results per status and local day (the newest 30 days that have any), a bar per day
  function trend(days) {
    if (!days?.length) return [];
    const max = Math.max(1, ...days.map((x) => x.pass + x.warn + x.fail + x.error));
    return [el('h3', null, 'Trend: results per day (the fleet\'s local days)'),
      table(['day', 'pass', 'warn', 'fail', 'error', ''], days.map((x) => {
        const bar = el('div', { class: 'stack' });
        for (const s of ['pass', 'warn', 'fail', 'error']) {
          const seg = el('span', { class: `seg ${s}` });
          seg.style.width = `${Math.round((x[s] / max) * 160)}px`;
          bar.append(seg);
        }
        return el('tr', { dataset: { day: x.day } }, el('td', null, text(x.day)),
          ...['pass', 'warn', 'fail', 'error'].map((s) => el('td', { class: 'num', dataset: { [s]: x[s] } }, num(x[s]))),
          el('td', null, bar));
      }))];
  }

  // each stage's counters; a *_total gets its rate from the previous reading
  function renderStages(list, t) {
    const prev = history.lastStages;
    history.lastStages = { t, byName: new Map((list || []).map((x) => [x.name, x.metrics || {}])) };
    if (!list?.length) return clear(stages).append(el('p', { class: 'muted' }, 'No stage metrics configured (serve --stage-metrics).'));
    clear(stages).append(...list.map((x) => {
      if (!x.available) return el('div', { dataset: { stage: x.name } }, el('h3', null, text(x.name)), unavailable(x));
      const before = prev?.byName.get(x.name);
      const rows = Object.entries(x.metrics || {}).map(([m, v]) => {
        const total = m.endsWith('_total');
        const rate = total && before && m in before && v != null ? ((v - before[m]) * 1000) / (t - prev.t) : null;
        return el('tr', { dataset: { metric: m } }, el('td', { class: 'small' }, text(m.replace(/^fleetpipe_/, ''))),
          el('td', { class: 'num', dataset: { value: v ?? '' } }, v == null ? '—' : num(v)),
          el('td', { class: 'num' }, total ? (rate == null ? '…' : `${rate.toFixed(1)}/s`) : ''));
      });
      return el('div', { dataset: { stage: x.name } }, el('h3', null, text(x.name)), table(['metric', 'value', 'rate'], rows));
    }), el('p', { class: 'small muted' }, 'Counters summed over their labels; rates from two readings 5 s apart.'));
  }

  function renderSched(w) {
    if (!w?.available) return clear(sched).append(unavailable(w));
    if (w.exists === false) return clear(sched).append(el('p', { class: 'muted' }, 'The scheduler has not run yet (ops.runs does not exist).'));
    clear(sched).append(table(['DAG', 'success', 'running', 'queued', 'failed', 'newest interval done', 'last error'], w.dags.map((d) =>
      el('tr', { dataset: { dag: d.dag } }, el('td', null, text(d.dag)), el('td', { class: 'num' }, num(d.success)),
        el('td', { class: 'num' }, num(d.running)), el('td', { class: 'num' }, num(d.queued)),
        el('td', { class: 'num' }, d.failed ? badge(`${d.failed} failed`) : '0'),
        el('td', { class: 'small' }, d.newest_done ? timeEl(Date.parse(d.newest_done)) : '—'),
        el('td', { class: 'small muted' }, d.last_error ? text(d.last_error).slice(0, 200) : '')))));
  }

  function renderRates(topics, t) {
    const highs = new Map(topics.map((x) => [x.name, x.partitions.reduce((s, p) => s + (p.high ?? 0), 0)]));
    const prev = history.lastHigh;
    history.lastHigh = { t, highs };
    clear(rates).append(table(['topic', 'partitions', 'retained', 'messages/s'], topics.map((x) => {
      const rate = prev && prev.highs.has(x.name) ? ((highs.get(x.name) - prev.highs.get(x.name)) * 1000) / (t - prev.t) : null;
      return el('tr', { dataset: { topic: x.name } }, el('td', null, el('a', { href: `#/topics/${encodeURIComponent(x.name)}` }, x.name)),
        el('td', { class: 'num' }, x.partitions.length), el('td', { class: 'num' }, num(x.messages)),
        el('td', { class: 'num' }, rate == null ? '…' : rate.toFixed(1)));
    })), el('p', { class: 'small muted' }, 'Rates from the high watermarks of two readings 5 s apart.'));
  }

  function renderLagTrend(c, t) {
    if (!c?.available) return;
    history.t.push(t / 1e3);
    for (const k of c.connectors) {
      if (!history.lag.has(k.name)) history.lag.set(k.name, new Array(history.t.length - 1).fill(null));
      history.lag.get(k.name).push(k.lag);
    }
    for (const [, arr] of history.lag) while (arr.length < history.t.length) arr.push(null);
    if (history.t.length > 360) {
      history.t.shift();
      for (const [, arr] of history.lag) arr.shift();
    }
    const names = [...history.lag.keys()];
    const data = [history.t, ...names.map((n) => history.lag.get(n))];
    if (!chart || chart.series.length !== names.length + 1) {
      chart?.destroy();
      const tz = timeZone();
      const palette = ['#2456b3', '#b83280', '#2c7a7b', '#c05621', '#6b46c1', '#2f855a'];
      chart = new uPlot({
        width: lagChart.clientWidth || 480, height: 180,
        scales: { x: { time: true, range: (u, lo, hi) => [Math.min(lo ?? hi, hi - 600), hi + 5] } }, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
        axes: [{ label: `time (${tz})`, labelSize: 18 }, { label: 'lag (records)', labelSize: 18 }],
        series: [{ value: (u, v) => (v == null ? '—' : `${localTime(v * 1e3)} (UTC ${new Date(v * 1e3).toISOString().slice(11, 19)})`) },
          ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 1.5 }))],
      }, data, lagChart);
    } else {
      chart.setData(data);
    }
  }

  async function poll() {
    const t = Date.now();
    const [p, topics] = await Promise.allSettled([api('/pipeline'), api('/topics')]);
    if (!alive) return;
    if (p.status === 'fulfilled') {
      const v = p.value;
      generated.textContent = '';
      generated.append('as of ', timeEl(Date.parse(v.generated_at)));
      renderConnect(v.connect);
      renderDlq(v.dead_letters);
      renderDq(v.data_quality);
      renderSched(v.warehouse);
      renderStages(v.stages, t);
      renderLagTrend(v.connect, t);
    } else {
      clear(connect).append(el('p', { class: 'err' }, errorText(p.reason)));
    }
    if (topics.status === 'fulfilled') renderRates(topics.value.topics, t);
    else clear(rates).append(el('p', { class: 'muted' }, `unavailable: ${errorText(topics.reason)}`));
    page.dataset.loaded = 'true';
  }
  poll();
  const timer = setInterval(poll, POLL);
  return () => {
    alive = false;
    clearInterval(timer);
    chart?.destroy();
  };
}

// #/topics[/<topic>][?partition=&offset=&reason=]
export function topicsPage(root, app, topic, params) {
  const page = el('div', { class: 'page', id: 'topics' });
  root.append(page);
  const list = el('div', { class: 'topiclist card', id: 'topiclist' });
  const msgs = el('div', { class: 'card', id: 'messages' });
  const view = el('div', { class: 'card', id: 'message' }, el('p', { class: 'muted' }, 'Select a message to see its headers and payload.'));
  page.append(el('h1', null, 'Topics'), el('div', { class: 'split' }, list, el('div', null, msgs, view)));
  let alive = true;

  (async () => {
    let r;
    try {
      r = await api('/topics');
    } catch (e) {
      list.append(el('p', { class: 'err' }, errorText(e)));
      return;
    }
    if (!alive) return;
    for (const t of r.topics) {
      list.append(el('div', { class: t.name === topic ? 'sel' : '', dataset: { topic: t.name }, onclick: () => { location.hash = `#/topics/${encodeURIComponent(t.name)}`; } },
        t.name, el('span', { class: 'small muted' }, ` ${num(t.messages)}`)));
    }
    if (topic) {
      const info = r.topics.find((t) => t.name === topic);
      if (info) showTopic(info);
      else msgs.append(el('p', { class: 'err' }, `no topic ${topic}`));
    }
  })();

  async function showTopic(info) {
    // no partition chosen: the newest messages of every partition, merged by time
    const partition = params.get('partition') ?? (info.partitions.length === 1 ? String(info.partitions[0].partition) : '');
    const offset = partition === '' ? null : params.get('offset');
    const reason = params.get('reason');
    const psel = el('select', { 'aria-label': 'partition', onchange: () => { location.hash = `#/topics/${encodeURIComponent(info.name)}?${q({ partition: psel.value, reason })}`; } },
      info.partitions.length > 1 ? el('option', { value: '', selected: partition === '' }, 'all partitions (newest)') : null,
      info.partitions.map((p) => el('option', { value: p.partition, selected: String(p.partition) === partition }, `partition ${p.partition} (${p.low ?? '?'}–${p.high ?? '?'})`)));
    clear(msgs).append(el('h2', null, info.name, ' ', psel, reason ? el('span', { class: 'small muted' }, ` error.class = ${reason}`) : null));
    const parts = partition === '' ? info.partitions.map((p) => p.partition) : [partition];
    let pages;
    try {
      pages = await Promise.all(parts.map((p) => api(`/topics/${encodeURIComponent(info.name)}/messages?${q({ partition: p, offset, limit: 100 })}`)));
    } catch (e) {
      msgs.append(el('p', { class: 'err' }, errorText(e)));
      return;
    }
    if (!alive) return;
    const header = (m, k) => m.headers?.find((h) => h.key === k)?.value;
    const all = pages.flatMap((r) => r.messages).sort((a, b) => a.timestamp_ms - b.timestamp_ms || a.partition - b.partition || a.offset - b.offset);
    const rows = all.filter((m) => !reason || (header(m, 'error.class') ?? '(none)') === reason);
    const r = pages[0];
    const nav = parts.length === 1 ? el('div', { class: 'cmds' },
      el('button', { type: 'button', disabled: r.start_offset <= r.low, onclick: () => go(Math.max(r.low, r.start_offset - 100)) }, '← older'),
      el('button', { type: 'button', disabled: r.end_of_partition, onclick: () => go(r.next_offset) }, 'newer →'),
      el('span', { class: 'small muted' }, `offsets ${r.start_offset}–${r.next_offset - 1} of ${r.low}–${r.high - 1}, ${r.count} messages${reason ? `, ${rows.length} with this reason` : ''}`))
      : el('p', { class: 'small muted' }, `the newest 100 of each of ${parts.length} partitions: ${all.length} messages${reason ? `, ${rows.length} with this reason` : ''}`);
    function go(o) {
      location.hash = `#/topics/${encodeURIComponent(info.name)}?${q({ partition, offset: o, reason })}`;
    }
    msgs.append(nav, table(['partition', 'offset', `time (${timeZone()})`, 'key', 'error.class', 'value'], rows.map((m) =>
      el('tr', { class: 'msg', dataset: { offset: m.offset }, onclick: (e) => {
        for (const x of msgs.querySelectorAll('tr.sel')) x.classList.remove('sel');
        e.currentTarget.classList.add('sel');
        show(m);
      } }, el('td', { class: 'num' }, m.partition), el('td', { class: 'num' }, m.offset), el('td', { class: 'small' }, timeEl(m.timestamp_ms)),
      el('td', null, m.key == null ? '—' : text(m.key)), el('td', null, text(header(m, 'error.class') ?? '')),
      el('td', { class: 'small' }, m.value == null ? 'null' : text(m.value).slice(0, 80))))));
    if (rows.length) show(rows[rows.length - 1]);
  }

  function show(m) {
    let payload = m.value;
    if (m.value_encoding === 'text' && payload != null) {
      try {
        payload = JSON.stringify(JSON.parse(payload), null, 2);
      } catch { /* shown as it is */ }
    }
    clear(view).append(el('h2', null, `partition ${m.partition}, offset ${m.offset}`),
      el('p', { class: 'small' }, 'time ', timeEl(m.timestamp_ms), ` · ${m.timestamp_type} · ${m.value_bytes} bytes${m.value_truncated ? ' (first 64 KiB shown)' : ''} · ${m.value_encoding}`),
      el('h2', null, 'Headers'),
      m.headers?.length ? table(['key', 'value'], m.headers.map((h) => el('tr', { dataset: { header: h.key } }, el('td', null, text(h.key)), el('td', null, h.value == null ? 'null' : text(h.value)))))
        : el('p', { class: 'muted' }, 'none'),
      el('h2', null, 'Key'), el('pre', null, m.key == null ? 'null' : text(m.key)),
      el('h2', null, 'Payload'), el('pre', { id: 'payload' }, payload == null ? 'null' : text(payload)));
  }

  return () => { alive = false; };
}
