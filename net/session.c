/* net/session.c — a connection's protocol: frames in, answers and events out. */
#include "net/session.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/budget.h"
#include "core/clock.h"
#include "core/executor.h"
#include "core/frame.h"
#include "core/headroom.h"
#include "core/probes.h"
#include "fanout.pb-c.h"
#include "fanout_version.h"
#include "net/control.h"
#include "net/engine.h"
#include "net/server.h"
#include "net/shared.h"

static_assert(SHARED_SHIFT == SUB_RING_SHIFT, "a taken entry is a ring entry");

int session_open(struct session *s, struct net_server *srv, struct reactor_conn *c)
{
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->conn = c;
	s->stats.connected_ns = clock_realtime_ns();	/* admin plane */
	s->ctl_sending = -1;
	s->last_rx_ns = s->last_tx_ns = clock_monotonic_ns();
	topic_quota_init(&s->topic_quota, srv->cfg->max_topics_per_connection,
			 srv->cfg->topic_create_rate);
	/* Control buffers are allocated at their first answer (session_room), from the
	 * reactor's budget: an idle connection holds nothing but its slot. */
	s->in_use = true;
	return 0;
}

/* Lets go of held input (and its budget). */
static void session_free_stage(struct session *s)
{
	if (s->stage_cap)
		budget_give(&s->srv->budget, BUDGET_INPUT, s->stage_cap);
	free(s->stage);
	s->stage = NULL;
	s->stage_len = s->stage_cap = 0;
	s->frame_start_ns = 0;
}

/* Frees answer buffer f (it must not be in a send). */
static void session_free_ctl(struct session *s, uint8_t f)
{
	if (s->ctl_cap[f])
		budget_give(&s->srv->budget, BUDGET_ANSWERS, s->ctl_cap[f]);
	free(s->ctl[f]);
	s->ctl[f] = NULL;
	s->ctl_len[f] = s->ctl_cap[f] = 0;
}

static void session_drop_batches(struct session *s);

/* This reactor reads (or stops reading) every partition of tp: its owners wake it when
 * their tails move. Joined before the subscription reads any tail. */
static void session_join(struct session *s, struct topic *tp, bool join)
{
	for (uint32_t p = 0; p < tp->partitions; p++) {
		if (join)
			log_reader_join(tp->part[p].log, s->srv->id);
		else
			log_reader_leave(tp->part[p].log, s->srv->id);
	}
}

/* Records the pending send's audit-required frames as kind (it completed, or never
 * will), then the Acks held meanwhile. */
static void session_audit_sent(struct session *s, uint8_t kind)
{
	net_server_audit_push(s->srv, s->audit, s->naudit, kind, s->naudit);
	s->naudit = 0;
	net_server_audit_push(s->srv, s->ack_hold, s->nack_hold, 0, 0);
	s->nack_hold = 0;
}

/* An Ack of a subscription that was sent audit-required frames: cumulative, as Pulsar's
 * — its audit rows of the partition through offset become acked. */
static void session_audit_ack(struct session *s, struct subscription *sub, uint32_t p,
			      uint64_t offset)
{
	struct audit_rec r = {
		.serial = sub->stats.serial, .topic = sub->topic, .partition = p,
		.kind = AUDIT_ACKED,
	};
	uint64_t tail;

	if (p >= sub->topic->partitions || !(tail = log_tail(sub->topic->part[p].log)))
		return;
	/* Nothing past the tail was sent: a wild offset is the client's, not a row's. */
	r.offset = offset < tail ? offset : tail - 1;
	if (s->naudit) {	/* after the deliveries of the send under way */
		for (uint32_t i = 0; i < s->nack_hold; i++)
			if (s->ack_hold[i].serial == r.serial && s->ack_hold[i].partition == p) {
				if (r.offset > s->ack_hold[i].offset)
					s->ack_hold[i].offset = r.offset;
				return;
			}
		if (s->nack_hold < SESSION_ACK_HOLD) {
			s->ack_hold[s->nack_hold++] = r;
			return;
		}
	}
	net_server_audit_push(s->srv, &r, 1, 0, 0);
}

/* Tells the reactors in mask (bits) to look at their named subscriptions: a FAILOVER
 * consumer's take-over, or a SHARED consumer's events to take. */
static void session_named_wake(struct session *s, uint64_t mask)
{
	for (uint32_t b = 0; mask && b < s->srv->eng->n; b++) {
		struct net_server *t = s->srv->eng->servers[b];

		if (!(mask >> b & 1))
			continue;
		atomic_store_explicit(&t->named_pending, true, memory_order_seq_cst);
		/* This reactor looks at the end of its turn; once the server stops, no
		 * reactor turns again (their rings may be gone). */
		if (t != s->srv && !*s->srv->eng->stop)
			reactor_wake(&s->srv->reactor, &t->reactor);
	}
}

/* What a SHARED consumer gathered since it last told its dealer (net/shared.h). */
static struct shared_sent session_shared_sent(struct subscription *sub)
{
	struct shared_sent sent = {
		.ring = sub->ring, .mask = sub->ring_cap - 1, .from = sub->shared_mark,
		.to = sub->ring_head,
	};

	sub->shared_mark = sub->ring_head;
	return sent;
}

/* A consumer (sub, when it got that far; its take-over flag act) leaves its named
 * subscription; a FAILOVER one standing by may take over, SHARED ones take what it held
 * (their reactors told: net_server_named_turn). */
static void session_named_leave(struct session *s, struct subscription *sub,
				struct named_sub *ns, _Atomic bool *act)
{
	uint32_t woken;

	if (sub && sub->claimed && sub->shared_slot >= 0) {
		struct shared_sent sent = session_shared_sent(sub);

		session_named_wake(s, shared_leave(ns->shared, sub->shared_slot, &sent));
		sub->shared_slot = -1;
		budget_give(&s->srv->budget, BUDGET_SUBSCRIPTIONS, sub->shared_charged);
		sub->shared_charged = 0;
	}
	woken = named_detach(&s->srv->eng->named, ns, act);
	if (woken < s->srv->eng->n)
		session_named_wake(s, 1ull << woken);
}

/* Unregisters and frees one subscription; with owed, the audit-required events it was
 * still owed are recorded as failed first (net_server_audit_end). */
static void session_drop_sub(struct session *s, struct subscription *sub, bool owed)
{
	access_sub_give(&s->access);
	if (sub->named) {	/* another consumer may have it now */
		/* A standby was owed nothing; a SHARED consumer's events go to the others. */
		owed = owed && !sub->named_standby && !sub->claimed;
		session_named_leave(s, sub, sub->named, sub->named_activate);
		sub->named = NULL;
		free(sub->named_seen);
		sub->named_seen = NULL;
		free((void *)sub->named_activate);
		sub->named_activate = NULL;
	}
	session_join(s, sub->topic, false);
	if (sub->sink)
		s->srv->eng->sinks->close(sub->sink);	/* its consumers see it closed */
	if (owed) {
		net_server_audit_end(s->srv, sub);	/* unwatches and frees it */
		return;
	}
	if (sub->indexed && !sub->claimed)	/* a claimed one was never watched */
		net_server_unwatch(s->srv, sub);
	sub_free(sub);
	free(sub);
}

/* Closes the ring descriptors ctl[i]'s send was to pass: sent, or never to be. */
static void session_pass_close(struct session *s, int i)
{
	for (uint8_t k = 0; k < s->npass[i]; k++)
		close(s->pass_fds[i][k]);
	s->npass[i] = 0;
}

void session_close(struct session *s)
{
	session_drop_batches(s);	/* other reactors may still append some */
	if (s->producer) {	/* its batches in flight keep their records pending */
		producer_detach(&s->srv->eng->producers, s->producer);
		s->producer = NULL;
	}
	session_pass_close(s, 0);
	session_pass_close(s, 1);
	/* A send cut short: its audit-required frames never all reached the kernel. */
	session_audit_sent(s, AUDIT_FAILED);
	for (uint32_t i = 0; i < s->nsubs; i++)
		session_drop_sub(s, s->subs[i], true);
	free(s->subs);
	session_free_stage(s);
	session_free_ctl(s, 0);
	session_free_ctl(s, 1);
	s->subs = NULL;
	s->nsubs = 0;
	access_close(&s->access);
	s->refuse_at_ns = 0;
	s->in_use = false;
}

static bool session_send(struct session *s, bool gather);
static void session_gaps(struct session *s, struct subscription *sub);
static void session_parse_held(struct session *s);
static void session_budget_cut(struct session *s, const char *what, uint64_t bytes);

/* Makes room for size more bytes of answers. A pipelining client can ask for more in one
 * turn than a buffer holds: with nothing in flight, what is queued goes out now; with a
 * send in flight, the buffer grows (rarely, doubling). Past SESSION_CTL_MAX the client
 * is not reading its answers and is cut off: the bound on what the server holds for it.
 * Returns 0, or -1 once the connection is being closed. */
static int session_room(struct session *s, size_t size)
{
	uint8_t f = s->fill;
	size_t cap;
	uint8_t *grown;

	if (s->conn->closing)
		return -1;
	if (size <= s->ctl_cap[f] - s->ctl_len[f])
		return 0;
	if (s->cutting && s->ctl_cap[f] >= SESSION_CTL_MIN)
		return -1;	/* cut for its memory: no more than room for its Error */
	if (reactor_send_ready(&s->srv->reactor, s->conn) && s->ctl_len[f] > 0) {
		/* Answers only: frames of a subscription made in this very batch must not
		 * overtake its SubscribeResult, still to be queued. */
		session_send(s, false);
		f = s->fill;	/* the other buffer: empty, its last send completed */
		if (s->conn->closing)
			return -1;
		if (size <= s->ctl_cap[f] - s->ctl_len[f])
			return 0;
	}
	for (cap = s->ctl_cap[f] ? s->ctl_cap[f] : SESSION_CTL_MIN;
	     cap - s->ctl_len[f] < size && cap < SESSION_CTL_MAX;)
		cap *= 2;
	/* A client being cut for its memory may still take room for its Error. */
	if (cap - s->ctl_len[f] >= size &&
	    !(s->cutting ? budget_take_reserve : budget_take)(&s->srv->budget, BUDGET_ANSWERS,
								  cap - s->ctl_cap[f])) {
		session_budget_cut(s, "answers", cap - s->ctl_cap[f]);
		return -1;
	}
	grown = cap - s->ctl_len[f] < size ? NULL : realloc(s->ctl[f], cap);
	if (!grown) {
		if (cap - s->ctl_len[f] >= size)
			budget_give(&s->srv->budget, BUDGET_ANSWERS, cap - s->ctl_cap[f]);
		fprintf(stderr, "fanoutd: connection %u leaves %u bytes of answers unread; "
			"closing\n", s->conn->slot, s->ctl_len[f]);
		s->closing = true;
		reactor_close(&s->srv->reactor, s->conn);
		return -1;
	}
	s->ctl[f] = grown;
	s->ctl_cap[f] = (uint32_t)cap;
	return 0;
}

/* Queues one ServerMessage (dropped when the connection is being cut). */
static void session_queue(struct session *s, const Fanout__V1__ServerMessage *m)
{
	size_t size = frame_packed_size(&m->base);

	if (session_room(s, size) < 0)
		return;
	s->ctl_len[s->fill] += (uint32_t)frame_pack(&m->base, s->ctl[s->fill] + s->ctl_len[s->fill]);
	net_server_activate(s->srv, s);
}

static void session_verror(struct session *s, Fanout__V1__ErrorCode code, uint64_t sequence,
			   uint32_t sub_id, bool closing, uint32_t retry_after_ms,
			   const char *fmt, va_list ap)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Error e = FANOUT__V1__ERROR__INIT;
	char text[400];

	vsnprintf(text, sizeof(text), fmt, ap);
	e.retry_after_ms = retry_after_ms;
	e.code = code;
	e.message = text;
	e.sequence = sequence;
	e.subscription_id = sub_id;
	e.closing = closing;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_ERROR;
	m.error = &e;
	if (closing)
		net_server_info(s->srv, "connection %u: %s; closing", s->conn->slot, text);
	session_queue(s, &m);
	if (closing)
		s->closing = true;
}

static void session_error(struct session *s, Fanout__V1__ErrorCode code, uint64_t sequence,
			  uint32_t sub_id, bool closing, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_verror(s, code, sequence, sub_id, closing, 0, fmt, ap);
	va_end(ap);
}

static void session_error_retry(struct session *s, Fanout__V1__ErrorCode code,
				uint64_t sequence, uint32_t retry_after_ms, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void session_error_retry(struct session *s, Fanout__V1__ErrorCode code,
				uint64_t sequence, uint32_t retry_after_ms, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_verror(s, code, sequence, 0, false, retry_after_ms, fmt, ap);
	va_end(ap);
}

/* ---- who may do what (core/auth.h, net/access.h) -------------------------------------- */

/* Ends one of the session's subscriptions: dropped as an Unsubscribe would, and an
 * Error of code naming it and why (session_end_sub). */
static void session_end_sub_as(struct session *s, struct subscription *sub,
			       Fanout__V1__ErrorCode code, const char *why, bool owed)
{
	uint32_t id = sub->id;

	for (uint32_t i = 0; i < s->nsubs; i++) {
		if (s->subs[i] == sub) {
			s->subs[i] = s->subs[--s->nsubs];
			break;
		}
	}
	session_drop_sub(s, sub, owed);	/* frames already gathered stay valid: log memory */
	session_priority_update(s, clock_monotonic_ns());
	session_error(s, code, 0, id, false, "subscription %u ended: %s", id, why);
}

static void session_peer(const struct session *s, struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (s->conn->local || getpeername(s->conn->fd, (struct sockaddr *)ss, &sl) < 0)
		ss->ss_family = AF_UNIX;
}

/* Records a refused attempt for the admin audit. */
static void session_refuse(struct session *s, const char *action, const char *target,
			   const char *why)
{
	struct sockaddr_storage ss;
	char source[64], text[200];
	uint32_t more;

	if (!access_audit_take(&s->access, clock_monotonic_ns(), &more))
		return;	/* counted: said with the next one recorded */
	if (more)
		snprintf(text, sizeof(text), "%s (and %u earlier refusals on this connection "
			 "not recorded)", why, more);
	session_peer(s, &ss);
	auth_addr_text(&ss, source, sizeof(source));
	auth_refuse(s->srv->eng->auth, s->access.id, source, action, target,
		    more ? text : why);
}

/* The token's rights changed (auth_swap): a revoked token closes the connection; a
 * subscription whose topic it may no longer read is ended. Returns false when closing. */
static bool session_auth_refresh(struct session *s)
{
	struct auth *a = s->srv->eng->auth;

	switch (access_refresh(&s->access, a)) {
	case ACCESS_SAME:
		return true;
	case ACCESS_REVOKED:
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED, 0, 0, true,
			      "token %s was revoked", s->access.name);
		return false;
	case ACCESS_CHANGED:
		break;
	}
	for (uint32_t i = s->nsubs; i-- > 0;) {	/* downwards: ending one moves the last */
		const struct topic *tp = s->subs[i]->topic;
		char why[AUTH_NAME_MAX + TOPIC_NAME_MAX + 64];

		if (access_allows(&s->access, a, AUTH_SUBSCRIBE, tp->name, tp->name_len))
			continue;
		snprintf(why, sizeof(why), "token %s may no longer subscribe to topic '%s'",
			 s->access.name, tp->name);
		session_end_sub_as(s, s->subs[i],
				   FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED, why, true);
	}
	return true;
}

static void session_refused_hello(struct session *s)
{
	s->refuse_at_ns = 0;
	session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED, 0, 0, true,
		      "hello: a valid token is required (Hello.token)");
}

/* A Hello's token. Returns 0, or -1 when refused (the Error queued, or held back). */
static int session_hello_token(struct session *s, const Fanout__V1__Hello *h)
{
	struct auth *a = s->srv->eng->auth;
	const char *tok = h->token ? h->token : "";
	struct sockaddr_storage ss;
	int64_t delay;
	int rc;

	if (!a->required)
		return 0;	/* nothing to check: a token given is ignored */
	/* Authenticated before: the token may have changed (or gone) since, and the one
	 * in hand may belong to a set already freed. */
	if (s->access.id[0] && !session_auth_refresh(s))
		return -1;
	if (s->access.id[0] && !tok[0])
		return 0;
	session_peer(s, &ss);
	rc = access_hello(&s->access, a, tok, strlen(tok), &ss, clock_monotonic_ns(), &delay);
	if (rc == -EACCES) {
		session_refuse(s, "hello", "", tok[0] ? "invalid token" : "no token");
		/* Held back after repeated failures from the address: the police pass sends
		 * it; nothing else from the connection is read meanwhile. */
		if (delay == 0)
			session_refused_hello(s);
		else
			s->refuse_at_ns = clock_monotonic_ns() + delay;
		return -1;
	}
	if (rc == -EALREADY) {
		session_refuse(s, "hello", "", "a second token");
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED, 0, 0, true,
			      "hello: this connection authenticated with another token");
		return -1;
	}
	if (rc == -EUSERS) {
		session_refuse(s, "hello", "", "connection limit");
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED, 0, 0, true,
			      "hello: token %s has its limit of connections open",
			      s->access.name);
		return -1;
	}
	return 0;
}

/* A growth this client caused was refused by the reactor's budget: its held input goes
 * at once, it gets RESOURCE_EXHAUSTED (if the answer fits in what it already holds) and
 * is closed. Other connections are not touched. */
static void session_budget_cut(struct session *s, const char *what, uint64_t bytes)
{
	const struct budget *b = &s->srv->budget;
	uint32_t queued = s->ctl_len[s->fill];

	if (s->cutting)
		return;
	s->cutting = true;
	budget_count(&s->srv->budget.budget_cuts);
	session_free_stage(s);
	session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED, 0, 0, true,
		      "%s: %llu more bytes would take reactor %u past its memory budget "
		      "(%llu of %llu bytes in use)", what, (unsigned long long)bytes, s->srv->id,
		      (unsigned long long)budget_read(&b->used), (unsigned long long)b->limit);
	if (s->ctl_len[s->fill] == queued && !s->conn->closing)
		reactor_close(&s->srv->reactor, s->conn);	/* no room even for that */
}

/* Heartbeats: one out when the line has been quiet, a cut when the peer has been.
 * Returns -1 once the session is being cut. */
static int session_heartbeat(struct session *s, int64_t now_ns)
{
	int64_t interval = (int64_t)s->heartbeat_ms * 1000000;

	if (now_ns - s->last_rx_ns > interval * SESSION_HEARTBEAT_MISSES) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_HEARTBEAT_TIMEOUT, 0, 0, true,
			      "nothing received for %lld ms (heartbeat %u ms); send a Ping when "
			      "idle", (long long)((now_ns - s->last_rx_ns) / 1000000),
			      s->heartbeat_ms);
		s->close_by_ns = now_ns + interval;	/* a dead peer takes nothing */
		return -1;
	}
	if (now_ns - s->last_tx_ns >= interval && !s->conn->sending) {
		Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
		Fanout__V1__Heartbeat hb = FANOUT__V1__HEARTBEAT__INIT;

		hb.server_time_ns = clock_realtime_ns();
		m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT;
		m.heartbeat = &hb;
		session_queue(s, &m);
		s->last_tx_ns = now_ns;	/* one per quiet interval, not one per pass */
	}
	return 0;
}

/* A partial frame older than --frame-deadline-ms: the client stalled or crawls while it
 * holds up to a frame of the reactor's memory. Its bytes go at once; FRAME_DEADLINE, then
 * the close. Returns true when it was cut. */
static bool session_frame_late(struct session *s, int64_t now_ns)
{
	const struct config *cfg = s->srv->cfg;
	int64_t age = now_ns - s->frame_start_ns;
	uint32_t held = s->stage_len;

	if (age <= (int64_t)cfg->frame_deadline_ms * 1000000)
		return false;
	budget_count(&s->srv->budget.deadline_cuts);
	s->cutting = true;
	session_free_stage(s);
	session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_DEADLINE, 0, 0, true,
		      "a frame started %lld ms ago has not arrived whole (%u bytes held); frames "
		      "must arrive within %u ms", (long long)(age / 1000000), held,
		      cfg->frame_deadline_ms);
	s->close_by_ns = now_ns + (int64_t)cfg->close_grace_ms * 1000000;
	return true;
}

/* Ends ring subscriptions nobody attached to within --shm-attach-timeout-ms: a ring asked
 * for and never mapped holds memory for nothing. The ring is removed and the client told
 * (SHM_UNAVAILABLE); the connection goes on. */
static void session_expire_sinks(struct session *s)
{
	const struct net_sink_ops *ops = s->srv->eng->sinks;

	for (uint32_t i = s->nsubs; i-- > 0;) {
		struct subscription *sub = s->subs[i];
		int rc;

		if (!sub->sink || sub->sink_attached)
			continue;
		rc = ops->attached(sub->sink);
		sub->sink_attached = rc > 0;
		if (rc != -ETIMEDOUT)
			continue;
		s->subs[i] = s->subs[--s->nsubs];
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_SHM_UNAVAILABLE, 0, sub->id,
			      false, "subscription %u: no reader attached to its ring (%s) within "
			      "%u ms (--shm-attach-timeout-ms); the ring was removed and the "
			      "subscription ended", sub->id, sub->sink_path,
			      s->srv->cfg->shm_attach_timeout_ms);
		session_drop_sub(s, sub, true);
	}
}

void session_priority_update(struct session *s, int64_t now_ns)
{
	uint8_t hi = 0, lo = UINT8_MAX;
	bool publishes = s->priority_pub_ns &&
			 now_ns - s->priority_pub_ns < SESSION_PRIORITY_PUB_NS;

	for (uint32_t i = 0; i < s->nsubs; i++) {
		uint8_t p = topic_priority(s->subs[i]->topic);

		s->subs[i]->priority = p;
		hi = p > hi ? p : hi;
		lo = p < lo ? p : lo;
	}
	s->priority = hi;
	s->priority_mixed = s->nsubs > 1 && hi != lo;
	/* Its completions first while the reactor prioritises, its own receive buffers. */
	reactor_set_priority(&s->srv->reactor, s->conn, hi > 0 || publishes);
	if (s->conn->priority)
		s->srv->priority_any = true;
}

/* After a stored batch: whether it held an event of a topic with priority, which makes
 * the connection's input go first (reactor.prioritize) for SESSION_PRIORITY_PUB_NS. */
static void session_publish_priority(struct session *s, const struct publish_ctx *pub)
{
	const struct topic *prev = NULL;

	for (size_t i = 0; i < pub->n; i++) {
		const struct topic *tp = pub->resolved[i];

		if (!tp || tp == prev)
			continue;
		prev = tp;
		if (topic_priority(tp)) {
			s->priority_pub_ns = s->last_rx_ns;	/* monotonic, as police's */
			reactor_set_priority(&s->srv->reactor, s->conn, true);
			s->srv->priority_any = true;
			return;
		}
	}
}

void session_police(struct session *s, int64_t now_ns)
{
	const struct config *cfg = s->srv->cfg;

	if (s->refuse_at_ns) {	/* a refused Hello, held back */
		if (now_ns >= s->refuse_at_ns)
			session_refused_hello(s);
		return;
	}
	if (!s->closing && !session_auth_refresh(s))	/* revoked: closing */
		return;
	session_priority_update(s, now_ns);	/* a changed topic priority: within 100 ms */
	if (s->closing) {
		if (s->close_by_ns == 0)
			s->close_by_ns = now_ns + (int64_t)cfg->close_grace_ms * 1000000;
		else if (now_ns > s->close_by_ns)
			reactor_close(&s->srv->reactor, s->conn);	/* it never read the Error */
		return;
	}
	if (s->paused)	/* its input waits on us, not the other way: it is not silent */
		s->last_rx_ns = now_ns;
	else if (s->stage_len && session_frame_late(s, now_ns))
		return;
	if (s->heartbeat_ms && session_heartbeat(s, now_ns) < 0)
		return;
	session_expire_sinks(s);
	for (uint32_t i = 0; i < s->nsubs; i++) {
		struct subscription *sub = s->subs[i];

		if (sub->sink && now_ns >= sub->sink_report_ns && !cfg->quiet) {
			char line[1024];

			if (sub->sink_report_ns) {	/* not at once: readers are still coming */
				s->srv->eng->sinks->report(sub->sink, line, sizeof(line));
				net_server_info(s->srv, "subscription %u: %s", sub->id, line);
			}
			sub->sink_report_ns = now_ns + SESSION_SINK_REPORT_NS;
		}
		if (sub->named_standby)
			continue;	/* sent nothing, owed nothing yet */
		sub_measure_lag(sub);
		if (s->conn->local && sub->named &&
		    egress_gate_own(&s->srv->eng->egress, sub->named->name))
			continue;	/* the Kafka egress waits for Kafka: retention bounds it */
		if ((cfg->max_lag_events && sub->lag_events > cfg->max_lag_events) ||
		    (cfg->max_lag_bytes && sub->lag_bytes > cfg->max_lag_bytes)) {
			session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_SLOW_CONSUMER, 0, sub->id,
				      true, "subscription %u is %llu events (%llu bytes) behind on "
				      "topic %s, past the server's bound; reconnect and resume from "
				      "your last offset", sub->id, (unsigned long long)sub->lag_events,
				      (unsigned long long)sub->lag_bytes, sub->topic->name);
			s->close_by_ns = now_ns + (int64_t)cfg->close_grace_ms * 1000000;
			return;
		}
	}
}

/* Hello.producer_id: this connection publishes as that producer from now on. Returns
 * 0, or -1 after the (closing) Error. */
static int session_hello_producer(struct session *s, const Fanout__V1__Hello *h)
{
	char owned[PRODUCER_ID_MAX + 1];
	const char *id = h->producer_id, *why;
	uint64_t gen, epoch;
	struct producer *p;
	int rc;

	if (s->producer || s->batch_head != s->batch_tail) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER, 0, 0, true,
			      "hello: a connection names its producer once, before it publishes");
		return -1;
	}
	/* With auth, a producer belongs to its token: the id is kept under the token's
	 * ("<token id>.<producer_id>"), so no other token can fence it or read its state. */
	if (s->srv->eng->auth->required) {
		if (strlen(id) > PRODUCER_ID_MAX - AUTH_ID_LEN - 1) {
			session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER, 0, 0, true,
				      "hello: with --auth required a producer_id is at most %u "
				      "bytes (the server keeps it under the token's id)",
				      PRODUCER_ID_MAX - AUTH_ID_LEN - 1);
			return -1;
		}
		snprintf(owned, sizeof(owned), "%s.%s", s->access.id, id);
		id = owned;
	}
	rc = producer_attach(&s->srv->eng->producers, id, strlen(id), h->producer_epoch, &p,
			     &gen, &epoch, &why);
	if (rc == -ESTALE) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED, 0, 0, true,
			      "hello: producer %s is at epoch %llu; epoch %llu is fenced", id,
			      (unsigned long long)epoch, (unsigned long long)h->producer_epoch);
		return -1;
	}
	if (rc < 0) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER, 0, 0, true,
			      "hello: producer_id \"%.64s\": %s", id, rc == -EINVAL ? why :
			      rc == -EMFILE ? "the server keeps 256 producers and has as many" :
			      strerror(-rc));
		return -1;
	}
	s->producer = p;
	s->producer_gen = gen;
	s->producer_epoch = epoch;
	return 0;
}

static void session_hello(struct session *s, const Fanout__V1__Hello *h)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__HelloResult r = FANOUT__V1__HELLO_RESULT__INIT;

	if (h->protocol_version > 1) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_PROTOCOL_VERSION, 0, 0, true,
			      "protocol version %u is not supported (this server speaks 1)",
			      h->protocol_version);
		return;
	}
	r.protocol_version = 1;
	r.server_version = (char *)FANOUT_VERSION;
	r.max_frame_bytes = s->srv->cfg->max_frame_bytes;
	r.max_subscriptions = s->srv->cfg->max_subscriptions;
	if (h->heartbeat_ms) {
		s->heartbeat_ms = h->heartbeat_ms < SESSION_HEARTBEAT_MIN_MS ? SESSION_HEARTBEAT_MIN_MS
				: h->heartbeat_ms > SESSION_HEARTBEAT_MAX_MS ? SESSION_HEARTBEAT_MAX_MS
				: h->heartbeat_ms;
	} else {
		s->heartbeat_ms = 0;
	}
	r.heartbeat_ms = s->heartbeat_ms;
	if (session_hello_token(s, h) < 0)
		return;
	if (s->access.token) {
		r.token_name = s->access.name;
		r.role = (char *)auth_role_name(s->access.token->role);
	}
	if (h->producer_id && h->producer_id[0] && session_hello_producer(s, h) < 0)
		return;
	r.producer_epoch = s->producer ? s->producer_epoch : 0;
	net_control_client_name(&s->stats, h->client_name);	/* admin plane */
	r.reactor = s->srv->id;
	r.reactors = s->srv->eng->n;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_HELLO;
	m.hello = &r;
	session_queue(s, &m);
}

static struct subscription *session_find_sub(struct session *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (s->subs[i]->id == id)
			return s->subs[i];
	return NULL;
}

/* Resolves the topic of a Subscribe, creating it when auto-create allows. */
static struct topic *session_sub_topic(struct session *s, const Fanout__V1__Subscribe *req)
{
	const struct config *cfg = s->srv->cfg;
	size_t len = strlen(req->topic);
	struct topic *tp;
	const char *why;
	int rc;

	if (topic_name_check(req->topic, len, &why) < 0) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC, 0,
			      req->subscription_id, false, "subscribe: topic '%.200s': %s",
			      req->topic, why);
		return NULL;
	}
	tp = topic_find(s->srv->topics, req->topic, len);
	if (tp)
		return tp;
	if (!cfg->auto_create) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC, 0,
			      req->subscription_id, false,
			      "subscribe: no such topic '%s' (auto-create is off)", req->topic);
		return NULL;
	}
	rc = topic_quota_take(&s->topic_quota, clock_monotonic_ns(), &why);
	if (rc < 0) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC, 0,
			      req->subscription_id, false, "subscribe: no such topic '%s', and %s",
			      req->topic, why);
		return NULL;
	}
	rc = topic_create(s->srv->topics, req->topic, len, cfg->default_partitions, &tp);
	if (rc < 0)
		topic_quota_undo(&s->topic_quota);	/* made by another, or not at all */
	if (rc == -ENOSPC) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC, 0,
			      req->subscription_id, false, "subscribe: no such topic '%s', and "
			      "the server's limit of %u topics is reached", req->topic,
			      s->srv->topics->max);
		return NULL;
	}
	if (rc < 0 && !tp) {
		session_error(s, headroom_refused(rc) ? FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC
			      : FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, 0, req->subscription_id,
			      false, "subscribe: cannot create topic '%s': %s", req->topic,
			      headroom_strerror(rc));
		return NULL;
	}
	return tp;
}

/* A topic with a quarantined partition (core/topic.h) takes no subscription: it would
 * silently miss that partition. Returns true after the Error. */
static bool session_sub_quarantined(struct session *s, const struct topic *tp, uint32_t id)
{
	const struct log_fault *q;
	uint32_t p;

	if (!(q = topic_quarantined(tp, &p)))
		return false;
	session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_PARTITION_QUARANTINED, 0, id, false,
		      "subscribe: topic '%s' partition %u is quarantined (%s: %s, from offset "
		      "%llu) and not served until an operator repairs it", tp->name, p, q->file,
		      q->what, (unsigned long long)q->offset);
	return true;
}

/* Passes a ring's two descriptors with the answer buffer its SubscribeResult was just
 * queued in (session_send attaches them to that buffer's send); closes them when the
 * connection is being cut and nothing more goes out. */
static void session_pass(struct session *s, const int fds[2])
{
	uint8_t f = s->fill;

	if (s->conn->closing) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	assert(s->npass[f] + 2u <= SESSION_PASS_FDS_MAX);	/* session_open_sink */
	s->pass_fds[f][s->npass[f]++] = fds[0];
	s->pass_fds[f][s->npass[f]++] = fds[1];
}

/* Answers a Subscribe; a ring subscription's descriptors (fds) go with the answer. */
#define SESSION_REDELIVERIES_MAX 256u	/* ranges a SubscribeResult lists */

static void session_subscribed(struct session *s, const struct subscription *sub,
			       const int fds[2])
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__SubscribeResult r = FANOUT__V1__SUBSCRIBE_RESULT__INIT;
	Fanout__V1__PartitionPosition pos[64], *ptrs[64];
	/* Per reactor thread: too large for its stack in a hurry, used and done here. */
	static __thread Fanout__V1__Redelivery red[SESSION_REDELIVERIES_MAX];
	static __thread Fanout__V1__Redelivery *rptrs[SESSION_REDELIVERIES_MAX];
	static __thread struct named_redelivery un[SESSION_REDELIVERIES_MAX];
	uint32_t n = sub->topic->partitions < 64 ? sub->topic->partitions : 64, nred = 0;

	for (uint32_t p = 0; p < n; p++) {
		fanout__v1__partition_position__init(&pos[p]);
		pos[p].partition = p;
		pos[p].next_offset = sub->claimed ? shared_base(sub->named->shared, p) :
				     sub->cursors[p].offset;
		ptrs[p] = &pos[p];
	}
	r.subscription_id = sub->id;
	r.topic = sub->topic->name;
	r.partitions = sub->topic->partitions;
	r.n_positions = sub->named_standby ? 0 : n;	/* the first 64; a standby: none yet */
	r.positions = ptrs;
	if (sub->sink) {
		r.shm_fds = 2;
		r.data_dir = (char *)s->srv->eng->sinks->data_dir;
	}
	r.resumed = sub->stats.resumed && !sub->named_standby;
	r.standby = sub->named_standby;
	/* A SHARED consumer is told of each event sent again as it comes (Redelivery). */
	for (uint32_t p = 0; sub->named && sub->stats.resumed && !sub->named_standby &&
	     !sub->claimed && p < sub->topic->partitions; p++)
		nred += named_unacked(sub->named, p, un + nred, SESSION_REDELIVERIES_MAX - nred);
	for (uint32_t i = 0; i < nred; i++) {
		fanout__v1__redelivery__init(&red[i]);
		red[i].partition = un[i].partition;
		red[i].first_offset = un[i].first;
		red[i].end_offset = un[i].end;
		red[i].delivery_count = un[i].count + 1 > UINT32_MAX ? UINT32_MAX :
					(uint32_t)(un[i].count + 1);
		rptrs[i] = &red[i];
	}
	r.n_redeliveries = nred;
	r.redeliveries = rptrs;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED;
	m.subscribed = &r;
	session_queue(s, &m);
	if (sub->sink)
		session_pass(s, fds);
}

static int session_grow_subs(struct session *s)
{
	uint32_t cap = s->subs_cap ? s->subs_cap * 2 : 4;
	struct subscription **subs;

	if (cap > s->srv->cfg->max_subscriptions)
		cap = s->srv->cfg->max_subscriptions;
	subs = realloc(s->subs, cap * sizeof(*subs));
	if (!subs)
		return -ENOMEM;
	s->subs = subs;
	s->subs_cap = cap;
	return 0;
}

static Fanout__V1__ErrorCode session_sub_code(enum sub_error err)
{
	switch (err) {
	case SUB_BAD_PATTERN:
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PATTERN;
	case SUB_BAD_FILTER:
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_FILTER;
	case SUB_TOO_LARGE:
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PATTERN;
	case SUB_OVER_BUDGET:
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED;
	case SUB_BAD_START:
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_START;
	default:
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL;
	}
}

static const char *session_sub_what(enum sub_error err)
{
	switch (err) {
	case SUB_BAD_PATTERN:
		return "pattern";
	case SUB_BAD_FILTER:
		return "filter";
	case SUB_TOO_LARGE:
		return "snapshot";
	case SUB_OVER_BUDGET:
		return "memory";
	case SUB_BAD_START:
		return "start";
	default:
		return "internal";
	}
}

/* Rings this connection holds now. */
static uint32_t session_rings(const struct session *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nsubs; i++)
		n += s->subs[i]->sink != NULL;
	return n;
}

/* Why this connection may not have a ring (into err), or NULL when it may ask. */
static const char *session_sink_refusal(struct session *s, char *err, size_t cap)
{
	const struct net_sink_ops *ops = s->srv->eng->sinks;

	if (!ops)
		return "shared-memory rings are off in this server (--no-shm)";
	if (!s->conn->local) {
		snprintf(err, cap, "rings are served only on the server's Unix socket %s, to "
			 "processes on its host; this connection is TCP", ops->socket_path);
		return err;
	}
	if (s->npass[s->fill] + 2u > SESSION_PASS_FDS_MAX)
		return "too many rings wait for their SubscribeResults to be read; read them first";
	if (ops->admit(ops->ctx, s->conn->fd, err, cap) < 0)
		return err;
	return NULL;
}

/* Opens the shared-memory ring a Subscribe asked for: fds gets its two descriptors.
 * Returns 0, or -1 after the Error. */
static int session_open_sink(struct session *s, struct subscription *sub,
			     const Fanout__V1__Subscribe *req, int fds[2])
{
	const struct net_sink_ops *ops = s->srv->eng->sinks;
	struct net_sink_req sr = {
		.topic = sub->topic->name, .partitions = sub->topic->partitions,
		.reactor = s->srv->id, .conn = s->conn->slot, .sub_id = req->subscription_id,
		.conn_rings = session_rings(s), .bytes = req->shm_ring_bytes,
	};
	const char *name = NULL, *why;
	char err[400];

	why = session_sink_refusal(s, err, sizeof(err));
	sub->sink = why ? NULL : ops->open(ops->ctx, &sr, &name, fds, err, sizeof(err));
	if (!sub->sink) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_SHM_UNAVAILABLE, 0,
			      req->subscription_id, false, "subscribe: shm ring: %s",
			      why ? why : err);
		return -1;
	}
	sub->sink_path = name;
	return 0;
}

/* A named subscription's options: what is served. Returns 0, or -1 after the Error. */
static int session_named_check(struct session *s, const Fanout__V1__Subscribe *req)
{
	const char *why = NULL;
	bool named = req->subscription_name && req->subscription_name[0];

	bool shared = req->subscription_type ==
		      FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_SHARED ||
		      req->subscription_type ==
		      FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_KEY_SHARED;

	if (!named && (req->subscription_type || req->delivery || req->ack_timeout_ms))
		why = "subscription_type, delivery and ack_timeout_ms are for named "
		      "subscriptions: give subscription_name";
	else if (!named)
		return 0;
	else if (named_name_check(req->subscription_name, &why) < 0)
		;
	else if (req->subscription_type > FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_KEY_SHARED)
		why = "unknown subscription_type";
	else if (req->delivery == FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_EXACTLY_ONCE)
		why = "delivery EXACTLY_ONCE is not served yet: AT_LEAST_ONCE with the consumer "
		      "keeping its offsets beside its results does it";
	else if (req->delivery > FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_EXACTLY_ONCE)
		why = "unknown delivery";
	else if (req->ack_timeout_ms && !shared)
		why = "ack_timeout_ms is for SHARED and KEY_SHARED subscriptions";
	else if (req->ack_timeout_ms && (req->ack_timeout_ms < 10 || req->ack_timeout_ms > 3600000))
		why = "ack_timeout_ms is 0 (none) or 10..3600000";
	else if (req->snapshot)
		why = "a snapshot is not offered on a named subscription";
	else if (req->shm_ring_bytes)
		why = "a named subscription is served over the socket, not a shared-memory ring";
	else
		return 0;
	session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SUBSCRIPTION, 0,
		      req->subscription_id, false, "subscribe: %s", why);
	return -1;
}

/* Takes the topic's named subscription for a consumer whose take-over flag is act.
 * Resumed and active: *starts (partitions entries, the caller frees) holds where each
 * partition resumes. A FAILOVER consumer behind an active one stands by (*standby).
 * Returns 0, or -1 after the Error. */
static int session_named_attach(struct session *s, const Fanout__V1__Subscribe *req,
				struct topic *tp, _Atomic bool *act, struct named_sub **out,
				bool *resumed, bool *standby, uint64_t **starts)
{
	int want = req->delivery == FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_MOST_ONCE ?
		   NAMED_AT_MOST_ONCE : NAMED_AT_LEAST_ONCE;
	/* SubscriptionType's values are named_type's; UNSPECIFIED is EXCLUSIVE. */
	static const char *const names[] = { "EXCLUSIVE", "EXCLUSIVE", "SHARED", "FAILOVER",
					     "KEY_SHARED" };
	int type = req->subscription_type ? (int)req->subscription_type : NAMED_EXCLUSIVE;
	struct named_consumer c = { .activate = act, .reactor = s->srv->id };
	const char *why = "";
	char dir[1024];
	int rc = topic_path(s->srv->topics, tp, dir, sizeof(dir));

	*starts = NULL;
	if (rc == 0)
		rc = named_attach(&s->srv->eng->named, tp, dir, req->subscription_name, want,
				  type, c, out, resumed, standby, &why);
	if (rc == -EPROTOTYPE) {
		int has = named_type_of(&s->srv->eng->named, tp, req->subscription_name);

		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY, 0,
			      req->subscription_id, false, "subscribe: subscription '%s' of %s has "
			      "%s consumers; a %s consumer is refused while it does",
			      req->subscription_name, tp->name,
			      has > 0 && has <= NAMED_KEY_SHARED ? names[has] : "other",
			      names[type]);
		return -1;
	}
	if (rc == -EBUSY) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY, 0,
			      req->subscription_id, false, "subscribe: subscription '%s' of %s %s (%u)",
			      req->subscription_name, tp->name, type == NAMED_EXCLUSIVE ?
			      "is EXCLUSIVE and has a consumer" : "has as many consumers as it "
			      "may", type == NAMED_EXCLUSIVE ? 1 : NAMED_CONSUMERS_MAX);
		return -1;
	}
	if (rc < 0) {
		bool bound = rc == -EMFILE || rc == -EDQUOT;

		session_error(s, bound ? FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED :
			      FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, 0, req->subscription_id,
			      false, "subscribe: subscription '%s' of %s: %s%s%s",
			      req->subscription_name, tp->name, rc == -EMFILE ?
			      "the server serves as many named subscriptions at once as it may "
			      "(4096)" : rc == -EDQUOT ? "the topic has as many named subscriptions "
			      "as it may (1024)" : strerror(-rc), why[0] ? ": " : "", why);
		return -1;
	}
	if (*resumed && req->delivery && (int)(*out)->hdr->delivery != want) {
		bool amo = (*out)->hdr->delivery == NAMED_AT_MOST_ONCE;

		session_named_leave(s, NULL, *out, act);	/* may free it */
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SUBSCRIPTION, 0,
			      req->subscription_id, false, "subscribe: subscription '%s' of %s is "
			      "%s; it keeps the delivery it was made with", req->subscription_name,
			      tp->name, amo ? "AT_MOST_ONCE" : "AT_LEAST_ONCE");
		return -1;
	}
	if (*resumed && !*standby && !(*starts = malloc(tp->partitions * sizeof(**starts)))) {
		session_named_leave(s, NULL, *out, act);
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, 0,
			      req->subscription_id, false, "out of memory");
		return -1;
	}
	for (uint32_t p = 0; *starts && p < tp->partitions; p++)
		(*starts)[p] = named_acked(*out, p);
	return 0;
}

/* A named subscription that sub_init placed: its cursor follows sub's from here (a
 * SHARED consumer joins its dealer instead). Returns 0, -ENOMEM, -EDQUOT (the reactor's
 * budget refused a SHARED consumer) or -EBUSY (its dealer is full). */
static int session_named_begin(struct session *s, struct subscription *sub,
			       struct named_sub *ns, bool resumed, bool standby,
			       const Fanout__V1__Subscribe *req)
{
	uint32_t n = sub->topic->partitions;
	int slot;

	sub->named_seen = malloc(n * sizeof(*sub->named_seen));
	if (!sub->named_seen)
		return -ENOMEM;
	snprintf(sub->stats.name, sizeof(sub->stats.name), "%s", req->subscription_name);
	sub->stats.resumed = resumed;
	sub->stats.at_most_once = ns->hdr->delivery == NAMED_AT_MOST_ONCE;
	sub->stats.type = (uint8_t)ns->type;
	sub->stats.standby = standby;
	sub->named_standby = standby;
	sub->named = ns;
	sub->shared_slot = -1;
	if (ns->shared) {	/* dealt its events by the subscription's dealer */
		uint64_t bytes = shared_consumer_bytes(ns->shared);

		if (sub_claimed(sub) < 0)
			return -ENOMEM;
		if (!budget_take(&s->srv->budget, BUDGET_SUBSCRIPTIONS, bytes))
			return -EDQUOT;
		slot = shared_join(ns->shared, s->srv->id, (int64_t)req->ack_timeout_ms * 1000000);
		if (slot < 0) {
			budget_give(&s->srv->budget, BUDGET_SUBSCRIPTIONS, bytes);
			return slot;
		}
		sub->shared_slot = slot;
		sub->shared_charged = bytes;
		/* Made now, and joined: it starts where sub_init put the cursors (a maker
		 * refused before this leaves no started file behind). */
		if (!resumed) {
			for (uint32_t p = 0; p < n; p++)
				sub->named_seen[p] = sub->cursors[p].offset;
			shared_place(ns->shared, sub->named_seen);
		}
		return 0;
	}
	if (standby) {	/* its cursors are placed when it takes over */
		/* Made active while it was being set up: taken over at this turn's end. */
		if (atomic_load_explicit(sub->named_activate, memory_order_acquire))
			atomic_store_explicit(&s->srv->named_pending, true, memory_order_seq_cst);
		return 0;
	}
	for (uint32_t p = 0; p < n; p++) {
		uint64_t at = sub->cursors[p].offset;

		sub->named_seen[p] = at;
		if (!resumed) {	/* made now: it starts where the cursors were placed */
			named_start(ns, p, at);
		} else if (named_acked(ns, p) > at) {
			/* Acked past the log's end (a log cut by fanout-repair, or shorter after
			 * a power loss than its cursor file): from the end, never skipping what
			 * is appended there next. */
			fprintf(stderr, "fanoutd: named subscription %s of %s: partition %u was "
				"acked to offset %llu, past the log's end %llu; it resumes there\n",
				req->subscription_name, sub->topic->name, p,
				(unsigned long long)named_acked(ns, p), (unsigned long long)at);
			named_start(ns, p, at);
		} else if (named_acked(ns, p) < at) {	/* retention deleted what it had not
							 * acked: told (a Gap) */
			(void)sub_note_gap(sub, p, named_acked(ns, p), at);
		}
	}
	if (!resumed)
		named_started(ns);
	return 0;
}

/* A FAILOVER consumer standing by takes over: from the last Ack of the one before it,
 * told with a second SubscribeResult (resumed, positions, redeliveries). */
static void session_named_take_over(struct session *s, struct subscription *sub)
{
	const int none[2] = { -1, -1 };
	uint32_t n = sub->topic->partitions;
	uint64_t *at = malloc(n * sizeof(*at));

	if (!at) {	/* cannot place it: end it, clearly (another may stand by) */
		session_end_sub(s, sub, "out of memory taking over its FAILOVER subscription",
				false);
		return;
	}
	if (!sub->named->hdr->started) {	/* its first consumer never placed it */
		for (uint32_t p = 0; p < n; p++)
			named_start(sub->named, p, sub->cursors[p].offset);
		named_started(sub->named);
	}
	for (uint32_t p = 0; p < n; p++)
		at[p] = named_acked(sub->named, p);
	sub_restart(sub, at);
	for (uint32_t p = 0; p < n; p++) {
		sub->named_seen[p] = sub->cursors[p].offset;
		if (named_acked(sub->named, p) > sub->named_seen[p])	/* past the end */
			named_start(sub->named, p, sub->named_seen[p]);
		else if (named_acked(sub->named, p) < sub->named_seen[p])	/* retention */
			(void)sub_note_gap(sub, p, named_acked(sub->named, p), sub->named_seen[p]);
	}
	free(at);
	sub->named_standby = false;
	sub->stats.standby = false;
	sub->stats.resumed = true;
	net_server_info(s->srv, "connection %u: subscription %u takes over FAILOVER "
			"subscription %s of %s", s->conn->slot, sub->id, sub->stats.name,
			sub->topic->name);
	session_subscribed(s, sub, none);	/* it may close the session (budget) */
	if (s->in_use && sub->ngaps)	/* its cursor below what retention left */
		session_gaps(s, sub);
}

void session_named_turn(struct session *s)
{
	/* One may end (session_end_sub), or the session close under an answer. */
	for (uint32_t i = s->nsubs; s->in_use && i-- > 0;) {
		struct subscription *sub = s->subs[i];

		if (sub->named_standby &&
		    atomic_load_explicit(sub->named_activate, memory_order_acquire))
			session_named_take_over(s, sub);
	}
}

/* After a gather: what the cursors passed was sent (net/named.h counts it). */
static void session_named_sent(struct subscription *sub)
{
	for (uint32_t p = 0; p < sub->topic->partitions; p++) {
		uint64_t at = sub->cursors[p].offset;

		if (at > sub->named_seen[p])
			named_sent(sub->named, p, sub->named_seen[p], at);
		sub->named_seen[p] = at;
	}
}

/* Places a subscription. Returns true, or false after the Error. */
static bool session_subscribe_do(struct session *s, const Fanout__V1__Subscribe *req)
{
	struct subscription *sub;
	struct sub_request sr;
	enum sub_error err;
	struct topic *tp;
	const char *why = "";
	int fds[2] = { -1, -1 };
	int64_t since;
	struct named_sub *ns = NULL;
	_Atomic bool *act = NULL;	/* a named consumer's take-over flag */
	uint64_t *starts = NULL;
	bool resumed = false, standby = false;

	if (session_find_sub(s, req->subscription_id)) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_DUPLICATE_SUBSCRIPTION, 0,
			      req->subscription_id, false, "subscription id %u is already in use",
			      req->subscription_id);
		return false;
	}
	if (s->nsubs >= s->srv->cfg->max_subscriptions) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_TOO_MANY_SUBSCRIPTIONS, 0,
			      req->subscription_id, false,
			      "at most %u subscriptions per connection",
			      s->srv->cfg->max_subscriptions);
		return false;
	}
	if (session_named_check(s, req) < 0)
		return false;
	tp = session_sub_topic(s, req);
	if (!tp || session_sub_quarantined(s, tp, req->subscription_id))
		return false;
	sub = calloc(1, sizeof(*sub));
	if (!sub || (s->nsubs == s->subs_cap && session_grow_subs(s) < 0)) {
		free(sub);
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, 0,
			      req->subscription_id, false, "out of memory");
		return false;
	}
	if (req->subscription_name && req->subscription_name[0] &&
	    (!(act = calloc(1, sizeof(*act))) ||
	     session_named_attach(s, req, tp, act, &ns, &resumed, &standby, &starts) < 0)) {
		if (!act)
			session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, 0,
				      req->subscription_id, false, "out of memory");
		free((void *)act);
		free(sub);
		return false;
	}
	sr = (struct sub_request){
		.id = req->subscription_id, .topic = tp,
		.patterns = (const char *const *)req->patterns, .npatterns = req->n_patterns,
		.start = (int)req->start, .start_offset = req->start_offset,
		.start_offsets = req->start_offsets, .nstart_offsets = req->n_start_offsets,
		.start_time_ns = req->start_time_ns,
		.filter = req->filter, .snapshot = req->snapshot, .budget = &s->srv->budget,
	};
	if (starts) {	/* resumed: after its last Ack, whatever start it asks for */
		sr.start = FANOUT__V1__START_POSITION__START_POSITION_OFFSET;
		sr.start_offset = 0;
		sr.start_offsets = starts;
		sr.nstart_offsets = tp->partitions;
		sr.start_time_ns = 0;
	}
	session_join(s, tp, true);
	since = clock_realtime_ns();	/* before the cursors are placed (sub_audit_owed) */
	err = sub_init(sub, &sr, &s->srv->match_arena, &why);
	free(starts);
	/* A SHARED consumer is dealt its events, not routed them. */
	if (err == SUB_OK && sub->indexed && !(ns && ns->shared) &&
	    net_server_watch(s->srv, sub) < 0) {
		sub_free(sub);
		err = SUB_NO_MEMORY;
		why = "out of memory for the key index";
	}
	if (err == SUB_OK && ns) {
		sub->named_activate = act;	/* sub_init cleared the struct */
		int rc = session_named_begin(s, sub, ns, resumed, standby, req);

		if (rc < 0) {
			if (sub->indexed && !ns->shared)
				net_server_unwatch(s->srv, sub);
			free(sub->named_seen);
			sub_free(sub);
			err = rc == -EDQUOT ? SUB_OVER_BUDGET : SUB_NO_MEMORY;
			why = rc == -EDQUOT ? "a SHARED consumer (its queue and the subscription's "
			      "windows) would take the reactor past its memory budget" :
			      rc == -EBUSY ? "the subscription has as many consumers as it may" :
			      "out of memory";
		}
	}
	if (err != SUB_OK) {
		if (ns && ns->shared && !resumed)	/* it made the subscription */
			shared_maker_failed(ns->shared);
		if (ns) {
			session_named_leave(s, NULL, ns, act);
			free((void *)act);
		}
		session_join(s, tp, false);
		free(sub);
		session_error(s, session_sub_code(err), 0, req->subscription_id, false,
			      "subscribe: %s: %s", session_sub_what(err), why);
		return false;
	}
	if (req->shm_ring_bytes && session_open_sink(s, sub, req, fds) < 0) {
		if (sub->indexed && !sub->claimed)
			net_server_unwatch(s->srv, sub);
		session_join(s, tp, false);
		sub_free(sub);
		free(sub);
		return false;
	}
	sub->owner = s;
	net_control_sub_started(s->srv, sub, (int)req->start);	/* admin plane */
	sub->stats.since_ns = since;
	s->subs[s->nsubs++] = sub;
	session_priority_update(s, clock_monotonic_ns());
	session_subscribed(s, sub, fds);
	if (sub->ngaps)	/* resumed below what retention left: told at once */
		session_gaps(s, sub);
	net_server_info(s->srv, "connection %u: subscription %u to %s (%zu patterns%s%s)",
			s->conn->slot, req->subscription_id, tp->name, req->n_patterns,
			req->filter ? ", filter" : "", req->snapshot ? ", snapshot" : "");
	return true;
}

static void session_subscribe(struct session *s, const Fanout__V1__Subscribe *req)
{
	struct auth *a = s->srv->eng->auth;

	if (!session_auth_refresh(s))
		return;	/* revoked: closing */
	if (!access_allows(&s->access, a, AUTH_SUBSCRIBE, req->topic, strlen(req->topic))) {
		session_refuse(s, "subscribe", req->topic, "not permitted");
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED, 0,
			      req->subscription_id, false, "subscribe: token %s may not subscribe "
			      "to topic '%.200s'", s->access.name, req->topic);
		return;
	}
	if (!access_sub_take(&s->access)) {
		session_refuse(s, "subscribe", req->topic, "subscription limit");
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED, 0,
			      req->subscription_id, false, "subscribe: token %s has its limit of %u "
			      "subscriptions open", s->access.name,
			      s->access.token->limits.subscriptions);
		return;
	}
	if (!session_subscribe_do(s, req))
		access_sub_give(&s->access);
}

static void session_unsubscribe(struct session *s, const Fanout__V1__Unsubscribe *req)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__UnsubscribeResult r = FANOUT__V1__UNSUBSCRIBE_RESULT__INIT;
	struct subscription *sub = session_find_sub(s, req->subscription_id);

	if (!sub) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_SUBSCRIPTION, 0,
			      req->subscription_id, false, "unsubscribe: no subscription %u",
			      req->subscription_id);
		return;
	}
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (s->subs[i] == sub)
			s->subs[i] = s->subs[--s->nsubs];
	session_drop_sub(s, sub, false);	/* frames already gathered stay valid */
	session_priority_update(s, clock_monotonic_ns());
	r.subscription_id = req->subscription_id;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED;
	m.unsubscribed = &r;
	session_queue(s, &m);
}

static void session_ack(struct session *s, const Fanout__V1__Ack *req)
{
	struct subscription *sub = session_find_sub(s, req->subscription_id);

	if (!sub) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_SUBSCRIPTION, 0,
			      req->subscription_id, false, "ack: no subscription %u",
			      req->subscription_id);
		return;
	}
	/* SHARED: the events named, individually. */
	if (sub->claimed && sub->shared_slot >= 0) {
		struct shared_sent sent = session_shared_sent(sub);

		session_named_wake(s, shared_ack(sub->named->shared, sub->shared_slot, &sent,
						 req->partition, req->offset,
						 req->count ? req->count : 1, req->offsets,
						 req->n_offsets, clock_monotonic_ns()));
	/* Cumulative: through offset. A partition the topic lacks is ignored, as ever. */
	} else if (sub->named && !sub->named_standby && req->partition < sub->topic->partitions &&
		   req->offset < UINT64_MAX) {
		named_ack(sub->named, req->partition, req->offset + 1);
	}
	sub->acked_offset = req->offset;
	sub->stats.delivered_at_ack = sub->delivered;	/* admin plane: unacked */
	/* Audit acks are cumulative: a SHARED consumer's individual ones are not recorded
	 * (its rows stay "delivered"). */
	if (sub->audit_sent && !sub->claimed)
		session_audit_ack(s, sub, req->partition, req->offset);
}

/* Queues a PublishAck for the batch's stored events, written straight into the answer
 * buffer (room was made before the batch ran). */
static void session_queue_ack(struct session *s, const struct session_batch *b)
{
	const struct publish_ticket *t = &b->ticket;
	size_t size = ack_frame_size(b->seq, t->n, t->partitions, t->offsets);

	if (session_room(s, size) < 0)
		return;
	s->ctl_len[s->fill] += (uint32_t)ack_frame_write(s->ctl[s->fill] + s->ctl_len[s->fill],
							 b->seq, t->n, t->partitions, t->offsets);
	net_server_activate(s->srv, s);
}

/* Refuses a batch: its answer is the Error, in order with the batches ahead. */
static int session_batch_refuse(struct session_batch *b, Fanout__V1__ErrorCode code,
				bool closing, const char *fmt, ...)
{
	va_list ap;

	b->err.code = code;
	b->err.retry_after_ms = 0;	/* the slot's last batch may have set it */
	va_start(ap, fmt);
	vsnprintf(b->err.message, sizeof(b->err.message), fmt, ap);
	va_end(ap);
	b->closing = closing;
	return -1;
}

/* The sequence the connection's producer holds later batches for, 0 = none (also for
 * a fenced connection: producer_begin tells it so). */
static uint64_t session_producer_held(const struct session *s)
{
	struct producer *p = s->producer;
	uint64_t held;

	pthread_mutex_lock(&p->lock);
	held = p->hold_epoch == s->producer_epoch &&
	       atomic_load_explicit(&p->gen, memory_order_relaxed) == s->producer_gen ?
	       p->hold_seq : 0;
	pthread_mutex_unlock(&p->lock);
	return held;
}

/* Refuses a batch behind the producer's held one. Returns -1. */
static int session_batch_out_of_order(struct session *s, struct session_batch *b,
				      uint64_t held)
{
	return session_batch_refuse(b, FANOUT__V1__ERROR_CODE__ERROR_CODE_OUT_OF_ORDER, false,
		"producer %s, epoch %llu: batch %llu was refused for now and not sent again "
		"yet; the batches after it are refused meanwhile, so that none is stored "
		"before it: send it again first (then this one), or Hello again to start "
		"over; nothing was stored", s->producer->id,
		(unsigned long long)s->producer_epoch, (unsigned long long)held);
}

/* Whether a batch refused with code will never be stored as it is: bad input, a
 * forgotten sequence, a fenced producer (OUT_OF_ORDER: behind another). Any other
 * refusal may pass when the batch is sent again. */
static bool session_refusal_final(Fanout__V1__ErrorCode code)
{
	switch (code) {
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_MESSAGE:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_OUT_OF_ORDER:
		return true;
	default:
		return false;
	}
}

/* An idempotent producer's batch answered with a refusal that may pass when it is sent
 * again (or with events another reactor did not append): later batches of the producer
 * wait for it (net/producer.h, producer_hold), so none overtakes it in the log. A
 * final refusal of the held batch itself lets the hold go. */
static void session_producer_refused(struct session *s, uint64_t seq, bool final)
{
	if (!s->producer || seq == 0)
		return;
	if (final)
		producer_release(s->producer, s->producer_epoch, seq);
	else
		producer_hold(s->producer, s->producer_gen, s->producer_epoch, seq);
}

static void session_batch_hold(struct session *s, const struct session_batch *b,
			       bool some_failed)
{
	if (some_failed || b->rc < 0)
		session_producer_refused(s, b->seq, !some_failed &&
					 session_refusal_final(b->err.code));
}

/* Queues a batch's answer: the ack with an entry per stored event (the offset
 * UINT64_MAX for one another reactor failed to append) and, for a failure, the Error. */
static void session_publish_answer(struct session *s, const struct session_batch *b)
{
	const struct publish_ticket *t = &b->ticket;
	uint32_t failed = 0, first = 0;

	for (uint32_t i = t->n; i-- > 0;) {
		if (t->offsets[i] == UINT64_MAX) {
			failed++;
			first = i;
		}
	}
	if (t->n > 0 || b->rc == 0)
		session_queue_ack(s, b);
	if (failed)
		session_batch_hold(s, b, true);
	if (failed)
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL, b->seq, 0, false,
			      "publish: %u of %u stored events were not appended by their "
			      "partition's reactor (%s), the first stored event %u; their ack "
			      "offsets are 18446744073709551615", failed, t->n,
			      strerror(-atomic_load(&t->failed)), first);
	if (b->sync_failed && t->n > 0)
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_NOT_DURABLE, b->seq, 0, false,
			      "publish: the %u stored events are in the log but the disk did not "
			      "sync them (%s): they survive the server process dying, not the "
			      "machine", t->n, strerror(-b->sync_failed));
	if (b->kafka_late == SESSION_KAFKA_LATE && t->n > 0)
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_NOT_DURABLE, b->seq, 0, false,
			      "publish: the %u stored events are in the log but Kafka has not "
			      "confirmed them within --kafka-ack-timeout-ms (%llu ms); the egress "
			      "goes on producing them", t->n,
			      (unsigned long long)s->srv->cfg->kafka_ack_timeout_ms);
	else if (b->kafka_late && t->n > 0)
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_NOT_DURABLE, b->seq, 0, false,
			      "publish: the %u stored events are in the log; whether Kafka has "
			      "them is not known here (%s)", t->n,
			      b->kafka_late == SESSION_KAFKA_GONE ? "their topic was deleted "
			      "while the answer waited" : "the batch was stored before and is "
			      "answered from the producer's records, which do not keep its "
			      "topics; the egress produces every stored event in order");
	if (b->rc < 0 && b->err.retry_after_ms)
		session_error_retry(s, b->err.code, b->seq, b->err.retry_after_ms, "publish: %s",
				    b->err.message);
	else if (b->rc < 0)
		session_error(s, b->err.code, b->seq, 0, b->closing, "publish: %s",
			      b->err.message);
}

/* A batch slot, from the budget (given back in session_drop_batches or, for an orphan,
 * by the server). Returns 0, or -1 after the Error. */
static int session_batch_new(struct session *s, struct session_batch **slot, uint64_t seq)
{
	if (!budget_take(&s->srv->budget, BUDGET_TICKETS, sizeof(**slot))) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED, seq, 0,
			      false, "publish: the reactor's memory budget is spent; nothing was "
			      "appended");
		return -1;
	}
	*slot = calloc(1, sizeof(**slot));
	if (!*slot) {
		budget_give(&s->srv->budget, BUDGET_TICKETS, sizeof(**slot));
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, seq, 0, false,
			      "publish: out of memory");
		return -1;
	}
	return 0;
}

void session_batch_record(struct session_batch *b)
{
	if (!b->producer || b->claim < 0)
		return;
	producer_record(b->producer, b->claim, b->ticket.n, b->ticket.partitions,
			b->ticket.offsets);
	b->claim = -1;
}

/* An idempotent producer's batch, scanned (pub->n stored events): stored as new, or
 * answered (and completed) from what the producer's record says was stored before.
 * Sets up pub's stamp and known entries. Returns 0 (store it: publish_batch), 1 (every
 * event is stored: publish_answer_known), or -1 with b->err set (nothing stored). */
static int session_producer_begin(struct session *s, struct session_batch *b, int64_t now)
{
	struct publish_ctx *pub = &s->srv->publish;
	const struct producer *p = s->producer;
	enum producer_verdict v;

	v = producer_begin(s->producer, s->producer_gen, s->producer_epoch, b->seq, pub->n, now,
			   s->srv->known, s->srv->known_part, &b->claim);
	switch (v) {
	case PRODUCER_NEW:
		break;
	case PRODUCER_FENCED:
		return session_batch_refuse(b, FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED,
					    true, "another connection took producer %s over; "
					    "nothing was stored", p->id);
	case PRODUCER_RETRY:
		pub->known = s->srv->known;
		pub->known_part = s->srv->known_part;
		if (b->claim < 0)
			return 1;	/* all stored: answered from the record */
		break;
	case PRODUCER_IN_FLIGHT:
		return session_batch_refuse(b,
			FANOUT__V1__ERROR_CODE__ERROR_CODE_SEQUENCE_IN_FLIGHT, false,
			"batch %llu of producer %s is still being stored (sent before, on this "
			"or an earlier connection); send it again shortly for its ack",
			(unsigned long long)b->seq, p->id);
	case PRODUCER_NO_SPACE:
		return session_batch_refuse(b, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL, false,
			"the disk refused room for producer %s's record of batch %llu; nothing "
			"was stored", p->id, (unsigned long long)b->seq);
	case PRODUCER_BUSY:
		return session_batch_refuse(b,
			FANOUT__V1__ERROR_CODE__ERROR_CODE_SEQUENCE_IN_FLIGHT, false,
			"producer %s has %u batches being stored; send this one again once "
			"some are acked", p->id, PRODUCER_SLOTS);
	case PRODUCER_HELD:
		return session_batch_out_of_order(s, b, session_producer_held(s));
	default:
		return session_batch_refuse(b, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE,
			false, "producer %s, epoch %llu: %s; nothing was stored", p->id,
			(unsigned long long)s->producer_epoch, v == PRODUCER_ZERO ?
			"an idempotent producer's batch sequence is 1 or more" :
			v == PRODUCER_TOO_OLD ? "the sequence is at or below the oldest this "
			"server still remembers: the batch may have been stored, its offsets "
			"are no longer known" : "a batch with this sequence was stored with "
			"another number of events");
	}
	b->producer = b->claim >= 0 ? s->producer : NULL;
	s->producer_stamp = (struct event_stamp){ .id = p->id, .id_len = p->id_len,
		.epoch = s->producer_epoch, .sequence = b->seq };
	pub->stamp = &s->producer_stamp;
	return 0;
}

/* A batch's events and bytes against the connection's and the token's rates. Returns
 * 0, or -1 with err RATE_LIMITED (nothing of it is stored). */
static int session_publish_charge(struct session *s, uint32_t events, size_t bytes,
				  struct publish_error *err)
{
	const struct config *cfg = s->srv->cfg;
	int64_t wait = access_charge(&s->access, cfg->conn_events_per_s, cfg->conn_bytes_per_s,
				     events, bytes, clock_monotonic_ns());

	if (wait == 0)
		return 0;
	err->code = FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED;
	err->retry_after_ms = (uint32_t)((wait + 999999) / 1000000);
	snprintf(err->message, sizeof(err->message), "%u events (%zu bytes) would pass the "
		 "%s rate limit; nothing of this batch was stored; retry in %u ms", events,
		 bytes, s->access.token ? "connection's or token's" : "connection's",
		 err->retry_after_ms);
	session_refuse(s, "publish", "", "rate limit");
	return -1;
}

void session_batch_kafka_free(struct session_batch *b, struct budget *budget)
{
	if (b->kafka_cap)
		budget_give(budget, BUDGET_TICKETS, b->kafka_cap * sizeof(*b->kafka_topics));
	free(b->kafka_topics);
	b->kafka_topics = NULL;
	b->kafka_cap = 0;
}

/* --kafka-ack kafka: notes which of the batch's stored events go to Kafka (b->kafka when
 * any), so its answer waits for them. A batch answered from a producer's record (sent
 * again) was stored before and does not wait. Without room for the notes the batch is
 * answered when stored, as with --kafka-ack local (counted as a refusal of the gate). */
static void session_batch_kafka(struct session *s, struct session_batch *b, bool known)
{
	const struct publish_ctx *pub = &s->srv->publish;
	uint32_t n = b->ticket.n;

	b->kafka = false;
	b->kafka_late = SESSION_KAFKA_OK;
	b->kafka_done = 0;
	if (!s->srv->cfg->kafka_ack_kafka || n == 0)
		return;
	if (known) {	/* stored before: said so, not acked as if Kafka had them */
		if (b->rc == 0 && s->srv->cfg->nkafka_egress)
			b->kafka_late = SESSION_KAFKA_RECORDS;
		return;
	}
	b->kafka_by_ns = clock_monotonic_ns() +
			 (int64_t)s->srv->cfg->kafka_ack_timeout_ms * 1000000;
	if (n > b->kafka_cap) {	/* grown once to the largest batch, then reused */
		struct topic **grown;
		uint32_t cap = n < 64 ? 64 : n;

		if (!budget_take(&s->srv->budget, BUDGET_TICKETS,
				 (cap - b->kafka_cap) * sizeof(*grown)))
			return;
		grown = realloc(b->kafka_topics, cap * sizeof(*grown));
		if (!grown) {
			budget_give(&s->srv->budget, BUDGET_TICKETS,
				    (cap - b->kafka_cap) * sizeof(*grown));
			return;
		}
		b->kafka_topics = grown;
		b->kafka_cap = cap;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct topic *tp = pub->resolved[i];

		b->kafka_topics[i] = egress_gate_topic(&s->srv->eng->egress, tp) ? tp : NULL;
		b->kafka = b->kafka || b->kafka_topics[i];
	}
}

/* Whether every stored event of b that goes to Kafka is there (remaining is 0: the
 * offsets are known). Resumes where the last look stopped. */
void session_kafka_forget_topic(struct session *s, const struct topic *tp)
{
	for (uint32_t k = s->batch_head; k != s->batch_tail; k++) {
		struct session_batch *b = s->batches[k % SESSION_BATCHES_MAX];

		for (uint32_t i = 0; b->kafka && i < b->ticket.n; i++) {
			if (b->kafka_topics[i] == tp) {
				b->kafka_topics[i] = NULL;
				b->kafka_late = SESSION_KAFKA_GONE;
			}
		}
	}
}

static bool session_batch_in_kafka(struct session_batch *b)
{
	const struct publish_ticket *t = &b->ticket;

	for (; b->kafka_done < t->n; b->kafka_done++) {
		uint32_t i = b->kafka_done;

		if (b->kafka_topics[i] && t->offsets[i] != UINT64_MAX &&
		    !egress_gate_passed(b->kafka_topics[i], t->partitions[i], t->offsets[i]))
			return false;
	}
	return true;
}

/* A PublishBatch, from its wire bytes (ingest/publish.h). */
static void session_publish(struct session *s, const uint8_t *batch, size_t len)
{
	struct session_batch **slot = &s->batches[s->batch_tail % SESSION_BATCHES_MAX];
	struct publish_ctx *pub = &s->srv->publish;
	struct session_batch *b;
	struct publish_error err;
	int64_t now = clock_realtime_ns();	/* every event's receive time */
	size_t appended = 0;
	uint64_t seq = 0, held;
	int scanned, known = 0;

	assert(s->batch_tail - s->batch_head < SESSION_BATCHES_MAX);	/* session_parse */
	if (!session_auth_refresh(s))
		return;	/* revoked: closing, nothing of it stored */
	s->srv->route.rules = net_engine_rules(s->srv->eng);	/* a reload may have swapped them */
	pub->quota = &s->topic_quota;	/* topics the batch creates are this connection's */
	scanned = publish_scan(pub, batch, len, &seq, &err);
	PROBE_INGEST(s->conn->slot, pub->n);
	/* Room for the ack (and an Error) first: an appended batch always gets its ack. */
	if (session_room(s, SESSION_ACK_BYTES(pub->n)) < 0)
		return;
	if (!*slot && session_batch_new(s, slot, seq) < 0) {
		session_producer_refused(s, seq, false);	/* refused for now */
		return;
	}
	b = *slot;
	b->seq = seq;
	b->producer = NULL;
	b->claim = -1;
	b->closing = false;
	if (scanned < 0) {
		publish_ticket_reset(&b->ticket);
		pub->rejected++;
		b->rc = -1;
		b->err = err;
	} else if (s->producer && (held = session_producer_held(s)) && seq > held) {
		/* Before the rate charge: a held batch costs the publisher nothing. */
		publish_ticket_reset(&b->ticket);
		b->rc = session_batch_out_of_order(s, b, held);
	} else if (session_publish_charge(s, pub->n, len, &b->err) < 0) {
		publish_ticket_reset(&b->ticket);
		pub->rejected++;
		b->rc = -1;
	} else if (s->producer && (known = session_producer_begin(s, b, now)) < 0) {
		publish_ticket_reset(&b->ticket);
		b->rc = -1;
	} else {
		pub->grant = s->srv->eng->auth->required ? s->access.token : NULL;
		b->rc = (known ? publish_answer_known(pub, &b->ticket, &b->err) :
			 publish_batch(pub, now, &b->ticket, &appended, &b->err)) < 0 ? -1 : 0;
		if (!known && s->producer && b->seq == s->srv->test_kill_seq)
			raise(SIGKILL);	/* test hook: a crash mid-batch */
		pub->stamp = NULL;
		pub->known = NULL;
		pub->known_part = NULL;
		pub->grant = NULL;
		if (b->rc < 0 && b->err.code ==
		    FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED)
			session_refuse(s, "publish", "", b->err.message);
	}
	session_batch_hold(s, b, false);	/* before any later batch is begun */
	if (b->rc == 0 && b->ticket.n > 0) {
		s->stats.last_topic = pub->resolved[0];	/* admin plane: the topic's producers */
		session_publish_priority(s, pub);
	}
	session_batch_kafka(s, b, known != 0 || scanned < 0 || b->ticket.n == 0);
	b->sync_pass = 0;
	b->sync_failed = 0;
	if (b->ticket.nremote == 0)
		session_batch_record(b);
	if (b->ticket.nremote == 0 && s->batch_head == s->batch_tail && !b->kafka &&
	    (!s->srv->sync_exec || b->ticket.n == 0)) {
		session_publish_answer(s, b);	/* all here, nothing ahead: answered now */
		return;
	}
	/* Other reactors append some events, or batches ahead wait: answered in order once
	 * they are done. Frames behind it go on being handled (publishes pipeline). */
	s->batch_tail++;
	net_server_wait(s->srv, s);
}

bool session_handoff(struct session *s)
{
	for (uint32_t i = s->batch_head; i != s->batch_tail; i++)
		if (net_server_handoff(s->srv, &s->batches[i % SESSION_BATCHES_MAX]->ticket))
			return true;	/* later batches wait: per-partition order */
	return false;
}

/* --fsync batch: whether the batch's events are synced (answered then), or the disk
 * refuses them (answered with the Error after the ack). */
static bool session_batch_synced(struct session *s, struct session_batch *b)
{
	struct executor *x = s->srv->sync_exec;
	int err;

	if (b->sync_pass && executor_sync_reached(x, b->sync_pass))
		return true;
	if (!b->sync_pass || !(err = executor_sync_failed(x, b->sync_pass)))
		return false;
	if (executor_sync_reached(x, b->sync_pass))	/* a pass synced it meanwhile */
		return true;
	b->sync_failed = err;
	return true;
}

bool session_answer_batches(struct session *s)
{
	bool answered = false;

	while (s->batch_head != s->batch_tail) {
		struct session_batch *b = s->batches[s->batch_head % SESSION_BATCHES_MAX];

		if (atomic_load_explicit(&b->ticket.remaining, memory_order_acquire) != 0)
			break;
		session_batch_record(b);
		if (s->srv->sync_exec && b->ticket.n > 0 && !session_batch_synced(s, b))
			break;
		/* --kafka-ack kafka: the egress wakes us when it moves; the reactor's turn
		 * (REACTOR_WAIT_NS at most) sees the deadline pass. */
		if (b->kafka && !session_batch_in_kafka(b)) {
			if (clock_monotonic_ns() < b->kafka_by_ns)
				break;
			b->kafka_late = SESSION_KAFKA_LATE;
		}
		session_publish_answer(s, b);
		s->batch_head++;
		answered = true;
	}
	if (answered && s->paused) {
		s->paused = false;
		/* Held input waited on us: its deadline starts now. */
		s->frame_start_ns = clock_monotonic_ns();
		session_parse_held(s);	/* may start more batches */
	}
	return s->batch_head != s->batch_tail;
}

/* Lets go of the session's batches; those other reactors still append go to the server. */
static void session_drop_batches(struct session *s)
{
	for (uint32_t i = s->batch_head; i != s->batch_tail; i++) {
		struct session_batch *b = s->batches[i % SESSION_BATCHES_MAX];
		struct publish_ticket *t = &b->ticket;
		uint32_t unsent = t->nremote - t->sent;

		t->sent = t->nremote;	/* what was never handed over never will be */
		if (unsent && atomic_fetch_sub(&t->remaining, unsent) == unsent)
			continue;	/* it reached 0 here: freed below */
		if (atomic_load(&t->remaining) != 0) {
			net_server_orphan(s->srv, b);
			s->batches[i % SESSION_BATCHES_MAX] = NULL;
		}
	}
	for (uint32_t i = 0; i < SESSION_BATCHES_MAX; i++) {
		if (!s->batches[i])
			continue;
		session_batch_record(s->batches[i]);
		publish_ticket_free(&s->batches[i]->ticket);
		session_batch_kafka_free(s->batches[i], &s->srv->budget);
		free(s->batches[i]);
		budget_give(&s->srv->budget, BUDGET_TICKETS, sizeof(*s->batches[i]));
		s->batches[i] = NULL;
	}
	s->batch_head = s->batch_tail = 0;
}

static void session_ping(struct session *s, const Fanout__V1__Ping *p)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Pong pong = FANOUT__V1__PONG__INIT;

	pong.nonce = p->nonce;
	pong.send_time_ns = p->send_time_ns;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_PONG;
	m.pong = &pong;
	session_queue(s, &m);
}

/* Strings are exactly what was sent or refused: protobuf-c cuts a string at a NUL, so
 * the wire is checked before the decoded message is used. Returns true when a string
 * was bad (answered with an Error naming the field). */
static bool session_bad_strings(struct session *s, const Fanout__V1__ClientMessage *m,
				const uint8_t *body, uint32_t len)
{
	Fanout__V1__ErrorCode code = FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME;
	uint32_t sub_id = 0;
	char path[200];

	if (!wire_strings_check(&fanout__v1__client_message__descriptor, body, len, path,
				sizeof(path)))
		return false;
	if (m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE) {
		sub_id = m->subscribe->subscription_id;
		code = strncmp(path, "subscribe.topic", 15) == 0 ?
		       FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC :
		       strncmp(path, "subscribe.patterns", 18) == 0 ?
		       FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PATTERN :
		       strncmp(path, "subscribe.filter", 16) == 0 ?
		       FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_FILTER : code;
	}
	session_error(s, code, 0, sub_id, false, "%s (strings must be valid UTF-8 without NUL "
		      "bytes)", path);
	return true;
}

/* Decodes one ClientMessage body and acts on it. A publish, the bulk of the traffic, is
 * read straight off the wire (ingest/wire_scan.h); everything else is unpacked with
 * protobuf-c. Returns false, doing nothing, when it must wait for the publish batches
 * ahead of it to be answered. */
/* Before a connection has authenticated (--auth required) only a Hello is read:
 * anything else is answered UNAUTHENTICATED, and the connection closes. */
static void session_unauthenticated(struct session *s)
{
	session_refuse(s, "request", "", "not authenticated");
	session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED, 0, 0, true,
		      "authenticate first: send a Hello with your token (Hello.token)");
}

static bool session_frame(struct session *s, const uint8_t *body, uint32_t len)
{
	struct arena *a = &s->srv->arena;
	uint32_t unanswered = s->batch_tail - s->batch_head;
	bool unauthenticated = s->srv->eng->auth->required && !s->access.token;
	Fanout__V1__ClientMessage *m;
	const uint8_t *batch;
	size_t blen;

	if (unanswered == SESSION_BATCHES_MAX)
		return false;
	if (wire_client_publish(body, len, &batch, &blen)) {
		s->frames_in++;
		if (unauthenticated)
			session_unauthenticated(s);
		else
			session_publish(s, batch, blen);
		return true;
	}
	arena_reset(a);
	m = fanout__v1__client_message__unpack(&a->pb, len, body);
	/* Only a publish may pass batches still waiting for their acks: any other answer
	 * would overtake them. The frame stays unconsumed and is decoded again later. */
	if (unanswered && (!m || m->body_case != FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH))
		return false;
	s->frames_in++;
	if (unauthenticated && (!m || m->body_case != FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO)) {
		session_unauthenticated(s);
		return true;
	}
	if (!m) {
		session_error(s, a->failed ? FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE
					   : FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME,
			      0, 0, false, a->failed ? "frame of %u bytes decodes too large"
						     : "frame of %u bytes is not a ClientMessage", len);
		return true;
	}
	if (m->body_case != FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH &&
	    session_bad_strings(s, m, body, len))
		return true;
	switch (m->body_case) {
	case FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO:
		session_hello(s, m->hello);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE:
		session_subscribe(s, m->subscribe);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE:
		session_unsubscribe(s, m->unsubscribe);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_ACK:
		session_ack(s, m->ack);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH:
		/* An odd shape (the body given twice, fields around it): protobuf-c took the
		 * last publish field, which the wire scan reads again. */
		if (wire_client_last_publish(body, len, &batch, &blen))
			session_publish(s, batch, blen);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_PING:
		session_ping(s, m->ping);
		break;
	default:
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_MESSAGE, 0, 0, false,
			      "ClientMessage has no body this server knows");
	}
	return true;
}

/* A prefix the stream cannot recover from: answer and close. */
static void session_bad_prefix(struct session *s, int rc)
{
	if (rc == -EMSGSIZE)
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE, 0, 0, true,
			      "frame exceeds the limit of %u bytes", s->srv->cfg->max_frame_bytes);
	else
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME, 0, 0, true,
			      "length prefix is not a valid varint");
}

/* Handles the complete frames at the start of p[0..n) until one is partial, the session
 * waits on a publish, or closes. Returns the bytes consumed (all of them after an
 * unrecoverable prefix: the rest of the stream means nothing). */
static size_t session_parse(struct session *s, const uint8_t *p, size_t n)
{
	uint32_t max = s->srv->cfg->max_frame_bytes;
	struct frame_view fv;
	size_t used = 0;

	while (used < n && !s->closing && !s->paused && !s->refuse_at_ns) {
		int rc = frame_parse(p + used, n - used, max, &fv);

		if (rc < 0) {
			session_bad_prefix(s, rc);
			return n;
		}
		if (rc == 0)
			break;	/* a partial frame */
		if (!session_frame(s, fv.body, fv.len)) {
			s->paused = true;	/* until the batches ahead are answered */
			break;
		}
		used += (size_t)rc;
	}
	return s->closing || s->refuse_at_ns ? n : used;
}

/* Grows the stage to hold need bytes, from the reactor's budget. Returns 0, -EDQUOT
 * (the budget refused: the session is being cut) or -ENOMEM. */
static int session_stage_grow(struct session *s, size_t need)
{
	size_t cap = s->stage_cap ? s->stage_cap : SESSION_STAGE_MIN;
	uint8_t *st;

	while (cap < need)
		cap *= 2;
	if (!budget_take(&s->srv->budget, BUDGET_INPUT, cap - s->stage_cap)) {
		session_budget_cut(s, "holding input", cap - s->stage_cap);
		return -EDQUOT;
	}
	st = realloc(s->stage, cap);
	if (!st) {
		budget_give(&s->srv->budget, BUDGET_INPUT, cap - s->stage_cap);
		return -ENOMEM;
	}
	s->stage = st;
	s->stage_cap = (uint32_t)cap;
	return 0;
}

/* Keeps bytes the session cannot handle yet: a partial frame, or input that arrived
 * while a publish waits on other reactors. The first byte held starts the frame's
 * deadline. Returns 0, -EDQUOT (cut for its memory) or -ENOMEM. */
static int session_hold(struct session *s, const uint8_t *p, size_t n)
{
	size_t need = (size_t)s->stage_len + n;
	int rc;

	if (need > (size_t)s->srv->cfg->max_frame_bytes + SESSION_HOLD_MAX)
		return -ENOMEM;	/* receives are paused well before this */
	if (need > s->stage_cap && (rc = session_stage_grow(s, need)) < 0)
		return rc;
	if (s->stage_len == 0)
		s->frame_start_ns = s->last_rx_ns;
	memcpy(s->stage + s->stage_len, p, n);
	s->stage_len = (uint32_t)need;
	return 0;
}

/* Receives stop while a waiting session holds SESSION_HOLD_BYTES, and go on once it
 * no longer waits or has worked the held input down. */
static void session_pace(struct session *s)
{
	if (s->closing)
		return;
	if (s->paused && s->stage_len >= SESSION_HOLD_BYTES)
		reactor_recv_pause(&s->srv->reactor, s->conn);
	else
		reactor_recv_resume(&s->srv->reactor, s->conn);
}

static void session_parse_held(struct session *s)
{
	size_t used = session_parse(s, s->stage, s->stage_len);

	/* Cut while its frames were handled (an answer the budget refused): the stage it
	 * was parsing is gone already, nothing is left to keep. */
	if (s->cutting)
		return;
	if (used > 0) {
		memmove(s->stage, s->stage + used, s->stage_len - used);
		s->stage_len -= (uint32_t)used;
		s->frame_start_ns = clock_monotonic_ns();	/* what is left: a new frame */
	}
	/* A large stage emptied goes back: a client that sent one big frame does not keep
	 * its memory (and budget) for the rest of its life. */
	if (s->stage_len == 0 && s->stage_cap > SESSION_STAGE_MIN)
		session_free_stage(s);
	session_pace(s);
}

void session_data(struct session *s, const uint8_t *p, size_t n)
{
	size_t used;
	int rc;

	s->last_rx_ns = clock_monotonic_ns();
	if (s->closing || s->refuse_at_ns)
		return;	/* a refused Hello's answer is held back: nothing else is read */
	if (s->stage_len == 0 && !s->paused) {	/* the common case: frames handled in place */
		used = session_parse(s, p, n);
		p += used;
		n -= used;
		if (n == 0)
			return;
	}
	rc = session_hold(s, p, n);
	if (rc == -EDQUOT)
		return;	/* cut: RESOURCE_EXHAUSTED is on its way */
	if (rc < 0) {
		session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, 0, 0, true,
			      "out of memory holding %zu bytes of input", (size_t)s->stage_len + n);
		return;
	}
	if (!s->paused)
		session_parse_held(s);
	else
		session_pace(s);
}

/* Tells of the gaps retention left in what sub was sent (a Gap each), in order. */
static void session_gaps(struct session *s, struct subscription *sub)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Gap g = FANOUT__V1__GAP__INIT;

	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_GAP;
	m.gap = &g;
	g.subscription_id = sub->id;
	g.topic = sub->topic->name;
	for (uint32_t i = 0; i < sub->ngaps; i++) {
		g.partition = sub->gaps[i].partition;
		g.first_offset = sub->gaps[i].first;
		g.end_offset = sub->gaps[i].end;
		session_queue(s, &m);
	}
	sub->ngaps = 0;
}

/* The highest subscription priority below top, into *level; false when none is. */
static bool session_priority_next(const struct session *s, uint32_t top, uint32_t *level)
{
	bool any = false;

	*level = 0;
	for (uint32_t i = 0; i < s->nsubs; i++) {
		uint32_t p = s->subs[i]->priority;

		if (p < top && (!any || p > *level)) {
			*level = p;
			any = true;
		}
	}
	return any;
}

/* Gathers events from the subscriptions after the control iovec: round robin, those of
 * higher-priority topics first. */
static void session_gather(struct session *s, size_t *bytes)
{
	uint32_t room = net_server_audit_room(s->srv), n;
	bool full = false;
	struct sub_gather g = {
		.iov = s->iov, .niov = s->niov, .iov_max = SESSION_IOV_MAX,
		.bytes = *bytes, .bytes_max = SESSION_SEND_BYTES, .arena = &s->srv->match_arena,
		.audit = s->audit, .audit_max = room < SESSION_AUDIT_MAX ? room : SESSION_AUDIT_MAX,
		.latency = &s->srv->latency, .latency_priority = &s->srv->latency_priority,
	};

	assert(s->naudit == 0);	/* the last send's were recorded when it completed */

	/* Round robin within a priority, higher priorities first (one level when all of
	 * them have the same: the common case costs nothing more). */
	for (uint32_t top = UINT32_MAX, level = 0; !full;) {
		if (s->priority_mixed && !session_priority_next(s, top, &level))
			break;
		for (uint32_t i = 0; i < s->nsubs && !full; i++) {
			struct subscription *sub = s->subs[(s->next_sub + i) % s->nsubs];

			if (sub->sink || sub->named_standby)
				continue;	/* session_drain_sinks; a FAILOVER standby is
						 * sent nothing */
			if (s->priority_mixed && sub->priority != level)
				continue;
			n = sub_gather(sub, &g);
			if (sub->named && !sub->claimed)
				session_named_sent(sub);
			if (sub->ngaps)
				session_gaps(s, sub);
			s->events_out += n;
			net_stat_add(&s->srv->stats.deliveries, n);	/* admin plane */
			full = g.niov == g.iov_max || g.bytes >= g.bytes_max;
		}
		if (!s->priority_mixed)
			break;
		top = level;
	}
	if (s->nsubs)
		s->next_sub = (s->next_sub + 1) % s->nsubs;
	s->niov = g.niov;
	/* Blocked on audit room: the next turn tries again (no busy loop meanwhile). */
	s->more = g.more;
	s->naudit = g.naudit;
	s->srv->audit_reserved += g.naudit;
	*bytes = g.bytes;
}

/* Whether the session must be looked at every turn: a scanning subscription may find
 * new frames in any turn; an indexed one only when it has pending offsets (the key index
 * wakes it for new ones). */
static bool session_needs_turns(const struct session *s)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (!s->subs[i]->named_standby &&	/* a standby is sent nothing */
		    (!s->subs[i]->indexed || s->subs[i]->claimed || sub_pending(s->subs[i])))
			return true;	/* a SHARED consumer takes each turn */
	return false;
}

/* A send may be zero-copy only when it holds log frames alone: the kernel reads a
 * zero-copy send's memory until the peer acknowledges it, and the answer buffers are
 * written again as soon as the send completes. Log memory never changes. */
static unsigned session_send_flags(const struct session *s)
{
	return s->ctl_sending >= 0 ? REACTOR_SEND_COPY : 0;
}

/* Puts ctl[i]'s ring descriptors on the send about to start: the kernel attaches them to
 * its first byte, so the peer has them once it has read their SubscribeResults. */
static void session_attach_fds(struct session *s, int i)
{
	size_t bytes = sizeof(int) * s->npass[i];
	struct cmsghdr *cm;

	memset(&s->cmsg, 0, sizeof(s->cmsg));
	s->msg.msg_control = s->cmsg.buf;
	s->msg.msg_controllen = CMSG_SPACE(bytes);
	cm = CMSG_FIRSTHDR(&s->msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(bytes);
	memcpy(CMSG_DATA(cm), s->pass_fds[i], bytes);
}

/* Starts a send of the queued answers and, with gather, of subscription frames. */
static bool session_send(struct session *s, bool gather)
{
	size_t bytes = 0;

	s->more = false;
	if (!reactor_send_ready(&s->srv->reactor, s->conn) || s->conn->closing)
		return !s->conn->closing;
	s->niov = 0;
	s->iov_first = 0;
	if (s->ctl_len[s->fill] > 0) {
		s->iov[0].iov_base = s->ctl[s->fill];
		s->iov[0].iov_len = s->ctl_len[s->fill];
		bytes = s->ctl_len[s->fill];
		s->niov = 1;
		s->ctl_sending = (int8_t)s->fill;
		s->fill ^= 1;	/* new answers go to the other buffer meanwhile */
	}
	if (!s->closing && gather)
		session_gather(s, &bytes);
	if (s->niov == 0) {
		if (s->closing)
			reactor_close(&s->srv->reactor, s->conn);
		return !s->closing && session_needs_turns(s);
	}
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.msg_iov = s->iov;
	s->msg.msg_iovlen = s->niov;
	if (s->ctl_sending >= 0 && s->npass[s->ctl_sending])
		session_attach_fds(s, s->ctl_sending);
	s->send_left = bytes;
	if (s->heartbeat_ms)
		s->last_tx_ns = clock_monotonic_ns();
	if (net_server_send(s->srv, s->conn, &s->msg, bytes, session_send_flags(s)) < 0)
		return false;
	net_stat_add(&s->srv->stats.sends, 1);	/* admin plane */
	return true;
}

static bool session_sink_emit(void *ctx, const struct log_ref *ref, uint32_t partition,
			      uint64_t offset)
{
	struct subscription *sub = ctx;
	const struct net_sink_ops *ops = ((struct session *)sub->owner)->srv->eng->sinks;

	if (ops->write(sub->sink, ref->frame, ref->len, partition, offset,
		       ref->entry->recv_ns) < 0) {
		sub->sink_dropped++;	/* larger than the ring can ever hold */
		return false;
	}
	return true;
}

/* Copies what each ring subscription has into its ring: the socket is not involved and
 * nothing waits on the consumer (a slow one is lapped and recovers from the log). Returns
 * true when a ring subscription has more than one turn's share left. */
static bool session_drain_sinks(struct session *s, bool *unattached)
{
	bool more = false;

	for (uint32_t i = 0; i < s->nsubs; i++) {
		struct subscription *sub = s->subs[i];
		struct audit_rec audit[SESSION_AUDIT_MAX];
		uint32_t room = net_server_audit_room(s->srv);
		struct sub_gather g = {
			.bytes_max = SESSION_SINK_TURN_BYTES, .arena = &s->srv->match_arena,
			.emit = session_sink_emit, .emit_ctx = sub, .audit = audit,
			.audit_max = room < SESSION_AUDIT_MAX ? room : SESSION_AUDIT_MAX,
			.latency = &s->srv->latency,
			.latency_priority = &s->srv->latency_priority,
		};
		uint64_t dropped = sub->sink_dropped;
		uint32_t n;

		if (!sub->sink)
			continue;
		/* Asked until the first reader comes, not per turn after (a scan of slots). */
		if (!sub->sink_attached &&
		    !(sub->sink_attached = s->srv->eng->sinks->attached(sub->sink) > 0)) {
			*unattached = true;	/* its reader is on its way: the session stays on
						 * the active list and later turns look again (a
						 * reader that never comes lags to the lag bound) */
			continue;
		}
		n = sub_gather(sub, &g);
		if (sub->ngaps)	/* told over the socket */
			session_gaps(s, sub);
		/* In the ring (or refused by it) now: recorded as it is. */
		net_server_audit_push(s->srv, audit, g.naudit, 0, 0);
		if (n) {
			s->events_out += n;
			net_stat_add(&s->srv->stats.deliveries, n);	/* admin plane */
			s->srv->eng->sinks->flush(sub->sink);
		}
		if (sub->sink_dropped != dropped)	/* never silently */
			session_error(s, FANOUT__V1__ERROR_CODE__ERROR_CODE_SHM_UNAVAILABLE, 0, sub->id,
				      false, "subscription %u: %llu events larger than a quarter of "
				      "its ring were not written to it; read them from the log",
				      sub->id, (unsigned long long)(sub->sink_dropped - dropped));
		more = more || g.more || g.bytes >= g.bytes_max;
	}
	return more;
}

/* Queues Redelivery notices for the taken events sent before, ranges of consecutive
 * offsets with one count, ahead of the events (answers go first in every send). */
static void session_redeliveries(struct session *s, const struct shared_taken *redo,
				 uint32_t n)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Redelivery r = FANOUT__V1__REDELIVERY__INIT;

	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_REDELIVERY;
	m.redelivery = &r;
	for (uint32_t i = 0, j; i < n; i = j) {
		uint64_t first = redo[i].entry & ((1ull << SHARED_SHIFT) - 1);

		for (j = i + 1; j < n && redo[j].count == redo[i].count &&
		     redo[j].entry == redo[j - 1].entry + 1; j++)
			;
		r.partition = (uint32_t)(redo[i].entry >> SHARED_SHIFT);
		r.first_offset = first;
		r.end_offset = first + (j - i);
		r.delivery_count = redo[i].count == UINT32_MAX ? UINT32_MAX : redo[i].count + 1;
		session_queue(s, &m);
	}
}

static bool session_wants(void *ctx, uint32_t p, uint64_t offset)
{
	struct subscription *sub = ctx;

	return sub_wants_at(sub, p, offset,
			    &((struct session *)sub->owner)->srv->match_arena);
}

/* SHARED consumers take what their dealers gave them, onto their rings. */
static void session_take(struct session *s)
{
	static __thread struct shared_taken redo[SUB_RING];
	static __thread uint64_t taken[SUB_RING];

	for (uint32_t i = 0; i < s->nsubs && !s->closing; i++) {
		struct subscription *sub = s->subs[i];
		struct shared_sent sent;
		uint32_t room, n, nredo;
		uint64_t wake;

		if (!sub->claimed || sub->shared_slot < 0)
			continue;
		room = sub_ring_room(sub);
		room = room < SUB_RING ? room : SUB_RING;
		sent = session_shared_sent(sub);
		n = shared_take(sub->named->shared, sub->shared_slot, &sent, taken, room, redo,
				&nredo, session_wants, sub, clock_monotonic_ns(), &wake);
		if (nredo)
			session_redeliveries(s, redo, nredo);
		for (uint32_t k = 0; k < n; k++)
			sub_push_claimed(sub, taken[k]);
		session_named_wake(s, wake);
	}
}

bool session_flush(struct session *s)
{
	bool unattached = false;
	bool sinks_more = !s->closing && session_drain_sinks(s, &unattached);
	bool keep;

	session_take(s);
	keep = session_send(s, true);	/* sets s->more for the socket's share */

	if (sinks_more)
		s->more = true;	/* the reactor comes back at once, without a completion */
	return keep || sinks_more || unattached;
}

void session_sent(struct session *s, int res)
{
	size_t done;

	if (res < 0) {
		PROBE_SEND_DONE(s->conn->slot, 0, res);
		net_server_info(s->srv, "connection %u: send failed: %s", s->conn->slot,
				strerror(-res));
		reactor_close(&s->srv->reactor, s->conn);
		return;
	}
	PROBE_SEND_DONE(s->conn->slot, res, 0);
	net_stat_add(&s->srv->stats.bytes_sent, (uint64_t)res);	/* admin plane */
	done = (size_t)res;
	assert(done <= s->send_left);
	s->send_left -= done;
	if (s->send_left == 0) {
		session_audit_sent(s, AUDIT_DELIVERED);
		if (s->ctl_sending >= 0) {
			s->ctl_len[s->ctl_sending] = 0;
			session_pass_close(s, s->ctl_sending);	/* the peer holds them now */
			/* A burst of answers does not keep its buffer (and budget) for good. */
			if (s->ctl_cap[s->ctl_sending] > SESSION_CTL_KEEP)
				session_free_ctl(s, (uint8_t)s->ctl_sending);
		}
		s->ctl_sending = -1;
		net_server_activate(s->srv, s);
		return;
	}
	/* A short send: skip what went out and send the rest of the same iovecs. */
	while (done > 0) {
		struct iovec *v = &s->iov[s->iov_first];

		if (done < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + done;
			v->iov_len -= done;
			done = 0;
		} else {
			done -= v->iov_len;
			s->iov_first++;
		}
	}
	s->msg.msg_iov = &s->iov[s->iov_first];
	s->msg.msg_iovlen = s->niov - s->iov_first;
	s->msg.msg_control = NULL;	/* descriptors went with the first byte sent */
	s->msg.msg_controllen = 0;
	if (net_server_send(s->srv, s->conn, &s->msg, s->send_left,
			    session_send_flags(s) | REACTOR_SEND_REST) < 0)
		reactor_close(&s->srv->reactor, s->conn);
}

/* ---- admin plane hook (net/control.c) ---- */

void session_end_sub(struct session *s, struct subscription *sub, const char *why, bool owed)
{
	session_end_sub_as(s, sub, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED, why,
			   owed);
}
