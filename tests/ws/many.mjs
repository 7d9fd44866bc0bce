// 1000 WebSocket subscribers at once, each receiving every event in order; the bound of
// 1024 connections holds (the next handshake is answered 503); idle, they cost the admin
// thread under 3 % of a core.
import { readdirSync, readFileSync } from 'node:fs';
import { Client, check, fail, metrics, md, publish, rawGet, sameList, sleep, PID, WS_HEADERS } from './lib.mjs';

const N = Number(process.env.WS_MANY || 1000);
const EVENTS = 200;
publish([md('warm', 'many', 'AAPL', 'NASDAQ', 1)], 'warm');

const clients = [];
for (let i = 0; i < N; i += 100) {	// in waves: the listen backlog is not the test
  const wave = [];
  for (let k = i; k < Math.min(N, i + 100); k++) {
    const c = new Client('/api/v1/stream?topic=many');
    clients.push(c);
    wave.push(c.opened);
  }
  await Promise.all(wave);
}
const t0 = Date.now();
for (const c of clients)
  await c.until((cl) => cl.of('subscribe').length === 1, 20000, 'every client subscribed');
let m = await metrics();
check(m.fanout_ws_connections === N && m.fanout_ws_subscriptions === N,
  `connections ${m.fanout_ws_connections}, subscriptions ${m.fanout_ws_subscriptions}, want ${N}`);

// Idle, the streams cost next to nothing: the admin thread sleeps until a reactor wakes
// it (net/engine.h admin_wake_fd), instead of looking at 1,000 cursors every 2 ms (which
// took 6-10 % of a core). Its CPU time over 3 s, from /proc.
const adminTicks = () => {
  for (const t of readdirSync(`/proc/${PID}/task`))
    if (readFileSync(`/proc/${PID}/task/${t}/comm`, 'utf8').trim() === 'fanout-admin') {
      const f = readFileSync(`/proc/${PID}/task/${t}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);	// utime + stime, fields 14 and 15
    }
  fail('no fanout-admin thread');
};
await sleep(500);
const idle0 = adminTicks();
await sleep(3000);
const idleShare = (adminTicks() - idle0) / 300;	// of a core (100 ticks a second)
check(idleShare < 0.03, `${N} idle subscribers took ${(idleShare * 100).toFixed(1)} % of a core on the admin thread`);
const wakes0 = m.fanout_ws_wakeups_total;

const events = [];
for (let i = 0; i < EVENTS; i++)
  events.push(md(`m${i}`, 'many', ['AAPL', 'MSFT'][i % 2], 'NYSE', i));
const tp = Date.now();
publish(events, 'many');
const want = events.map((e) => e.event_id);
for (const c of clients)
  await c.until((cl) => cl.of('data').length >= EVENTS, 60000, `${EVENTS} events on every client`);
const took = Date.now() - tp;
for (const c of clients)
  sameList(c.of('data').map((d) => d.payload.event.event_id), want, 'a client\'s events');

// The bound: up to 1024 open, the next refused.
const extra = [];
for (let k = N; k < 1024; k++) extra.push(new Client('/api/v1/stream'));
await Promise.all(extra.map((c) => c.opened));
const refused = await rawGet('/api/v1/stream', WS_HEADERS);
check(refused.status === 503 && refused.body.error === 'TOO_MANY_CONNECTIONS',
  `connection 1025: ${refused.status} ${JSON.stringify(refused.body)}`);
m = await metrics();
check(m.fanout_ws_connections_refused_total >= 1, 'refusal not counted');
check(m.fanout_ws_wakeups_total > wakes0, `no wake-up by a reactor (${wakes0} -> ${m.fanout_ws_wakeups_total})`);
for (const c of clients.concat(extra)) c.close();
console.log(`PASS: ${N} subscribers got all ${EVENTS} events in order (${N * EVENTS} messages in ` +
  `${took} ms from the publish; subscribed in ${tp - t0} ms); idle, the admin thread took ` +
  `${(idleShare * 100).toFixed(1)} % of a core; connection 1025 refused`);
process.exit(0);
