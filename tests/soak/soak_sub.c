/* tests/soak/soak_sub.c — see soak_sub.h. */
#include "tests/soak/soak_sub.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/soak/soak_deliver.h"
#include "tests/soak/soak_event.h"
#include "tests/soak/soak_proc.h"
#include "tools/client.h"

#define SUB_RECV_MS    200	/* how often a quiet subscriber looks at the stop flag */
#define SUB_CONNECT_MS 500

/* Takes a SubscribeResult's positions into starts[]; -EPROTO unless it names exactly
 * the topic's partitions. */
static int positions(const struct soak_cfg *c, const Fanout__V1__SubscribeResult *r,
		     uint64_t *starts)
{
	uint32_t got = 0;

	if (r->partitions != c->parts)
		return -EPROTO;
	for (size_t i = 0; i < r->n_positions; i++) {
		uint32_t p = r->positions[i]->partition;

		if (p >= c->parts)
			return -EPROTO;
		starts[p] = r->positions[i]->next_offset;
		got |= 1u << p;
	}
	return got == (1u << c->parts) - 1 ? 0 : -EPROTO;
}

/* Subscribes from the latest (from NULL) or from from[p] in every partition p; takes the
 * positions the server answered into starts. */
static int subscribe(const struct soak_cfg *c, struct client *cl, uint32_t set,
		     const uint64_t *from, uint64_t *starts)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	size_t n;
	int rc;

	sb.subscription_id = 1;
	sb.topic = (char *)SOAK_TOPIC;
	sb.patterns = (char **)soak_set(set, &n);
	sb.n_patterns = n;
	if (from) {
		sb.start = FANOUT__V1__START_POSITION__START_POSITION_OFFSET;
		sb.start_offsets = (uint64_t *)from;
		sb.n_start_offsets = c->parts;
	}
	rc = client_subscribe_msg(cl, &sb, &m);

	if (rc == 0)
		rc = positions(c, m->subscribed, starts);
	else if (m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fprintf(stderr, "soak: subscribe refused: %s\n", m->error->message);
	client_free_msg(m);
	return rc;
}

int soak_tails(const struct soak_cfg *c, uint64_t *tails)
{
	struct client cl;
	int rc = client_connect(&cl, c->addr, SUB_CONNECT_MS);

	if (rc == 0)
		rc = subscribe(c, &cl, 0, NULL, tails);
	client_close(&cl);
	return rc;
}

/* Subscribes: from the latest the first time, else from where it left off. */
static int sub_open(const struct soak_ctx *x, struct soak_sub *s, struct client *cl)
{
	const struct soak_cfg *c = x->cfg;
	uint64_t starts[SOAK_PARTS_MAX], from[SOAK_PARTS_MAX];
	uint32_t relevant;
	int rc;

	if (!atomic_load_explicit(&s->started, memory_order_acquire)) {
		rc = subscribe(c, cl, s->set, NULL, starts);
		if (rc == 0)
			soak_sub_begin(c, s, starts);
		return rc;
	}
	relevant = soak_resume_offsets(x, s, from);
	rc = subscribe(c, cl, s->set, from, starts);
	/* The server clamps each start into its partition's log, which begins at 0 and, in
	 * a partition holding our keys, ends at or after our next[]: any other start there
	 * means the server lost or skipped offsets. Elsewhere it may end before from[p]. */
	for (uint32_t p = 0; rc == 0 && p < c->parts; p++) {
		if (starts[p] == from[p] || (!(relevant & (1u << p)) && starts[p] < from[p]))
			continue;
		atomic_fetch_add_explicit(&s->resume_moved, 1, memory_order_relaxed);
		fprintf(stderr, "soak: subscriber %u: resumed partition %u from %llu, it starts "
			"at %llu\n", x->idx, p, (unsigned long long)from[p],
			(unsigned long long)starts[p]);
	}
	return rc;
}

/* One received message. Returns 0 to go on, -1 to drop the connection. */
static int sub_message(const struct soak_ctx *x, struct soak_sub *s, struct soak_stream_pos *sp,
		       const Fanout__V1__ServerMessage *m)
{
	const Fanout__V1__Event *e = m->event;

	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
		atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
		fprintf(stderr, "soak: subscriber %u: server error %d: %s\n", x->idx,
			m->error->code, m->error->message);
		return m->error->closing ? -1 : 0;
	}
	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
		return 0;	/* heartbeats and the like */
	if (!e->distribution || !e->event_id || strcmp(e->distribution->topic, SOAK_TOPIC) != 0) {
		atomic_fetch_add_explicit(&s->misrouted, 1, memory_order_relaxed);
		return 0;
	}
	soak_deliver(x, s, sp, e->distribution->partition, e->distribution->offset, e);
	return 0;
}

/* A slow subscriber stops reading now and then, so that it falls behind and catches up
 * from the log's history. */
static void maybe_pause(const struct soak_ctx *x, struct soak_rng *rng, const struct soak_sub *s,
			int64_t *next_ns)
{
	int64_t now = soak_now_ns();

	/* No pauses once the drain began: it waits for every subscriber to catch up. */
	if (!s->slow || now < *next_ns || atomic_load_explicit(&x->sh->stop_new, memory_order_relaxed))
		return;
	soak_pause(x->sh, (int64_t)soak_rng_range(rng, 300, 2500));
	*next_ns = soak_now_ns() + (int64_t)soak_rng_range(rng, 2000, 6000) * 1000000;
}

/* Receives until the connection drops or the run stops. */
static void sub_stream(const struct soak_ctx *x, struct soak_sub *s, struct client *cl,
		       struct soak_rng *rng)
{
	int64_t pause_ns = soak_now_ns() + 2000000000;
	struct soak_stream_pos sp = { { 0 } };

	while (!atomic_load_explicit(&x->sh->stop, memory_order_relaxed)) {
		Fanout__V1__ServerMessage *m = NULL;
		int rc = client_recv(cl, &m, SUB_RECV_MS);

		if (rc == -ETIMEDOUT) {
			maybe_pause(x, rng, s, &pause_ns);
			continue;
		}
		if (rc < 0)
			return;		/* the server went away: resume on a new connection */
		rc = sub_message(x, s, &sp, m);
		client_free_msg(m);
		if (rc < 0)
			return;
		maybe_pause(x, rng, s, &pause_ns);
	}
}

int soak_sub_main(void *arg)
{
	const struct soak_ctx *x = arg;
	struct soak_sub *s = &x->sh->sub[x->idx];
	struct soak_rng rng;
	struct client cl;

	soak_rng_seed(&rng, x->cfg->seed, soak_stream(SOAK_STREAM_SUB, x->idx, x->incarnation));
	while (!atomic_load_explicit(&x->sh->stop, memory_order_relaxed)) {
		if (client_connect(&cl, x->cfg->addr, SUB_CONNECT_MS) < 0) {
			client_close(&cl);
			soak_sleep_ms(50);
			continue;
		}
		if (sub_open(x, s, &cl) == 0) {
			atomic_fetch_add_explicit(&s->connects, 1, memory_order_relaxed);
			sub_stream(x, s, &cl, &rng);
		} else {
			soak_sleep_ms(50);
		}
		client_close(&cl);
	}
	return 0;
}
