// Keepalive (ws_test.sh starts fanoutd with FANOUT_TEST_WS_PING_MS=500: a ping after
// 500 ms of silence, a close after 1500): a client that answers pings stays; one that
// does not (autoPong off) is closed with 1001.
import { Client, check, metrics, sleep } from './lib.mjs';

const alive = new Client('/api/v1/stream');
const mute = new Client('/api/v1/stream', { autoPong: false });
await alive.opened;
await mute.opened;
let pings = 0;
alive.ws.on('ping', () => { pings++; });
await mute.until((c) => c.closed, 5000, 'the close of the client that never answers pings');
check(mute.closed.code === 1001, `mute client's close: ${JSON.stringify(mute.closed)}`);
await sleep(1000);
check(pings >= 2, `pings to the live client: ${pings}`);
check(!alive.closed, 'the client that answers pings was closed');
const m = await metrics();
check(m.fanout_ws_idle_closed_total === 1, `fanout_ws_idle_closed_total ${m.fanout_ws_idle_closed_total}`);
alive.close();
console.log(`PASS: ${pings} pings answered, the silent client closed 1001`);
process.exit(0);
