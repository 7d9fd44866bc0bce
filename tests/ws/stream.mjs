// WebSocket streams through a real fanoutd (run by ws_test.sh): subscriptions with
// patterns, filters and start positions receive exactly their events in order, as JSON
// and as the stored protobuf frames (decoded with protobufjs from proto/fanout.proto);
// the seed endpoints preset their data type and take their filters from the query;
// unsubscribe stops a subscription; every bad message gets an error naming its field.
import protobuf from 'protobufjs';
import { Client, check, exec, md, metrics, publish, rawGet, sameList, sleep, PROTO, WS_HEADERS } from './lib.mjs';

const SYMS = ['AAPL', 'MSFT', 'GOOG'];
const EXCH = ['NASDAQ', 'NYSE'];

function batch(prefix, n) {
  const out = [];
  for (let i = 0; i < n; i++)
    out.push(md(`${prefix}${i}`, 'wsmd', SYMS[i % 3], EXCH[i % 2], i));
  return out;
}

// Subscription 1: patterns AAPL.> and MSFT.NYSE.*, min_price 10.
const wants1 = (e) => {
  const [sym, exch] = e.distribution.routing_key.split('.');
  return (sym === 'AAPL' || (sym === 'MSFT' && exch === 'NYSE')) && e.market_data.price >= 10;
};
const SUB1 = { id: 1, topic: 'wsmd', patterns: ['AAPL.>', 'MSFT.NYSE.*'],
  filters: { min_price: 10 }, start: 'earliest' };

const root = await new protobuf.Root().load(PROTO, { keepCase: true });
const ServerMessage = root.lookupType('fanout.v1.ServerMessage');

const a = batch('a', 120);
const ex = [];
for (let i = 0; i < 20; i++) ex.push(exec(`x${i}`, 'wsex', `o${i % 5}`, 100 + i));
publish(a, 'a');
publish(ex, 'ex');

// ---- JSON: history (earliest) then live ------------------------------------------------
const json = new Client('/api/v1/stream');
await json.opened;
json.send({ type: 'subscribe', payload: SUB1 });
json.send({ type: 'subscribe', payload: { id: 2, topic: 'wsmd', filters: { symbols: ['GOOG'] } } });
await json.until((c) => c.of('subscribe').length === 2, 5000, 'two subscribe answers');
const ack = json.of('subscribe').find((m) => m.payload.id === 1);
check(ack.payload.topics[0] === 'wsmd' && ack.payload.positions.length >= 1, `subscribe answer: ${JSON.stringify(ack)}`);
check(typeof ack.timestamp === 'string' && ack.timestamp.endsWith('Z'), 'timestamp is RFC 3339');
const want1a = a.filter(wants1).map((e) => e.event_id);
await json.until((c) => c.data(1).length >= want1a.length, 10000, 'history of subscription 1');

// ---- binary: the same subscription, frames decoded by protobufjs ------------------------
const bin = new Client('/api/v1/stream?format=protobuf');
await bin.opened;
bin.send({ type: 'subscribe', payload: SUB1 });
const binIds = (c) => c.msgs.filter(Buffer.isBuffer).map((b) => {
  const m = ServerMessage.decodeDelimited(b);
  check(m.event, 'a binary message is a ServerMessage with an event');
  return m.event.event_id;
});
await bin.until((c) => binIds(c).length >= want1a.length, 10000, 'binary history');

// ---- live events --------------------------------------------------------------------
const b = batch('b', 90);
publish(b, 'b');
const want1 = want1a.concat(b.filter(wants1).map((e) => e.event_id));
const want2 = b.filter((e) => e.market_data.symbol === 'GOOG').map((e) => e.event_id);
await json.until((c) => c.data(1).length >= want1.length && c.data(2).length >= want2.length,
  10000, 'live events');
await bin.until((c) => binIds(c).length >= want1.length, 10000, 'live binary events');
await sleep(300);	// nothing more may come
sameList(json.data(1), want1, 'subscription 1 (patterns + min_price, earliest)');
sameList(json.data(2), want2, 'subscription 2 (symbols GOOG, latest)');
sameList(binIds(bin), want1, 'binary subscription 1');
const ev = json.of('data')[0].payload.event;
check(ev.distribution.topic === 'wsmd' && ev.market_data && ev.market_data.symbol,
  `a data message carries the event: ${JSON.stringify(ev)}`);

// ---- unsubscribe --------------------------------------------------------------------
json.send({ type: 'unsubscribe', payload: { id: 1 } });
await json.until((c) => c.of('unsubscribe').length === 1, 5000, 'unsubscribe answer');
const c = batch('c', 30);
publish(c, 'c');
const want2c = want2.concat(c.filter((e) => e.market_data.symbol === 'GOOG').map((e) => e.event_id));
await json.until((cl) => cl.data(2).length >= want2c.length, 10000, 'events after unsubscribe');
await sleep(200);
sameList(json.data(1), want1, 'subscription 1 after its unsubscribe');
sameList(json.data(2), want2c, 'subscription 2 after the other one went');

// ---- snapshot: the newest event of each key first, then live -------------------------------
const all = a.concat(b, c);
const newest = new Map();
all.forEach((e, i) => newest.set(e.distribution.routing_key, i));
const wantSnap = [...newest.values()].sort((x, y) => x - y).map((i) => all[i].event_id);
json.send({ type: 'subscribe', payload: { id: 9, topic: 'wsmd', snapshot: true } });
await json.until((cl) => cl.data(9).length >= wantSnap.length, 5000, 'the snapshot');
await sleep(200);
sameList(json.data(9), wantSnap, 'snapshot (newest of each of the 6 keys, in offset order)');
const d = batch('d', 6);
publish(d, 'd');
await json.until((cl) => cl.data(9).length >= wantSnap.length + 6, 5000, 'live after the snapshot');
sameList(json.data(9), wantSnap.concat(d.map((e) => e.event_id)), 'snapshot then live');
json.send({ type: 'subscribe', payload: { id: 10, topic: 'wsmd', snapshot: 'yes' } });
await json.until((cl) => cl.of('error').some((e) => e.payload.field === 'payload.snapshot'), 5000,
  'an error naming payload.snapshot');

// ---- seed endpoints: data type preset, filters from the query ---------------------------
const exs = new Client('/api/v1/execution/stream?topic=wsex&order_ids=o2,o4&start=earliest');
await exs.opened;
const wantEx = ex.filter((e) => ['o2', 'o4'].includes(e.execution.order_id)).map((e) => e.event_id);
await exs.until((cl) => cl.of('data').length >= wantEx.length, 10000, 'execution stream');
// Every topic, market data only: the executions of wsex are not its.
const mds = new Client('/api/v1/market-data/stream?symbols=MSFT&start=earliest');
await mds.opened;
const wantMd = a.concat(b, c, d).filter((e) => e.market_data.symbol === 'MSFT').map((e) => e.event_id);
await mds.until((cl) => cl.of('data').length >= wantMd.length, 10000, 'market-data stream');
await sleep(200);
sameList(exs.of('data').map((m) => m.payload.event.event_id), wantEx, 'execution stream (order_ids)');
sameList(mds.of('data').map((m) => m.payload.event.event_id), wantMd, 'market-data stream (symbols)');
// A topic made after it subscribed joins a subscription to every topic, from its start.
publish([md('n1', 'wsnew', 'MSFT', 'NYSE', 1), md('n2', 'wsnew', 'GOOG', 'NYSE', 1),
  md('n3', 'wsnew', 'MSFT', 'ARCA', 2)], 'new');
await mds.until((cl) => cl.of('data').length >= wantMd.length + 2, 5000, 'a new topic\'s events');
await sleep(200);
sameList(mds.of('data').map((m) => m.payload.event.event_id), wantMd.concat(['n1', 'n3']),
  'market-data stream after a topic was made');
const coord = new Client('/api/v1/coordination/stream?start=earliest');
await coord.opened;
await sleep(300);
check(coord.of('data').length === 0, 'the coordination stream got market data or executions');

// ---- bad messages: an error naming the field, and the connection goes on ----------------
const bad = new Client('/api/v1/stream');
await bad.opened;
const cases = [
  ['{bad', 'message'],
  [{ type: 'nope' }, 'type'],
  [{ payload: {} }, 'type'],
  [{ type: 'subscribe', payload: 7 }, 'payload'],
  [{ type: 'subscribe', payload: { topic: 5 } }, 'payload.topic'],
  [{ type: 'subscribe', payload: { topic: 'no-such-topic' } }, 'payload.topic'],
  [{ type: 'subscribe', payload: { id: -1 } }, 'payload.id'],
  [{ type: 'subscribe', payload: { colour: 'red' } }, 'payload.colour'],
  [{ type: 'subscribe', payload: { patterns: ['a.>.b'] } }, 'payload.patterns'],
  [{ type: 'subscribe', payload: { filters: { symbols: ['A', 3] } } }, 'payload.filters.symbols'],
  [{ type: 'subscribe', payload: { filters: { min_price: 5, max_price: 1 } } }, 'payload.filters.min_price'],
  [{ type: 'subscribe', payload: { filters: { data_types: ['bogus'] } } }, 'payload.filters.data_types'],
  [{ type: 'subscribe', payload: { filters: { colour: ['red'] } } }, 'payload.filters.colour'],
  [{ type: 'subscribe', payload: { filters: { min_volume: 'lots' } } }, 'payload.filters.min_volume'],
  [{ type: 'subscribe', payload: { start: 'yesterday' } }, 'payload.start'],
  [{ type: 'unsubscribe', payload: { id: 99 } }, 'payload.id'],
];
for (const [msg] of cases) bad.send(msg);
await bad.until((cl) => cl.of('error').length >= cases.length, 5000, 'an error for every bad message');
const fields = bad.of('error').map((m) => m.payload.field);
sameList(fields, cases.map(([, f]) => f), 'the fields errors name');
for (const e of bad.of('error'))
  check(typeof e.payload.code === 'string' && e.payload.message.length > 0, `error shape: ${JSON.stringify(e)}`);
// Still usable after all that.
bad.send({ type: 'subscribe', payload: { id: 5, topic: 'wsmd', start: 'earliest', filters: { symbols: ['AAPL'] } } });
await bad.until((cl) => cl.data(5).length > 0, 5000, 'a good subscribe after the bad ones');
// Oversize: an error naming the message, then close 1009.
bad.send(JSON.stringify({ type: 'subscribe', payload: { topic: 'x'.repeat(70000) } }));
await bad.until((cl) => cl.closed, 5000, 'the close after an oversize message');
check(bad.closed.code === 1009, `oversize: close ${JSON.stringify(bad.closed)} ${bad.error}`);
const big = bad.of('error').pop();
check(big.payload.code === 'MESSAGE_TOO_LARGE' && big.payload.field === 'message', `oversize error: ${JSON.stringify(big)}`);

// A bad query is refused at the handshake, naming the parameter.
const res = await rawGet('/api/v1/execution/stream?min_price=x', WS_HEADERS);
check(res.status === 400 && res.body.field === 'min_price', `bad query: ${res.status} ${JSON.stringify(res.body)}`);
const plain = await fetch(`http://${process.env.FANOUT_HTTP}/api/v1/stream`);
check(plain.status === 400, `a plain GET of a stream: ${plain.status}`);

// ---- the listing --------------------------------------------------------------------
const listed = await (await fetch(`http://${process.env.FANOUT_HTTP}/api/v1/websockets`)).json();
const mine = listed.connections.find((cn) => cn.subscriptions.some((s) => s.id === 9));
check(mine && mine.format === 'json' && mine.peer.startsWith('127.0.0.1'), `listing: ${JSON.stringify(listed).slice(0, 400)}`);
const s2 = mine.subscriptions.find((s) => s.id === 2);
check(s2.topics[0] === 'wsmd' && s2.delivered === json.data(2).length && s2.lagEvents === 0 &&
  s2.lagBytes === 0 && s2.everyTopic === false,
  `listed subscription: ${JSON.stringify(s2)}`);
check(listed.connections.some((cn) => cn.format === 'protobuf'), 'the binary connection is listed');

// ---- metrics ------------------------------------------------------------------------
const m = await metrics();
check(m.fanout_ws_connections >= 5, `fanout_ws_connections ${m.fanout_ws_connections}`);
check(m.fanout_ws_data_messages_total >= want1.length * 2, `fanout_ws_data_messages_total ${m.fanout_ws_data_messages_total}`);
check(m.fanout_ws_messages_refused_total >= cases.length - 2, `fanout_ws_messages_refused_total ${m.fanout_ws_messages_refused_total}`);
check(m.fanout_ws_errors_sent_total >= cases.length, `fanout_ws_errors_sent_total ${m.fanout_ws_errors_sent_total}`);
for (const cl of [json, bin, exs, mds, coord]) cl.close();
console.log(`PASS: ${want1.length} + ${want2c.length} JSON, ${want1.length} binary, ${wantSnap.length} snapshot, ${wantEx.length} execution, ` +
  `${wantMd.length} market-data events as subscribed; ${cases.length + 1} bad messages named`);
process.exit(0);
