// Interop check: an independent protobuf implementation (protobufjs) that knows nothing but
// proto/fanout.proto subscribes to a fanout topic and reads the stream.
//
//   node subscribe.mjs HOST:PORT TOPIC EXPECTED_COUNT PROTO_PATH
//   node subscribe.mjs --canon HOST:PORT TOPIC[,TOPIC...] EXPECTED_COUNT PROTO_PATH
//
// Sends ClientMessage{hello} and ClientMessage{subscribe: EARLIEST} (one per topic,
// subscription ids 1, 2, ...) as delimited frames, expects a SubscribeResult for each, then
// exactly EXPECTED_COUNT events in all, each checked: verify() passes, offsets dense and in
// order per topic and partition (0..N-1 when the topic has one partition), the topic one of
// those subscribed. Without --canon (one topic of fanout-pub's events): also a market-data
// payload with a symbol, receive_time_ns > 0, a routing key; a JSON summary on stdout.
// With --canon: one canonical JSON line per event on stdout, in the order received, the
// same bytes subscribe.py prints for the same event (see fanout_canon.py): every field
// (defaults included, proto names, enums as numbers, 64-bit integers as decimal strings),
// doubles as Python's float.hex() of the exact value, the fields the .proto does not know
// as "_unknown" lists (read off the frame's bytes: protobufjs skips them), keys sorted.
// Exit 0 on success, 1 with a reason otherwise (also on timeout: INTEROP_TIMEOUT_S, default
// 30).
import net from 'node:net';
import protobuf from 'protobufjs';

const USAGE = 'usage: node subscribe.mjs [--canon] HOST:PORT TOPIC[,TOPIC...] EXPECTED_COUNT PROTO_PATH';
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
const canonMode = args[0] === '--canon';
if (canonMode) args.shift();
if (args.length !== 4) {
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}
const [addr, topicArg, countArg, protoPath] = args;
const topics = topicArg.split(',').filter((t) => t !== '');
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
const port = Number(addr.slice(colon + 1));
const expected = Number(countArg);
if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail(`bad address '${addr}'`);
if (!Number.isInteger(expected) || expected < 0) fail(`bad EXPECTED_COUNT '${countArg}'`);
if (topics.length === 0) fail('empty TOPIC');
if (!canonMode && topics.length !== 1) fail('one TOPIC without --canon');

const timer = setTimeout(
  () => fail(`timeout after ${TIMEOUT_S} s: got ${received} of ${expected} events`),
  TIMEOUT_S * 1000);

// Longs come back as Long objects (or numbers): compare them as BigInt.
const big = (v) => BigInt(v == null ? 0 : v.toString());

let root;
try {
  // Field names as in the .proto (snake_case), as the canonical JSON has them.
  root = await new protobuf.Root().load(protoPath, { keepCase: true });
} catch (e) {
  fail(`cannot load ${protoPath}: ${e.message}`);
}
const ClientMessage = root.lookupType('fanout.v1.ClientMessage');
const ServerMessage = root.lookupType('fanout.v1.ServerMessage');
const Event = root.lookupType('fanout.v1.Event');
const StartPosition = root.lookupEnum('fanout.v1.StartPosition').values;
const DataType = root.lookupEnum('fanout.v1.DataType').values;
const ErrorCode = root.lookupEnum('fanout.v1.ErrorCode').valuesById;
// 64-bit integers must come back exact: protobufjs needs the long package for that.
if (canonMode && !protobuf.util.Long) fail('protobufjs has no Long support (npm ci installs long)');

function frame(obj) {
  const err = ClientMessage.verify(obj);
  if (err) fail(`internal: ClientMessage.verify: ${err}`);
  return ClientMessage.encodeDelimited(ClientMessage.create(obj)).finish();
}

// ---- canonical JSON (fanout_canon.py's, byte for byte) -----------------------------------

// Python's float.hex(): exact, -0.0 keeps its sign, subnormals as 0x0.<13 digits>p-1022.
function hexDouble(x) {
  if (typeof x !== 'number') fail(`internal: a double decoded as ${typeof x}`);
  if (Number.isNaN(x)) fail('a NaN double: it has no canonical form');
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const sign = bits >> 63n ? '-' : '';
  const e = Number((bits >> 52n) & 0x7ffn);
  const m = bits & ((1n << 52n) - 1n);
  if (e === 0 && m === 0n) return `${sign}0x0.0p+0`;
  const exp = e === 0 ? -1022 : e - 1023;
  return `${sign}0x${e === 0 ? 0 : 1}.${m.toString(16).padStart(13, '0')}p${exp >= 0 ? '+' : ''}${exp}`;
}

const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: true, arrays: true };

// toObject's output, then: doubles exact, absent sub-messages (null) left out.
function fixObject(type, o) {
  for (const f of type.fieldsArray) {
    f.resolve();
    const v = o[f.name];
    if (v === undefined) continue;
    if (f.resolvedType instanceof protobuf.Type) {
      if (v === null) delete o[f.name];
      else if (f.repeated) v.forEach((x) => fixObject(f.resolvedType, x));
      else fixObject(f.resolvedType, v);
    } else if (f.type === 'double' || f.type === 'float') {
      o[f.name] = f.repeated ? v.map(hexDouble) : hexDouble(v);
    }
  }
  return o;
}

// protobufjs skips fields it does not know: find them in the message's bytes, guided by the
// schema, and list them (in wire order) on the objects they belong to.
function attachUnknown(type, buf, o) {
  const r = protobuf.Reader.create(buf);
  const seen = new Map();
  while (r.pos < r.len) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wt = tag & 7;
    const f = type.fieldsById[id];
    if (!f) {
      let value;
      switch (wt) {
        case 0: value = r.uint64().toString(); break;
        case 1: value = r.fixed64().toString(); break;
        case 5: value = String(r.fixed32()); break;
        case 2: value = Buffer.from(r.bytes()).toString('hex'); break;
        default: fail(`unknown field ${id} of ${type.name} has wire type ${wt}`);
      }
      if (!o._unknown) o._unknown = [];
      o._unknown.push({ field: id, wire_type: wt, value });
    } else if (f.resolvedType instanceof protobuf.Type && wt === 2) {
      const sub = r.bytes();
      let target = o[f.name];
      if (f.repeated) {
        const i = seen.get(id) || 0;
        seen.set(id, i + 1);
        target = target[i];
      }
      if (target) attachUnknown(f.resolvedType, sub, target);
    } else {
      r.skipType(wt);
    }
  }
}

// JSON with keys sorted at every level, no spaces (Python's json.dumps(sort_keys=True,
// separators=(',', ':'), ensure_ascii=False) prints the same).
function stable(v) {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function canonLine(ev, body) {
  const wrapper = { event: fixObject(Event, Event.toObject(ev, TO_OBJECT)) };
  attachUnknown(ServerMessage, body, wrapper);
  if (wrapper._unknown) fail(`a ServerMessage with unknown fields: ${Buffer.from(body).toString('hex')}`);
  return stable(wrapper.event);
}

// ---- the conversation ---------------------------------------------------------------------

const subscribed = new Map(); // topic -> its SubscribeResult
const nextOffset = new Map(); // `${topic}\0${partition}` -> next expected offset
const out = [];               // canonical lines, written at the end
const where = (topic, p) => `${topic}\0${p}`;

function onSubscribed(res) {
  const id = res.subscription_id;
  if (!(id >= 1 && id <= topics.length)) fail(`subscribed.subscription_id ${id}, want 1..${topics.length}`);
  const topic = topics[id - 1];
  if (subscribed.has(topic)) fail(`a second SubscribeResult for '${topic}'`);
  if (res.topic && res.topic !== topic) fail(`subscribed.topic '${res.topic}', want '${topic}'`);
  if (!(res.partitions >= 1)) fail(`subscribed.partitions ${res.partitions}, want >= 1`);
  subscribed.set(topic, res);
  for (let p = 0; p < res.partitions; p++) nextOffset.set(where(topic, p), 0n);
  for (const pos of res.positions || []) {
    if (pos.partition >= res.partitions) fail(`subscribed.positions names partition ${pos.partition} of ${res.partitions}`);
    nextOffset.set(where(topic, pos.partition), big(pos.next_offset));
  }
  if (res.partitions === 1 && nextOffset.get(where(topic, 0)) !== 0n) {
    fail(`EARLIEST on a one-partition topic starts at offset ${nextOffset.get(where(topic, 0))}, want 0`);
  }
  if (expected === 0 && subscribed.size === topics.length) finishSoon();
}

function onEvent(ev, body) {
  const n = received;
  const at = `event #${n}`;
  const d = ev.distribution;
  if (!d) fail(`${at}: no distribution`);
  if (!subscribed.has(d.topic)) fail(`${at} on topic '${d.topic}' arrived before its SubscribeResult`);
  if (received >= expected) fail(`unexpected extra ${at} (expected exactly ${expected})`);
  const part = d.partition >>> 0;
  const key = where(d.topic, part);
  if (!nextOffset.has(key)) fail(`${at}: partition ${part} not in 0..${subscribed.get(d.topic).partitions - 1}`);
  const off = big(d.offset);
  const want = nextOffset.get(key);
  if (off !== want) fail(`${at}: partition ${part} offset ${off}, want ${want} (dense, in order)`);
  nextOffset.set(key, want + 1n);
  if (canonMode) {
    out.push(canonLine(ev, body));
  } else {
    if (ev.data_type !== DataType.DATA_TYPE_MARKET_DATA) {
      fail(`${at}: data_type ${ev.data_type}, want DATA_TYPE_MARKET_DATA (${DataType.DATA_TYPE_MARKET_DATA})`);
    }
    if (ev.payload !== 'market_data' || !ev.market_data) fail(`${at}: payload '${ev.payload}', want market_data`);
    if (!ev.market_data.symbol) fail(`${at}: market_data.symbol is empty`);
    if (!(big(ev.receive_time_ns) > 0n)) fail(`${at}: receive_time_ns ${ev.receive_time_ns}, want > 0`);
    if (!d.routing_key) fail(`${at}: distribution.routing_key is empty`);
  }
  received++;
  if (received === expected && subscribed.size === topics.length) finishSoon();
}

function onMessage(msg, body) {
  const verr = ServerMessage.verify(msg);
  if (verr) fail(`ServerMessage.verify: ${verr}`);
  switch (msg.body) {
    case 'hello':
      if (subscribed.size) fail('HelloResult after a SubscribeResult');
      if (msg.hello.protocol_version !== 1) fail(`hello.protocol_version ${msg.hello.protocol_version}, want 1`);
      break;
    case 'subscribed':
      onSubscribed(msg.subscribed);
      break;
    case 'event':
      onEvent(msg.event, body);
      break;
    case 'error': {
      const e = msg.error;
      fail(`server error ${ErrorCode[e.code] || e.code}: ${e.message}`);
      break;
    }
    case 'pong':
    case 'heartbeat':
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
    const bodyStart = reader.pos;
    const end = bodyStart + len;
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
    onMessage(msg, pending.subarray(bodyStart, end));
  }
  pending = pending.subarray(reader.pos);
}

let lingering = false;
function finishSoon() {
  // Wait a little: a duplicate or stray event right after the last one is a failure.
  if (lingering) return;
  lingering = true;
  setTimeout(finish, LINGER_MS);
}

function finish() {
  if (done) return;
  done = true;
  clearTimeout(timer);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const parts = [...nextOffset.entries()].map(([k, o]) => `${k.replace('\0', ':')}:${o}`).join(' ');
  sock.destroy();
  if (canonMode) {
    process.stderr.write(`subscribe.mjs: OK: ${received} events on ${topics.join(',')}, ` +
      `${bytesIn} bytes, ${secs.toFixed(2)} s\n`);
    // Flushed before exiting: stdout may be a pipe.
    process.stdout.write(out.length ? out.join('\n') + '\n' : '', () => process.exit(0));
    return;
  }
  const topic = topics[0];
  const res = subscribed.get(topic);
  const summary = {
    ok: true,
    received,
    topic,
    partitions: res.partitions,
    next_offsets: Object.fromEntries([...nextOffset.entries()].map(([k, o]) => [Number(k.split('\0')[1]), Number(o)])),
    bytes: bytesIn,
    seconds: Number(secs.toFixed(3)),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.stdout.write(`subscribe.mjs: OK: ${received} events on '${topic}' ` +
    `(${res.partitions} partition(s), next offsets ${parts}), ${bytesIn} bytes, ${secs.toFixed(2)} s\n`);
  process.exit(0);
}

sock = net.connect({ host, port });
sock.setNoDelay(true);
sock.on('connect', () => {
  sock.write(frame({ hello: { protocol_version: 1, client_name: 'interop-protobufjs' } }));
  topics.forEach((topic, i) => sock.write(frame({
    subscribe: { subscription_id: i + 1, topic, start: StartPosition.START_POSITION_EARLIEST },
  })));
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
  if (!done && subscribed.size === topics.length && received === expected) finish();
  if (!done) fail(`server closed the connection (subscribed: ${subscribed.size} of ${topics.length})`);
});
