// A client that stops reading is cut at the lag bound (ws_test.sh starts fanoutd with
// --max-lag-bytes 4 MiB): an error SLOW_CONSUMER then close 1008, while the server's
// anonymous memory stays flat (at most WS_WINDOW_BYTES queued for it, not the backlog)
// and a client that reads on gets every event.
import { Client, check, metrics, publish, md, rssAnonKiB, sleep, PID, PUB, TCP } from './lib.mjs';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const COUNT = 100000;
publish([md('first', 'slow', 'AAPL', 'NASDAQ', 1)], 'first');

const slow = new Client('/api/v1/stream?topic=slow');
const fast = new Client('/api/v1/stream?topic=slow&format=protobuf');
await slow.opened;
await fast.opened;
await slow.until((c) => c.of('subscribe').length === 1, 5000, 'the slow client subscribed');
await fast.until((c) => c.of('subscribe').length === 1, 5000, 'the fast client subscribed');
slow.ws._socket.pause();	// reads nothing from here on

const before = rssAnonKiB();
const t0 = Date.now();
// Asynchronously: this process's clients read (or not) while it publishes.
// Paced so that a client that reads keeps up (flat out, it would fall --max-lag-bytes
// behind too, and be cut as it should).
const pub = spawn(PUB, ['--connect', TCP, '--topic', 'slow', '--count', String(COUNT),
  '--rate', '20000', '--quiet']);
const pubExit = new Promise((res) => pub.on('exit', res));
let m;
for (;;) {
  m = await metrics();
  if (m.fanout_ws_slow_consumers_total >= 1) break;
  check(Date.now() - t0 < 60000, `no cut within 60 s (${JSON.stringify(m.fanout_ws_slow_consumers_total)})`);
  await sleep(50);
}
const cutRss = rssAnonKiB();
check(!slow.closed, 'closed before it read');
slow.ws._socket.resume();
await slow.until((c) => c.closed, 10000, 'the close of the slow client');
const err = slow.of('error').pop();
check(err && err.payload.code === 'SLOW_CONSUMER', `slow client's last error: ${JSON.stringify(err)}`);
check(slow.closed.code === 1008, `slow client's close: ${JSON.stringify(slow.closed)}`);
check(slow.of('data').length < COUNT, 'the slow client got everything (no cut?)');
check(await pubExit === 0, 'fanout-pub failed');
const fastBin = (c) => c.msgs.filter(Buffer.isBuffer).length;
await fast.until((c) => fastBin(c) >= COUNT, 60000, 'every event on the fast client');
const after = Math.max(cutRss, rssAnonKiB());
const grown = after - before;
console.log(`server anonymous memory: ${before} KiB before, ${after} KiB at most after ${COUNT} ` +
  `events (${grown} KiB); ${m.fanout_ws_bytes_out_total} bytes sent over WebSockets by the cut`);
// JSON of 100k events is about 80 MB: buffered for the slow client, it would show here.
// AddressSanitizer's allocator (redzones, its caches) makes the same work cost more.
const asan = readFileSync(`/proc/${PID}/maps`, 'utf8').includes('libasan');
const bound = (asan ? 56 : 32) * 1024;
check(grown < bound, `the server grew by ${grown} KiB (bound ${bound}) while a client did not read`);
await sleep(200);
m = await metrics();
check(m.fanout_ws_connections === 1, `connections after the cut: ${m.fanout_ws_connections}`);
fast.close();
console.log(`PASS: cut after ${slow.of('data').length} of ${COUNT} events with SLOW_CONSUMER and 1008; ` +
  `the reading client got all ${fastBin(fast)}`);
process.exit(0);
