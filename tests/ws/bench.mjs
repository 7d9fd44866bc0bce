// Delivery to N WebSocket subscribers (ws_test.sh's environment, or by hand): every client
// subscribes to one topic, fanout-pub publishes at RATE events/s for SECONDS, and each
// client counts what it got and times it from the event's server receive time (the same
// machine's clock; ms resolution of Date.now(); one message in 16 decoded, so that the
// Node client keeps up). Prints one JSON line.
//   WS_N=1000 WS_FORMAT=json|protobuf WS_RATE=1000 WS_SECONDS=5 node bench.mjs
import protobuf from 'protobufjs';
import { spawn } from 'node:child_process';
import { Client, check, md, publish, sleep, PROTO, PUB, TCP } from './lib.mjs';

const N = Number(process.env.WS_N || 10);
const FORMAT = process.env.WS_FORMAT || 'json';
const RATE = Number(process.env.WS_RATE || 1000);
const SECONDS = Number(process.env.WS_SECONDS || 5);
const root = await new protobuf.Root().load(PROTO, { keepCase: true });
const ServerMessage = root.lookupType('fanout.v1.ServerMessage');

publish([md('warm', 'bench', 'AAPL', 'NASDAQ', 1)], 'warm');
const lat = [];
const DATA_HEAD = Buffer.from('{"type":"data"');
let got = 0;
const clients = [];
for (let i = 0; i < N; i += 100) {
  const wave = [];
  for (let k = i; k < Math.min(N, i + 100); k++) {
    const c = new Client(`/api/v1/stream?topic=bench${FORMAT === 'protobuf' ? '&format=protobuf' : ''}`);
    c.ws.removeAllListeners('message');	// count and time, keep nothing
    c.ws.on('message', (d, binary) => {
      const now = Date.now();
      let recv;
      if (binary) {
        got++;
        if (got % 16 === 0) recv = ServerMessage.decodeDelimited(d).event.receive_time_ns;
      } else {
        // Parse one in 16 (the client, not the server, would be what is measured).
        if (!d.subarray(0, DATA_HEAD.length).equals(DATA_HEAD)) return;
        got++;
        if (got % 16 === 0) recv = JSON.parse(d).payload.event.receive_time_ns;
      }
      if (recv !== undefined) lat.push(now - Number(BigInt(recv.toString()) / 1000000n));
    });
    clients.push(c);
    wave.push(c.opened);
  }
  await Promise.all(wave);
}
await sleep(500);
const t0 = Date.now();
// Asynchronously: this process must read its sockets while the publisher runs.
const pub = spawn(PUB, ['--connect', TCP, '--topic', 'bench', '--rate', String(RATE),
  '--duration', String(SECONDS), '--symbols', '100', '--quiet']);
let out = '';
pub.stdout.on('data', (d) => { out += d; });
const code = await new Promise((res) => pub.on('exit', res));
check(code === 0, `fanout-pub exited ${code}`);
const published = JSON.parse(out).published;
const want = published * N;
const end = Date.now() + 30000;
while (got < want && Date.now() < end) await sleep(50);
const took = (Date.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(JSON.stringify({ subscribers: N, format: FORMAT, rate: RATE, published,
  delivered: got, expected: want, seconds: took, deliveries_per_s: Math.round(got / took),
  p50_ms: q(0.5), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: lat[lat.length - 1] }));
for (const c of clients) c.close();
process.exit(got === want ? 0 : 1);
