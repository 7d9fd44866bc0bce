/* tools/kafka_stat.h — what the Kafka sources (tools/fanoutd_kafka.c) show of themselves:
 * a snapshot per source (counts, broker state, and per assigned Kafka partition the
 * position stored through, the committed offset, the high watermark and the lag), and
 * its two renderings: Prometheus text for /metrics and JSON for GET /api/v1/kafka. The
 * Kafka thread fills snapshots; the admin thread renders them (the caller locks). */
#ifndef FANOUT_TOOLS_KAFKA_STAT_H
#define FANOUT_TOOLS_KAFKA_STAT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define KAFKA_STAT_PARTS_MAX 256u	/* fanoutd_kafka.h's KAFKA_PARTS_MAX */

struct kafka_stat_part {
	bool assigned;
	int64_t position;	/* the next offset to store (all before are answered); -1 */
	int64_t committed;	/* the group's committed offset, -1 = none yet */
	int64_t high;		/* the partition's high watermark (last fetch), -1 unknown */
};

struct kafka_stat_source {
	const char *kafka_topic, *topic, *group;	/* the configuration's: outlive it */
	uint64_t stored, refused, skipped, not_durable;
	bool brokers_down;	/* librdkafka said every broker is down; cleared by a
				 * message or a commit */
	uint32_t nparts;	/* parts[0..nparts): every partition ever assigned */
	struct kafka_stat_part parts[KAFKA_STAT_PARTS_MAX];
};

/* A partition's lag in messages: high watermark - position, or -1 when either is not
 * known (not assigned, nothing fetched yet). */
int64_t kafka_stat_lag(const struct kafka_stat_part *p);

/* The Prometheus families for n sources (fanout_kafka_*), malloc'd; NULL: no memory. */
char *kafka_stat_metrics(const struct kafka_stat_source *src, uint32_t n);

/* {"sources": [...]} for n sources (a new reference); NULL: no memory. */
json_t *kafka_stat_json(const struct kafka_stat_source *src, uint32_t n);

#endif
