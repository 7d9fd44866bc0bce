// Interop check: an independent protobuf implementation (protobufjs) that knows nothing but
// proto/fanout.proto subscribes to a fanout topic and reads the stream.
//
//   node subscribe.mjs HOST:PORT TOPIC EXPECTED_COUNT PROTO_PATH
//
// Sends ClientMessage{hello} and ClientMessage{subscribe: EARLIEST} as delimited frames,
// expects a SubscribeResult, then exactly EXPECTED_COUNT events, each checked: verify()
// passes, offsets dense and in order per partition (0..N-1 when the topic has one
// partition), distribution.topic == TOPIC, a market-data payload with a symbol,
// receive_time_ns > 0. Exit 0 on success, 1 with a reason otherwise (also on timeout:
// INTEROP_TIMEOUT_S, default 30).
import net from 'node:net';
import protobuf from 'protobufjs';

const USAGE = 'usage: node subscribe.mjs HOST:PORT TOPIC EXPECTED_COUNT PROTO_PATH';
const TIMEOUT_S = Number(process.env.INTEROP_TIMEOUT_S || 30);
const MAX_FRAME = 64 << 20; // sanity bound on a length prefix
const LINGER_MS = 300; // after the last expected event: anything more is a failure

const t0 = process.hrtime.bigint();
let received = 0;
let bytesIn = 0;
let sock = null;
let done = false;

function fail(reason) {
  if (done) return;
  done = true;
  process.stderr.write(`subscribe.mjs: FAIL: ${reason} (after ${received} events)\n`);
  if (sock) sock.destroy();
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.length !== 4) {
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}
const [addr, topic, countArg, protoPath] = args;
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
const port = Number(addr.slice(colon + 1));
const expected = Number(countArg);
if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail(`bad address '${addr}'`);
if (!Number.isInteger(expected) || expected < 0) fail(`bad EXPECTED_COUNT '${countArg}'`);
if (!topic) fail('empty TOPIC');

const timer = setTimeout(
  () => fail(`timeout after ${TIMEOUT_S} s: got ${received} of ${expected} events`),
  TIMEOUT_S * 1000);

// Longs come back as Long objects (or numbers): compare them as BigInt.
const big = (v) => BigInt(v == null ? 0 : v.toString());

let root;
try {
  root = await protobuf.load(protoPath);
} catch (e) {
  fail(`cannot load ${protoPath}: ${e.message}`);
}
const ClientMessage = root.lookupType('fanout.v1.ClientMessage');
const ServerMessage = root.lookupType('fanout.v1.ServerMessage');
const StartPosition = root.lookupEnum('fanout.v1.StartPosition').values;
const DataType = root.lookupEnum('fanout.v1.DataType').values;
const ErrorCode = root.lookupEnum('fanout.v1.ErrorCode').valuesById;

function frame(obj) {
  const err = ClientMessage.verify(obj);
  if (err) fail(`internal: ClientMessage.verify: ${err}`);
  return ClientMessage.encodeDelimited(ClientMessage.create(obj)).finish();
}

// State of the conversation.
let subscribed = null; // the SubscribeResult
let nextOffset = new Map(); // partition -> next expected offset
let lastEventAt = null;

function onSubscribed(res) {
  if (res.subscriptionId !== 1) fail(`subscribed.subscription_id ${res.subscriptionId}, want 1`);
  if (res.topic && res.topic !== topic) fail(`subscribed.topic '${res.topic}', want '${topic}'`);
  if (!(res.partitions >= 1)) fail(`subscribed.partitions ${res.partitions}, want >= 1`);
  subscribed = res;
  for (let p = 0; p < res.partitions; p++) nextOffset.set(p, 0n);
  for (const pos of res.positions || []) {
    if (pos.partition >= res.partitions) fail(`subscribed.positions names partition ${pos.partition} of ${res.partitions}`);
    nextOffset.set(pos.partition, big(pos.nextOffset));
  }
  if (res.partitions === 1 && nextOffset.get(0) !== 0n) {
    fail(`EARLIEST on a one-partition topic starts at offset ${nextOffset.get(0)}, want 0`);
  }
  if (expected === 0) finishSoon();
}

function onEvent(ev) {
  const n = received;
  const where = `event #${n}`;
  if (!subscribed) fail(`${where} arrived before the SubscribeResult`);
  if (received >= expected) fail(`unexpected extra ${where} (expected exactly ${expected})`);
  const d = ev.distribution;
  if (!d) fail(`${where}: no distribution`);
  if (d.topic !== topic) fail(`${where}: distribution.topic '${d.topic}', want '${topic}'`);
  const part = d.partition >>> 0;
  if (!nextOffset.has(part)) fail(`${where}: partition ${part} not in 0..${subscribed.partitions - 1}`);
  const off = big(d.offset);
  const want = nextOffset.get(part);
  if (off !== want) fail(`${where}: partition ${part} offset ${off}, want ${want} (dense, in order)`);
  nextOffset.set(part, want + 1n);
  if (ev.dataType !== DataType.DATA_TYPE_MARKET_DATA) {
    fail(`${where}: data_type ${ev.dataType}, want DATA_TYPE_MARKET_DATA (${DataType.DATA_TYPE_MARKET_DATA})`);
  }
  if (ev.payload !== 'marketData' || !ev.marketData) fail(`${where}: payload '${ev.payload}', want market_data`);
  if (!ev.marketData.symbol) fail(`${where}: market_data.symbol is empty`);
  if (!(big(ev.receiveTimeNs) > 0n)) fail(`${where}: receive_time_ns ${ev.receiveTimeNs}, want > 0`);
  if (!d.routingKey) fail(`${where}: distribution.routing_key is empty`);
  received++;
  lastEventAt = process.hrtime.bigint();
  if (received === expected) finishSoon();
}

function onMessage(msg) {
  const verr = ServerMessage.verify(msg);
  if (verr) fail(`ServerMessage.verify: ${verr}`);
  switch (msg.body) {
    case 'hello':
      if (subscribed) fail('HelloResult after the SubscribeResult');
      if (msg.hello.protocolVersion !== 1) fail(`hello.protocol_version ${msg.hello.protocolVersion}, want 1`);
      break;
    case 'subscribed':
      if (subscribed) fail('a second SubscribeResult');
      onSubscribed(msg.subscribed);
      break;
    case 'event':
      onEvent(msg.event);
      break;
    case 'error': {
      const e = msg.error;
      fail(`server error ${ErrorCode[e.code] || e.code}: ${e.message}`);
      break;
    }
    case 'pong':
      break;
    default:
      fail(`unexpected ServerMessage body '${msg.body}'`);
  }
}

// Frames may be split across (or packed several into) TCP chunks: keep what is left of an
// incomplete frame and decode once the rest has arrived.
let pending = Buffer.alloc(0);
function onData(chunk) {
  bytesIn += chunk.length;
  pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
  const reader = protobuf.Reader.create(pending);
  while (!done && reader.pos < reader.len) {
    const start = reader.pos;
    let len;
    try {
      len = reader.uint32();
    } catch (e) {
      if (e instanceof RangeError && /index out of range/.test(e.message)) {
        reader.pos = start; // the varint prefix itself is split: wait for more
        break;
      }
      throw e;
    }
    if (len > MAX_FRAME) fail(`length prefix ${len} over ${MAX_FRAME} bytes`);
    const end = reader.pos + len;
    if (end > reader.len) {
      reader.pos = start; // an incomplete frame: wait for more
      break;
    }
    reader.pos = start;
    let msg;
    try {
      msg = ServerMessage.decodeDelimited(reader);
    } catch (e) {
      // The prefix said the frame is complete, so even a RangeError here means a bad frame.
      fail(`frame at stream byte ${bytesIn - pending.length + start} (length ${len}) does not decode: ${e.message}`);
    }
    if (reader.pos !== end) fail(`frame of length ${len} decoded to ${reader.pos - start} bytes`);
    onMessage(msg);
  }
  pending = pending.subarray(reader.pos);
}

function finishSoon() {
  // Wait a little: a duplicate or stray event right after the last one is a failure.
  setTimeout(finish, LINGER_MS);
}

function finish() {
  if (done) return;
  done = true;
  clearTimeout(timer);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const parts = [...nextOffset.entries()].map(([p, o]) => `${p}:${o}`).join(' ');
  const summary = {
    ok: true,
    received,
    topic,
    partitions: subscribed.partitions,
    next_offsets: Object.fromEntries([...nextOffset.entries()].map(([p, o]) => [p, Number(o)])),
    bytes: bytesIn,
    seconds: Number(secs.toFixed(3)),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.stdout.write(`subscribe.mjs: OK: ${received} events on '${topic}' ` +
    `(${subscribed.partitions} partition(s), next offsets ${parts}), ${bytesIn} bytes, ${secs.toFixed(2)} s\n`);
  sock.destroy();
  process.exit(0);
}

sock = net.connect({ host, port });
sock.setNoDelay(true);
sock.on('connect', () => {
  sock.write(frame({ hello: { protocolVersion: 1, clientName: 'interop-protobufjs' } }));
  sock.write(frame({
    subscribe: { subscriptionId: 1, topic, start: StartPosition.START_POSITION_EARLIEST },
  }));
});
sock.on('data', (chunk) => {
  try {
    onData(chunk);
  } catch (e) {
    fail(`reading the stream: ${e.stack || e}`);
  }
});
sock.on('error', (e) => fail(`socket error: ${e.message}`));
sock.on('close', () => {
  if (!done && subscribed && received === expected) finish();
  if (!done) fail(`server closed the connection (subscribed: ${!!subscribed})`);
});
