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
#include "core/arena.h"
#include "core/budget.h"
#include "core/log.h"
#include "core/auth.h"
#include "core/topic.h"
#include "core/topic_quota.h"
#include "ingest/event_encode.h"
#include "ingest/event_view.h"
#include "ingest/ingest_error.h"
#include "ingest/wire_scan.h"

#define PUBLISH_BATCH_MAX 8192u		/* events in one PublishBatch */
#define PUBLISH_ID_BYTES_MAX WIRE_ID_BYTES_MAX	/* event_id and other identifiers */
#define PUBLISH_TOUCHED_MAX 1024u	/* logs made visible together; more flushes early */
#define PUBLISH_APPLY_MAX 4096u		/* remote events appended per publish_release */
/* What one batch may store, at most: this many times its frame, plus a margin (a
 * coordination_completed repeats its parent's fields in every decision). */
#define PUBLISH_STORE_FACTOR 4u
#define PUBLISH_STORE_SLACK (64u << 10)

struct route_ctx;	/* ingest/route.h */
struct publish_ticket;

/* An event for a partition another reactor owns: laid out by the publisher's reactor
 * (event_encode.h) but for its offset, written into the log by the owner. */
struct publish_remote {
	struct publish_ticket *ticket;
	struct topic *topic;
	uint32_t partition;
	uint32_t index;			/* in the stored batch: where its offset goes */
	uint32_t glen[EVENT_GROUPS];	/* the flat groups' lengths */
	size_t at;			/* the groups' position in ticket->bytes */
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
	uint8_t *bytes;			/* the remote events' groups */
	size_t bytes_len, bytes_cap;
	struct budget *budget;		/* the arrays' memory is taken from it (NULL: none) */
	uint64_t charged;		/* bytes taken from budget */
};

/* Frees a ticket's arrays (remaining must be 0) and gives their memory back to the
 * budget it was taken from. */
void publish_ticket_free(struct publish_ticket *t);

/* Empties a ticket for a batch that stores nothing (remaining must be 0). */
void publish_ticket_reset(struct publish_ticket *t);

struct publish_ctx {
	struct topic_table *topics;
	struct budget *budget;		/* tickets grow from it (NULL: unbounded, tests) */
	struct route_ctx *route;	/* split and routing rules; NULL = neither (route_init) */
	struct arena *decode;		/* the fallback's protobuf-c unpacking (publish_init) */
	bool auto_create;
	uint32_t default_partitions;
	struct topic_quota *quota;	/* the publishing connection's; NULL = no bound */
	uint32_t max_frame_bytes;	/* sizes the fallback's repack buffer */
	/* The batch being stored: views[0..n) (publish_scan) — scanned[] as the wire
	 * scan left it, or stored[] when events were put in order or split (their bytes in
	 * repack) — and each event's topic. */
	struct event_view *views;
	struct event_view *scanned, *stored;
	uint32_t n;
	uint8_t *repack;
	size_t repack_cap, repack_used;
	struct topic **resolved;
	struct event_parts parts;	/* the event being written */
	/* Set by the caller per batch, else NULL. stamp: an idempotent producer's, written
	 * into every stored event (index = its place in the batch). known: a batch sent
	 * again that a crash or a failure left part-stored, known[i] the offset stored
	 * event i has (UINT64_MAX: not stored) and known_part[i] its partition: those
	 * entries are answered, not appended again. */
	const struct event_stamp *stamp;
	/* Set by the caller per batch: the publishing token (core/auth.h), whose publish
	 * rights every event's topic is checked against, before and after the routing
	 * rules; NULL = no check (auth off). */
	const struct auth_token *grant;
	const uint64_t *known;
	const uint32_t *known_part;
	uint32_t skipped;		/* known entries of the batch (not appended) */
	struct log *touched[PUBLISH_TOUCHED_MAX];	/* logs appended to since the flush */
	uint32_t ntouched;
	uint32_t self;			/* this reactor */
	uint64_t wake;			/* reactors to wake: readers of flushed logs and
					 * publishers of released tickets (the caller clears) */
	struct publish_remote *applied[PUBLISH_APPLY_MAX];	/* appended, not released */
	uint32_t napplied;
	uint64_t events, batches, rejected;		/* counters */
	/* publish_flush made a tail visible (after its fence) since the caller last cleared
	 * this: readers outside the reactors are woken on it (net/server.c). */
	bool published;
	uint64_t fallbacks;				/* coordination_completed split */
	uint64_t latest_failures;			/* last-value updates lost (ENOMEM) */
};

/* Allocates (and faults in) ctx's per-batch arrays: the views, the topics, the repack
 * buffer for max_frame_bytes frames. The caller sets the other fields. decode: an arena
 * for unpacking a batch of max_frame_bytes (the reactor's frame arena). Returns 0 or
 * -ENOMEM. Start-up. */
int publish_init(struct publish_ctx *ctx, uint32_t max_frame_bytes, struct arena *decode);

/* Frees what publish_init allocated; safe on a zeroed ctx. */
void publish_free(struct publish_ctx *ctx);

/* Reads a PublishBatch's bytes into ctx->views[0..ctx->n): one wire scan (wire_scan.h);
 * an event whose fields are out of order is put in order (same bytes) and scanned
 * again, a coordination_completed split into decisions (ingest/split.c, protobuf-c) and
 * each decision scanned. The bytes must stay put until publish_batch returns.
 * *sequence receives the batch's sequence (also on most errors: what the refusal
 * answers). Returns 0, or -1 with err: MALFORMED_FRAME, FRAME_TOO_LARGE (the fallback's
 * unpack outgrew its arena), INVALID_EVENT (a string, a count, a split, or more than
 * PUBLISH_BATCH_MAX events or PUBLISH_STORE_FACTOR times the frame to store). */
int publish_scan(struct publish_ctx *ctx, const uint8_t *batch, size_t len,
		 uint64_t *sequence, struct publish_error *err);

/* Validates every event of ctx->views, then appends them all, in order (events for
 * partitions other reactors own: laid out into t->remote for the caller to hand over).
 * Each event meets the routing rules (ingest/route.h) once it is valid.
 * t->partitions[i], t->offsets[i] receive where stored event i landed; t->n counts stored
 * events. Returns 0 when every event is appended, 1 when t->nremote of them wait for
 * their owners (t->remaining set), -1 on error. All or nothing for bad input: if any event
 * is invalid or names a topic that cannot be used, nothing is appended, no topic is
 * created, and -1 is returned with err set. A failure part-way (disk full) returns -1
 * with ERROR_CODE_LOG_FULL and t->n = *appended stored events standing: the local ones in
 * the log, the remote ones (t->nremote, t->remaining) still to be handed over like those
 * of a complete batch. */
int publish_batch(struct publish_ctx *ctx, int64_t recv_ns, struct publish_ticket *t,
		  size_t *appended, struct publish_error *err);

/* A scanned batch every event of which is stored already (ctx->known, ctx->known_part:
 * an idempotent producer's batch sent again): its ticket filled from them, nothing
 * validated or appended again. Returns 0, or -1 with err (the ticket's memory). */
int publish_answer_known(struct publish_ctx *ctx, struct publish_ticket *t,
			 struct publish_error *err);

/* publish_scan, then publish_batch. */
int publish_bytes(struct publish_ctx *ctx, const uint8_t *batch, size_t len, int64_t recv_ns,
		  struct publish_ticket *t, size_t *appended, uint64_t *sequence,
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
