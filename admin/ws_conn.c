/* admin/ws_conn.c — see ws_conn.h. */
#include "admin/ws_conn.h"

#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admin/admin.h"
#include "admin/path.h"
#include "core/clock.h"

/* ---- wslay's I/O --------------------------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
			  void *user)
{
	struct ws_conn *c = user;
	ssize_t n;

	(void)flags;
	if (c->extra_off < c->extra_len) {	/* what came with the handshake goes first */
		n = (ssize_t)(c->extra_len - c->extra_off < len ? c->extra_len - c->extra_off : len);
		memcpy(buf, c->extra + c->extra_off, (size_t)n);
		c->extra_off += (size_t)n;
		return n;
	}
	do
		n = recv(c->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->last_rx_ns = clock_monotonic_ns();
		return n;
	}
	wslay_event_set_error(ctx, n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
			      ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* Writes what obuf holds. On EAGAIN the rest waits for EPOLLOUT (blocked). */
static void ws_flush(struct ws_conn *c)
{
	ssize_t n;

	while (c->olen && !c->blocked && !c->dead) {
		do
			n = c->tls.session ? ws_tls_send(&c->tls, c->obuf, c->olen)
					   : send(c->fd, c->obuf, c->olen, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				c->blocked = true;	/* EPOLLOUT clears it */
			else
				c->dead = true;
			return;
		}
		c->srv->st.bytes_out += (uint64_t)n;
		memmove(c->obuf, c->obuf + n, c->olen - (size_t)n);
		c->olen -= (size_t)n;
	}
}

/* wslay writes a frame's header and payload separately: gathered in obuf, they go out in
 * one send per WS_OBUF_BYTES rather than two sends a message. */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
			  int flags, void *user)
{
	struct ws_conn *c = user;
	size_t n;

	(void)flags;
	if (c->olen == sizeof(c->obuf))
		ws_flush(c);
	if (c->dead) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	if (c->olen == sizeof(c->obuf)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	n = len < sizeof(c->obuf) - c->olen ? len : sizeof(c->obuf) - c->olen;
	memcpy(c->obuf + c->olen, data, n);
	c->olen += n;
	return (ssize_t)n;
}

/* ---- messages out -------------------------------------------------------------------- */

/* Queues a message (wslay copies it). Returns 0 or -1 (closing: not queued). */
static int ws_queue(struct ws_conn *c, uint8_t opcode, const void *data, size_t len)
{
	struct wslay_event_msg m = { .opcode = opcode, .msg = data, .msg_length = len };

	if (wslay_event_queue_msg(c->ctx, &m) != 0)
		return -1;
	c->srv->st.msgs_out++;
	return 0;
}

/* Queues a malloc'd, NUL-terminated text message (NULL: none) and frees it. */
static int ws_queue_text(struct ws_conn *c, char *text)
{
	int rc = text ? ws_queue(c, WSLAY_TEXT_FRAME, text, strlen(text)) : -1;

	free(text);
	return rc;
}

static void ws_error(struct ws_conn *c, const char *code, const char *field, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static void ws_error(struct ws_conn *c, const char *code, const char *field, const char *fmt,
		     ...)
{
	char msg[512];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ws_queue_text(c, ws_msg_error_text(code, field, msg, &len)) == 0)
		c->srv->st.errors_out++;
}

/* Starts the close: the close frame goes once what is queued went (wslay would send a
 * control frame first, before the error saying why), and the connection has
 * WS_CLOSE_GRACE_MS for all of it and the peer's answer. */
static void ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	if (c->close_by_ns)
		return;
	c->close_code = code;
	c->close_reason = reason;
	c->close_by_ns = clock_monotonic_ns() + (int64_t)WS_CLOSE_GRACE_MS * 1000000;
}

/* Queues the close frame once nothing is ahead of it. */
static void ws_close_when_sent(struct ws_conn *c)
{
	if (!c->close_code || c->close_queued || wslay_event_get_queued_msg_count(c->ctx) != 0)
		return;
	c->close_queued = true;
	if (wslay_event_queue_close(c->ctx, c->close_code, (const uint8_t *)c->close_reason,
				    strlen(c->close_reason)) != 0)
		c->dead = true;	/* out of memory: the socket closes without it */
}

/* ---- messages in --------------------------------------------------------------------- */

/* The caller's token still in force (with --auth required), or NULL after an error. */
static const struct auth_token *ws_token(struct ws_conn *c, bool *open)
{
	struct admin *a = c->srv->a;
	const struct auth_token *t;

	*open = !a->cfg->auth_required || !a->eng || !a->eng->auth;
	if (*open)
		return NULL;
	/* The admin thread swaps the sets: it may read the one in force without an epoch. */
	t = c->token ? auth_find(auth_current(a->eng->auth), c->token_id) : NULL;
	if (!t) {
		ws_error(c, "UNAUTHENTICATED", NULL, "the connection's token is no longer in force");
		ws_close(c, WSLAY_CODE_POLICY_VIOLATION, "token revoked");
	}
	return t;
}

/* The topics req reads into tps (cap of them): its topic, or every topic the caller may
 * read. Returns how many, or -1 after an error naming the field. */
static int ws_topics(struct ws_conn *c, const struct ws_sub_req *req, struct topic **tps,
		     uint32_t cap)
{
	struct admin *a = c->srv->a;
	bool open;
	const struct auth_token *t = ws_token(c, &open);
	uint32_t n, k = 0;

	if (!open && !t)
		return -1;
	if (req->topic[0]) {
		tps[0] = admin_topic_find(a, req->topic);
		if (!tps[0]) {
			ws_error(c, "UNKNOWN_TOPIC", "payload.topic", "no topic '%s'", req->topic);
			return -1;
		}
		if (!open && !auth_allows(t, AUTH_SUBSCRIBE, req->topic, strlen(req->topic))) {
			ws_error(c, "PERMISSION_DENIED", "payload.topic", "token %s may not subscribe "
				 "to '%s'", t->name, req->topic);
			return -1;
		}
		return 1;
	}
	n = topic_table_list(a->topics, tps, cap);
	n = n < cap ? n : cap;
	for (uint32_t i = 0; i < n; i++)	/* only those the token may read */
		if (open || auth_allows(t, AUTH_SUBSCRIBE, tps[i]->name, tps[i]->name_len))
			tps[k++] = tps[i];
	return (int)k;
}

static bool ws_id_used(const struct ws_conn *c, uint32_t id)
{
	for (uint32_t i = 0; i < c->nsubs; i++)
		if (c->subs[i]->id == id)
			return true;
	return false;
}

/* The answer to a subscribe: its id, topics and where each partition starts. */
static json_t *ws_subscribed(const struct ws_sub *s)
{
	json_t *topics = json_array(), *pos = json_array();
	const struct topic *last = NULL;

	for (uint32_t i = 0; topics && pos && i < s->nparts; i++) {
		const struct ws_part *p = &s->parts[i];

		if (p->tp != last)
			json_array_append_new(topics, json_string(p->tp->name));
		last = p->tp;
		json_array_append_new(pos, json_pack("{s:s, s:i, s:I}", "topic", p->tp->name,
						     "partition", (int)p->p,
						     "offset", (json_int_t)p->cur.offset));
	}
	return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)s->id, "topics",
			 topics ? topics : json_null(), "positions", pos ? pos : json_null());
}

/* Why ws_sub_open refused, to the client. */
static void ws_open_error(struct ws_conn *c, int rc)
{
	switch (rc) {
	case -E2BIG:
		ws_error(c, "TOO_MANY_PARTITIONS", "payload.topic", "more partitions than a "
			 "subscription reads (%u): name a topic", WS_SUB_PARTS_MAX);
		break;
	case -EOVERFLOW:
		ws_error(c, "SNAPSHOT_TOO_LARGE", "payload.snapshot", "a snapshot holds at most "
			 "%u keys: narrow the patterns or filters", WS_SNAPSHOT_MAX);
		break;
	case -ENOBUFS:
		ws_error(c, "BUSY", "payload.snapshot", "the server's snapshots are at their "
			 "memory bound: try again");
		break;
	case -EAGAIN:
		ws_error(c, "BUSY", "payload.snapshot", "the key table kept growing under the "
			 "snapshot: try again");
		break;
	default:
		ws_error(c, "INTERNAL", NULL, "out of memory");
	}
}

static void ws_subscribe(struct ws_conn *c, struct ws_sub_req *req)
{
	struct topic *tps[WS_SUB_PARTS_MAX];
	struct ws_sub *s;
	size_t len;
	int n, rc;

	if (c->nsubs == WS_SUBS_MAX) {
		ws_error(c, "TOO_MANY_SUBSCRIPTIONS", "payload", "a connection has at most %u "
			 "subscriptions", WS_SUBS_MAX);
		return;
	}
	if (req->id == 0)	/* the server names it, above the ids clients may choose */
		req->id = WS_SUB_ID_MAX + 1 + c->next_auto_id++;
	if (ws_id_used(c, req->id)) {
		ws_error(c, "BAD_SUBSCRIPTION", "payload.id", "subscription %u exists", req->id);
		return;
	}
	n = ws_topics(c, req, tps, WS_SUB_PARTS_MAX);
	if (n < 0)
		return;
	rc = ws_sub_open(&s, tps, (uint32_t)n, req, &c->srv->snap_budget);
	if (rc < 0) {
		ws_open_error(c, rc);
		return;
	}
	c->subs[c->nsubs++] = s;
	c->srv->st.subs++;
	if (ws_queue_text(c, ws_msg_text("subscribe", ws_subscribed(s), &len)) < 0)
		c->dead = true;	/* out of memory: its events would come unannounced */
}

static void ws_unsubscribe(struct ws_conn *c, uint32_t id)
{
	size_t len;

	for (uint32_t i = 0; i < c->nsubs; i++) {
		if (c->subs[i]->id != id)
			continue;
		ws_sub_free(c->subs[i]);
		c->subs[i] = c->subs[--c->nsubs];
		c->srv->st.subs--;
		c->rr = 0;
		ws_queue_text(c, ws_msg_text("unsubscribe", json_pack("{s:I}", "id",
								      (json_int_t)id), &len));
		return;
	}
	ws_error(c, "UNKNOWN_SUBSCRIPTION", "payload.id", "no subscription %u on this "
		 "connection", id);
}

static void ws_on_text(struct ws_conn *c, const uint8_t *data, size_t len)
{
	struct ws_client_msg m;
	struct ws_msg_error err;

	if (ws_msg_parse((const char *)data, len, c->preset, &m, &err) < 0) {
		c->srv->st.bad_in++;
		ws_error(c, "BAD_MESSAGE", err.field, "%s", err.message);
		return;
	}
	if (m.type == WS_MSG_SUBSCRIBE) {
		ws_subscribe(c, &m.sub);
		ws_sub_req_free(&m.sub);
	} else {
		ws_unsubscribe(c, m.unsub_id);
	}
}

void ws_conn_auto_subscribe(struct ws_conn *c, const json_t *payload)
{
	struct ws_sub_req req;
	struct ws_msg_error err;

	if (ws_sub_parse(payload, c->preset, "query", &req, &err) < 0) {
		ws_error(c, "BAD_MESSAGE", err.field, "%s", err.message);	/* checked before */
		return;
	}
	ws_subscribe(c, &req);
	ws_sub_req_free(&req);
}

/* A frame begins: room for its payload, or an error and the close past WS_IN_MAX (the
 * message so far counted: fragments add up). */
static void ws_frame_start_cb(wslay_event_context_ptr ctx,
			      const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct ws_conn *c = user;
	uint8_t *grown;

	c->in_ctrl = arg->opcode >= 8;	/* wslay holds control frames (125 bytes at most) */
	if (c->in_ctrl || !wslay_event_get_read_enabled(ctx))
		return;
	if (arg->payload_length > WS_IN_MAX - c->in_len) {
		c->srv->st.bad_in++;
		ws_error(c, "MESSAGE_TOO_LARGE", "message", "a client message has at most %u bytes "
			 "(this one %llu or more)", WS_IN_MAX,
			 (unsigned long long)(c->in_len + arg->payload_length));
		ws_close(c, WSLAY_CODE_MESSAGE_TOO_BIG, "message too big");
		wslay_event_shutdown_read(ctx);
		return;
	}
	if (c->in_len + arg->payload_length <= c->in_cap)
		return;
	grown = realloc(c->in, c->in_len + arg->payload_length);
	if (!grown) {
		ws_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "out of memory");
		wslay_event_shutdown_read(ctx);
		return;
	}
	c->in = grown;
	c->in_cap = c->in_len + arg->payload_length;
}

static void ws_frame_chunk_cb(wslay_event_context_ptr ctx,
			      const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct ws_conn *c = user;

	if (c->in_ctrl || !wslay_event_get_read_enabled(ctx))
		return;
	assert(c->in_len + arg->data_length <= c->in_cap);
	memcpy(c->in + c->in_len, arg->data, arg->data_length);
	c->in_len += arg->data_length;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
		      void *user)
{
	struct ws_conn *c = user;

	(void)ctx;
	if (arg->opcode == WSLAY_TEXT_FRAME) {
		c->srv->st.msgs_in++;
		ws_on_text(c, c->in, c->in_len);
	} else if (arg->opcode == WSLAY_BINARY_FRAME) {
		c->srv->st.msgs_in++;
		c->srv->st.bad_in++;
		ws_error(c, "BAD_MESSAGE", "message", "client messages are JSON text "
			 "(subscribe, unsubscribe)");
	}
	/* ping: wslay answers it; pong: last_rx_ns moved; close: wslay answers it */
	if (arg->opcode < 8) {	/* the next message starts empty; a big one's room goes */
		c->in_len = 0;
		if (c->in_cap > 4096) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.on_frame_recv_start_callback = ws_frame_start_cb,
	.on_frame_recv_chunk_callback = ws_frame_chunk_cb,
	.on_msg_recv_callback = ws_msg_cb,
};

/* ---- the turn ------------------------------------------------------------------------ */

/* Queues what the cursors have, round robin over the subscriptions, until the window is
 * full or WS_TICK_EVENTS went. */
static void ws_pump(struct ws_conn *c)
{
	uint32_t queued = 0, idle = 0, scanned = 0;
	struct log_ref ref;
	const struct ws_part *part;
	int rc;

	while (c->nsubs && idle < c->nsubs && queued < WS_TICK_EVENTS &&
	       scanned < WS_SCAN_EVENTS &&
	       wslay_event_get_queued_msg_length(c->ctx) < WS_WINDOW_BYTES) {
		struct ws_sub *s = c->subs[c->rr];
		const char *text;
		size_t len;

		c->rr = (c->rr + 1) % c->nsubs;
		if (ws_sub_next(s, 256, &scanned, &ref, &part) <= 0) {
			idle++;
			continue;
		}
		idle = 0;
		queued++;
		c->srv->st.data_out++;
		if (c->binary) {	/* the stored frame as is: a delimited ServerMessage */
			rc = ws_queue(c, WSLAY_BINARY_FRAME, ref.frame, ref.len);
		} else {
			text = ws_cache_data_msg(&c->srv->cache, s->id, &ref, &len);
			rc = text ? ws_queue(c, WSLAY_TEXT_FRAME, text, len) : -1;
		}
		if (rc < 0) {	/* out of memory: an event skipped would be lost unsaid */
			c->dead = true;
			return;
		}
	}
	c->srv->moved += queued + scanned;	/* the loop looks again at once (ws.c) */
}

/* A subscription further behind than the server's bound is cut, as over TCP, when the
 * client is the reason: its window is full (it does not take what is queued). Behind
 * with room in the window, the admin thread is what is slow, and the client is not cut
 * for it. */
static bool ws_lagging(struct ws_conn *c)
{
	const struct config *cfg = c->srv->a->cfg;

	if (wslay_event_get_queued_msg_length(c->ctx) < WS_WINDOW_BYTES)
		return false;

	for (uint32_t i = 0; i < c->nsubs; i++) {
		const struct ws_sub *s = c->subs[i];
		uint64_t bytes = ws_sub_lag_bytes(s);
		uint64_t events = cfg->max_lag_events ? ws_sub_lag_events(s) : 0;

		if ((cfg->max_lag_bytes && bytes > cfg->max_lag_bytes) ||
		    (cfg->max_lag_events && events > cfg->max_lag_events)) {
			ws_error(c, "SLOW_CONSUMER", NULL, "subscription %u is %llu bytes behind, "
				 "past the server's bound; reconnect and resume", s->id,
				 (unsigned long long)bytes);
			ws_close(c, WSLAY_CODE_POLICY_VIOLATION, "slow consumer");
			c->srv->st.slow_cut++;
			return true;
		}
	}
	return false;
}

static void ws_keepalive(struct ws_conn *c, int64_t now_ns)
{
	int64_t quiet_ns = now_ns - c->last_rx_ns;

	if (quiet_ns > c->srv->idle_ns) {
		c->srv->st.idle_cut++;
		ws_close(c, WSLAY_CODE_GOING_AWAY, "no pong");
	} else if (quiet_ns > c->srv->ping_ns && now_ns - c->ping_ns > c->srv->ping_ns) {
		c->ping_ns = now_ns;
		ws_queue(c, WSLAY_PING, "", 0);
	}
}

/* Our close went out while we had stopped reading (an oversize message): what the peer
 * still sends is read and dropped for WS_LINGER_MS or until it closes. Closing with
 * unread bytes would reset the connection and the peer might lose our close with it; the
 * peer (a client) waits for us to end the TCP connection, so without TLS our side is
 * shut at once (with TLS libmicrohttpd's socket is a pipe to its TLS layer: not ours to
 * shut). Returns true while the connection must linger. */
static bool ws_lingering(struct ws_conn *c, int64_t now_ns)
{
	uint8_t scratch[4096];
	ssize_t n;

	if (wslay_event_get_close_received(c->ctx) || !wslay_event_get_close_sent(c->ctx))
		return false;
	if (!c->linger_until_ns) {
		c->linger_until_ns = now_ns + (int64_t)WS_LINGER_MS * 1000000;
		if (!c->srv->a->cfg->tls_cert[0])
			(void)shutdown(c->fd, SHUT_WR);	/* failing: the grace ends it */
	}
	if (now_ns > c->linger_until_ns)
		return false;
	for (int i = 0; c->readable && i < 64; i++) {	/* bounded per turn */
		n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return false;	/* the peer closed */
		if (n < 0 && errno != EINTR)
			c->readable = false;
	}
	return true;
}

bool ws_conn_turn(struct ws_conn *c, int64_t now_ns)
{
	if (c->readable && !c->dead && wslay_event_want_read(c->ctx)) {
		c->readable = false;
		if (wslay_event_recv(c->ctx) != 0)
			c->dead = true;
	}
	if (!c->dead && !c->close_by_ns) {
		ws_pump(c);
		if (!ws_lagging(c))
			ws_keepalive(c, now_ns);
	}
	for (int i = 0; i < 2 && !c->dead && !c->blocked; i++) {	/* then the close */
		if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
			c->dead = true;
		ws_close_when_sent(c);
	}
	ws_flush(c);
	if (c->close_by_ns && now_ns > c->close_by_ns)
		return false;
	if (c->dead || c->olen || wslay_event_want_read(c->ctx) || wslay_event_want_write(c->ctx))
		return !c->dead;
	return ws_lingering(c, now_ns);
}

bool ws_conn_reading(const struct ws_conn *c)
{
	return c->nsubs > 0 || c->close_by_ns;
}

bool ws_conn_more(const struct ws_conn *c)
{
	return !c->dead && !c->blocked && (c->olen || wslay_event_want_write(c->ctx));
}

static json_t *ws_sub_json(const struct ws_sub *s)
{
	json_t *topics = json_array(), *pats = json_array();
	const struct topic *last = NULL;

	for (uint32_t i = 0; topics && i < s->nparts; i++) {
		if (s->parts[i].tp != last)
			json_array_append_new(topics, json_string(s->parts[i].tp->name));
		last = s->parts[i].tp;
	}
	for (uint32_t i = 0; pats && i < s->npatterns; i++)
		json_array_append_new(pats, json_string(s->patterns[i].text));
	return json_pack("{s:I, s:o*, s:b, s:o*, s:I, s:I, s:I, s:I}", "id", (json_int_t)s->id,
			 "topics", topics, "everyTopic", s->every, "patterns", pats,
			 "delivered", (json_int_t)s->delivered,
			 "lagEvents", (json_int_t)ws_sub_lag_events(s),
			 "lagBytes", (json_int_t)ws_sub_lag_bytes(s),
			 "snapshotLeft", (json_int_t)(s->snap.n - s->snap.pos));
}

json_t *ws_conn_json(const struct ws_conn *c)
{
	char since[40];
	json_t *subs = json_array();

	time_format(c->since_ns, since, sizeof(since));
	for (uint32_t i = 0; subs && i < c->nsubs; i++)
		json_array_append_new(subs, ws_sub_json(c->subs[i]));
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:o*}", "id", (json_int_t)c->id,
			 "peer", c->peer, "format", c->binary ? "protobuf" : "json",
			 "connectedSince", since,
			 "queuedBytes", (json_int_t)(wslay_event_get_queued_msg_length(c->ctx) + c->olen),
			 "closing", c->close_by_ns != 0, "subscriptions", subs);
}

void ws_conn_topics_grew(struct ws_conn *c, struct topic *const *tps, uint32_t n)
{
	bool open, any = false;
	const struct auth_token *t;

	for (uint32_t k = 0; k < c->nsubs; k++)
		any = any || c->subs[k]->every;
	if (!any || c->close_by_ns)
		return;
	t = ws_token(c, &open);	/* revoked meanwhile: the connection ends */
	if (!open && !t)
		return;
	for (uint32_t k = 0; k < c->nsubs; k++)
		for (uint32_t i = 0; c->subs[k]->every && i < n; i++) {
			if (!open && !auth_allows(t, AUTH_SUBSCRIBE, tps[i]->name, tps[i]->name_len))
				continue;
			/* -E2BIG: the subscription reads what it can (ws.h's bound) */
			if (ws_sub_add_topic(&c->subs[k], tps[i]) == -ENOMEM) {
				c->dead = true;
				return;
			}
		}
}

void ws_conn_topic_removed(struct ws_conn *c, const struct topic *tp)
{
	for (uint32_t i = 0; i < c->nsubs; i++)
		if (ws_sub_drop_topic(c->subs[i], tp) && c->subs[i]->nparts == 0)
			ws_error(c, "SUBSCRIPTION_ENDED", NULL, "subscription %u: topic '%s' was "
				 "deleted", c->subs[i]->id, tp->name);
}

int ws_conn_open(struct ws_server *srv, struct ws_pending *p, int fd,
		 struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len,
		 struct ws_conn **out)
{
	struct ws_conn *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -1;
	c->srv = srv;
	c->id = ++srv->next_id;
	c->since_ns = clock_realtime_ns();
	memcpy(c->peer, p->peer, sizeof(c->peer));
	c->fd = fd;
	c->urh = urh;
	c->binary = p->binary;
	c->token = p->token;
	memcpy(c->token_id, p->token_id, sizeof(c->token_id));
	c->preset = p->preset;
	p->preset = NULL;
	c->last_rx_ns = c->ping_ns = clock_monotonic_ns();
	c->readable = true;
	if (extra_len) {	/* bounded by libmicrohttpd's read buffer */
		c->extra = malloc(extra_len);
		if (c->extra)
			memcpy(c->extra, extra, extra_len);
		c->extra_len = c->extra ? extra_len : 0;
	}
	if ((extra_len && !c->extra) ||
	    wslay_event_context_server_init(&c->ctx, &ws_callbacks, c) != 0) {
		json_decref(c->preset);
		free(c->extra);
		free(c);
		return -1;
	}
	/* Messages are gathered here (ws_frame_chunk_cb), bounded by WS_IN_MAX with an error
	 * that says so; wslay's own bound would close without a word. */
	wslay_event_config_set_no_buffering(c->ctx, 1);
	*out = c;
	return 0;
}

void ws_conn_free(struct ws_conn *c)
{
	for (uint32_t i = 0; i < c->nsubs; i++)
		ws_sub_free(c->subs[i]);
	c->srv->st.subs -= c->nsubs;
	wslay_event_context_free(c->ctx);
	MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);	/* closes the socket */
	json_decref(c->preset);
	free(c->in);
	free(c->extra);
	free(c);
}
