/* admin/ws.c — the WebSocket server: the handshake, the sockets libmicrohttpd hands over,
 * and the admin thread's wait over both (see ws.h). */
#include "admin/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/admin_audit.h"
#include "admin/http.h"
#include "admin/log.h"
#include "admin/ws_accept.h"
#include "admin/ws_conn.h"
#include "core/clock.h"
#include "net/server.h"

#define WS_EPOLL_EVENTS 256

/* ---- connections ------------------------------------------------------------------- */

static void ws_drop(struct ws_server *srv, struct ws_conn *c)
{
	/* Before the socket closes; it fails only for a descriptor never added. */
	(void)epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->tls.session)
		(void)epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->tls.fd, NULL);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ws_conn_free(c);
	srv->st.open--;
	srv->st.closed++;
}

static void ws_pending_free(struct ws_pending *p)
{
	json_decref(p->preset);
	json_decref(p->auto_sub);
	free(p);
}

/* Takes the pending handshake of conn out of the list (NULL when none: expired). */
static struct ws_pending *ws_pending_take(struct ws_server *srv, struct MHD_Connection *conn)
{
	for (struct ws_pending **pp = &srv->pending; *pp; pp = &(*pp)->next) {
		struct ws_pending *p = *pp;

		if (p->conn != conn)
			continue;
		*pp = p->next;
		srv->npending--;
		return p;
	}
	return NULL;
}

/* Handshakes whose answer never went out (the client left first): libmicrohttpd says
 * nothing of them, so they expire. */
static void ws_pending_expire(struct ws_server *srv, int64_t now_ns)
{
	for (struct ws_pending **pp = &srv->pending; *pp;) {
		struct ws_pending *p = *pp;

		if (now_ns - p->at_ns < (int64_t)WS_PENDING_MS * 1000000) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		srv->npending--;
		ws_pending_free(p);
	}
}

/* wss://: the TCP socket's room to write, for the frames ws_tls_send writes there (its
 * input is libmicrohttpd's to read: only EPOLLOUT is asked for). Returns epoll_ctl's. */
static int ws_tls_watch(struct ws_server *srv, struct ws_conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.ptr = c };

	return epoll_ctl(srv->ep, EPOLL_CTL_ADD, c->tls.fd, &ev);
}

/* libmicrohttpd sent the 101: the socket is ours (closed through urh). */
static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls,
			const char *extra, size_t extra_len, MHD_socket fd,
			struct MHD_UpgradeResponseHandle *urh)
{
	struct ws_server *srv = cls;
	struct ws_pending *p = ws_pending_take(srv, conn);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct ws_conn *c = NULL;
	int fl = fcntl(fd, F_GETFL);

	(void)req_cls;
	if (!p || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    ws_conn_open(srv, p, fd, urh, extra, extra_len, &c) < 0) {
		if (p)
			ws_pending_free(p);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	ev.data.ptr = c;
	ws_tls_attach(&c->tls, conn);
	if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ||
	    (c->tls.session && ws_tls_watch(srv, c) < 0)) {
		admin_log(ADMIN_LOG_WARN, "websocket: epoll_ctl: %s", strerror(errno));
		(void)epoll_ctl(srv->ep, EPOLL_CTL_DEL, fd, NULL);
		ws_pending_free(p);
		ws_conn_free(c);
		return;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->st.open++;
	srv->st.accepted++;
	if (p->auto_sub)
		ws_conn_auto_subscribe(c, p->auto_sub);
	ws_pending_free(p);
}

/* ---- the handshake ----------------------------------------------------------------- */

/* True when the comma-separated header value has token (any case). */
static bool ws_header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	size_t tl = strlen(token);

	for (const char *p = v; p && *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p += n;
	}
	return false;
}

struct ws_query {
	json_t *payload;
	bool binary, bad;
	struct ws_msg_error err;
};

static enum MHD_Result ws_query_one(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct ws_query *q = cls;
	char buf[4096];

	(void)kind;
	if (q->bad)
		return MHD_NO;
	if (!value || path_decode(value, strlen(value), buf, sizeof(buf)) < 0) {
		snprintf(q->err.field, sizeof(q->err.field), "%s", key);
		snprintf(q->err.message, sizeof(q->err.message), "query parameter %s is malformed "
			 "or longer than %zu bytes", key, sizeof(buf) - 1);
		q->bad = true;
	} else if (strcmp(key, "access_token") == 0) {
		/* rest_auth.c's: the handshake was authenticated with it */
	} else if (strcmp(key, "format") == 0) {
		q->binary = strcmp(buf, "protobuf") == 0;
		q->bad = !q->binary && strcmp(buf, "json") != 0;
		if (q->bad) {
			snprintf(q->err.field, sizeof(q->err.field), "format");
			snprintf(q->err.message, sizeof(q->err.message), "format must be json or "
				 "protobuf");
		}
	} else {
		q->bad = ws_query_set(q->payload, key, buf, &q->err) < 0;
	}
	return q->bad ? MHD_NO : MHD_YES;
}

static const char *const ws_endpoint_type[] = {
	[WS_ENDPOINT_MARKET_DATA] = "market_data",
	[WS_ENDPOINT_EXECUTION] = "execution",
	[WS_ENDPOINT_COORDINATION] = "coordination_decision",
};

/* The query into p: filters every subscription gets (with the endpoint's data type unless
 * the query names data types), and a subscription at once on a seed endpoint or when the
 * query names a topic or patterns. Returns 0, or -1 with rep set to 400 naming the
 * parameter. */
static int ws_handshake_query(const struct admin_req *r, enum ws_endpoint ep,
			      struct ws_pending *p, struct admin_reply *rep)
{
	struct ws_query q = { .payload = json_object() };
	struct ws_sub_req req;
	json_t *filters;

	if (!q.payload)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory"), -1;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, ws_query_one, &q);
	filters = json_object_get(q.payload, "filters");
	p->preset = filters ? json_incref(filters) : json_object();
	json_object_del(q.payload, "filters");
	if (!q.bad && ep != WS_ENDPOINT_GENERAL && !json_object_get(p->preset, "data_types"))
		json_object_set_new(p->preset, "data_types",
				    json_pack("[s]", ws_endpoint_type[ep]));
	if (!q.bad && ws_sub_parse(q.payload, p->preset, "query", &req, &q.err) < 0)
		q.bad = true;
	else if (!q.bad)
		ws_sub_req_free(&req);
	if (q.bad) {
		json_decref(q.payload);
		return admin_error(rep, 400, "BAD_PARAMETER", q.err.field, "%s", q.err.message), -1;
	}
	p->binary = q.binary;
	if (ep != WS_ENDPOINT_GENERAL || json_object_size(q.payload) > 0)
		p->auto_sub = q.payload;
	else
		json_decref(q.payload);
	return 0;
}

/* The headers of an RFC 6455 handshake; the accept key into accept. Returns 0 or -1
 * with rep set. */
static int ws_handshake_headers(const struct admin_req *r, char accept[WS_ACCEPT_BYTES],
				struct admin_reply *rep)
{
	const char *ver = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						      "Sec-WebSocket-Version");

	if (!ws_header_has(r->conn, MHD_HTTP_HEADER_UPGRADE, "websocket") ||
	    !ws_header_has(r->conn, MHD_HTTP_HEADER_CONNECTION, "upgrade"))
		return admin_error(rep, 400, "NOT_WEBSOCKET", NULL, "this is a WebSocket endpoint: "
				   "connect with Upgrade: websocket"), -1;
	if (!ver || strcmp(ver, "13") != 0)
		return admin_error(rep, 400, "NOT_WEBSOCKET", NULL, "Sec-WebSocket-Version must "
				   "be 13"), -1;
	if (ws_accept_key(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						      "Sec-WebSocket-Key"), accept) < 0)
		return admin_error(rep, 400, "NOT_WEBSOCKET", NULL, "Sec-WebSocket-Key must be "
				   "the base64 of 16 bytes"), -1;
	return 0;
}

int ws_upgrade(struct admin_req *r, struct admin_reply *rep, enum ws_endpoint ep)
{
	struct ws_server *srv = r->a->ws;
	char accept[WS_ACCEPT_BYTES];
	struct ws_pending *p;

	if (strcmp(r->method, "GET") != 0)
		return admin_method_not_allowed(rep, "GET");
	if (!srv)
		return admin_error(rep, 503, "UNAVAILABLE", NULL, "WebSocket streams are off");
	if (ws_handshake_headers(r, accept, rep) < 0)
		return 0;
	if (srv->st.open + srv->npending >= WS_CONNECTIONS_MAX) {
		srv->st.refused++;
		return admin_error(rep, 503, "TOO_MANY_CONNECTIONS", NULL, "the server has %u "
				   "WebSocket connections, its bound", WS_CONNECTIONS_MAX);
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	if (ws_handshake_query(r, ep, p, rep) < 0) {
		ws_pending_free(p);
		return 0;
	}
	rep->upgrade = MHD_create_response_for_upgrade(ws_upgraded, srv);
	if (!rep->upgrade) {
		ws_pending_free(p);
		return admin_error(rep, 500, "INTERNAL", NULL, "cannot upgrade");
	}
	MHD_add_response_header(rep->upgrade, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(rep->upgrade, "Sec-WebSocket-Accept", accept);
	p->conn = r->conn;
	p->at_ns = clock_monotonic_ns();
	p->token = r->who && r->who->token;
	if (r->who)
		snprintf(p->peer, sizeof(p->peer), "%s", r->who->source);
	if (p->token)
		memcpy(p->token_id, r->who->id, sizeof(p->token_id));
	p->next = srv->pending;
	srv->pending = p;
	srv->npending++;
	rep->status = 101;
	return 0;
}

/* ---- the loop ---------------------------------------------------------------------- */

/* The reactors' wake-up (net/engine.h admin_wake_fd), tagged with srv itself. */
static int ws_wake_watch(struct ws_server *srv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = srv };

	return epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->wake_fd, &ev);
}

int ws_init(struct admin *a)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event ev = { .events = EPOLLIN };
	struct ws_server *srv = calloc(1, sizeof(*srv));

	if (!srv || !info) {
		free(srv);
		admin_log(ADMIN_LOG_ERROR, "websocket: %s", srv ? "no epoll in libmicrohttpd"
			  : "out of memory");
		return -1;
	}
	srv->a = a;
	srv->mhd_fd = info->epoll_fd;
	srv->snap_budget = WS_SNAPSHOT_TOTAL_BYTES;
	srv->ping_ns = (int64_t)WS_PING_MS * 1000000;
	srv->idle_ns = (int64_t)WS_IDLE_MS * 1000000;
	if (getenv(WS_TEST_PING_ENV) && atoi(getenv(WS_TEST_PING_ENV)) > 0) {
		srv->ping_ns = (int64_t)atoi(getenv(WS_TEST_PING_ENV)) * 1000000;
		srv->idle_ns = 3 * srv->ping_ns;
		admin_log(ADMIN_LOG_WARN, "websocket: %s: pings after %s ms (a test's setting)",
			  WS_TEST_PING_ENV, getenv(WS_TEST_PING_ENV));
	}
	srv->ep = epoll_create1(EPOLL_CLOEXEC);
	srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->ep < 0 || epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->mhd_fd, &ev) < 0 ||
	    srv->wake_fd < 0 || ws_wake_watch(srv) < 0) {
		admin_log(ADMIN_LOG_ERROR, "websocket: epoll: %s", strerror(errno));
		if (srv->ep >= 0)
			close(srv->ep);
		if (srv->wake_fd >= 0)
			close(srv->wake_fd);
		free(srv);
		return -1;
	}
	a->eng->admin_wake_fd = srv->wake_fd;	/* before the first arming (ws_arm) */
	a->ws = srv;
	return 0;
}

void ws_free(struct admin *a)
{
	struct ws_server *srv = a->ws;

	if (!srv)
		return;
	while (srv->conns)
		ws_drop(srv, srv->conns);
	while (srv->pending) {
		struct ws_pending *p = srv->pending;

		srv->pending = p->next;
		ws_pending_free(p);
	}
	ws_cache_clear(&srv->cache, true);
	close(srv->ep);
	/* Disarmed, not closed: a reactor that took the flag just now may still write to
	 * it, and a number reused meanwhile would take its 8 bytes (the process ends). */
	atomic_store_explicit(&a->eng->admin_armed, false, memory_order_seq_cst);
	free(srv);
	a->ws = NULL;
}

/* Once a second, when the number of topics changed: subscriptions to every topic take
 * the new ones. */
static void ws_topics_poll(struct ws_server *srv, int64_t now_ns)
{
	struct topic *one, **tps;
	uint32_t n;

	if (!srv->conns || now_ns < srv->topics_next_ns)
		return;
	srv->topics_next_ns = now_ns + 1000000000;
	n = topic_table_list(srv->a->topics, &one, 0);	/* how many, under its lock */
	if (n == srv->topics_seen)
		return;
	n = n < WS_SUB_PARTS_MAX ? n : WS_SUB_PARTS_MAX;
	tps = malloc((n ? n : 1) * sizeof(*tps));
	if (!tps)
		return;	/* again in a second */
	n = topic_table_list(srv->a->topics, tps, n);
	n = n < WS_SUB_PARTS_MAX ? n : WS_SUB_PARTS_MAX;
	for (struct ws_conn *c = srv->conns; c; c = c->next)
		ws_conn_topics_grew(c, tps, n);
	srv->topics_seen = n;
	free(tps);
}

/* Each connection's turn. Returns true when one moved (a cursor stepped, a message was
 * queued) or has queued bytes it could send now: look again at once. */
static bool ws_turns(struct ws_server *srv)
{
	int64_t now_ns = clock_monotonic_ns();
	uint64_t moved = srv->moved;
	bool busy = false;

	srv->reading = false;
	ws_cache_tick(&srv->cache);
	ws_topics_poll(srv, now_ns);
	for (struct ws_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if (!ws_conn_turn(c, now_ns))
			ws_drop(srv, c);
		else {
			busy = busy || ws_conn_more(c);
			srv->reading = srv->reading || ws_conn_reading(c);
		}
	}
	if (srv->npending)
		ws_pending_expire(srv, now_ns);
	return busy || srv->moved != moved;
}

void ws_http_run(struct admin *a, int wait_ms)
{
	struct ws_server *srv = a->ws;
	struct epoll_event ev[WS_EPOLL_EVENTS];
	MHD_UNSIGNED_LONG_LONG to;
	bool woken = false;
	int n;

	if (!srv) {
		MHD_run_wait(a->mhd, wait_ms);
		return;
	}
	if (MHD_get_timeout(a->mhd, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)wait_ms)
		wait_ms = (int)to;
	/* Event-driven: a turn that moved looks again at once; one that did not sleeps, but
	 * only armed (net/engine.h), and the first time after arming it turns once more
	 * before sleeping: a tail published before the arming is seen by that turn, one
	 * published after wakes this thread through the eventfd. */
	if (srv->busy) {
		wait_ms = 0;
	} else if (srv->reading &&
		   !atomic_load_explicit(&a->eng->admin_armed, memory_order_relaxed)) {
		int64_t now_ns = clock_monotonic_ns();

		if (now_ns < srv->rearm_ns) {	/* the last wake-up found nothing for us */
			if (wait_ms > (int)((srv->rearm_ns - now_ns) / 1000000) + 1)
				wait_ms = (int)((srv->rearm_ns - now_ns) / 1000000) + 1;
		} else {
			atomic_store_explicit(&a->eng->admin_armed, true, memory_order_seq_cst);
			/* The flag, then the tails. */
			atomic_thread_fence(memory_order_seq_cst);
			wait_ms = 0;
		}
	}
	n = epoll_wait(srv->ep, ev, WS_EPOLL_EVENTS, wait_ms);
	for (int i = 0; i < n; i++) {
		struct ws_conn *c = ev[i].data.ptr;
		uint64_t count;

		if (ev[i].data.ptr == srv) {	/* a reactor published: drained, turns below */
			while (read(srv->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR)
				;
			srv->st.wakeups++;
			woken = true;
			continue;
		}
		if (!c)
			continue;	/* the daemon's: MHD_run below */
		if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if (ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			c->blocked = false;
	}
	MHD_run(a->mhd);
	srv->busy = ws_turns(srv);
	/* Woken for logs none of ours reads (publishes to other topics): not armed again for
	 * WS_POLL_MS, so such traffic costs at most a turn that often, as polling did. Woken
	 * for ours: not armed again for WS_REARM_NS, so a steady stream costs the reactors
	 * at most an eventfd write that often (not one per publishing turn), the streams
	 * at most that much latency. */
	if (woken)
		srv->rearm_ns = clock_monotonic_ns() + (srv->busy ? WS_REARM_NS :
							(int64_t)WS_POLL_MS * 1000000);
}

void ws_topic_removed(struct admin *a, const struct topic *tp)
{
	if (a->ws)	/* its logs' entries may be another's once it is destroyed */
		ws_cache_clear(&a->ws->cache, false);
	for (struct ws_conn *c = a->ws ? a->ws->conns : NULL; c; c = c->next)
		ws_conn_topic_removed(c, tp);
}

int ws_list(struct admin_req *r, struct admin_reply *rep)
{
	struct ws_server *srv = r->a->ws;
	json_t *arr = json_array();

	for (struct ws_conn *c = srv ? srv->conns : NULL; arr && c; c = c->next)
		json_array_append_new(arr, ws_conn_json(c));	/* at most WS_CONNECTIONS_MAX */
	if (!arr)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	return admin_ok(rep, 200, json_pack("{s:o, s:I}", "connections", arr, "subscriptions",
					    (json_int_t)(srv ? srv->st.subs : 0)));
}

struct ws_stats ws_stats(const struct admin *a)
{
	return a->ws ? a->ws->st : (struct ws_stats){ 0 };
}
