/* net/egress_gate.h — what the reactors need of the Kafka egress (--kafka-egress,
 * --kafka-ack kafka): which topics are produced to Kafka, how far each partition is in
 * Kafka (topic_partition.egress_next), the bound past which kafka-ack publishes are
 * refused, and the egress counters /metrics shows.
 *
 * The egress itself is a thread of fanoutd (tools/fanoutd_egress.c) that reads the
 * topics as a subscriber through the server's Unix socket; it is the only writer of
 * egress_next and of the counters, and wakes the reactors when egress_next moves so
 * batches waiting for Kafka are answered. The reactors read egress_next (acquire) and
 * never wait on the egress: a batch that is not in Kafka yet stays in its session's
 * answer queue like a --fsync batch one. */
#ifndef FANOUT_NET_EGRESS_GATE_H
#define FANOUT_NET_EGRESS_GATE_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/topic.h"
#include "ingest/ingest_error.h"

struct net_engine;

#define EGRESS_RETRY_MS 200u	/* retry_after_ms of a refusal at the bound */

struct egress_gate {
	const struct config *cfg;	/* the egress topics, --kafka-ack, the bound */
	/* Written by the egress thread (relaxed: counters), read by the admin thread. */
	_Atomic uint64_t produced;	/* handed to librdkafka */
	_Atomic uint64_t delivered;	/* delivery reports that succeeded */
	_Atomic uint64_t failed;	/* delivery reports that failed (produced again) */
	_Atomic uint64_t restarts;	/* the egress read its topics again from their acks */
	_Atomic uint64_t pending;	/* produced, no delivery report yet (a gauge) */
	_Atomic bool kafka_down;	/* the last word from librdkafka: brokers unreachable */
	_Atomic uint64_t refused;	/* kafka-ack publishes refused at the bound (reactors) */
	struct io_uring ring;		/* the egress thread's, for MSG_RING wake-ups */
	bool have_ring;
};

/* Sets g up for cfg (nothing else is needed when it has no --kafka-egress). */
void egress_gate_init(struct egress_gate *g, const struct config *cfg);

/* Frees the wake ring. */
void egress_gate_free(struct egress_gate *g);

#define EGRESS_SUB_PREFIX "kafka-egress."	/* its named subscriptions' names */

/* Whether a named subscription is the egress's own (with --kafka-egress): it is not cut
 * for lag (--max-lag-bytes), as Kafka may be away for long; retention bounds it. */
bool egress_gate_own(const struct egress_gate *g, const char *name);

/* Whether tp is produced to Kafka (cached on the topic). Any thread. */
bool egress_gate_topic(const struct egress_gate *g, struct topic *tp);

/* Events of tp stored and not yet in Kafka, over its partitions; 0 before the egress
 * placed egress_next (egress_ready). Any thread. */
uint64_t egress_gate_lag(const struct topic *tp);

/* publish_ctx.admit for --kafka-ack kafka (arg: the gate): refuses (LOG_FULL, retry
 * after EGRESS_RETRY_MS) a batch with events for an egress topic at or past
 * --kafka-egress-lag-max events not yet in Kafka. A reactor. */
int egress_gate_admit(void *arg, struct topic *tp, struct publish_error *err);

/* Whether offset of tp's partition p is in Kafka. Any thread. */
static inline bool egress_gate_passed(const struct topic *tp, uint32_t p, uint64_t offset)
{
	/* Acquire: pairs with the egress thread's release after the delivery report. */
	return offset < atomic_load_explicit(&tp->part[p].egress_next, memory_order_acquire);
}

/* The egress thread (registered with core/epoch.h; this enters its section): partition
 * p of topic (its name) is in Kafka below next; ready marks the topic's every partition
 * placed. Returns 0, or -ENOENT when the server has no such topic. */
int egress_gate_confirm(struct net_engine *e, const char *topic, uint32_t p, uint64_t next,
			bool ready);

/* The egress thread: wakes every reactor (batches waiting for Kafka are looked at). */
void egress_gate_wake(struct net_engine *e);

#endif
