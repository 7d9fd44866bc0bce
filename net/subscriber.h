/* net/subscriber.h — a subscription: a topic, its routing-key patterns and one log cursor
 * per partition. Sending gathers matching frames straight from log memory into iovecs
 * (adjacent frames merged into one iovec); nothing is copied or re-encoded per subscriber.
 * Single-threaded: the reactor that owns the subscriber's connection. */
#ifndef FANOUT_NET_SUBSCRIBER_H
#define FANOUT_NET_SUBSCRIBER_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/arena.h"
#include "core/budget.h"
#include "core/filter.h"
#include "core/log.h"
#include "core/pattern.h"
#include "core/topic.h"
#include "net/audit.h"
#include "net/latency.h"
#include "net/stats.h"

#define SUB_PATTERNS_MAX 64u		/* patterns per subscription */
#define SUB_MATCH_CACHE  1024u		/* routing key -> match result slots */
#define SUB_SCAN_MAX     65536u		/* index entries examined per gather */
#define SUB_SNAPSHOT_MAX (1u << 20)	/* keys a snapshot may hold */
#define SUB_SNAPSHOT_TRIES 16u		/* walks of a table that grows meanwhile */
#define SUB_RING         256u		/* offsets a routed subscription queues, at first */
#define SUB_RING_MAX     65536u		/* it grows to this (512 KiB) before it overflows
					 * and scans instead: a slow reader's backlog */
#define SUB_RING_SHIFT   54		/* ring entry: partition << 54 | offset */
#define SUB_GAPS_MAX     8u		/* retention gaps a gather records before it stops */
static_assert(TOPIC_PARTITIONS_MAX <= 1u << (64 - SUB_RING_SHIFT), "partition fits a ring entry");
static_assert((1ull << 32) % SUB_RING_MAX == 0, "free-running ring indexes wrap cleanly");
static_assert((SUB_RING & (SUB_RING - 1)) == 0 && SUB_RING <= SUB_RING_MAX, "ring sizes");

struct sub_match_slot {
	uint64_t key_hash;
	const char *key;		/* the key's bytes, in the log */
	uint32_t klen;
	uint8_t state;			/* 0 empty, 1 no match, 2 match */
};

/* One event of a snapshot: the newest of its key when the subscription began. */
struct sub_snap {
	uint32_t partition;
	uint64_t offset;
};

struct named_sub;	/* net/named.h */

/* Events retention deleted before the subscription was sent them (core/log_retain.h). */
struct sub_gap {
	uint32_t partition;
	uint64_t first, end;
};

struct subscription {
	uint32_t id;
	struct topic *topic;
	int64_t live_from_ns;		/* CLOCK_REALTIME at sub_init: frames received
					 * before are history, not timed (net/latency.h) */
	struct log_cursor *cursors;	/* topic->partitions entries */
	struct filter filter;		/* content filter, evaluated on index entries */
	struct sub_snap *snap;		/* snapshot to send before the cursors, or NULL */
	uint32_t nsnap, snap_pos, snap_cap;
	uint32_t next_part;		/* round-robin start for fairness */
	uint32_t npatterns;		/* 0 = every key */
	struct pattern *patterns;
	struct sub_match_slot *cache;	/* NULL when npatterns == 0 */
	uint32_t *key_lens;		/* !wild: patterns[i]'s length (patterns sorted like
					 * key_hashes) */
	uint64_t *key_hashes;		/* !wild: the exact keys' hashes, sorted: a frame
					 * whose key hash is not here cannot match; also
					 * what the server registers in its key index */
	uint64_t delivered;		/* frames handed to sends */
	uint64_t lag_events, lag_bytes;	/* behind the tail at the last check (worst
					 * partition) */
	uint64_t acked_offset;		/* the client's last Ack (any partition) */
	uint64_t audit_sent;		/* audit-required frames gathered: its Acks matter */
	/* Subscriptions with patterns are not scanned: the server's routing (the exact-key
	 * table, or the route cache for wildcards) hands them the offsets of their keys'
	 * events (sub_push) into a ring. They
	 * scan from the cursors only to catch up: from the start position, and after the
	 * ring overflowed (a slow reader), until they reach the tails. While on the ring,
	 * cursors[p].offset is where a scan would resume (past the last sent offset). */
	bool indexed;
	bool wild;			/* some pattern has a wildcard: routed by the route
					 * cache, not the exact-key table */
	bool scan;			/* catching up from the cursors */
	bool reseek;			/* cursors' offsets moved without a seek */
	uint64_t *ring;			/* ring_cap entries when indexed */
	uint32_t ring_head, ring_tail;	/* free-running */
	uint32_t ring_cap;		/* a power of two, SUB_RING..SUB_RING_MAX */
	struct budget *budget;		/* its memory is taken from it (NULL: unbounded) */
	uint64_t charged;		/* taken for the subscription itself (not snapshot or
					 * ring growth, which are counted by their sizes) */
	void *owner;			/* the session: who to wake */
	void *sink;			/* frames go here, not to the socket (net/sink.h) */
	const char *sink_path;		/* the ring's name (memfd:...), for logs */
	bool sink_attached;		/* a reader has come: the sink is written from now on */
	uint64_t sink_dropped;		/* frames the sink could not take */
	int64_t sink_report_ns;		/* next log line about its readers */
	struct sub_stats stats;		/* for the admin plane (net/stats.h) */
	/* Gaps the last gathers found, for the session to tell (a Gap each), in order. */
	struct sub_gap gaps[SUB_GAPS_MAX];
	uint32_t ngaps;
	/* A named subscription's durable cursor (net/named.h), and each partition's cursor
	 * offset it was last told of (the session's: net/session.c). NULL: anonymous. */
	struct named_sub *named;
	uint64_t *named_seen;
	bool named_standby;		/* a FAILOVER consumer standing by: sent nothing */
	uint8_t priority;		/* its topic's, as of its session's last refresh
					 * (session_priority_update): gathers go by it */
	_Atomic bool *named_activate;	/* set (net/named.c) when it is to take over; its
					 * own allocation: registered before sub_init */
	/* A SHARED or KEY_SHARED consumer (net/shared.h): its ring holds what it took from
	 * the subscription's dealer (sub_claimed), not what routing found; [shared_mark,
	 * ring_head) of it was gathered since the dealer was last told. */
	bool claimed;
	int shared_slot;
	uint32_t shared_mark;
	uint64_t shared_charged;	/* taken from the reactor's budget for it */
};

/* Where gathered frames go. */
struct sub_gather {
	struct iovec *iov;
	uint32_t niov, iov_max;
	size_t bytes, bytes_max;
	struct arena *arena;		/* for decoding a frame whose key is not cached */
	bool more;			/* a scan stopped at SUB_SCAN_MAX with room left: call
					 * again soon, nothing else will wake it */
	/* Instead of iovecs (a sink subscription): each frame is handed to emit, until
	 * bytes reaches bytes_max. emit returns false when the frame was not taken. */
	bool (*emit)(void *ctx, const struct log_ref *ref, uint32_t partition, uint64_t offset);
	void *emit_ctx;
	/* Audit-required frames (net/audit.h): each one gathered adds its record here
	 * (AUDIT_DELIVERED, at_ns 0; AUDIT_FAILED when emit did not take it), and the gather
	 * stops before one that finds naudit == audit_max (audit_blocked set). */
	struct audit_rec *audit;
	uint32_t naudit, audit_max;
	bool audit_blocked;
	/* The reactor's sampled receive → send times (net/latency.h): each live frame
	 * gathered is ticked, and a subscription's with priority above 0 also ticks
	 * latency_priority. NULL: none kept. */
	struct net_latency *latency, *latency_priority;
};

/* What a client asked for (the fields of a Subscribe). */
struct sub_request {
	uint32_t id;
	struct topic *topic;
	const char *const *patterns;	/* npatterns routing-key patterns; none = all */
	size_t npatterns;
	int start;			/* fanout.v1.StartPosition */
	uint64_t start_offset;
	const uint64_t *start_offsets;	/* nstart_offsets: partition p's start, for the
					 * first partitions (OFFSET only) */
	size_t nstart_offsets;
	int64_t start_time_ns;		/* TIMESTAMP only: > 0 */
	const Fanout__V1__Filter *filter;	/* NULL = none */
	bool snapshot;			/* send the newest event of each matching key first */
	struct budget *budget;		/* the reactor's: every allocation is taken from it
					 * first (NULL: none, tests) */
};

/* Sub_init's verdict on a bad request. */
enum sub_error {
	SUB_OK = 0,
	SUB_BAD_PATTERN,
	SUB_BAD_FILTER,
	SUB_TOO_LARGE,		/* snapshot over SUB_SNAPSHOT_MAX keys */
	SUB_NO_MEMORY,
	SUB_OVER_BUDGET,	/* the reactor's memory budget refused it (or its snapshot) */
	SUB_BAD_START,		/* start_offsets longer than the partitions, or without OFFSET;
				 * start_time_ns without TIMESTAMP, or TIMESTAMP without it */
};

/* What a subscription for req holds at most, snapshot and ring growth apart (taken
 * from the budget before sub_init allocates anything). */
uint64_t sub_request_bytes(const struct sub_request *req);

/* Compiles the request (control plane: allocates cursors, patterns, filter, cache and
 * snapshot, each taken from req->budget first), positions each cursor by start and, with snapshot, collects the newest event
 * of every matching key below the cursors (sent first, in offset order per partition).
 * Returns SUB_OK, or an error with *why set to a static reason. Runs on the reactor of
 * the subscriber's connection, inside its epoch section: the last-value tables it
 * iterates may belong to other reactors (core/latest.h). */
enum sub_error sub_init(struct subscription *s, const struct sub_request *req, struct arena *a,
			const char **why);

/* Frees what sub_init allocated. */
void sub_free(struct subscription *s);

/* Places every cursor at offsets[p] (clamped into its log), as if it started there:
 * what its ring held is dropped and a routed subscription scans from there. */
void sub_restart(struct subscription *s, const uint64_t *offsets);

/* True when snapshot events or frames past a cursor wait (they may not all match). */
bool sub_pending(const struct subscription *s);

/* Measures how far the subscription is behind the tails (its worst partition, in events
 * and in bytes) into lag_events and lag_bytes. */
void sub_measure_lag(struct subscription *s);

/* What sub_push did. */
enum sub_push_result {
	SUB_PUSH_IGNORED,	/* nothing new: it is scanning, or has sent this already */
	SUB_PUSH_QUEUED,	/* on the ring: wake its owner */
	SUB_PUSH_FULL,		/* the ring is full at SUB_RING_MAX (or cannot grow: memory,
				 * budget): call
				 * sub_overflow, then wake its owner */
};

/* An event of one of a routed subscription's keys was appended at partition p, offset. */
enum sub_push_result sub_push(struct subscription *s, uint32_t p, uint64_t offset);

/* The ring overflowed: the subscription goes back to scanning from, in each partition q,
 * the first offset it still owes there — its oldest offset on the ring for q, else the
 * later of its cursor and offered[q], the offset below which every frame of q was already
 * offered to it (the router's progress). Not from where its cursors last stood: frames of other keys since
 * then are not owed, and counting them as lag would cut a healthy subscriber. */
void sub_overflow(struct subscription *s, const uint64_t *offered);

/* Records that [first, end) of partition p was deleted by retention before it was sent
 * (the session tells: a Gap), merged with the last gap when they meet. Returns false
 * when SUB_GAPS_MAX wait already (a gather then stops until the session told them). */
bool sub_note_gap(struct subscription *s, uint32_t p, uint64_t first, uint64_t end);

/* Makes the subscription take its events from its ring alone, filled by its session
 * with what a shared subscription's dealer gives it (never registered for routing,
 * never scanning). Returns 0, or -ENOMEM. */
int sub_claimed(struct subscription *s);

/* Room left on a claimed subscription's ring. */
uint32_t sub_ring_room(const struct subscription *s);

/* Puts a claimed event on the ring (sub_ring_room said there is room). */
void sub_push_claimed(struct subscription *s, uint64_t entry);

/* Whether the subscription's patterns and filter take the event at offset of
 * partition p (false too when it is not in the log). */
bool sub_wants_at(struct subscription *s, uint32_t p, uint64_t offset, struct arena *a);

/* Reads the routing key of a stored frame (a wire walk: nothing decoded; a is unused).
 * Returns 0 with *key (in the frame, not NUL-terminated) and *len, or -EINVAL for a frame
 * that is not an event. */
int sub_frame_key(const struct log_ref *ref, struct arena *a, const char **key, size_t *len);

/* True when key matches one of the subscription's patterns (none: every key). */
bool sub_key_matches(const struct subscription *s, const char *key, size_t len);

/* Appends matching frames to g until it is full or the subscription is caught up, moving
 * the cursors past everything examined. Returns the frames added. */
uint32_t sub_gather(struct subscription *s, struct sub_gather *g);

/* For a subscription that has ended (sent nothing more): finds the audit-required
 * events it still owed — those received since it began (stats.since_ns, taken before
 * its cursors were placed; an event received just before on another reactor and
 * appended after is not counted: a window of one hand-over) that it wants,
 * at or past its cursors and below end[p] in each partition p — calling owed(ctx, p,
 * offset) for each, and moves the cursors past them.
 * Examines at most max index entries; returns true once every cursor reached its end.
 * The cursors must have been re-seeked (reseek set) since the last gather. */
bool sub_audit_owed(struct subscription *s, const uint64_t *end, uint32_t max,
		    struct arena *a, void (*owed)(void *ctx, uint32_t p, uint64_t offset),
		    void *ctx);

#endif
