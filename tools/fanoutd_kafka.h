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
 * Why a message is never lost: a message's offset is committed only after its batch has
 * an answer that settles it — an ack with its offset, or a final refusal (an invalid
 * event; "too old", BAD_SEQUENCE, which the server gives only for a sequence at or below
 * the oldest it forgot, so one stored before). Any other answer for any batch in the
 * window (an Error may overtake earlier acks; an ack without an offset says the event was
 * not written) sends the partition back to its oldest unanswered offset after a pause,
 * and what follows is sent again. The server remembers a producer's last PRODUCER_SLOTS
 * (96) batches; at most KAFKA_WINDOW (64) are ever unanswered, so an unstored batch is
 * still remembered (or has no record at all) when it is sent again. A server that stops
 * answering has the connection closed after KAFKA_ACK_WAIT_MS and the same happens.
 * NOT_DURABLE (--fsync batch, a failed sync) is counted and logged; the event is in the
 * log and the commit goes on. Batches of one event: a batch sent again after a restart
 * may be cut differently, and a record of another size would not match. */
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
struct kafka_stat_source;

struct fanoutd_kafka {
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	bool quiet;
	uint32_t n;
	struct kafka_source *src;	/* n */
	char socket[400];		/* where the server speaks the protocol */
	char token[128];		/* --auth required: the bootstrap token; "" = none */
	struct kafka_stat_source *stat;	/* n snapshots (tools/kafka_stat.h), refreshed
					 * every KAFKA_STAT_NS under the module's lock */
};

/* Makes a consumer per source, subscribed, and starts the thread. socket is the server's
 * Unix socket. Returns 0, or -errno with the reason on stderr. */
int fanoutd_kafka_start(struct fanoutd_kafka *k, const struct config *cfg,
			const char *socket);

/* Stops the thread: what is acknowledged is committed, the consumers leave their
 * groups. Safe on a kafka that never started. */
void fanoutd_kafka_stop(struct fanoutd_kafka *k);

/* The sources' snapshots as Prometheus text (malloc'd) and as GET /api/v1/kafka's JSON
 * (a new reference); NULL: no memory. Any thread, also during and after the stop (no
 * sources then). arg is the struct fanoutd_kafka (admin/admin.h's struct admin_ext). */
char *fanoutd_kafka_metrics(void *arg);
struct json_t *fanoutd_kafka_json(void *arg);

#endif
