/* net/shared.h — SHARED and KEY_SHARED named subscriptions: one dealer state per
 * subscription, which its consumers, on any reactors, deal from under its mutex.
 *
 * Per partition, the events [base, next) were dealt to consumers; every event below base
 * is acked. An event is dealt to one consumer at a time and acked individually. A
 * consumer holds at most SHARED_PERMITS unacked events, a partition a window (up to
 * SHARED_WINDOW, fewer on a topic of many partitions) from its oldest unacked one: a
 * consumer that acks nothing stops its partition there (until its ack timeout or its
 * going puts them back), never the server's memory; each consumer's reactor budget is
 * charged its queue and the windows (shared_consumer_bytes).
 *
 * Dealing: whenever a consumer takes (each flush of its session), the events appended
 * since are dealt. SHARED: round robin over the consumers with permits left, in runs of
 * SHARED_RUN consecutive events (runs keep sends' frames adjacent in memory). KEY_SHARED:
 * each event to the consumer owning its key's hash range (the hash space split evenly
 * over the consumers in arrival order); one whose owner has no permits stops its
 * partition. When consumers come or go, ranges move: an event whose key still has events
 * in flight at another consumer than its new owner waits (and its partition behind it)
 * until those are acked or put back, so per-key order holds.
 *
 * An event goes back (to be dealt again, first and in offset order) when its consumer
 * goes, or, with an ack timeout, is not acked within it after it was sent (or dealt,
 * while still in the consumer's queue). Each event's sends are counted exactly while the
 * subscription has a consumer; the durable file (net/named.h) keeps base and that
 * [base, next) was sent, written as events are sent, so a subscription resumed after its
 * last consumer went (or a server restart) sends those again, marked sent. Retention
 * cutting below base drops what was dealt there (shared.c, shared_cut). */
#ifndef FANOUT_NET_SHARED_H
#define FANOUT_NET_SHARED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/topic.h"

#define SHARED_WINDOW   8192u	/* events per partition from its oldest unacked one, at
				 * most: a topic of many partitions gets fewer each */
#define SHARED_WINDOW_MIN 64u
#define SHARED_WINDOW_TOTAL 65536u	/* over a subscription's partitions (1.5 MiB) */
#define SHARED_PERMITS  1024u	/* unacked events per consumer (its queue's size) */
#define SHARED_RUN      16u	/* SHARED: consecutive events dealt to one consumer */
#define SHARED_CONSUMERS_MAX 64u
#define SHARED_SHIFT    54	/* a taken entry: partition << SHARED_SHIFT | offset */
static_assert((SHARED_WINDOW & (SHARED_WINDOW - 1)) == 0, "window is a power of two");
static_assert((SHARED_PERMITS & (SHARED_PERMITS - 1)) == 0, "queue is a power of two");
static_assert(SHARED_CONSUMERS_MAX <= 64, "consumer masks are 64 bits");

enum shared_entry_state {
	SHARED_FREE = 0,	/* not dealt */
	SHARED_QUEUED,		/* dealt to a consumer, in its queue (its ack timeout runs) */
	SHARED_TAKEN,		/* on its session's ring, not sent yet (it stays there) */
	SHARED_SENT,		/* sent to it: acked, timed out or put back when it goes */
	SHARED_PENDING,		/* to be dealt again */
	SHARED_ACKED,
};

struct shared_entry {
	uint64_t key_hash;	/* KEY_SHARED: the routing key's */
	int64_t deadline_ns;	/* QUEUED, SENT with an ack timeout: when it goes back */
	uint32_t count;		/* times sent */
	uint8_t consumer;	/* QUEUED, SENT: the consumer's slot */
	uint8_t state;		/* enum shared_entry_state */
};

struct shared_part {
	struct shared_entry *win;	/* offset o at o & win_mask; NULL until dealt */
	uint64_t base, next;
	uint32_t pending;		/* PENDING entries in [base, next) */
	uint32_t max_count;		/* the most times an event of [base, next) was sent
					 * (since base last caught up with next) */
	uint64_t drain_to;		/* KEY_SHARED: events below were dealt before the last
					 * change of consumers (their keys may have moved) */
};

struct shared_consumer {
	bool used;
	uint32_t reactor;
	int64_t ack_timeout_ns;		/* 0: none */
	uint64_t *queue;		/* dealt, not taken: partition << SHARED_SHIFT | offset */
	uint32_t head, tail;		/* free-running */
	uint32_t held;			/* dealt and not acked (queued, taken or sent) */
};

/* What a consumer's session sent since its last call: entries [from, to) of its ring
 * (mask + 1 entries), free-running indexes. */
struct shared_sent {
	const uint64_t *ring;
	uint32_t mask, from, to;
};

/* A taken event sent before: redelivery notices (net/session.c). */
struct shared_taken {
	uint64_t entry;		/* partition << SHARED_SHIFT | offset */
	uint32_t count;		/* times sent before */
};

struct named_sub;

struct shared_state {
	pthread_mutex_t lock;
	struct named_sub *named;	/* the durable file it writes (net/named.h) */
	const struct topic *topic;
	bool key_shared, at_most_once;
	bool placed;			/* bases set: by the file, or the consumer that made it */
	bool creating;			/* that consumer is on its way (until it placed it) */
	uint32_t parts;
	uint32_t win_size, win_mask;	/* a partition's window: a power of two */
	struct shared_part *part;
	struct shared_consumer c[SHARED_CONSUMERS_MAX];
	uint8_t order[SHARED_CONSUMERS_MAX];	/* used slots in arrival order */
	uint32_t n;
	uint32_t rr, run;		/* SHARED: the slot dealt to last, events in its run */
	uint32_t next_part;		/* partition dealt from first, in turn */
	int64_t expire_at;		/* next scan for ack timeouts (0: none due) */
	uint64_t redelivered;		/* events dealt again (stats) */
};

/* Makes the state of a named subscription (its file mapped: resumed ones are placed from
 * it). Returns NULL out of memory. */
struct shared_state *shared_new(struct named_sub *ns, bool key_shared, bool resumed);

void shared_free(struct shared_state *st);

/* Places every partition's base at offsets[p] (the consumer that made the subscription,
 * from its start position), once: until then nothing is dealt. */
void shared_place(struct shared_state *st, const uint64_t *offsets);

/* The consumer that made the subscription failed before placing it: its other
 * consumers (now or later) start it at the tails. */
void shared_maker_failed(struct shared_state *st);

/* What a consumer costs at most, for its reactor's memory budget: its queue and the
 * subscription's windows (charged to each consumer: a bound, not a share). */
uint64_t shared_consumer_bytes(const struct shared_state *st);

/* A consumer on reactor comes: its slot, or -EBUSY at SHARED_CONSUMERS_MAX, -ENOMEM. */
int shared_join(struct shared_state *st, uint32_t reactor, int64_t ack_timeout_ns);

/* Consumer slot goes, having sent what sent says: what it held is dealt again. Returns
 * the reactors (bit mask) of consumers with something to take now. */
uint64_t shared_leave(struct shared_state *st, int slot, const struct shared_sent *sent);

/* Consumer slot takes up to max dealt events into out (partition << SHARED_SHIFT |
 * offset) after recording what it sent since the last call; wants(ctx, p, offset) says
 * whether it wants each (false: acked at once: its filter does not take it). Events sent
 * before are listed in redo (up to max; *nredo). Deals first. *wake: the reactors (bit
 * mask) of other consumers that were dealt events. Returns events taken. */
uint32_t shared_take(struct shared_state *st, int slot, const struct shared_sent *sent,
		     uint64_t *out, uint32_t max, struct shared_taken *redo, uint32_t *nredo,
		     bool (*wants)(void *ctx, uint32_t p, uint64_t offset), void *ctx,
		     int64_t now_ns, uint64_t *wake);

/* Consumer slot acks events [offset, offset + count) of partition p and each of
 * more[0..nmore): those it was sent are done with (the range is bounded by the window,
 * the list by the frame it came in). Returns the reactors (bit mask) of consumers that
 * may take more now. */
uint64_t shared_ack(struct shared_state *st, int slot, const struct shared_sent *sent,
		    uint32_t p, uint64_t offset, uint64_t count, const uint64_t *more,
		    size_t nmore, int64_t now_ns);

/* Where partition p's oldest unacked event is (stats, SubscribeResult). */
uint64_t shared_base(struct shared_state *st, uint32_t p);

/* Events consumer slot holds unacked (stats). */
uint32_t shared_held(struct shared_state *st, int slot);

#endif
