// Shared by the WebSocket tests: the server's addresses (from ws_test.sh's environment),
// publishing with fanout-pub, clients that collect messages, and failing loudly.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';

export const TCP = process.env.FANOUT_TCP;
export const HTTP = process.env.FANOUT_HTTP;
export const PUB = process.env.FANOUT_PUB;
export const PROTO = process.env.FANOUT_PROTO;
export const DIR = process.env.FANOUT_DIR;
export const PID = process.env.FANOUTD_PID;

export function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Publishes events (objects, fanout-pub's --file JSON) and waits for every ack.
export function publish(events, name = 'events') {
  const path = `${DIR}/${name}.jsonl`;
  writeFileSync(path, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const r = spawnSync(PUB, ['--connect', TCP, '--file', path, '--quiet'], { encoding: 'utf8' });
  if (r.status !== 0) fail(`fanout-pub exited ${r.status}: ${r.stdout} ${r.stderr}`);
}

// A market-data event.
export function md(id, topic, sym, exch, price) {
  return {
    event_id: id, data_type: 'market_data',
    distribution: { topic, routing_key: `${sym}.${exch}.trade` },
    market_data: { symbol: sym, exchange: exch, price, volume: 1, kind: 'trade' },
  };
}

// An execution event.
export function exec(id, topic, order, price) {
  return {
    event_id: id, data_type: 'execution',
    distribution: { topic, routing_key: `AAPL.fill.${order}` },
    execution: { order_id: order, instrument_id: 'AAPL', venue: 'NYSE', price, quantity: 1 },
  };
}

// A client that keeps every message: .msgs (parsed JSON, or Buffers for binary ones).
export class Client {
  constructor(path, opts = {}) {
    this.msgs = [];
    this.closed = null;
    this.ws = new WebSocket(`ws://${HTTP}${path}`, opts);
    this.ws.on('message', (d, binary) => this.msgs.push(binary ? d : JSON.parse(d.toString())));
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; });
    this.ws.on('error', (e) => { this.error = e; });
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('open', resolve);
      this.ws.on('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.on('error', reject);
    });
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  // Waits until pred(this) holds, or fails after ms.
  async until(pred, ms, what) {
    const end = Date.now() + ms;
    while (!pred(this)) {
      if (Date.now() > end) fail(`timeout (${ms} ms) waiting for ${what}; got ${this.msgs.length} messages: ${JSON.stringify(this.msgs.slice(-3)).slice(0, 600)}`);
      await sleep(10);
    }
  }

  of(type) {
    return this.msgs.filter((m) => !Buffer.isBuffer(m) && m.type === type);
  }

  data(id) {
    return this.of('data').filter((m) => m.payload.subscription === id).map((m) => m.payload.event.event_id);
  }

  close() {
    this.ws.close();
  }
}

export async function metrics() {
  const res = await fetch(`http://${HTTP}/metrics`);
  const text = await res.text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+) ([0-9.e+]+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// The server's resident anonymous memory in KiB (malloc'd: what buffering would grow).
export function rssAnonKiB() {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${PID}/status`, 'utf8'));
  return m ? Number(m[1]) : fail('no RssAnon');
}

export function sameList(got, want, what) {
  if (got.length !== want.length || got.some((v, i) => v !== want[i]))
    fail(`${what}: got ${got.length} [${got.slice(0, 12).join(',')}...] want ${want.length} [${want.slice(0, 12).join(',')}...]`);
}

// A GET with the given headers (fetch refuses Upgrade): { status, body } (body parsed
// JSON when it is), or status 101 for an upgrade.
export function rawGet(path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${HTTP}${path}`, { headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try { body = JSON.parse(body); } catch { /* text */ }
        resolve({ status: res.statusCode, body });
      });
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: 101 }); });
    req.on('error', reject);
  });
}

export const WS_HEADERS = { Upgrade: 'websocket', Connection: 'Upgrade',
  'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };
