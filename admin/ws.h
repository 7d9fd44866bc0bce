/* admin/ws.h — WebSocket streams on the admin HTTP port: libmicrohttpd upgrades the
 * connection (admin/api_ws.c answers the handshake), wslay frames the messages, and each
 * subscription is a cursor over the partition logs (admin/ws_sub.h) read by the admin
 * thread, which serves these sockets beside libmicrohttpd's from one epoll.
 *
 * Bounds: WS_CONNECTIONS_MAX connections (more are answered 503); WS_SUBS_MAX
 * subscriptions each; a client message of more than WS_IN_MAX bytes gets an error and the
 * connection is closed (1009); at most WS_WINDOW_BYTES of messages are queued per
 * connection before its cursors stop moving, so a slow client costs that much and falls
 * behind in the log; one further behind than --max-lag-bytes / --max-lag-events is sent
 * an error SLOW_CONSUMER and closed. A connection is pinged after WS_PING_MS of silence
 * and closed after WS_IDLE_MS. The admin thread only. */
#ifndef FANOUT_ADMIN_WS_H
#define FANOUT_ADMIN_WS_H

#include <stdbool.h>
#include <stdint.h>

struct admin;
struct admin_req;
struct admin_reply;
struct topic;

#define WS_CONNECTIONS_MAX 1024u	/* open WebSocket connections (and handshakes) */
#define WS_SUBS_MAX        16u		/* subscriptions per connection */
#define WS_IN_MAX          (64u << 10)	/* a client message's bytes */
#define WS_WINDOW_BYTES    (256u << 10)	/* queued, unsent message bytes per connection */
#define WS_OBUF_BYTES      (16u << 10)	/* frames gathered per send, per connection */
#define WS_SNAPSHOT_TOTAL_BYTES (64ull << 20)	/* snapshots not yet sent, over all */
#define WS_TICK_EVENTS     512u		/* messages queued per connection per turn */
#define WS_SCAN_EVENTS     8192u	/* events read per connection per turn */
#define WS_POLL_MS         2		/* the least time between two wake-ups by the
					 * reactors that found nothing for a stream */
#define WS_REARM_NS        (1000 * 1000ll)	/* the least time between two wake-ups
						 * that found events for a stream */
#define WS_PING_MS         15000	/* silence before a ping */
#define WS_IDLE_MS         45000	/* silence (no pong either) before a close */
/* Test hook (environment of fanoutd): FANOUT_TEST_WS_PING_MS=N pings after N ms of silence
 * and closes after 3N, so that a test sees the keepalive work in seconds. */
#define WS_TEST_PING_ENV   "FANOUT_TEST_WS_PING_MS"
#define WS_CLOSE_GRACE_MS  5000		/* a closing connection's time to take its last */
#define WS_LINGER_MS       500		/* input dropped after our close (ws_conn.c) */
#define WS_PENDING_MS      10000	/* a handshake answered and not yet upgraded */

/* What the seed endpoints preset (their data type). */
enum ws_endpoint {
	WS_ENDPOINT_GENERAL,		/* /api/v1/stream */
	WS_ENDPOINT_MARKET_DATA,	/* /api/v1/market-data/stream */
	WS_ENDPOINT_EXECUTION,		/* /api/v1/execution/stream */
	WS_ENDPOINT_COORDINATION,	/* /api/v1/coordination/stream */
};

struct ws_stats {
	uint64_t accepted, refused, closed;	/* connections */
	uint64_t slow_cut, idle_cut;		/* closed for lag, for silence */
	uint64_t msgs_in, msgs_out, bytes_out;	/* messages (data, errors, answers) */
	uint64_t data_out, errors_out, bad_in;	/* data messages; errors sent; refused ones */
	uint64_t wakeups;			/* by the reactors: a log grew */
	uint32_t open, subs;			/* now */
};

/* Starts serving (the daemon's epoll joined to one of its own). Returns 0 or -1. */
int ws_init(struct admin *a);

/* Closes every connection and frees the state. Before the daemon stops. */
void ws_free(struct admin *a);

/* Waits at most wait_ms for the daemon's sockets or the streams', then serves both. */
void ws_http_run(struct admin *a, int wait_ms);

/* Answers a handshake on endpoint ep: 101 with the upgrade (the connection becomes a
 * stream once sent), or an error in rep. */
int ws_upgrade(struct admin_req *r, struct admin_reply *rep, enum ws_endpoint ep);

/* GET /api/v1/websockets: every connection with its subscriptions, their lag. */
int ws_list(struct admin_req *r, struct admin_reply *rep);

/* tp is being deleted: subscriptions reading it forget it. */
void ws_topic_removed(struct admin *a, const struct topic *tp);

/* The counters, for /metrics (zeros without HTTP). */
struct ws_stats ws_stats(const struct admin *a);

#endif
