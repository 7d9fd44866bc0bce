/* ingest/publish.h — accepting published events: validate each, resolve its topic and
 * partition, stamp it, encode it once as the ServerMessage subscribers will be sent, and
 * append that frame to the partition's log.
 *
 * Each partition has one writer, its owner reactor. publish_batch runs on the reactor
 * the publisher is connected to: it appends events for its own partitions and encodes
 * the others' into the batch's ticket, whose remote entries the caller hands to their
 * owners (core/xr); each owner appends them with publish_remote_apply. The batch is
 * acknowledged when the ticket's remaining count reaches zero. One publish_ctx per
 * reactor; every function runs on that reactor's thread. */
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
#define PUBLISH_APPLY_MAX 4096u		/* remote events appended per publish_release */

struct publish_error {
	Fanout__V1__ErrorCode code;
	char message[320];
};

struct route_ctx;	/* ingest/route.h */
struct publish_ticket;

/* An event for a partition another reactor owns: encoded by the publisher's reactor with
 * a placeholder offset, copied into the log and given its offset by the owner. */
struct publish_remote {
	struct publish_ticket *ticket;
	struct topic *topic;
	uint32_t partition;
	uint32_t index;			/* in the stored batch: where its offset goes */
	uint32_t len;			/* frame bytes, prefix included */
	uint32_t offset_pos;		/* where the offset's 10-byte varint sits in the frame */
	size_t at;			/* the frame's position in ticket->bytes */
	struct log_fields fields;
};

/* One batch's outcome: partitions[i] and offsets[i] of each stored event. With remote
 * events, the publisher waits until remaining is 0 (acquire), then reads the arrays:
 * owners write their entries before their release decrement. Owned by one session and
 * reused batch after batch; never freed while remaining > 0. */
struct publish_ticket {
	_Atomic uint32_t remaining;	/* remote events not yet appended */
	_Atomic int failed;		/* -errno of a remote append that failed, or 0 */
	uint32_t origin;		/* the publishing reactor: whom to wake at 0 */
	uint32_t n;			/* stored events */
	uint32_t cap;			/* entries of partitions and offsets */
	uint32_t *partitions;
	uint64_t *offsets;		/* UINT64_MAX where a remote append failed */
	struct publish_remote *remote;	/* nremote events for other reactors, in order */
	uint32_t nremote, sent, remote_cap;	/* sent: handed to their owners so far */
	uint8_t *bytes;			/* the remote events' frames */
	size_t bytes_len, bytes_cap;
};

/* Frees a ticket's arrays (remaining must be 0). */
void publish_ticket_free(struct publish_ticket *t);

struct publish_ctx {
	struct topic_table *topics;
	struct route_ctx *route;	/* split and routing rules; NULL = neither (route_init) */
	bool auto_create;
	uint32_t default_partitions;
	struct topic *resolved[PUBLISH_BATCH_MAX];	/* per event of the batch */
	struct log *touched[PUBLISH_TOUCHED_MAX];	/* logs appended to since the flush */
	uint32_t ntouched;
	uint32_t self;			/* this reactor */
	uint64_t wake;			/* reactors to wake: readers of flushed logs and
					 * publishers of released tickets (the caller clears) */
	struct publish_remote *applied[PUBLISH_APPLY_MAX];	/* appended, not released */
	uint32_t napplied;
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

/* Validates every event, then appends them all, in order (events for partitions other
 * reactors own: encoded into t->remote for the caller to hand over).
 * With ctx->route set, a coordination_completed event is first replaced by its decisions
 * and every event then meets the routing rules (ingest/route.h): n counts what the
 * publisher sent, the outputs what is stored, at most PUBLISH_BATCH_MAX events.
 * t->partitions[i], t->offsets[i] receive where stored event i landed (events[i] itself
 * when nothing was split); t->n counts stored events. Returns 0 when every event is
 * appended, 1 when t->nremote of them wait for their owners (t->remaining set), -1 on
 * error. All or nothing for bad input:
 * if any event is invalid or names a topic that cannot be used, nothing is appended, no
 * topic is created, and -1 is returned with err set. A failure part-way (disk full)
 * returns -1 with ERROR_CODE_LOG_FULL and t->n = *appended stored events standing: the
 * local ones in the log, the remote ones (t->nremote, t->remaining) still to be handed
 * over like those of a complete batch. */
int publish_batch(struct publish_ctx *ctx, Fanout__V1__Event **events, size_t n,
		  int64_t recv_ns, struct publish_ticket *t, size_t *appended,
		  struct publish_error *err);

/* The offsets of the frames appended since the last call are visible to readers once
 * this returns: each touched log's tail is published (once per batch), and the reactors
 * reading those logs are added to ctx->wake. */
void publish_flush(struct publish_ctx *ctx);

/* Owner side: appends a remote event (not yet visible: publish_flush). Call
 * publish_release before ctx->napplied reaches PUBLISH_APPLY_MAX. */
void publish_remote_apply(struct publish_ctx *ctx, struct publish_remote *r);

/* Owner side, after publish_flush: counts the applied remote events down on their
 * tickets; a ticket reaching 0 adds its publisher to ctx->wake. The entries must not be
 * touched afterwards (the publisher may reuse them at once). */
void publish_release(struct publish_ctx *ctx);

#endif
