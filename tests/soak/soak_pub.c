/* tests/soak/soak_pub.c — see soak_pub.h. */
#include "tests/soak/soak_pub.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/soak/soak_event.h"
#include "tests/soak/soak_proc.h"
#include "tests/soak/soak_state.h"
#include "tools/client.h"

#define PUB_BATCH_MAX  64u
#define PUB_WINDOW     16u	/* batches in flight per connection */
#define PUB_RECV_MS    20
#define PUB_CONNECT_MS 500

struct flight {
	uint64_t wire_seq;
	uint32_t n;
	uint64_t seq[PUB_BATCH_MAX];
};

struct pub_conn {
	const struct soak_ctx *x;
	struct soak_pub *p;
	struct client cl;
	struct soak_rng *rng;
	struct flight fl[PUB_WINDOW];
	uint32_t head, count;		/* flights in order of their acks */
	uint64_t wire_seq;
	uint64_t resend_at, resend_end;	/* the unacknowledged events still to resend */
	double tokens;			/* new events the rate allows now */
	struct flight again;		/* self-test: an acknowledged batch to send again */
	bool again_due;
	int64_t tokens_ns;
};

static struct soak_event pub_events[PUB_BATCH_MAX];

/* Sends flight f (its events' send counts raised first, unless it is the self-test's
 * uncounted copy). Returns client_publish's rc. */
static int send_flight(struct pub_conn *pc, struct flight *f, bool counted)
{
	Fanout__V1__Event *ptrs[PUB_BATCH_MAX];
	uint32_t pub = pc->x->idx, again = 0;

	for (uint32_t i = 0; i < f->n; i++) {
		struct soak_ev *e = &pc->p->ev[f->seq[i]];

		if (counted && atomic_load_explicit(&e->sends, memory_order_relaxed) < UINT8_MAX &&
		    atomic_fetch_add_explicit(&e->sends, 1, memory_order_relaxed) >= 1)
			again++;
		soak_event_make(&pub_events[i], pub, f->seq[i]);
		ptrs[i] = &pub_events[i].e;
	}
	atomic_fetch_add_explicit(&pc->p->sent, f->n, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->p->batches_sent, 1, memory_order_relaxed);
	if (again) {
		atomic_fetch_add_explicit(&pc->p->resent, again, memory_order_relaxed);
		atomic_fetch_add_explicit(&pc->p->batches_resent, 1, memory_order_relaxed);
	}
	f->wire_seq = ++pc->wire_seq;
	return client_publish(&pc->cl, f->wire_seq, ptrs, f->n);
}

/* The next batch of unacknowledged events to resend, in sequence order. */
static uint32_t take_resend(struct pub_conn *pc, struct flight *f)
{
	f->n = 0;
	while (pc->resend_at < pc->resend_end && f->n < PUB_BATCH_MAX) {
		uint64_t s = pc->resend_at++;

		if (!atomic_load_explicit(&pc->p->ev[s].acked, memory_order_acquire))
			f->seq[f->n++] = s;
	}
	return f->n;
}

/* The next batch of new events, as many as the rate allows (1..PUB_BATCH_MAX). */
static uint32_t take_new(struct pub_conn *pc, struct flight *f)
{
	const struct soak_cfg *c = pc->x->cfg;
	uint64_t next = atomic_load_explicit(&pc->p->next_seq, memory_order_relaxed);
	int64_t now = soak_now_ns();
	double burst = c->rate / 4.0 > PUB_BATCH_MAX ? c->rate / 4.0 : PUB_BATCH_MAX;
	uint32_t n = (uint32_t)soak_rng_range(pc->rng, 1, PUB_BATCH_MAX);

	/* A token bucket capped at a quarter second: after a server restart the
	 * publisher goes on at its rate instead of making up for the outage at once. */
	pc->tokens += (double)(now - pc->tokens_ns) * c->rate / 1e9;
	pc->tokens = pc->tokens > burst ? burst : pc->tokens;
	pc->tokens_ns = now;
	if (n > pc->tokens)
		n = (uint32_t)pc->tokens;
	if (next + n > c->seq_cap)
		n = (uint32_t)(c->seq_cap - next);
	for (uint32_t i = 0; i < n; i++)
		f->seq[i] = next + i;
	f->n = n;
	if ((c->inject & SOAK_INJECT_ORDER) && pc->x->idx == 0 && n > 1 &&
	    soak_rng_chance(pc->rng, 3))
		for (uint32_t i = 0; i < n / 2; i++) {	/* self-test: newest first */
			f->seq[i] = next + n - 1 - i;
			f->seq[n - 1 - i] = next + i;
		}
	pc->tokens -= n;
	/* Exists before it is sent: a SIGKILL after this resends it, never reuses it. */
	atomic_store_explicit(&pc->p->next_seq, next + n, memory_order_release);
	return n;
}

/* Puts batches on the wire while the window has room. Returns 0 or a send error. */
static int fill_window(struct pub_conn *pc)
{
	bool stop_new = atomic_load_explicit(&pc->x->sh->stop_new, memory_order_relaxed);

	while (pc->count < PUB_WINDOW) {
		struct flight *f = &pc->fl[(pc->head + pc->count) % PUB_WINDOW];
		int rc;

		bool counted = !pc->again_due;

		if (pc->again_due) {
			*f = pc->again;
			pc->again_due = false;
		} else if (!take_resend(pc, f) && (stop_new || !take_new(pc, f))) {
			return 0;
		}
		rc = send_flight(pc, f, counted);
		if (rc < 0)
			return rc;
		pc->count++;
	}
	return 0;
}

/* Records event seq's ack at (part, off). */
static void ack_event(struct pub_conn *pc, uint64_t seq, uint32_t part, uint64_t off)
{
	struct soak_pub *p = pc->p;
	struct soak_ev *e = &p->ev[seq];
	uint32_t k = soak_key_index(pc->x->idx, seq);
	int32_t was = -1;

	if (!atomic_compare_exchange_strong(&p->key_part[k], &was, (int32_t)part) &&
	    was != (int32_t)part)
		atomic_fetch_add_explicit(&p->key_moves, 1, memory_order_relaxed);
	e->partition = part;
	e->offset = off;
	if (!atomic_exchange_explicit(&e->acked, 1, memory_order_release))
		atomic_fetch_add_explicit(&p->acked, 1, memory_order_relaxed);
}

/* The ack of the oldest flight. Returns 0, or -EPROTO when it does not fit. */
static int take_ack(struct pub_conn *pc, const Fanout__V1__PublishAck *a)
{
	struct flight *f = &pc->fl[pc->head];
	uint64_t low;

	if (pc->count == 0 || a->sequence != f->wire_seq || a->n_offsets != f->n ||
	    a->n_partitions != f->n)
		return -EPROTO;
	for (uint32_t i = 0; i < f->n; i++) {
		if (a->partitions[i] >= pc->x->cfg->parts)
			return -EPROTO;
		ack_event(pc, f->seq[i], a->partitions[i], a->offsets[i]);
	}
	atomic_fetch_add_explicit(&pc->p->batches, 1, memory_order_relaxed);
	if ((pc->x->cfg->inject & SOAK_INJECT_DUP) && pc->x->idx == 0 &&
	    soak_rng_chance(pc->rng, 3)) {
		pc->again = *f;		/* self-test: to be sent again, uncounted */
		pc->again_due = true;
	}
	pc->head = (pc->head + 1) % PUB_WINDOW;
	pc->count--;
	low = atomic_load_explicit(&pc->p->low_unacked, memory_order_relaxed);
	while (low < atomic_load_explicit(&pc->p->next_seq, memory_order_relaxed) &&
	       atomic_load_explicit(&pc->p->ev[low].acked, memory_order_acquire))
		low++;
	atomic_store_explicit(&pc->p->low_unacked, low, memory_order_release);
	return 0;
}

/* One answer. Returns 0, or < 0 to drop the connection (its batches are resent). */
static int pub_answer(struct pub_conn *pc, const Fanout__V1__ServerMessage *m)
{
	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK) {
		if (take_ack(pc, m->publish_ack) == 0)
			return 0;
		atomic_fetch_add_explicit(&pc->p->bad_acks, 1, memory_order_relaxed);
		fprintf(stderr, "soak: publisher %u: an ack that fits no batch (sequence %llu)\n",
			pc->x->idx, (unsigned long long)m->publish_ack->sequence);
		return -EPROTO;
	}
	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
		atomic_fetch_add_explicit(&pc->p->errors, 1, memory_order_relaxed);
		fprintf(stderr, "soak: publisher %u: error %d on batch %llu: %s\n", pc->x->idx,
			m->error->code, (unsigned long long)m->error->sequence, m->error->message);
		return -EPROTO;
	}
	return 0;
}

/* True once stop_new is set and everything made is acknowledged. */
static bool drained(const struct pub_conn *pc)
{
	return atomic_load_explicit(&pc->x->sh->stop_new, memory_order_relaxed) &&
	       atomic_load_explicit(&pc->p->low_unacked, memory_order_acquire) ==
	       atomic_load_explicit(&pc->p->next_seq, memory_order_relaxed);
}

/* Publishes on one connection until it fails, the run stops, or the publisher drained. */
static void pub_conn_run(struct pub_conn *pc)
{
	pc->resend_at = atomic_load_explicit(&pc->p->low_unacked, memory_order_acquire);
	pc->resend_end = atomic_load_explicit(&pc->p->next_seq, memory_order_relaxed);
	pc->head = pc->count = 0;
	while (!atomic_load_explicit(&pc->x->sh->stop, memory_order_relaxed) && !drained(pc)) {
		Fanout__V1__ServerMessage *m = NULL;
		int rc = fill_window(pc);

		if (rc < 0)
			return;
		if (pc->count == 0) {
			soak_sleep_ms(PUB_RECV_MS / 4);
			continue;
		}
		rc = client_recv(&pc->cl, &m, PUB_RECV_MS);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return;
		rc = pub_answer(pc, m);
		client_free_msg(m);
		if (rc < 0)
			return;
	}
}

int soak_pub_main(void *arg)
{
	static struct pub_conn pc;
	const struct soak_ctx *x = arg;
	struct soak_rng rng;

	soak_rng_seed(&rng, x->cfg->seed, soak_stream(SOAK_STREAM_PUB, x->idx, x->incarnation));
	pc.x = x;
	pc.p = &x->sh->pub[x->idx];
	pc.rng = &rng;
	pc.tokens_ns = soak_now_ns();
	while (!atomic_load_explicit(&x->sh->stop, memory_order_relaxed)) {
		if (drained(&pc)) {
			atomic_store_explicit(&pc.p->drained, 1, memory_order_release);
			return 0;
		}
		if (client_connect(&pc.cl, x->cfg->addr, PUB_CONNECT_MS) < 0) {
			client_close(&pc.cl);
			soak_sleep_ms(50);
			continue;
		}
		atomic_fetch_add_explicit(&pc.p->connects, 1, memory_order_relaxed);
		pub_conn_run(&pc);
		client_close(&pc.cl);
	}
	return 0;
}
