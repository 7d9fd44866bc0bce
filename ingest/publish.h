/* ingest/publish.h — accepting published events: validate each, resolve its topic and
 * partition, stamp it, encode it once as the ServerMessage subscribers will be sent, and
 * append that frame to the partition's log.
 * Single-threaded: runs on the reactor that owns the partitions. */
#ifndef FANOUT_INGEST_PUBLISH_H
#define FANOUT_INGEST_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"
#include "core/log.h"
#include "core/topic.h"

#define PUBLISH_BATCH_MAX 8192u		/* events in one PublishBatch */
#define PUBLISH_ID_BYTES_MAX 128u	/* event_id and other identifiers */
#define PUBLISH_TOUCHED_MAX 1024u	/* logs made visible together; more flushes early */

struct publish_error {
	Fanout__V1__ErrorCode code;
	char message[320];
};

struct route_ctx;	/* ingest/route.h */

struct publish_ctx {
	struct topic_table *topics;
	struct route_ctx *route;	/* split and routing rules; NULL = neither (route_init) */
	bool auto_create;
	uint32_t default_partitions;
	struct topic *resolved[PUBLISH_BATCH_MAX];	/* per event of the batch */
	struct log *touched[PUBLISH_TOUCHED_MAX];	/* logs appended to since the flush */
	uint32_t ntouched;
	uint64_t events, batches, rejected;		/* counters */
	uint64_t latest_failures;			/* last-value updates lost (ENOMEM) */
};

/* Checks one event's required fields and fills data_type from the payload when it is
 * unspecified. Returns 0, or -1 with err naming the field ("events[3].distribution.topic:
 * ..."). */
int publish_check(Fanout__V1__Event *e, size_t index, struct publish_error *err);

/* Computes the sidecar index fields of an event publish_check accepted: what filters
 * (and routing-rule conditions) read without decoding it. Pure; any thread. */
void publish_fields(const Fanout__V1__Event *e, int64_t recv_ns, struct log_fields *f);

/* Validates every event, then appends them all, in order, and publishes the logs' tails.
 * With ctx->route set, a coordination_completed event is first replaced by its decisions
 * and every event then meets the routing rules (ingest/route.h): n counts what the
 * publisher sent, the outputs what is stored, at most PUBLISH_BATCH_MAX events.
 * partitions[i], offsets[i] receive where stored event i landed (events[i] itself when
 * nothing was split). All or nothing for bad input:
 * if any event is invalid or names a topic that cannot be used, nothing is appended, no
 * topic is created, and -1 is returned with err set. A log failure part-way (disk full) returns -1 with
 * ERROR_CODE_LOG_FULL and *appended events already in the log. */
int publish_batch(struct publish_ctx *ctx, Fanout__V1__Event **events, size_t n,
		  int64_t recv_ns, uint32_t *partitions, uint64_t *offsets, size_t *appended,
		  struct publish_error *err);

/* The offsets of the frames appended since the last call are visible to readers once
 * this returns: each touched log's tail is published (once per batch). */
void publish_flush(struct publish_ctx *ctx);

#endif
