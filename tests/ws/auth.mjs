// WebSocket streams under --auth required (ws_test.sh starts fanoutd so, with its
// bootstrap admin token in @DIR@/boot): no token or a client token is refused at the
// handshake as for any REST call; a reader's subscribe is checked against its token's
// subscribe patterns (a named topic refused with PERMISSION_DENIED, "every topic" only
// the allowed ones); a token revoked meanwhile ends the connection.
import { readFileSync } from 'node:fs';
import { Client, check, md, publish, rawGet, sleep, DIR, HTTP, WS_HEADERS } from './lib.mjs';

const boot = readFileSync(`${DIR}/boot`, 'utf8').trim();
process.env.FANOUT_TOKEN = boot;	// fanout-pub publishes as the admin

async function api(method, path, body, token = boot) {
  const res = await fetch(`http://${HTTP}${path}`, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

const reader = await api('POST', '/api/v1/tokens',
  { name: 'desk', role: 'reader', subscribe: { allow: ['open', 'open/>'] } });
check(reader.status === 201, `token: ${JSON.stringify(reader)}`);
const client = await api('POST', '/api/v1/tokens', { name: 'feed' });
check(client.status === 201, `client token: ${JSON.stringify(client)}`);
publish([md('o1', 'open', 'AAPL', 'NYSE', 1), md('s1', 'secret', 'AAPL', 'NYSE', 2)], 'two');

const none = await rawGet('/api/v1/stream', WS_HEADERS);
check(none.status === 401, `no token: ${none.status}`);
const asClient = await rawGet('/api/v1/stream', { ...WS_HEADERS, Authorization: `Bearer ${client.body.token}` });
check(asClient.status === 403, `a client token: ${asClient.status}`);

const auth = { headers: { Authorization: `Bearer ${reader.body.token}` } };
const c = new Client('/api/v1/stream', auth);
await c.opened;
c.send({ type: 'subscribe', payload: { id: 1, topic: 'secret', start: 'earliest' } });
c.send({ type: 'subscribe', payload: { id: 2, topic: 'open', start: 'earliest' } });
c.send({ type: 'subscribe', payload: { id: 3, start: 'earliest' } });	// every topic it may read
await c.until((cl) => cl.of('error').length === 1 && cl.of('subscribe').length === 2, 5000, 'answers');
const denied = c.of('error')[0].payload;
check(denied.code === 'PERMISSION_DENIED' && denied.field === 'payload.topic', `secret: ${JSON.stringify(denied)}`);
const every = c.of('subscribe').find((m) => m.payload.id === 3).payload;
check(every.topics.length === 1 && every.topics[0] === 'open', `every topic: ${JSON.stringify(every)}`);
await c.until((cl) => cl.data(2).length === 1 && cl.data(3).length === 1, 5000, 'events of open');
await sleep(200);
check(c.of('data').every((m) => m.payload.event.distribution.topic === 'open'), 'a secret event came');

// A browser's way: ?access_token= on the stream (it cannot set headers); not elsewhere.
const q = new Client(`/api/v1/stream?access_token=${reader.body.token}&topic=open&start=earliest`);
await q.opened;
await q.until((cl) => cl.of('data').length === 1, 5000, 'an event over ?access_token=');
q.close();
const elsewhere = await fetch(`http://${HTTP}/api/v1/topics?access_token=${reader.body.token}`);
check(elsewhere.status === 401, `access_token outside the streams: ${elsewhere.status}`);
const page = await fetch(`http://${HTTP}/`);
check(page.status === 200 && (await page.text()).includes('<title>fanout'), 'the dashboard page is open');

// Revoked: the next subscribe finds the token gone and the connection ends.
const rv = await api('DELETE', `/api/v1/tokens/${reader.body.id}`);
check(rv.status === 200, `revoke: ${JSON.stringify(rv)}`);
c.send({ type: 'subscribe', payload: { id: 4, topic: 'open' } });
await c.until((cl) => cl.closed, 5000, 'the close after the revocation');
check(c.of('error').pop().payload.code === 'UNAUTHENTICATED', 'revoked: no UNAUTHENTICATED error');
console.log('PASS: handshake refused without a token (401) and for a client token (403); ' +
  'subscribe patterns enforced per topic; a revoked token ends its connection');
process.exit(0);
