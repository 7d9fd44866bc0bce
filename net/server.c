/* net/server.c — glue between the reactor and the sessions: connection lifecycle, the
 * active list checked after every batch of completions, start-up and drain. */
#include "net/server.h"

#include "core/executor.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/epoch.h"
#include "ingest/event_encode.h"
#include "net/control.h"
#include "net/engine.h"
#include "net/tls.h"

/* Decoding space per frame: protobuf-c's structs for a frame take a few times its bytes. */
#define SERVER_ARENA_FACTOR 8u
#define SERVER_POLICE_NS (100 * 1000 * 1000ll)
#define SERVER_XR_TURN   16384u	/* remote events appended per turn, at most */

static void net_server_unwait(struct net_server *srv, struct session *s);

void net_server_info(const struct net_server *srv, const char *fmt, ...)
{
	va_list ap;

	if (srv->cfg->quiet)
		return;
	va_start(ap, fmt);
	fputs("fanoutd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void net_server_activate(struct net_server *srv, struct session *s)
{
	if (s->active)
		return;
	s->active = true;
	s->active_pos = srv->nactive;
	srv->active[srv->nactive++] = s->conn->slot;
}

static void net_server_deactivate(struct net_server *srv, struct session *s)
{
	uint32_t last;

	if (!s->active)
		return;
	last = srv->active[--srv->nactive];
	srv->active[s->active_pos] = last;
	srv->sessions[last].active_pos = s->active_pos;
	s->active = false;
}

/* The log of the partition an exact key's events go to. */
static struct log *net_key_log(const struct topic *tp, uint64_t key_hash)
{
	return tp->part[topic_partition_for(tp, key_hash)].log;
}

/* Forgets an exact-key subscription's keys (any not registered are skipped). */
static void net_server_unwatch_keys(struct net_server *srv, struct subscription *sub)
{
	for (uint32_t i = 0; i < sub->npatterns; i++)
		interest_remove(&srv->interest, net_key_log(sub->topic, sub->key_hashes[i]),
				sub->key_hashes[i], sub->patterns[i].text, sub->key_lens[i], sub);
}

static struct net_watch *net_watch_find(struct net_server *srv, const struct log *log)
{
	for (uint32_t i = 0; i < srv->nwatches; i++)
		if (srv->watches[i].log == log)
			return &srv->watches[i];
	return NULL;
}

static void net_watch_drop(struct net_server *srv, const struct log *log)
{
	struct net_watch *w = net_watch_find(srv, log);

	assert(w && w->refs > 0);
	if (--w->refs == 0)
		*w = srv->watches[--srv->nwatches];
}

static int net_watch_take(struct net_server *srv, struct topic *tp, uint32_t partition)
{
	struct log *log = tp->part[partition].log;
	struct net_watch *w = net_watch_find(srv, log);

	if (w) {
		w->refs++;
		return 0;
	}
	if (srv->nwatches == srv->watches_cap) {
		uint32_t cap = srv->watches_cap ? srv->watches_cap * 2 : 16;
		struct net_watch *grown = realloc(srv->watches, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		srv->watches = grown;
		srv->watches_cap = cap;
	}
	w = &srv->watches[srv->nwatches++];
	*w = (struct net_watch){ .log = log, .topic = tp, .partition = partition, .refs = 1 };
	/* Frames below the published tail are the subscription's own scan to send; those
	 * appended but not yet published are routed in this turn's pass. */
	log_cursor_seek(log, &w->routed, log_tail(log));
	return 0;
}

static struct net_wild *net_wild_find(struct net_server *srv, const struct topic *tp)
{
	for (uint32_t i = 0; i < srv->nwilds; i++)
		if (srv->wilds[i].topic == tp)
			return &srv->wilds[i];
	return NULL;
}

/* Adds a wildcard subscription to its topic's list; a new generation retires every
 * cached answer for the topic. Control plane: allocates. */
static int net_wild_add(struct net_server *srv, struct subscription *sub)
{
	struct net_wild *w = net_wild_find(srv, sub->topic);

	if (!w) {
		if (srv->nwilds == srv->wilds_cap) {
			uint32_t cap = srv->wilds_cap ? srv->wilds_cap * 2 : 8;
			struct net_wild *grown = realloc(srv->wilds, cap * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			srv->wilds = grown;
			srv->wilds_cap = cap;
		}
		w = &srv->wilds[srv->nwilds++];
		*w = (struct net_wild){ .topic = sub->topic };
	}
	if (w->n == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 8;
		struct subscription **grown = realloc(w->subs, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		w->subs = grown;
		w->cap = cap;
	}
	if (w->n + 1 > srv->route_scratch_cap) {	/* an answer may name them all */
		void **grown = realloc(srv->route_scratch, (w->n + 1) * 2 * sizeof(void *));

		if (!grown)
			return -ENOMEM;
		srv->route_scratch = grown;
		srv->route_scratch_cap = (w->n + 1) * 2;
	}
	w->subs[w->n++] = sub;
	w->gen = ++srv->wild_gen;
	return 0;
}

static void net_wild_remove(struct net_server *srv, struct subscription *sub)
{
	struct net_wild *w = net_wild_find(srv, sub->topic);

	assert(w);
	for (uint32_t i = 0; i < w->n; i++) {
		if (w->subs[i] != sub)
			continue;
		memmove(&w->subs[i], &w->subs[i + 1], (w->n - i - 1) * sizeof(*w->subs));
		w->n--;
		break;
	}
	w->gen = ++srv->wild_gen;
	if (w->n == 0) {
		free(w->subs);
		*w = srv->wilds[--srv->nwilds];
	}
}

int net_server_watch(struct net_server *srv, struct subscription *sub)
{
	struct topic *tp = sub->topic;

	if (sub->wild && net_wild_add(srv, sub) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; !sub->wild && i < sub->npatterns; i++) {
		uint64_t h = sub->key_hashes[i];	/* as publish hashes routing keys */

		if (interest_add(&srv->interest, net_key_log(tp, h), h, sub->patterns[i].text,
				 sub->key_lens[i], sub) < 0) {
			net_server_unwatch_keys(srv, sub);
			return -ENOMEM;
		}
	}
	for (uint32_t p = 0; p < tp->partitions; p++) {
		if (net_watch_take(srv, tp, p) < 0) {
			while (p-- > 0)
				net_watch_drop(srv, tp->part[p].log);
			if (sub->wild)
				net_wild_remove(srv, sub);
			else
				net_server_unwatch_keys(srv, sub);
			return -ENOMEM;
		}
	}
	return 0;
}

void net_server_unwatch(struct net_server *srv, struct subscription *sub)
{
	if (sub->wild)
		net_wild_remove(srv, sub);
	else
		net_server_unwatch_keys(srv, sub);
	for (uint32_t p = 0; p < sub->topic->partitions; p++)
		net_watch_drop(srv, sub->topic->part[p].log);
}

/* A frame's routing key, read at most once while it is routed. */
struct net_route_key {
	const char *key;
	uint32_t klen;
	bool read, ok;
};

/* The routing key of the frame being routed, read off it once (a wire walk) and only
 * when a hash found something to compare it with. Returns 0, or -1 for a frame that holds
 * no key (never stored: routed to nobody). */
static int net_route_key(struct net_route_key *k, const struct log_ref *ref)
{
	if (!k->read) {
		k->read = true;
		k->ok = event_frame_key(ref->frame, ref->len, &k->key, &k->klen) == 0;
	}
	return k->ok ? 0 : -1;
}

/* The wildcard subscriptions of w's topic that want the frame at ref: the cached answer
 * for its key, or one computed now by matching its key against their patterns. */
static const struct route_answer *net_route_wild(struct net_server *srv, const struct net_wild *w,
						 const struct net_watch *wt,
						 const struct log_ref *ref, struct net_route_key *k,
						 struct route_answer *scratch)
{
	const struct route_answer *a;
	uint32_t n = 0;

	if (net_route_key(k, ref) < 0)
		return NULL;
	a = route_cache_get(&srv->route_cache, wt->log, ref->entry->key_hash, k->key, k->klen,
			    w->gen);
	if (a)
		return a;
	for (uint32_t i = 0; i < w->n; i++)
		if (sub_key_matches(w->subs[i], k->key, k->klen))
			srv->route_scratch[n++] = w->subs[i];
	a = route_cache_put(&srv->route_cache, wt->log, ref->entry->key_hash, k->key, k->klen,
			    w->gen, srv->route_scratch, n);
	if (a)
		return a;
	scratch->n = n;	/* no memory to keep it: route this frame from the scratch */
	return scratch;
}

/* A routed subscription's ring overflowed while its partition wt (or none) was being
 * routed: it resumes scanning from what each partition still owes it (see sub_overflow). */
static void net_route_overflow(struct net_server *srv, struct subscription *sub,
			       const struct net_watch *wt)
{
	struct topic *tp = sub->topic;

	for (uint32_t q = 0; q < tp->partitions; q++) {
		const struct net_watch *w = wt && q == wt->partition ? wt
					    : net_watch_find(srv, tp->part[q].log);

		/* Every partition of a routed subscription's topic is watched. */
		srv->route_offered[q] = w ? w->routed.offset : sub->cursors[q].offset;
	}
	sub_overflow(sub, srv->route_offered);
}

static void net_route_push(struct net_server *srv, void *const *subs, uint32_t n,
			   const struct net_watch *wt)
{
	for (uint32_t i = 0; i < n; i++) {
		struct subscription *sub = subs[i];

		switch (sub_push(sub, wt->partition, wt->routed.offset)) {
		case SUB_PUSH_FULL:
			net_route_overflow(srv, sub, wt);
			/* fall through */
		case SUB_PUSH_QUEUED:
			net_server_activate(srv, sub->owner);
			break;
		case SUB_PUSH_IGNORED:
			break;
		}
	}
}

/* Hands each newly published frame of a watched partition to the subscriptions that want
 * it, waking their sessions: one hash lookup per frame for exact keys, one more for the
 * topic's wildcard subscriptions, whatever the number of subscriptions. */
static void net_server_route(struct net_server *srv)
{
	for (uint32_t w = 0; w < srv->nwatches; w++) {
		struct net_watch *wt = &srv->watches[w];
		const struct net_wild *wild = net_wild_find(srv, wt->topic);
		struct route_answer scratch = { 0 };
		struct log_ref ref;

		while (log_cursor_peek(wt->log, &wt->routed, &ref) == 0) {
			const struct interest_list *l = interest_find_hash(&srv->interest, wt->log,
									  ref.entry->key_hash);
			struct net_route_key k = { .read = false };

			/* The hash finds candidates; the key's bytes pick among them. */
			if (l && net_route_key(&k, &ref) == 0 &&
			    (l = interest_match(l, k.key, k.klen)))
				net_route_push(srv, l->subs, l->n, wt);
			if (wild) {
				const struct route_answer *a = net_route_wild(srv, wild, wt, &ref, &k,
									      &scratch);

				if (a == &scratch)
					net_route_push(srv, srv->route_scratch, a->n, wt);
				else if (a)
					net_route_push(srv, a->subs, a->n, wt);
			}
			log_cursor_next(&wt->routed);
		}
	}
}

/* ---- audit records (net/audit.h) ---- */

#define NET_AUDIT_STEP 16384u	/* index entries the ended subscriptions' walks examine
				 * per turn, all together (at most as many records) */
#define NET_AUDIT_ENDS_MAX 1024u	/* ended subscriptions walking at once, per reactor */

uint32_t net_server_audit_room(const struct net_server *srv)
{
	uint32_t room;

	if (!atomic_load_explicit(&srv->eng->audit_on, memory_order_relaxed))
		return UINT32_MAX;	/* nobody reads them: none is kept */
	room = audit_queue_room(srv->audit);
	return room > srv->audit_reserved ? room - srv->audit_reserved : 0;
}

void net_server_audit_push(struct net_server *srv, struct audit_rec *r, uint32_t n,
			   uint8_t kind, uint32_t reserved)
{
	int64_t now = n ? clock_realtime_ns() : 0;

	assert(reserved <= srv->audit_reserved);
	srv->audit_reserved -= reserved;	/* theirs again: the check below passes */
	if (!atomic_load_explicit(&srv->eng->audit_on, memory_order_relaxed))
		return;
	for (uint32_t i = 0; i < n; i++) {
		r[i].at_ns = now;
		if (kind)
			r[i].kind = kind;
		if (net_server_audit_room(srv) == 0)	/* never a slot promised to a send */
			net_stat_add(&srv->audit->lost, 1);
		else
			audit_queue_push(srv->audit, &r[i]);
	}
}

struct net_audit_walk {
	struct net_server *srv;
	const struct subscription *sub;
};

static void net_audit_owed(void *ctx, uint32_t p, uint64_t offset)
{
	struct net_audit_walk *w = ctx;
	struct audit_rec r = {
		.serial = w->sub->stats.serial, .topic = w->sub->topic, .offset = offset,
		.partition = p, .kind = AUDIT_FAILED,
	};

	net_server_audit_push(w->srv, &r, 1, 0, 0);
}

static void net_audit_end_free(struct net_audit_end *e)
{
	sub_free(e->sub);
	free(e->sub);
	free(e->end);
}

void net_server_audit_end(struct net_server *srv, struct subscription *sub)
{
	struct net_audit_end e = { .sub = sub };
	struct topic *tp = sub->topic;
	bool owes = false;
	bool on = atomic_load_explicit(&srv->eng->audit_on, memory_order_relaxed);

	/* A routed one owes from the first offset its ring or the router has not passed. */
	if (on && sub->indexed && !sub->scan)
		net_route_overflow(srv, sub, NULL);
	if (sub->indexed)
		net_server_unwatch(srv, sub);
	if (!on)
		goto free;
	e.end = calloc(tp->partitions, sizeof(*e.end));
	for (uint32_t p = 0; e.end && p < tp->partitions; p++) {
		uint64_t tail = log_tail(tp->part[p].log);	/* acquire: then audit_next */
		uint64_t next = atomic_load_explicit(&tp->part[p].audit_next,
						     memory_order_relaxed);

		e.end[p] = next < tail ? next : tail;
		owes = owes || e.end[p] > sub->cursors[p].offset;
	}
	if (owes && srv->naudit_ends == NET_AUDIT_ENDS_MAX) {	/* a client's churn: bounded */
		net_stat_add(&srv->audit->lost, 1);
		net_server_info(srv, "subscription %llu: %u ended subscriptions are being "
				"walked already; the audit-required events it was owed are not "
				"recorded as failed", (unsigned long long)sub->stats.serial,
				NET_AUDIT_ENDS_MAX);
		goto free;
	}
	if (owes && srv->naudit_ends == srv->audit_ends_cap) {
		uint32_t cap = srv->audit_ends_cap ? srv->audit_ends_cap * 2 : 8;
		struct net_audit_end *v = realloc(srv->audit_ends, cap * sizeof(*v));

		if (v) {
			srv->audit_ends = v;
			srv->audit_ends_cap = cap;
		}
	}
	if (owes && srv->naudit_ends < srv->audit_ends_cap) {
		sub->owner = NULL;	/* its session is gone */
		sub->reseek = true;
		srv->audit_ends[srv->naudit_ends++] = e;
		return;
	}
	if (owes)	/* out of memory: said, not silently */
		net_server_info(srv, "subscription %llu: out of memory to record the "
				"audit-required events it was owed", (unsigned long long)sub->stats.serial);
free:
	net_audit_end_free(&e);
}

/* One bounded step of the ended subscriptions' walks (a turn): the oldest first, one
 * budget for all. */
static void net_audit_ends_step(struct net_server *srv)
{
	struct net_audit_end *e = &srv->audit_ends[0];
	struct net_audit_walk w = { .srv = srv, .sub = e->sub };

	/* Their failures need room: a full queue waits for the admin thread. */
	if (net_server_audit_room(srv) < NET_AUDIT_STEP ||
	    !sub_audit_owed(e->sub, e->end, NET_AUDIT_STEP, &srv->match_arena, net_audit_owed,
			    &w))
		return;
	net_audit_end_free(e);
	memmove(&srv->audit_ends[0], &srv->audit_ends[1],
		--srv->naudit_ends * sizeof(*srv->audit_ends));
}

/* A topic being removed: its ended subscriptions owe nothing any more. */
void net_server_audit_drop(struct net_server *srv, const struct topic *tp)
{
	for (uint32_t i = srv->naudit_ends; i-- > 0;) {
		if (srv->audit_ends[i].sub->topic != tp)
			continue;
		net_audit_end_free(&srv->audit_ends[i]);
		memmove(&srv->audit_ends[i], &srv->audit_ends[i + 1],
			(--srv->naudit_ends - i) * sizeof(*srv->audit_ends));
	}
}

static struct net_tls *net_tls_of(struct net_server *srv, const struct reactor_conn *c)
{
	return srv->tls && srv->tls[c->slot].ssl ? &srv->tls[c->slot] : NULL;
}

/* Starts the send of what c's TLS session has ready, unless a send is under way (its
 * completion comes back here). */
static int net_tls_pump(struct net_server *srv, struct reactor_conn *c, struct net_tls *t)
{
	const uint8_t *p;
	long n;

	if (c->sending || c->closing)
		return 0;
	n = net_tls_next(t, &p);
	if (n <= 0)
		return (int)n;
	t->send_iov.iov_base = (void *)p;
	t->send_iov.iov_len = (size_t)n;
	memset(&t->send_msg, 0, sizeof(t->send_msg));
	t->send_msg.msg_iov = &t->send_iov;
	t->send_msg.msg_iovlen = 1;
	/* By copy: the ciphertext buffer is refilled as soon as this send completes. */
	return reactor_send(&srv->reactor, c, &t->send_msg, (size_t)n, REACTOR_SEND_COPY);
}

/* A failed TLS connection: its alert, if OpenSSL made one, goes out first (the close
 * follows that send's completion); then the close. */
static void net_tls_fail(struct net_server *srv, struct reactor_conn *c, struct net_tls *t,
			 int rc)
{
	int64_t now = clock_monotonic_ns();

	if (rc == -EPROTO) {	/* one line a second at most: failures are the peer's doing */
		net_stat_add(&srv->stats.tls_failures, 1);
		if (now - srv->tls_said_ns >= 1000000000ll) {
			net_server_info(srv, "connection %u: TLS: %s%s", c->slot, t->why,
					srv->tls_unsaid ? " (and more failures not logged)" : "");
			srv->tls_said_ns = now;
			srv->tls_unsaid = 0;
		} else {
			srv->tls_unsaid++;
		}
	}
	t->failed = true;
	/* An alert OpenSSL made goes out first when the way is free; a send under way is
	 * not waited for (a peer that does not read would hold the connection open). */
	if (!c->sending && net_tls_pending(t) && net_tls_pump(srv, c, t) == 0 && c->sending)
		return;
	reactor_close(&srv->reactor, c);
}

int net_server_send(struct net_server *srv, struct reactor_conn *c, struct msghdr *msg,
		    size_t bytes, unsigned flags)
{
	struct net_tls *t = net_tls_of(srv, c);
	int rc;

	if (!t)
		return reactor_send(&srv->reactor, c, msg, bytes, flags);
	assert(!c->sending);
	rc = net_tls_seal(t, msg->msg_iov, msg->msg_iovlen, bytes, srv->tls_seal,
			  NET_TLS_RECORD_BYTES);
	if (rc == 0)
		rc = net_tls_pump(srv, c, t);
	if (rc < 0)	/* no completion will come for it: the connection cannot go on */
		reactor_close(&srv->reactor, c);
	return rc;
}

static int net_on_open(void *ctx, struct reactor_conn *c)
{
	struct net_server *srv = ctx;
	struct session *s = &srv->sessions[c->slot];

	/* TCP peers speak TLS when the server has a certificate; peers on the Unix socket
	 * are on this host and do not. */
	if (srv->tls && !c->local) {
		if (net_tls_open(&srv->tls[c->slot], srv->eng->tls_ctx, clock_monotonic_ns()) < 0)
			return -ENOMEM;
		c->zc = false;	/* sent by copy from the ciphertext buffer */
	}
	if (session_open(s, srv, c) < 0) {
		if (srv->tls)
			net_tls_close(&srv->tls[c->slot]);
		return -ENOMEM;
	}
	c->user = s;
	s->open_pos = srv->nopen;
	srv->open[srv->nopen++] = c->slot;	/* one per slot: never full */
	return 0;
}

static bool net_tls_deliver(void *arg, const uint8_t *p, size_t k)
{
	struct reactor_conn *c = arg;

	session_data(c->user, p, k);
	return !c->closing;
}

static void net_on_data(void *ctx, struct reactor_conn *c, const uint8_t *p, size_t n)
{
	struct net_server *srv = ctx;
	struct net_tls *t = net_tls_of(srv, c);
	bool was = t && t->established;
	int rc;

	if (!t) {
		session_data(c->user, p, n);
		return;
	}
	if (t->failed)
		return;	/* closing once its alert is out */
	rc = net_tls_recv(t, p, n, srv->tls_scratch, NET_TLS_RECORD_BYTES, net_tls_deliver, c);
	if (!was && t->established)
		net_stat_add(&srv->stats.tls_handshakes, 1);
	if (rc < 0)
		net_tls_fail(srv, c, t, rc);
	else if (net_tls_pending(t) && net_tls_pump(srv, c, t) < 0)
		reactor_close(&srv->reactor, c);
}

static void net_on_sent(void *ctx, struct reactor_conn *c, int res)
{
	struct net_server *srv = ctx;
	struct net_tls *t = net_tls_of(srv, c);
	size_t plain;
	bool rest;

	if (!t) {
		session_sent(c->user, res);
		return;
	}
	if (res < 0) {
		if (t->owed_out)	/* the session says why and closes */
			session_sent(c->user, res);
		else
			reactor_close(&srv->reactor, c);
		return;
	}
	plain = net_tls_sent(t, (size_t)res, &rest);
	if (t->failed) {	/* what the session sent is out; then the alert, then close */
		if (plain > 0)
			session_sent(c->user, (int)plain);
		if (c->closing || !rest || net_tls_pump(srv, c, t) < 0)
			reactor_close(&srv->reactor, c);
		return;
	}
	if (plain > 0) {
		session_sent(c->user, (int)plain);
		if (c->closing)
			return;
	} else if (!rest) {
		net_server_activate(srv, c->user);	/* its own send may go now */
	}
	if (rest && net_tls_pump(srv, c, t) < 0)
		reactor_close(&srv->reactor, c);
}

static void net_on_close(void *ctx, struct reactor_conn *c)
{
	struct net_server *srv = ctx;
	struct session *s = c->user;

	if (srv->tls)
		net_tls_close(&srv->tls[c->slot]);
	if (!s)
		return;
	net_server_deactivate(srv, s);
	net_server_unwait(srv, s);
	srv->open[s->open_pos] = srv->open[--srv->nopen];
	srv->sessions[srv->open[s->open_pos]].open_pos = s->open_pos;
	session_close(s);
}

/* Appends the events other reactors handed this one (bounded per turn). Returns true
 * when some were left for the next turn. */
static bool net_xr_apply(struct net_server *srv)
{
	struct publish_ctx *pub = &srv->publish;
	uint32_t budget = SERVER_XR_TURN;
	void *p;

	/* Lanes in turn from a different one each time: a busy lane cannot starve the rest. */
	srv->xr_next = (srv->xr_next + 1) % srv->eng->n;
	for (uint32_t k = 0; k < srv->eng->n; k++) {
		uint32_t j = (srv->xr_next + k) % srv->eng->n;

		if (j == srv->id)
			continue;
		while (budget > 0 && xr_recv(&srv->eng->mesh, srv->id, j, &p)) {
			publish_remote_apply(pub, p);
			srv->xr_applied++;
			budget--;
			if (pub->napplied == PUBLISH_APPLY_MAX) {
				publish_flush(pub);
				publish_release(pub);
			}
		}
	}
	return budget == 0;
}

void net_server_wait(struct net_server *srv, struct session *s)
{
	if (s->waiting)
		return;
	s->waiting = true;
	s->waiting_pos = srv->nwaiting;
	srv->waiting[srv->nwaiting++] = s->conn->slot;	/* one per session: never full */
}

static void net_server_unwait(struct net_server *srv, struct session *s)
{
	uint32_t last;

	if (!s->waiting)
		return;
	last = srv->waiting[--srv->nwaiting];
	srv->waiting[s->waiting_pos] = last;
	srv->sessions[last].waiting_pos = s->waiting_pos;
	s->waiting = false;
}

bool net_server_handoff(struct net_server *srv, struct publish_ticket *t)
{
	while (t->sent < t->nremote) {
		struct publish_remote *r = &t->remote[t->sent];
		uint32_t owner = r->topic->part[r->partition].owner;

		if (!xr_send(&srv->eng->mesh, srv->id, owner, r))
			return true;
		t->sent++;
		srv->publish.wake |= 1ull << owner;
	}
	return false;
}

static void net_batch_free(struct net_server *srv, struct session_batch *b)
{
	session_batch_record(b);	/* an orphan's: now that it is done */
	publish_ticket_free(&b->ticket);
	session_batch_kafka_free(b, &srv->budget);
	free(b);
	budget_give(&srv->budget, BUDGET_TICKETS, sizeof(*b));	/* session_batch_new's */
}

void net_server_orphan(struct net_server *srv, struct session_batch *b)
{
	if (srv->norphans == srv->orphans_cap) {
		uint32_t cap = srv->orphans_cap ? srv->orphans_cap * 2 : 16;
		struct session_batch **grown = realloc(srv->orphans, cap * sizeof(*grown));

		if (!grown) {	/* freeing it under an owner would be worse than leaking */
			fprintf(stderr, "fanoutd: out of memory: a closed publisher's batch leaks\n");
			return;
		}
		srv->orphans = grown;
		srv->orphans_cap = cap;
	}
	srv->orphans[srv->norphans++] = b;
}

/* Answers finished batches and hands the waiting ones' events over; frees orphans the
 * other reactors are done with. Returns true when a lane was full. */
static bool net_server_batches(struct net_server *srv)
{
	bool full = false;

	if (srv->sync_exec && srv->nwaiting)	/* a pass ending after the checks wakes us */
		executor_sync_wait(srv->sync_exec, srv->id);
	for (uint32_t i = srv->nwaiting; i-- > 0;) {
		struct session *s = &srv->sessions[srv->waiting[i]];

		if (!session_answer_batches(s))
			net_server_unwait(srv, s);
	}
	for (uint32_t i = 0; i < srv->nwaiting; i++)
		full = session_handoff(&srv->sessions[srv->waiting[i]]) || full;
	for (uint32_t i = srv->norphans; i-- > 0;) {
		if (atomic_load_explicit(&srv->orphans[i]->ticket.remaining,
					 memory_order_acquire) != 0)
			continue;
		net_batch_free(srv, srv->orphans[i]);
		srv->orphans[i] = srv->orphans[--srv->norphans];
	}
	return full;
}

/* --fsync batch: batches whose events are all appended and published (this turn's
 * flush included) are given the executor pass that syncs them. */
static void net_server_sync_ask(struct net_server *srv)
{
	uint64_t pass;
	bool any = false;

	executor_sync_wait(srv->sync_exec, srv->id);
	/* Which batches are done appending, then the pass that covers them: a batch whose
	 * last remote append lands after the ask waits for the next turn's. */
	for (uint32_t i = 0; i < srv->nwaiting; i++) {
		struct session *s = &srv->sessions[srv->waiting[i]];

		for (uint32_t j = s->batch_head; j != s->batch_tail; j++) {
			struct session_batch *b = s->batches[j % SESSION_BATCHES_MAX];

			if (b->sync_pass || b->ticket.n == 0 ||
			    atomic_load_explicit(&b->ticket.remaining, memory_order_acquire))
				continue;
			b->sync_pass = UINT64_MAX;	/* to be stamped below */
			any = true;
		}
	}
	if (!any)
		return;
	pass = executor_sync_ask(srv->sync_exec);
	for (uint32_t i = 0; i < srv->nwaiting; i++) {
		struct session *s = &srv->sessions[srv->waiting[i]];

		for (uint32_t j = s->batch_head; j != s->batch_tail; j++)
			if (s->batches[j % SESSION_BATCHES_MAX]->sync_pass == UINT64_MAX)
				s->batches[j % SESSION_BATCHES_MAX]->sync_pass = pass;
	}
}

/* Wakes the reactors this turn left work for: readers of logs whose tails moved,
 * owners of handed-over events, publishers of finished batches. Once each per turn. */
static void net_wake(struct net_server *srv)
{
	uint64_t m = srv->publish.wake & ~(1ull << srv->id);

	srv->publish.wake = 0;
	while (m) {
		uint32_t b = (uint32_t)__builtin_ctzll(m);

		m &= m - 1;
		reactor_wake(&srv->reactor, &srv->eng->servers[b]->reactor);
	}
}

/* Flushes one active session, taking it off the list when it has nothing left. Returns
 * whether it wants the next turn at once. */
static bool net_flush_one(struct net_server *srv, struct session *s)
{
	s->flushed_turn = srv->flush_turn;
	if (!session_flush(s) && reactor_send_ready(&srv->reactor, s->conn))
		net_server_deactivate(srv, s);
	return s->more;
}

/* The sends of sessions with subscriptions to priority topics, highest priority first,
 * in the flush_turn the caller began. Returns whether one wants the next turn at once.
 * Deactivating swaps the last entry into i, one this pass has seen, so walking down
 * visits each once. */
static bool net_flush_priority(struct net_server *srv)
{
	bool busy = false;

	for (uint32_t top = UINT32_MAX; srv->priority_any;) {
		uint32_t level = 0;

		for (uint32_t i = 0; i < srv->nactive; i++) {
			uint32_t p = srv->sessions[srv->active[i]].priority;

			level = p < top && p > level ? p : level;
		}
		if (level == 0)
			break;
		for (uint32_t i = srv->nactive; i-- > 0;) {
			struct session *s = &srv->sessions[srv->active[i]];

			if (s->priority == level && s->flushed_turn != srv->flush_turn)
				busy = net_flush_one(srv, s) || busy;
		}
		top = level;
	}
	return busy;
}

/* Starts the turn's sends: sessions with subscriptions to higher-priority topics first
 * (their sends go into the ring, and so to the kernel, ahead of the bulk's), then every
 * one not flushed yet this turn. Without priorities, one pass. */
static bool net_flush_active(struct net_server *srv)
{
	bool busy;

	srv->flush_turn++;
	busy = net_flush_priority(srv);
	for (uint32_t i = srv->nactive; i-- > 0;) {
		struct session *s = &srv->sessions[srv->active[i]];

		if (s->flushed_turn != srv->flush_turn)	/* else served above */
			busy = net_flush_one(srv, s) || busy;
	}
	return busy;
}

/* Closes TLS connections whose handshake has not finished in time: they hold a slot and
 * a session's memory without ever saying who they are. */
static void net_tls_police(struct net_server *srv, int64_t now)
{
	for (uint32_t i = srv->nopen; i-- > 0;) {
		struct session *s = &srv->sessions[srv->open[i]];
		struct net_tls *t = net_tls_of(srv, s->conn);

		if (t && t->established)
			net_tls_trim(t);
		if (t && !t->established && !t->failed && now >= t->handshake_by_ns &&
		    !s->conn->closing) {
			snprintf(t->why, sizeof(t->why), "no handshake within %llds",
				 (long long)(NET_TLS_HANDSHAKE_NS / 1000000000));
			net_tls_fail(srv, s->conn, t, -EPROTO);
		}
	}
}

/* A tail this turn published may be one the admin thread's WebSocket streams read: it is
 * woken if it sleeps armed (net/engine.h; publish_flush's fence came before this load).
 * At most one eventfd write per arming. */
static void net_wake_admin(struct net_server *srv)
{
	uint64_t one = 1;

	srv->publish.published = false;
	if (!atomic_load_explicit(&srv->eng->admin_armed, memory_order_relaxed) ||
	    !atomic_exchange_explicit(&srv->eng->admin_armed, false, memory_order_acquire))
		return;
	/* Fails only with the counter full, when the eventfd is readable anyway. */
	if (write(srv->eng->admin_wake_fd, &one, sizeof(one)) < 0)
		return;
}

/* Mid-turn (reactor_ops.on_priority): the priority connections' input is handled, the
 * bulk's not yet. What they published is made visible and routed and the priority
 * sessions' sends start, so a priority event leaves before the turn's bulk input is
 * parsed, not after. Nothing else here: answering batches (which may parse a paused bulk
 * publisher's held input), waking other reactors and applying their events wait for
 * on_idle.
 * Returns whether anything was published (else there is nothing new to send). */
static bool net_on_priority(void *ctx)
{
	struct net_server *srv = ctx;

	if (srv->publish.ntouched == 0)
		return false;
	publish_flush(&srv->publish);
	net_server_route(srv);
	srv->flush_turn++;
	net_flush_priority(srv);
	return true;
}

/* After each batch of completions: append what other reactors handed over, answer
 * finished batches, make appended frames visible, hand events to other reactors, route,
 * then start the sends all that calls for (one pass, many frames per send). */
static bool net_on_idle(void *ctx)
{
	struct net_server *srv = ctx;
	bool busy = false;

	int64_t now = clock_monotonic_ns();

	net_control_turn_reactor(srv);	/* admin plane: commands, drops, counters */
	busy = net_xr_apply(srv);
	busy = net_server_batches(srv) || busy;
	publish_flush(&srv->publish);
	publish_release(&srv->publish);
	if (srv->sync_exec && srv->nwaiting)
		net_server_sync_ask(srv);
	net_server_route(srv);
	if (now >= srv->police_at_ns) {	/* bounded work: once per 100 ms, not per event */
		srv->police_at_ns = now + SERVER_POLICE_NS;
		srv->priority_any = false;	/* set again by those that still have one */
		for (uint32_t i = srv->nopen; i-- > 0;)	/* idle ones too; one may close */
			session_police(&srv->sessions[srv->open[i]], now);
		if (srv->tls)
			net_tls_police(srv, now);
	}
	busy = net_flush_active(srv) || busy;
	if (atomic_exchange_explicit(&srv->named_pending, false, memory_order_seq_cst)) {
		for (uint32_t i = srv->nopen; i-- > 0;)	/* FAILOVER take-overs */
			session_named_turn(&srv->sessions[srv->open[i]]);
		busy = true;	/* their first sends next turn, at once */
	}
	if (srv->naudit_ends) {	/* come back at once while there is room to go on */
		net_audit_ends_step(srv);
		busy = busy || (srv->naudit_ends && net_server_audit_room(srv) >= NET_AUDIT_STEP);
	}
	net_wake(srv);
	if (srv->publish.published)
		net_wake_admin(srv);
	srv->reactor.prioritize = srv->priority_any;	/* its input first, from next turn */
	srv->reactor.holds = srv->nwaiting + srv->norphans;	/* a drain waits for them */
	return busy;
}

int net_server_init(struct net_server *srv, struct net_engine *eng, uint32_t id,
		    const char *listen, struct topic_table *topics, const struct config *cfg,
		    const struct rules_set *rules)
{
	struct reactor_ops ops = {
		.ctx = srv, .on_open = net_on_open, .on_data = net_on_data,
		.on_sent = net_on_sent, .on_close = net_on_close, .on_idle = net_on_idle,
		.on_priority = net_on_priority,
	};
	struct reactor_config rcfg = {
		.listen = listen, .max_conns = cfg->max_connections, .id = id,
		.reuseport = eng->n > 1, .quiet = cfg->quiet, .send_zc_bytes = cfg->send_zc_bytes,
		.send_zc_inflight = cfg->send_zc_inflight,
		.local_fd = eng->sinks ? eng->sinks->listen_fd : -1,	/* rings' socket */
	};
	int rc;

	memset(srv, 0, sizeof(*srv));
	srv->id = id;
	srv->eng = eng;
	srv->topics = topics;
	if (topics->log_config.executor && topics->log_config.executor->fsync == LOG_FSYNC_BATCH)
		srv->sync_exec = topics->log_config.executor;
	srv->cfg = cfg;
	srv->publish.self = id;
	srv->publish.topics = topics;
	srv->publish.auto_create = cfg->auto_create;
	srv->publish.default_partitions = cfg->default_partitions;
	budget_init(&srv->budget, cfg->reactor_memory_bytes);
	net_latency_init(&srv->latency);
	net_latency_init(&srv->latency_priority);
	srv->publish.budget = &srv->budget;
	if (cfg->kafka_ack_kafka) {	/* the bound on what is not in Kafka yet */
		srv->publish.admit = egress_gate_admit;
		srv->publish.admit_arg = &eng->egress;
	}
	srv->audit = &eng->audit[id];
	srv->sessions = calloc(cfg->max_connections, sizeof(*srv->sessions));
	srv->active = calloc(cfg->max_connections, sizeof(*srv->active));
	srv->waiting = calloc(cfg->max_connections, sizeof(*srv->waiting));
	srv->open = calloc(cfg->max_connections, sizeof(*srv->open));
	if (!srv->sessions || !srv->active || !srv->waiting || !srv->open)
		return -ENOMEM;
	rc = arena_init(&srv->arena, (size_t)cfg->max_frame_bytes * SERVER_ARENA_FACTOR);
	if (rc == 0)
		rc = arena_init(&srv->match_arena,
				(size_t)cfg->max_frame_bytes * SERVER_ARENA_FACTOR);
	if (rc == 0)
		rc = interest_init(&srv->interest);
	if (rc == 0)
		rc = route_cache_init(&srv->route_cache);
	if (rc == 0)
		rc = route_init(&srv->route, rules);	/* split + rules on the publish path */
	if (rc == 0)
		rc = publish_init(&srv->publish, cfg->max_frame_bytes, &srv->arena);
	if (getenv(SERVER_TEST_KILL_ENV)) {
		srv->test_kill_seq = strtoull(getenv(SERVER_TEST_KILL_ENV), NULL, 10);
		if (id == 0)
			fprintf(stderr, "fanoutd: WARNING: %s=%llu: test hook, the server kills "
				"itself mid-batch\n", SERVER_TEST_KILL_ENV,
				(unsigned long long)srv->test_kill_seq);
	}
	if (rc == 0 && (!(srv->known = malloc(PUBLISH_BATCH_MAX * sizeof(*srv->known))) ||
			!(srv->known_part = malloc(PUBLISH_BATCH_MAX * sizeof(*srv->known_part)))))
		rc = -ENOMEM;
	if (rc == 0 && eng->tls_ctx &&
	    (!(srv->tls = calloc(cfg->max_connections, sizeof(*srv->tls))) ||
	     !(srv->tls_scratch = malloc(NET_TLS_RECORD_BYTES)) ||
	     !(srv->tls_seal = malloc(NET_TLS_RECORD_BYTES))))
		rc = -ENOMEM;
	if (rc < 0)
		return rc;
	srv->publish.route = &srv->route;
	return reactor_init(&srv->reactor, &rcfg, &ops, srv->bound, sizeof(srv->bound));
}

/* Drains after the stop: receives are over, so the work left only shrinks. A reactor
 * leaves once every reactor has nothing in flight at once — no sends, no batches waiting,
 * no events in its lanes — since until then another may still hand it events to append
 * (a batch acknowledged after the stop is still a batch stored). */
static void net_server_drain(struct net_server *srv, int64_t deadline_ns)
{
	struct net_engine *eng = srv->eng;
	bool quiet = false;

	while (clock_monotonic_ns() < deadline_ns) {
		bool q = reactor_quiet(&srv->reactor) &&
			 xr_pending(&eng->mesh, srv->id) == 0 && !srv->reactor.busy;

		if (q != quiet) {
			if (q)
				atomic_fetch_add(&eng->quiet, 1);
			else
				atomic_fetch_sub(&eng->quiet, 1);
			quiet = q;
		}
		if (quiet && atomic_load(&eng->quiet) == eng->n)
			return;
		if (reactor_poll(&srv->reactor, (quiet ? 1 : 10) * 1000 * 1000) < 0)
			return;
	}
}

int net_server_run(struct net_server *srv, volatile sig_atomic_t *stop, int drain_ms)
{
	int rc = reactor_run(&srv->reactor, stop);

	net_server_info(srv, "reactor %u stopping: %u connections, draining pending sends "
			"(%llu events from other reactors, %llu wake-ups sent, %llu zero-copy sends, "
			"%llu with the window of %u full)",
			srv->id, srv->reactor.nopen, (unsigned long long)srv->xr_applied,
			(unsigned long long)srv->reactor.wakes_sent,
			(unsigned long long)srv->reactor.zc_sends,
			(unsigned long long)srv->reactor.zc_full, srv->reactor.zc_inflight);
	net_server_drain(srv, clock_monotonic_ns() + (int64_t)drain_ms * 1000000);
	return rc;
}

void net_server_free(struct net_server *srv)
{
	reactor_free(&srv->reactor);	/* closes sessions: they unwatch first */
	/* Every reactor has stopped: what other reactors never appended is dropped. */
	for (uint32_t i = 0; i < srv->norphans; i++) {
		atomic_store(&srv->orphans[i]->ticket.remaining, 0);
		net_batch_free(srv, srv->orphans[i]);
	}
	free(srv->orphans);
	for (uint32_t i = 0; i < srv->naudit_ends; i++)	/* the stop: no one to tell */
		net_audit_end_free(&srv->audit_ends[i]);
	free(srv->audit_ends);
	free(srv->waiting);
	free(srv->known);
	free(srv->known_part);
	route_free(&srv->route);
	publish_free(&srv->publish);
	interest_free(&srv->interest);
	route_cache_free(&srv->route_cache);
	free(srv->route_scratch);
	for (uint32_t i = 0; i < srv->nwilds; i++)
		free(srv->wilds[i].subs);
	free(srv->wilds);
	free(srv->watches);
	arena_free(&srv->arena);
	arena_free(&srv->match_arena);
	free(srv->sessions);
	free(srv->active);
	free(srv->open);
	free(srv->tls);	/* each closed with its connection */
	free(srv->tls_scratch);
	free(srv->tls_seal);
}
