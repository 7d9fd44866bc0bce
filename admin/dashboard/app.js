// fanout dashboard: reads /api/v1/stats, /api/v1/latency, /api/v1/websockets,
// /api/v1/rules and /metrics every second and
// tails a topic over the WebSocket stream (/api/v1/stream). No libraries, no CDN: the
// server embeds these files at build time (admin/dashboard.c).
'use strict';

const $ = (id) => document.getElementById(id);
const HISTORY = 300;	// rate chart: one point a second, 5 minutes
const TAIL_ROWS = 200;
const LAT_SAMPLES = 5000;
const state = { rates: [], lat: [], ws: null, topics: [], tailCount: 0, rulesAt: 0 };
window.fanoutDashboard = state;	// for tests and curious operators

// ---- token and theme ------------------------------------------------------------------
$('token').value = localStorage.getItem('fanout-token') || '';
$('token').addEventListener('change', () => localStorage.setItem('fanout-token', $('token').value.trim()));
const token = () => $('token').value.trim();
function applyTheme(t) {
  document.documentElement.classList.toggle('light', t === 'light');
  localStorage.setItem('fanout-theme', t);
}
applyTheme(localStorage.getItem('fanout-theme') ||
  (window.matchMedia && matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
$('theme').addEventListener('click', () =>
  applyTheme(document.documentElement.classList.contains('light') ? 'dark' : 'light'));

async function get(path, text) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return text ? res.text() : res.json();
}

// ---- formatting -----------------------------------------------------------------------
function num(v, digits = 0) {
  if (v == null || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return v.toFixed(digits);
}
function bytes(v) {
  if (v == null) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}
function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
function fill(id, rows, render) {
  const body = $(id).tBodies[0];
  const frag = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement('tr');
    render(tr, r);
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
}

// ---- charts ---------------------------------------------------------------------------
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
function canvas(id) {
  const c = $(id), dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight || Number(c.getAttribute('height'));
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px ui-monospace, monospace';
  return { g, w, h };
}
function axes(g, w, h, pad, ymax, fmt) {
  g.strokeStyle = css('--grid');
  g.fillStyle = css('--muted');
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (h - pad.t - pad.b) * (1 - i / 4);
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    g.fillText(fmt(ymax * i / 4), 2, y + 4);
  }
}
function drawRates() {
  const { g, w, h } = canvas('rate-chart');
  const pad = { l: 52, r: 8, t: 8, b: 16 };
  const pts = state.rates;
  const ymax = Math.max(10, ...pts.map((p) => Math.max(p.in, p.out))) * 1.1;
  axes(g, w, h, pad, ymax, (v) => num(v));
  g.fillStyle = css('--muted');
  g.fillText('-5 min', pad.l, h - 2);
  g.fillText('now', w - pad.r - 24, h - 2);
  for (const [key, color] of [['in', css('--in')], ['out', css('--out')]]) {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    pts.forEach((p, i) => {
      const x = pad.l + (w - pad.l - pad.r) * (i + HISTORY - pts.length) / (HISTORY - 1);
      const y = pad.t + (h - pad.t - pad.b) * (1 - p[key] / ymax);
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke(); g.lineWidth = 1;
  }
}
// The percentile plot of perf/ (perf/plot.sh): x is the percentile on a log scale
// of 1/(1-q), so 90, 99, 99.9, 99.99 are evenly spaced; y the latency, log scale too.
// The server's curve is its own receive → send histogram (GET /api/v1/latency: the
// reactors time one frame in 64 they send, over the last minute); the browser's, while
// a tail is open, is this page's arrival time less the event's receive time.
const PCTS = [0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999];
function fmtNs(ns) {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(ns < 1e10 ? 1 : 0)}s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns < 1e7 ? 1 : 0)}ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns < 1e4 ? 1 : 0)}µs`;
  return `${Math.round(ns)}ns`;
}
// The browser's tail latencies (ms) as curve points {p, ns}.
function browserCurve() {
  const s = state.lat.slice().sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return PCTS.filter((q) => q === 0 || s.length >= 1 / (1 - q))
    .map((q) => ({ p: q * 100, ns: Math.max(1, at(q) * 1e6) }))
    .concat(s.length ? [{ p: 100, ns: Math.max(1, s[s.length - 1] * 1e6) }] : []);
}
function drawLatency() {
  const { g, w, h } = canvas('latency-chart');
  const pad = { l: 52, r: 8, t: 8, b: 16 };
  const srv = state.server && state.server.count ? state.server.curve.filter((c) =>
    c.p === 0 || c.p === 100 || state.server.count >= 1 / (1 - c.p / 100)) : [];
  const brw = state.lat.length ? browserCurve() : [];
  const xmax = 4;	// 99.99 %; 100 % (the max) is drawn at the right edge
  const xOf = (p) => pad.l + (w - pad.l - pad.r) *
    (p >= 100 ? 1 : Math.min(xmax, -Math.log10(1 - p / 100)) / xmax);
  const all = srv.concat(brw).map((c) => Math.max(1, c.ns));
  const lo = Math.floor(Math.log10(all.length ? Math.min(...all) : 1e3));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(all.length ? Math.max(...all) : 1e6)));
  const yOf = (ns) => pad.t + (h - pad.t - pad.b) * (1 - (Math.log10(Math.max(1, ns)) - lo) / (hi - lo));
  g.strokeStyle = css('--grid');
  g.fillStyle = css('--muted');
  for (let d = lo; d <= hi; d++) {
    const y = yOf(10 ** d);
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    g.fillText(d >= 9 ? `${10 ** (d - 9)}s` : d >= 6 ? `${10 ** (d - 6)}ms` : d >= 3 ? `${10 ** (d - 3)}µs` : `${10 ** d}ns`, 2, y + 4);
  }
  for (const [p, label] of [[0, '0'], [50, '50'], [90, '90'], [99, '99'], [99.9, '99.9'], [99.99, '99.99']])
    g.fillText(label, Math.min(xOf(p) - (p ? 10 : 0), w - pad.r - g.measureText(label).width), h - 2);
  for (const [pts, color, dash] of [[srv, css('--out'), []], [brw, css('--in'), [4, 3]]]) {
    if (!pts.length) continue;
    g.strokeStyle = color; g.lineWidth = 2; g.setLineDash(dash); g.beginPath();
    pts.forEach((c, i) => { if (i) g.lineTo(xOf(c.p), yOf(c.ns)); else g.moveTo(xOf(c.p), yOf(c.ns)); });
    g.stroke(); g.lineWidth = 1; g.setLineDash([]);
  }
  const L = state.server;
  $('latency-summary').textContent = L && L.count ?
    `server: p50 ${fmtNs(L.p50Ns)} · p90 ${fmtNs(L.p90Ns)} · p99 ${fmtNs(L.p99Ns)} · ` +
    `p99.9 ${fmtNs(L.p999Ns)} · max ${fmtNs(L.maxNs)} — ${L.count} sends timed ` +
    `(1 in ${L.sampleEvery}), last ${L.windowSeconds} s` +
    (brw.length ? ` · browser tail p99 ${fmtNs(brw.find((c) => c.p >= 99)?.ns ?? brw[brw.length - 1].ns)}` : '')
    : 'no deliveries in the last minute';
}

// ---- the server's numbers, every second --------------------------------------------------
function metricValue(text, name) {
  const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}
// WebSocket subscriptions (GET /api/v1/websockets) in the shape of the stats' ones, with
// rates from the last second's counts.
function wsSubs(list) {
  const now = Date.now(), prev = state.wsCounts || {}, next = {};
  const out = [];
  for (const c of list.connections)
    for (const s of c.subscriptions) {
      const key = `ws-${c.id}-${s.id}`, p = prev[key];
      next[key] = { at: now, n: s.delivered };
      out.push({ id: key, topic: s.everyTopic ? '*' : s.topics.join(','), consumerName: c.peer,
        type: `WebSocket ${c.format}`, patterns: s.patterns.join(' '),
        msgRateOut: p && now > p.at ? (s.delivered - p.n) * 1000 / (now - p.at) : 0,
        msgBacklog: s.lagEvents, backlogSize: s.lagBytes, msgOutCounter: s.delivered });
    }
  state.wsCounts = next;
  return out;
}

function renderStats(st, wsRate, ws) {
  const rin = st.topics.reduce((a, t) => a + (t.msgRateIn || 0), 0);
  const rout = st.reactors.reduce((a, r) => a + (r.msgRateOut || 0), 0) + wsRate;
  $('rate-in').textContent = num(rin);
  $('rate-out').textContent = num(rout);
  $('n-topics').textContent = st.topics.length;
  $('n-subs').textContent = st.subscriptions.length + ws.length +
    (st.subscriptionsTruncated ? '+' : '');
  state.rates.push({ in: rin, out: rout });
  if (state.rates.length > HISTORY) state.rates.shift();
  const up = (Date.now() - Date.parse(st.startedAt)) / 1000;
  $('uptime').textContent = `up ${Math.floor(up / 3600)}h ${Math.floor(up / 60) % 60}m ${Math.floor(up % 60)}s`;
  fill('reactors', st.reactors, (tr, r) => {
    cell(tr, r.reactor);
    const bar = cell(tr, '').appendChild(document.createElement('div'));
    bar.className = 'bar';
    bar.title = `${(r.busy * 100).toFixed(1)} % busy`;
    bar.appendChild(document.createElement('i')).style.width = `${Math.min(100, r.busy * 100)}%`;
    cell(tr, num(r.msgRateIn), 'num');
    cell(tr, num(r.msgRateOut), 'num');
    cell(tr, r.connections, 'num');
  });
  state.topics = st.topics.map((t) => t.topic);
  fill('topics', st.topics, (tr, t) => {
    tr.dataset.topic = t.topic;
    cell(tr, t.topic);
    cell(tr, t.partitions, 'num');
    cell(tr, num(t.msgRateIn), 'num rate-in');
    cell(tr, num(t.msgRateOut), 'num');
    cell(tr, bytes(t.msgThroughputIn) + '/s', 'num');
    cell(tr, num(t.msgBacklog), 'num');
    cell(tr, bytes(t.storageSize), 'num');
    cell(tr, t.subscriptions, 'num');
    cell(tr, t.producers, 'num');
  });
  fill('subs', st.subscriptions.concat(ws), (tr, s) => {
    tr.dataset.sub = s.id;
    cell(tr, s.id);
    cell(tr, s.topic);
    cell(tr, s.consumerName || '');
    cell(tr, s.type + (s.durable ? ` (${s.subscriptionName})` : ''));
    cell(tr, s.patterns || '>');
    cell(tr, num(s.msgRateOut), 'num');
    cell(tr, num(s.msgBacklog), 'num ' + (s.msgBacklog > 100000 ? 'lag-bad' : s.msgBacklog > 1000 ? 'lag-warn' : ''));
    cell(tr, bytes(s.backlogSize), 'num');
    cell(tr, num(s.msgOutCounter), 'num');
  });
  const sel = $('tail-topic');
  const have = [...sel.options].map((o) => o.value).join('\n');
  if (have !== state.topics.join('\n')) {
    const keep = sel.value;
    sel.replaceChildren(...state.topics.map((t) => new Option(t, t)));
    if (state.topics.includes(keep)) sel.value = keep;
  }
}
function renderRules(r) {
  fill('rules', r.rules.slice().sort((a, b) => a.priority - b.priority), (tr, x) => {
    cell(tr, x.priority, 'num');
    cell(tr, x.name);
    cell(tr, x.source_topic || '*');
    cell(tr, x.source_pattern || '>');
    cell(tr, x.target_topic);
    cell(tr, x.routing_key_template || '');
    cell(tr, x.enabled ? 'yes' : 'no');
  });
}
// Kafka sources (--kafka-source): the panel shows only when there are some.
function renderKafka(k) {
  $('kafka-panel').hidden = k.sources.length === 0;
  fill('kafka', k.sources, (tr, x) => {
    cell(tr, x.kafkaTopic);
    cell(tr, x.group);
    cell(tr, x.topic);
    cell(tr, x.partitions.map((p) => p.partition).join(' '));
    cell(tr, num(x.lag), 'num' + (x.lag > 10000 ? ' lag-warn' : ''));
    cell(tr, num(x.stored), 'num');
    cell(tr, num(x.refused), 'num');
    cell(tr, num(x.skipped), 'num');
    cell(tr, x.brokersDown ? 'down' : 'up', x.brokersDown ? 'lag-bad' : '');
  });
}
async function tick() {
  try {
    const m = await get('/metrics', true);
    const ws = { at: Date.now(), n: metricValue(m, 'fanout_ws_data_messages_total') || 0 };
    const prev = state.wsPrev || ws;
    state.wsPrev = ws;
    // TCP deliveries (the reactors') and WebSocket data messages (the admin thread's).
    const wsList = wsSubs(await get('/api/v1/websockets'));
    renderStats(await get('/api/v1/stats'), ws.at > prev.at ? (ws.n - prev.n) * 1000 / (ws.at - prev.at) : 0,
      wsList);
    $('n-ws').textContent = num(metricValue(m, 'fanout_ws_connections'));
    renderKafka(await get('/api/v1/kafka'));
    state.server = await get('/api/v1/latency');
    if (Date.now() - state.rulesAt > 5000) {
      renderRules(await get('/api/v1/rules'));
      state.rulesAt = Date.now();
    }
    $('status').classList.add('up');
    $('status').title = 'connected';
  } catch (e) {
    $('status').classList.remove('up');
    $('status').title = String(e);
  }
  drawRates();
  drawLatency();
}

// ---- tail -----------------------------------------------------------------------------
function summary(ev) {
  const p = ev.market_data || ev.execution || ev.coordination_decision || {};
  return Object.entries(p).filter(([, v]) => v !== '' && v !== 0 && !Array.isArray(v) &&
    typeof v !== 'object').slice(0, 8).map(([k, v]) => `${k}=${v}`).join(' ');
}
function tailRow(ev) {
  const tr = document.createElement('tr');
  const d = ev.distribution || {};
  cell(tr, new Date(Number(BigInt(ev.receive_time_ns) / 1000000n)).toISOString().slice(11, 23));
  cell(tr, d.topic);
  cell(tr, `${d.partition}/${d.offset}`, 'num');
  cell(tr, d.routing_key);
  cell(tr, (ev.data_type || '').replace('DATA_TYPE_', '').toLowerCase());
  cell(tr, summary(ev), 'ev');
  const body = $('tail').tBodies[0];
  body.insertBefore(tr, body.firstChild);
  while (body.rows.length > TAIL_ROWS) body.deleteRow(-1);
}
function tailStop() {
  if (state.ws) state.ws.close();
  state.ws = null;
}
function tailStart(ev) {
  ev.preventDefault();
  tailStop();
  const topic = $('tail-topic').value, pattern = $('tail-pattern').value.trim();
  const q = token() ? `?access_token=${encodeURIComponent(token())}` : '';
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/stream${q}`);
  state.ws = ws;
  state.tailCount = 0;
  $('tail').tBodies[0].replaceChildren();
  $('tail-state').textContent = 'connecting…';
  ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe',
    payload: { id: 1, topic, patterns: pattern ? [pattern] : [] } }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'data') {
      const e = msg.payload.event;
      state.tailCount++;
      state.lat.push((Date.now() * 1e6 - Number(e.receive_time_ns)) / 1e6);
      if (state.lat.length > LAT_SAMPLES) state.lat.splice(0, state.lat.length - LAT_SAMPLES);
      tailRow(e);
      $('tail-state').textContent = `${state.tailCount} events`;
    } else if (msg.type === 'subscribe') {
      $('tail-state').textContent = `tailing ${topic}${pattern ? ' ' + pattern : ''}`;
    } else if (msg.type === 'error') {
      $('tail-state').textContent = `error: ${msg.payload.field || ''} ${msg.payload.message}`;
    }
  };
  ws.onclose = (c) => {
    if (state.ws === ws) $('tail-state').textContent += ` (closed ${c.code})`;
  };
}
$('tail-form').addEventListener('submit', tailStart);
$('tail-stop').addEventListener('click', tailStop);

tick();
setInterval(tick, 1000);
window.addEventListener('resize', () => { drawRates(); drawLatency(); });
