/* admin/ws_conn.h — one WebSocket connection: its wslay context over the upgraded socket,
 * its subscriptions, the client's messages (subscribe, unsubscribe), the turn that moves
 * its cursors into queued messages within the window, keepalive and the lag bound. Shared
 * by admin/ws.c (the server and its loop) only. The admin thread only. */
#ifndef FANOUT_ADMIN_WS_CONN_H
#define FANOUT_ADMIN_WS_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "admin/ws.h"
#include "admin/ws_cache.h"
#include "admin/ws_sub.h"
#include "admin/ws_tls.h"
#include "core/auth.h"

struct MHD_Connection;
struct MHD_UpgradeResponseHandle;

/* What the handshake decided, kept until libmicrohttpd hands over the socket. */
struct ws_pending {
	struct MHD_Connection *conn;
	int64_t at_ns;
	bool binary;			/* ?format=protobuf */
	bool token;			/* token_id is the caller's verified token */
	char peer[64];			/* the client's address */
	char token_id[AUTH_ID_LEN + 1];
	json_t *preset;			/* filters every subscribe of the connection gets */
	json_t *auto_sub;		/* a subscribe payload from the query, or NULL */
	struct ws_pending *next;
};

struct ws_server {
	struct admin *a;
	int ep;				/* epoll: the daemon's epoll fd and every socket */
	int mhd_fd;
	int wake_fd;			/* the reactors' eventfd (net/engine.h admin_wake_fd) */
	uint64_t moved;			/* cursor steps, messages queued: all connections */
	bool reading;			/* a connection has a subscription: sleep armed */
	int64_t rearm_ns;		/* not armed before (a wake-up that found nothing) */
	struct ws_conn *conns;
	struct ws_pending *pending;
	uint32_t npending;
	bool busy;			/* a connection reads a log: look again soon */
	int64_t ping_ns, idle_ns;	/* WS_PING_MS, WS_IDLE_MS (ws.h: a test's own) */
	uint64_t snap_budget;		/* bytes snapshots may still take, over all */
	uint32_t topics_seen;		/* topics when subscriptions to all last looked */
	int64_t topics_next_ns;		/* when they look again */
	struct ws_cache cache;		/* events' JSON, encoded once for all */
	struct ws_stats st;
	uint64_t next_id;
};

struct ws_conn {
	struct ws_server *srv;
	struct ws_conn *prev, *next;
	uint64_t id;			/* 1, 2, ... in this run (GET /api/v1/websockets) */
	int64_t since_ns;		/* connected, CLOCK_REALTIME */
	char peer[64];
	int fd;
	struct ws_tls tls;		/* wss://: frames out through the session (ws_tls.h) */
	struct MHD_UpgradeResponseHandle *urh;
	wslay_event_context_ptr ctx;
	bool binary, token;
	char token_id[AUTH_ID_LEN + 1];
	json_t *preset;
	uint8_t *in;			/* the client's message being received (wslay does
					 * not buffer: WS_IN_MAX is ours to hold) */
	size_t in_len, in_cap;
	bool in_ctrl;			/* the frame coming in is a control frame */
	uint8_t *extra;			/* bytes read with the handshake, for wslay first */
	size_t extra_len, extra_off;
	uint8_t obuf[WS_OBUF_BYTES];	/* frames gathered for one send (ws_send_cb) */
	size_t olen;
	bool readable;			/* epoll said so: read until EAGAIN */
	bool blocked;			/* the last send hit EAGAIN: wait for EPOLLOUT */
	bool dead;			/* the socket failed or the peer went: free it */
	int64_t last_rx_ns, ping_ns, close_by_ns, linger_until_ns;
	uint16_t close_code;		/* the close to send once the queue is empty */
	const char *close_reason;	/* static */
	bool close_queued;
	uint32_t next_auto_id;
	uint32_t nsubs;
	struct ws_sub *subs[WS_SUBS_MAX];
	uint32_t rr;			/* next subscription to serve */
};

/* A connection over fd taking p's settings (p's JSON moves to it). Returns 0 or -1. */
int ws_conn_open(struct ws_server *srv, struct ws_pending *p, int fd,
		 struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len,
		 struct ws_conn **out);

/* Reads what is there, queues what its cursors have, sends, and keeps time. Returns
 * false when the connection is over (ws_conn_free it). */
bool ws_conn_turn(struct ws_conn *c, int64_t now_ns);

/* Subscribes as the query said (ws_pending.auto_sub). */
void ws_conn_auto_subscribe(struct ws_conn *c, const json_t *payload);

/* True when a subscription reads something now. */
bool ws_conn_reading(const struct ws_conn *c);

/* True when the connection has messages or bytes it could send now (not blocked on its
 * socket): its next turn must not wait for an event. */
bool ws_conn_more(const struct ws_conn *c);

/* Topics exist now that subscriptions to every topic may not read yet (tps[0..n)): they
 * join, those the token may read. */
void ws_conn_topics_grew(struct ws_conn *c, struct topic *const *tps, uint32_t n);

/* The connection for GET /api/v1/websockets: id, peer, format, since, queued bytes and
 * each subscription's topics, patterns, delivered and lag. A new reference or NULL. */
json_t *ws_conn_json(const struct ws_conn *c);

/* tp is being deleted: forget it. */
void ws_conn_topic_removed(struct ws_conn *c, const struct topic *tp);

/* Closes the socket (through libmicrohttpd) and frees everything. */
void ws_conn_free(struct ws_conn *c);

#endif
