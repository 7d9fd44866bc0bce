/* net/control.c — admin commands to the reactors: the queues, the wake-up, and what a
 * reactor does with each command (see net/control.h). */
#include "net/control.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "net/engine.h"
#include "net/server.h"

int control_init(struct control *c, uint32_t n)
{
	memset(c, 0, sizeof(*c));
	c->q = aligned_alloc(64, n * sizeof(*c->q));
	if (!c->q)
		return -ENOMEM;
	memset(c->q, 0, n * sizeof(*c->q));
	for (uint32_t i = 0; i < n; i++)
		ck_ring_init(&c->q[i].ring, CONTROL_QUEUE_SLOTS);
	c->n = n;
	return 0;
}

void control_free(struct control *c)
{
	if (c->have_ring)
		io_uring_queue_exit(&c->ring);
	free(c->q);
	memset(c, 0, sizeof(*c));
}

struct control_cmd *control_cmd_new(enum control_op op, uint32_t cap, uint32_t conns_cap)
{
	struct control_cmd *cmd = calloc(1, sizeof(*cmd));
	bool ok = true;

	if (!cmd)
		return NULL;
	cmd->op = op;
	if (op == CONTROL_SUBS_LIST) {
		cmd->cap = cap;
		cmd->conns_cap = conns_cap;
		cmd->subs = calloc(cap ? cap : 1, sizeof(*cmd->subs));
		cmd->producers = calloc(conns_cap ? conns_cap : 1, sizeof(*cmd->producers));
		ok = cmd->subs && cmd->producers;
	} else if (op == CONTROL_TOPIC_DROP) {
		cmd->conns_cap = conns_cap;
		cmd->sending = calloc(conns_cap ? conns_cap : 1, sizeof(*cmd->sending));
		ok = cmd->sending != NULL;
	}
	if (!ok) {
		control_cmd_free(cmd);
		return NULL;
	}
	return cmd;
}

void control_cmd_free(struct control_cmd *cmd)
{
	if (!cmd)
		return;
	free(cmd->subs);
	free(cmd->producers);
	free(cmd->sending);
	free(cmd);
}

/* The admin thread's ring for MSG_RING wake-ups, made on first use (by that thread). */
static bool control_ring(struct control *c)
{
	if (!c->have_ring && io_uring_queue_init(4, &c->ring, 0) == 0)
		c->have_ring = true;
	return c->have_ring;
}

/* Wakes reactor t the way its peers do (core/reactor.c reactor_wake). */
static void control_wake(struct control *c, struct reactor *t)
{
	reactor_wake_from(control_ring(c) ? &c->ring : NULL, t);
}

void control_wake_reactor(struct net_engine *e, uint32_t r)
{
	control_wake(&e->control, e->reactors[r]);
}

int control_post(struct net_engine *e, uint32_t r, struct control_cmd *cmd)
{
	struct control_queue *q = &e->control.q[r];

	atomic_store_explicit(&cmd->state, CONTROL_PENDING, memory_order_relaxed);
	/* The enqueue publishes the command's fields (ck_ring's release store). */
	if (!ck_ring_enqueue_spsc(&q->ring, q->buf, cmd))
		return -EAGAIN;
	control_wake(&e->control, e->reactors[r]);
	return 0;
}

int control_wait(struct control_cmd *cmd, int state, int timeout_ms)
{
	int64_t deadline = clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	long nap_ns = 20000;

	/* Acquire pairs with the reactor's release: its answers are visible after. */
	while (atomic_load_explicit(&cmd->state, memory_order_acquire) < state) {
		if (clock_monotonic_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){ .tv_nsec = nap_ns }, NULL);
		if (nap_ns < 2000000)
			nap_ns *= 2;	/* answers come within a turn; back off past that */
	}
	return 0;
}

void control_abandon(struct control_cmd *cmd)
{
	int pending = CONTROL_PENDING;

	if (!atomic_compare_exchange_strong(&cmd->state, &pending, CONTROL_ABANDONED))
		control_cmd_free(cmd);	/* it answered meanwhile: ours to free */
}

void control_drain(struct control *c)
{
	void *p;

	for (uint32_t r = 0; r < c->n; r++)
		while (ck_ring_dequeue_spsc(&c->q[r].ring, c->q[r].buf, &p)) {
			struct control_cmd *cmd = p;

			if (atomic_load_explicit(&cmd->state, memory_order_acquire) ==
			    CONTROL_ABANDONED)
				control_cmd_free(cmd);
		}
}

/* Hands a command back: DONE for the admin thread, or freed when it gave up on it. */
static void control_finish(struct control_cmd *cmd)
{
	int pending = CONTROL_PENDING;

	if (!atomic_compare_exchange_strong_explicit(&cmd->state, &pending, CONTROL_DONE,
						     memory_order_acq_rel, memory_order_acquire))
		control_cmd_free(cmd);	/* ABANDONED: nobody waits for it */
}

void net_control_sub_started(struct net_server *srv, struct subscription *sub, int start)
{
	sub->stats.serial = atomic_fetch_add_explicit(&srv->eng->next_serial, 1,
						      memory_order_relaxed) + 1;
	sub->stats.since_ns = clock_realtime_ns();
	sub->stats.reactor = srv->id;
	sub->stats.start = start;
}

void net_control_client_name(struct session_stats *st, const char *name)
{
	snprintf(st->client_name, sizeof(st->client_name), "%s", name ? name : "");
}

static void control_sub_info(const struct session *s, const struct subscription *sub,
			     struct control_sub_info *in)
{
	size_t used = 0;

	memset(in, 0, sizeof(*in));
	in->topic = sub->topic;
	in->stats = sub->stats;
	in->conn = s->conn->slot;
	in->sub_id = sub->id;
	in->delivered = sub->delivered;
	in->lag_events = sub->lag_events;
	in->lag_bytes = sub->lag_bytes;
	in->acked_offset = sub->acked_offset;
	in->connected_ns = s->stats.connected_ns;
	in->npatterns = sub->npatterns;
	in->filter = !sub->filter.empty;
	in->shm = sub->sink != NULL;
	in->wild = sub->wild;
	memcpy(in->client_name, s->stats.client_name, sizeof(in->client_name));
	for (uint32_t i = 0; i < sub->npatterns && used + 1 < sizeof(in->patterns); i++) {
		int n = snprintf(in->patterns + used, sizeof(in->patterns) - used, "%s%s",
				 i ? " " : "", sub->patterns[i].text);

		used = n < 0 ? sizeof(in->patterns) : used + (size_t)n;
	}
}

/* The command loops walk the open sessions only: a walk of every session slot
 * (--max-connections, 4,096) touched megabytes each second the admin thread sampled and
 * held a reactor for 7-15 ms (perf sched: the 1 -> 1 p99 at 100k/s was 7-11 ms). */
static void control_list(struct net_server *srv, struct control_cmd *cmd)
{
	for (uint32_t o = srv->nopen; o-- > 0;) {
		const struct session *s = &srv->sessions[srv->open[o]];

		if (s->in_use && s->stats.last_topic && cmd->nproducers < cmd->conns_cap &&
		    (!cmd->topic || s->stats.last_topic == cmd->topic))
			cmd->producers[cmd->nproducers++] = s->stats.last_topic;
		for (uint32_t j = 0; s->in_use && j < s->nsubs; j++) {
			const struct subscription *sub = s->subs[j];

			if (cmd->topic && sub->topic != cmd->topic)
				continue;
			if (cmd->n < cmd->cap)
				control_sub_info(s, sub, &cmd->subs[cmd->n++]);
			cmd->total++;
		}
	}
}

static void control_sub_end(struct net_server *srv, struct control_cmd *cmd)
{
	for (uint32_t o = srv->nopen; o-- > 0;) {
		struct session *s = &srv->sessions[srv->open[o]];

		for (uint32_t j = 0; s->in_use && j < s->nsubs; j++) {
			if (s->subs[j]->stats.serial != cmd->serial)
				continue;
			session_end_sub(s, s->subs[j], cmd->message, true);
			cmd->n = 1;
			return;
		}
	}
}

/* The first step of a drop: the topic's subscriptions end; sends in flight that may
 * carry its frames are remembered — every connection's, not only those subscribed now:
 * a subscription ended earlier (Unsubscribe, or by the admin) leaves the frames it had
 * gathered in its connection's send and its remainder. */
static void control_drop(struct net_server *srv, struct control_queue *q,
			 struct control_cmd *cmd)
{
	for (uint32_t o = srv->nopen; o-- > 0;) {	/* one cut for its Error moves the last */
		struct session *s = &srv->sessions[srv->open[o]];

		if (!s->in_use)
			continue;
		/* Ending one moves the last into j; its Error may cut the session at once
		 * (no room even for that), which frees its subscriptions: stop there. */
		for (uint32_t j = s->nsubs; s->in_use && j-- > 0;) {
			if (s->subs[j]->topic != cmd->topic)
				continue;
			session_end_sub(s, s->subs[j], cmd->message, false);
			cmd->n++;
		}
		if (!s->in_use)
			continue;	/* closed: nothing of it in flight any more */
		if (s->stats.last_topic == cmd->topic)
			s->stats.last_topic = NULL;
		session_kafka_forget_topic(s, cmd->topic);	/* batches waiting for Kafka */
		if (reactor_send_pending(s->conn) && cmd->nsending < cmd->conns_cap)
			cmd->sending[cmd->nsending++] = s->conn->slot;
	}
	net_server_audit_drop(srv, cmd->topic);	/* its ended subscriptions owe nothing */
	/* The admin thread bounds pending removals by TOPIC_REMOVING_MAX. */
	assert(q->ndrops < CONTROL_DROPS_MAX);
	q->drops[q->ndrops++] = cmd;
	atomic_store_explicit(&cmd->state, CONTROL_ENDED, memory_order_release);
}

/* Whether a ticket still waiting on other reactors carries events for tp. */
static bool control_ticket_holds(struct publish_ticket *t, const struct topic *tp)
{
	if (atomic_load_explicit(&t->remaining, memory_order_acquire) == 0)
		return false;
	for (uint32_t i = 0; i < t->nremote; i++)
		if (t->remote[i].topic == tp)
			return true;
	return false;
}

/* Whether anything of this reactor may still touch the dropped topic's memory: a batch
 * of its publishers with events for it not yet appended by their owner (which would
 * append them), or a send that was in flight when its subscriptions ended (which may
 * point into its logs). */
static bool control_drop_busy(struct net_server *srv, struct control_cmd *cmd)
{
	for (uint32_t i = 0; i < cmd->nsending; i++) {
		const struct reactor_conn *c = &srv->reactor.conns[cmd->sending[i]];

		if (c->in_use && reactor_send_pending(c))	/* zero-copy: until notified */
			return true;
	}
	for (uint32_t i = 0; i < srv->nwaiting; i++) {
		struct session *s = &srv->sessions[srv->waiting[i]];

		for (uint32_t b = s->batch_head; b != s->batch_tail; b++)
			if (control_ticket_holds(&s->batches[b % SESSION_BATCHES_MAX]->ticket,
						 cmd->topic))
				return true;
	}
	for (uint32_t i = 0; i < srv->norphans; i++)
		if (control_ticket_holds(&srv->orphans[i]->ticket, cmd->topic))
			return true;
	return false;
}

static void control_follow_drops(struct net_server *srv, struct control_queue *q,
				 int64_t now_ns)
{
	for (uint32_t i = q->ndrops; i-- > 0;) {
		struct control_cmd *cmd = q->drops[i];

		if (now_ns < cmd->check_ns)
			continue;
		cmd->check_ns = now_ns + CONTROL_DROP_CHECK_NS;
		if (control_drop_busy(srv, cmd))
			continue;
		q->drops[i] = q->drops[--q->ndrops];
		/* Release: everything this reactor did with the topic happens before the
		 * admin thread sees DONE. */
		atomic_store_explicit(&cmd->state, CONTROL_DONE, memory_order_release);
	}
}

static void control_run(struct net_server *srv, struct control_queue *q,
			struct control_cmd *cmd)
{
	net_stat_add(&srv->stats.controls, 1);
	switch (cmd->op) {
	case CONTROL_SUBS_LIST:
		control_list(srv, cmd);
		break;
	case CONTROL_SUB_END:
		control_sub_end(srv, cmd);
		break;
	case CONTROL_TOPIC_DROP:
		control_drop(srv, q, cmd);
		return;		/* followed until DONE; never abandoned */
	}
	control_finish(cmd);
}

/* Copies the counters the reactor keeps in plain fields elsewhere (net/stats.h). */
static void control_mirror(struct net_server *srv)
{
	struct net_stats *st = &srv->stats;

	net_stat_set(&st->events_in, srv->publish.events);
	net_stat_set(&st->batches_in, srv->publish.batches);
	net_stat_set(&st->batches_rejected, srv->publish.rejected);
	net_stat_set(&st->wakeups, srv->reactor.wakes_received);
	net_stat_set(&st->turns, srv->reactor.turns);
	net_stat_set(&st->wait_ns, srv->reactor.wait_ns);
	net_stat_set(&st->connections, srv->reactor.nopen);
}

void net_control_turn_reactor(struct net_server *srv)
{
	struct control_queue *q = &srv->eng->control.q[srv->id];
	void *p;

	control_mirror(srv);
	for (uint32_t i = 0; i < CONTROL_QUEUE_SLOTS &&
			     ck_ring_dequeue_spsc(&q->ring, q->buf, &p); i++)
		control_run(srv, q, p);
	if (q->ndrops)
		control_follow_drops(srv, q, clock_monotonic_ns());
}
