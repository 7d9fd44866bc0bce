/* tools/fanoutd_kafka.h — Kafka ingest for fanoutd (--kafka-brokers, --kafka-source):
 * a thread of its own consumes each source's Kafka topic (librdkafka, a consumer group)
 * and publishes every message's event to the source's fanout topic through the
 * server's own Unix socket, exactly as a local publisher does — validated, routed by
 * the rules, encoded once, stored in the log by the owning reactor.
 *
 * Exactly once: each Kafka partition publishes as an idempotent producer of its own
 * (Hello.producer_id "kafka.<group>.<topic>.<partition>"), one event per batch with
 * sequence = Kafka offset + 1, so a message sent again after a restart (its offset not
 * yet committed) is answered from the producer's records and stored nothing twice. The
 * Kafka offset is committed only once every message before it is answered (stored, or
 * refused for good), and at the latest every KAFKA_COMMIT_AT answers.
 *
 * Why a batch sent again is never lost: the server remembers a producer's last
 * PRODUCER_SLOTS (96) batches and calls one at or below the oldest it forgot "too old"
 * (BAD_SEQUENCE), which is taken here as stored. A batch refused for a while (LOG_FULL,
 * RATE_LIMITED, ...) pauses its partition, which is sought back to it and consumed
 * again after a pause; so at most KAFKA_WINDOW - 1 (63) later batches were sent past an
 * unstored one, too few to push it out of the 96 remembered. Batches of one event: a
 * batch sent again after a restart may be cut differently, and a record of another size
 * would not match. */
#ifndef FANOUT_TOOLS_FANOUTD_KAFKA_H
#define FANOUT_TOOLS_FANOUTD_KAFKA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

#define KAFKA_PARTS_MAX  256u	/* Kafka partitions per source this server serves */
#define KAFKA_WINDOW     64u	/* unanswered batches per partition */
#define KAFKA_COMMIT_AT  24u	/* acknowledged, uncommitted batches that force a commit */

struct kafka_source;

struct fanoutd_kafka {
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	bool quiet;
	uint32_t n;
	struct kafka_source *src;	/* n */
	char socket[400];		/* where the server speaks the protocol */
	char token[128];		/* --auth required: the bootstrap token; "" = none */
};

/* Makes a consumer per source, subscribed, and starts the thread. socket is the server's
 * Unix socket. Returns 0, or -errno with the reason on stderr. */
int fanoutd_kafka_start(struct fanoutd_kafka *k, const struct config *cfg,
			const char *socket);

/* Stops the thread: what is acknowledged is committed, the consumers leave their
 * groups. Safe on a kafka that never started. */
void fanoutd_kafka_stop(struct fanoutd_kafka *k);

#endif
