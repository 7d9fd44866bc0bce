/* tools/fanoutd_egress.h — Kafka egress for fanoutd (--kafka-egress T=K, --kafka-ack):
 * a thread of its own reads each egress topic through the server's own Unix socket, as
 * a subscriber of a named (durable) subscription "kafka-egress.<K>", and produces every
 * event to Kafka topic K with one idempotent librdkafka producer (enable.idempotence,
 * acks=all): the message key is the event's routing key (Kafka's partitioner keeps a
 * key in one partition, so its order holds), the value the Event's bytes as stored in
 * the log (not encoded again).
 *
 * At least once: a fanout partition's cursor is acked only through the events whose
 * delivery reports succeeded, all of them, in offset order. A restart (of the thread's
 * connection, or of fanoutd) resumes from that ack and produces again what was in
 * flight: Kafka may then hold those events twice (librdkafka's idempotence spans one
 * producer session only). Nothing is lost: what is not acked is produced again.
 *
 * --kafka-ack kafka: after each round of delivery reports the thread moves each
 * partition's egress_next (net/egress_gate.h) to its ack and wakes the reactors, which
 * answer the batches waiting for it. */
#ifndef FANOUT_TOOLS_FANOUTD_EGRESS_H
#define FANOUT_TOOLS_FANOUTD_EGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "net/engine.h"

#define EGRESS_WINDOW 16384u	/* events of one topic produced and not yet acked */

struct egress_topic;

struct fanoutd_egress {
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	bool quiet;
	struct net_engine *eng;		/* the gate: egress_next, counters, wake-ups */
	const struct config *cfg;
	struct rd_kafka_s *rk;		/* the producer */
	uint32_t n;
	struct egress_topic *t;		/* n */
	int wake[2];			/* librdkafka's "reports ready" pipe */
	int64_t said_ns;		/* rate-limited logging */
	uint64_t unsaid;
	bool restart;			/* a delivery failed: everything is read again */
	char socket[400];
	char token[128];
};

/* Makes the producer and starts the thread (nothing without --kafka-egress). socket is
 * the server's Unix socket. Returns 0, or -errno with the reason on stderr. */
int fanoutd_egress_start(struct fanoutd_egress *x, const struct config *cfg,
			 struct net_engine *eng, const char *socket);

/* Stops the thread: what Kafka confirms within a bounded wait is acked, the rest is
 * produced again at the next start. Safe on one that never started. */
void fanoutd_egress_stop(struct fanoutd_egress *x);

#endif
