/* admin/audit.h — the distribution_audit trail (the execution seed's "complete audit
 * trail for compliance"): for every event published with metadata.audit_required, one
 * row per subscription it was delivered to or owed — `delivered` (the kernel took it, or
 * it is in the subscriber's shared-memory ring), `acked` once an Ack of that
 * subscription covers it, `failed` when the subscriber was cut (or its connection
 * closed, or an operator ended it) before it got the event — with the delivery time in
 * ms (server receive to delivery), the routing key, topic, subscription, partition and
 * offset.
 *
 * The reactors report in their audit queues (net/audit.h); the admin thread pops the
 * records, reads each event's id and routing key from the log, and keeps the rows in a
 * bounded list (AUDIT_PENDING_MAX) written to the store in transactions of
 * AUDIT_FLUSH_ROWS. While the store is down the rows go to a spill file in the data
 * directory (JSON lines, bounded by --audit-spill-bytes), written to the store in order
 * once it is back (inserts are idempotent: a replay cut short repeats nothing); rows
 * past that bound are dropped and counted (fanout_audit_dropped_rows_total), never
 * silently. The spill survives a restart. Acks are applied in order after the rows they
 * cover. The admin thread only. */
#ifndef FANOUT_ADMIN_AUDIT_H
#define FANOUT_ADMIN_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "admin/store.h"

#define AUDIT_PENDING_MAX 8192u	/* rows held in memory (~0.7 KiB each) */
#define AUDIT_FLUSH_ROWS  1000u	/* rows (and acks) per store transaction */
#define AUDIT_SPILL_FILE  "audit-spill.jsonl"
#define AUDIT_SPILL_BYTES_DEFAULT (256ull << 20)	/* --audit-spill-bytes */
#define AUDIT_EVENT_ID_BYTES 129u
#define AUDIT_KEY_BYTES      256u
#define AUDIT_TOPIC_BYTES    201u
#define AUDIT_SUB_BYTES      48u

/* One row, or (ack) one Ack to apply to a subscription's rows. */
struct audit_row {
	bool ack;			/* an Ack: sub, partition, offset (through), at_ns */
	uint8_t status;			/* enum audit_kind (net/audit.h) */
	uint32_t partition;
	uint64_t offset;
	int64_t at_ns;			/* CLOCK_REALTIME of the delivery, failure or ack */
	double delivery_ms;		/* delivered: at_ns less the event's receive time */
	char id[37];			/* the row's UUID (a replayed insert keeps it) */
	char sub[AUDIT_SUB_BYTES];	/* the subscription's REST id */
	char event_id[AUDIT_EVENT_ID_BYTES];
	char key[AUDIT_KEY_BYTES];
	char topic[AUDIT_TOPIC_BYTES];
};

struct audit_trail {
	struct audit_row *rows;		/* AUDIT_PENDING_MAX, a ring: [head, head + n) */
	uint32_t head, n;
	char spill_path[512];
	uint64_t spill_max;		/* bytes; 0 = no spill (rows past memory dropped) */
	FILE *spill;			/* open while it holds rows not in the store */
	uint64_t spill_bytes;		/* its length */
	uint64_t spill_done;		/* bytes of it the store has */
	bool drop_logged;
	/* The last event read from the log (a delivery to many subscriptions reads it once);
	 * forgotten when a topic is destroyed. */
	const void *last_topic;
	uint32_t last_partition;
	uint64_t last_offset, last_recv_ns;
	char last_event_id[AUDIT_EVENT_ID_BYTES];
	char last_key[AUDIT_KEY_BYTES];
	/* Counters (/metrics). */
	uint64_t records;		/* popped from the reactors */
	uint64_t rows_written, acks_written;	/* committed to the store */
	uint64_t rows_spilled, rows_dropped;
	uint64_t unreadable;		/* events no longer in the log (not recorded) */
	uint64_t store_errors;		/* batches the store refused (written row by row) */
	uint64_t rows_rejected;		/* rows it refused then (left out, logged) */
	uint64_t rejects_logged;	/* rows_rejected when the log last said so */
	struct audit_row *batch;	/* AUDIT_FLUSH_ROWS: spilled lines being written */
};

struct admin;

/* Prepares the trail with its spill file in data_dir (an old one is replayed later).
 * Returns 0 or -errno. */
int audit_init(struct audit_trail *t, const char *data_dir, uint64_t spill_max);
void audit_free(struct audit_trail *t);

/* Moves the reactors' records into rows, as far as there is room. Returns how many. */
uint32_t audit_collect(struct admin *a);

/* Writes what is held: the spill first (in order), then the rows; with the store down,
 * the rows go to the spill. Bounded to a few transactions. Returns true when rows are
 * still held (the caller comes back soon). */
bool audit_flush(struct admin *a);

/* Takes every record the reactors have queued, now, without the store (a topic is about
 * to be freed: records point at it; or the stop); rows past the memory are spilled. */
void audit_drain(struct admin *a);

/* Appends every held row to the spill file now (past its bound: dropped, counted). */
void audit_spill(struct admin *a);


/* The rows of event_id as JSON objects (at most limit), oldest first, into *out.
 * Returns STORE_OK or a negative enum store_rc. */
int audit_rows_json(struct store *st, const char *event_id, uint32_t limit, json_t **out);

#endif
