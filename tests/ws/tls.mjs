// WebSocket streams over HTTPS (ws_test.sh starts fanoutd with --tls-cert/--tls-key, a
// certificate it made for 127.0.0.1): wss:// upgrades through libmicrohttpd's GnuTLS, and
// a subscription gets every event in order, JSON and binary; plain ws:// is not answered.
// And at a stream's pace, not 4 bytes at a time: 20,000 JSON events within 20 s (through
// libmicrohttpd 0.9.75's relay they took over 60 s; admin/ws_tls.h says why).
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { check, fail, md, publish, sameList, sleep, DIR, HTTP } from './lib.mjs';

const ca = readFileSync(`${DIR}/cert.pem`);
const events = [];
for (let i = 0; i < 300; i++) events.push(md(`t${i}`, 'tls', ['AAPL', 'MSFT'][i % 2], 'NYSE', i));
publish(events, 'tls');

function collect(query) {
  return new Promise((resolve) => {
    const got = [];
    const ws = new WebSocket(`wss://${HTTP}/api/v1/stream?topic=tls&start=earliest${query}`, { ca });
    ws.on('message', (d, binary) => {
      if (binary) got.push(d);
      else if (JSON.parse(d).type === 'data') got.push(JSON.parse(d).payload.event.event_id);
      if (got.length === events.length) {
        ws.close();
        resolve(got);
      }
    });
    ws.on('error', (e) => fail(`wss: ${e.message}`));
  });
}
const timer = setTimeout(() => fail('wss: not every event within 30 s'), 30000);
sameList(await collect(''), events.map((e) => e.event_id), 'JSON over wss');
const bin = await collect('&format=protobuf');
check(bin.length === events.length && bin.every((b) => b.includes(Buffer.from('tls'))),
  'binary over wss');
clearTimeout(timer);

const BULK = 20000;
const bulk = [];
for (let i = 0; i < BULK; i++) bulk.push(md(`b${i}`, 'tlsbulk', 'AAPL', 'NYSE', i));
publish(bulk, 'tlsbulk');
const t0 = Date.now();
const n = await new Promise((resolve) => {
  let got = 0;
  const ws = new WebSocket(`wss://${HTTP}/api/v1/stream?topic=tlsbulk&start=earliest`, { ca });
  const give = setTimeout(() => { ws.terminate(); resolve(got); }, 20000);
  ws.on('message', (d) => {
    if (d.subarray(0, 14).toString() === '{"type":"data"' && ++got === BULK) {
      clearTimeout(give);
      ws.close();
      resolve(got);
    }
  });
  ws.on('error', (e) => fail(`wss bulk: ${e.message}`));
});
const bulkSeconds = (Date.now() - t0) / 1000;
check(n === BULK, `wss bulk: ${n} of ${BULK} JSON events within 20 s (a relay 4 bytes at a time?)`);
const plain = new WebSocket(`ws://${HTTP}/api/v1/stream`);
const outcome = await new Promise((resolve) => {
  plain.on('open', () => resolve('open'));
  plain.on('error', () => resolve('error'));
  plain.on('close', () => resolve('closed'));
  setTimeout(() => resolve('timeout'), 5000);
});
check(outcome !== 'open', 'a plain ws:// connection to the HTTPS port opened');
await sleep(10);
console.log(`PASS: ${events.length} events over wss:// as JSON and as binary frames; ${BULK} JSON ` +
  `events in ${bulkSeconds} s (${Math.round(BULK / bulkSeconds)}/s); plain ws:// refused (${outcome})`);
process.exit(0);
