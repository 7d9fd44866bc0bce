/* net/producer.h — idempotent producers: a PublishBatch sent again (after a lost ack, a
 * reconnect, a server restart) is answered with the offsets it was stored at the first
 * time, and stored nothing again.
 *
 * A producer (Hello.producer_id, 1..PRODUCER_ID_MAX bytes of [A-Za-z0-9._-]) has one file,
 * DATA/producers/<id>.state, mapped shared and written with plain stores (like a named
 * subscription's cursor: a killed process leaves every completed store in the page
 * cache): the epoch in force, and PRODUCER_SLOTS batch records {epoch, sequence, receive
 * time, stored events, state} each with room for where each stored event landed
 * (offset and partition arrays).
 *
 * A batch is claimed (PENDING) before its first event is appended and recorded (DONE,
 * with its offsets) once every event is; its events carry the stamp {producer, epoch,
 * sequence, index} in the log (Event.producer, LOG_ENTRY_PRODUCER in the index). So a
 * crash between the two leaves a PENDING record and stamped events: at start-up each
 * PENDING record is settled from the logs (one pass over every partition, from
 * PRODUCER_SCAN_SLACK_NS before the oldest such record's receive time to the tail,
 * stamped entries only), and a retry appends only the events the log lacks. That is
 * what makes the record and the appends crash-atomic. (A clock stepped back by more than
 * the slack, or a hand-over delayed as long, may hide a stored event from the search:
 * its retry stores it again.)
 *
 * Records are kept for the last PRODUCER_SLOTS batches of any size; an older sequence is
 * refused (BAD_SEQUENCE: it may have been stored, its offsets are no longer known)
 * rather than stored twice. A retry of a part-stored batch merges into its record's
 * room in place: an entry only ever goes from UINT64_MAX to its offset, each an 8-byte
 * store, so a kill part-way leaves a record that is right entry by entry.
 *
 * Concurrency: the registry's mutex guards attaching (Hello), detaching and the table
 * (a producer is freed only when forgotten for a new one: no connection, nothing in
 * flight); a producer's mutex guards its records (taken twice per batch by the
 * publishing reactor: claim and record), always after the registry's when both are
 * held. A Hello for a producer bumps its generation: connections holding an older one
 * are fenced (their next publish is refused, checked under the records' mutex); their
 * batches in flight are still recorded when they finish. */
#ifndef FANOUT_NET_PRODUCER_H
#define FANOUT_NET_PRODUCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/topic.h"

#define PRODUCER_ID_MAX     64u
#define PRODUCERS_MAX       256u	/* producer files a server keeps; past it the one
					 * idle longest (no connection, nothing in flight,
					 * no batch for PRODUCER_EVICT_IDLE_NS) is
					 * forgotten for a new one */
#define PRODUCER_EVICT_IDLE_NS (600ll * 1000000000)
#define PRODUCER_SLOTS      96u		/* batch records per producer (a connection has at
					 * most 64 unanswered) */
/* Each record has room for the offsets of a batch of the largest size (8n bytes, then
 * 4n of partitions); the file is sparse and a record's room gets disk blocks as its
 * batches need them (at the claim: a full disk refuses the batch, never a store). */
#define PRODUCER_BATCH_MAX  8192u	/* ingest/publish.h's PUBLISH_BATCH_MAX */
#define PRODUCER_SLOT_BYTES (PRODUCER_BATCH_MAX * 12u)
#define PRODUCER_MAGIC      0x54534f5250464646ull	/* "FFFPROST" little-endian */
#define PRODUCER_VERSION    1u
#define PRODUCER_SCAN_SLACK_NS 10000000000ll	/* start-up: how far before the oldest
						 * unanswered batch's receive time its
						 * events are looked for */

enum producer_state { PRODUCER_FREE = 0, PRODUCER_PENDING = 1, PRODUCER_DONE = 2 };

struct producer_slot {		/* as in the file: 64 bytes */
	_Atomic uint32_t state;	/* enum producer_state, stored last */
	uint32_t n;		/* stored events of the batch */
	uint64_t epoch, sequence;
	int64_t recv_ns;	/* the receive time of the attempt being stored */
	uint32_t missing;	/* DONE: entries not stored (offset UINT64_MAX) */
	uint32_t alloc;		/* bytes of its room with disk blocks */
	uint32_t known_valid;	/* PENDING: its room holds what earlier attempts stored
				 * (sent again); else stale until the record is written */
	uint8_t reserved[20];
};

struct producer_header {	/* as in the file: one page */
	uint64_t magic;		/* written before the file gets its name */
	uint32_t version;
	uint32_t slots;
	uint64_t epoch;		/* in force */
	uint64_t floor;		/* sequences of floor_epoch at or below it were forgotten */
	uint64_t floor_epoch;
	uint32_t id_len;
	char id[PRODUCER_ID_MAX];
	uint8_t reserved[4096 - 108];
};

struct producer {
	char id[PRODUCER_ID_MAX + 1];
	uint32_t id_len;
	pthread_mutex_t lock;		/* the records */
	_Atomic uint64_t gen;		/* Hellos so far: an older one is fenced */
	int fd;				/* the file, to allocate records' room */
	struct producer_header *h;
	struct producer_slot *slot;
	uint8_t *area;			/* record i's room at area + i * PRODUCER_SLOT_BYTES */
	size_t map_len;
	uint32_t attached;		/* connections publishing as it (registry lock) */
	int64_t idle_since_ns;		/* CLOCK_REALTIME: when the last one went, or its
					 * newest batch at start-up (registry lock) */
	uint64_t settled, settled_events;	/* start-up: pending records settled, and the
						 * events found stored for them */
	/* Order: the lowest sequence of the epoch in force refused for now (producer_hold)
	 * and not sent again since; 0 = none (the lock). Batches above it are refused
	 * (PRODUCER_HELD) so none overtakes it; it is let go when that sequence is claimed
	 * again, or by a Hello. In memory only: a restart has no batch in flight. */
	uint64_t hold_epoch, hold_seq;
};

struct producer_registry {
	pthread_mutex_t lock;
	char dir[512];			/* DATA/producers */
	struct producer *p[PRODUCERS_MAX];
	uint32_t n;
	int64_t evict_idle_ns;		/* PRODUCER_EVICT_IDLE_NS (tests lower it) */
};

/* Opens the registry over data_dir/producers, loading every producer file and settling
 * its PENDING records from topics' logs (opened: start-up, before the reactors run).
 * A file that is not a producer file is refused (-EUCLEAN, named on stderr). */
int producer_registry_open(struct producer_registry *r, const char *data_dir,
			   struct topic_table *topics);

void producer_registry_close(struct producer_registry *r);

/* Checks a producer id. Returns 0, or -EINVAL with *why. */
int producer_id_check(const char *id, size_t len, const char **why);

/* Hello with a producer: finds or makes its file (made under a temporary name and
 * renamed, so a kill leaves it whole or absent). An epoch above the one in force starts
 * it (sequences begin again); below it: -ESTALE. The producer's generation is bumped
 * (older connections fenced) and *gen receives the new one, *epoch_out the epoch in
 * force. The connection counts as attached until producer_detach. Returns 0, -EINVAL
 * (id), -ESTALE, -EMFILE (PRODUCERS_MAX producers, none idle), or -errno of the file.
 * Any reactor. */
int producer_attach(struct producer_registry *r, const char *id, size_t len, uint64_t epoch,
		    struct producer **out, uint64_t *gen, uint64_t *epoch_out, const char **why);

/* The connection that attached is gone. */
void producer_detach(struct producer_registry *r, struct producer *p);

enum producer_verdict {
	PRODUCER_NEW,		/* store it (claimed: producer_record when done) */
	PRODUCER_FENCED,	/* a later Hello took the producer over */
	PRODUCER_RETRY,		/* stored before, wholly or in part: known[] says where;
				 * store the rest (claimed again unless all are known) */
	PRODUCER_IN_FLIGHT,	/* being stored for another connection */
	PRODUCER_TOO_OLD,	/* at or below what is remembered */
	PRODUCER_OTHER_SIZE,	/* stored with another number of events */
	PRODUCER_BUSY,		/* every record is a batch in flight */
	PRODUCER_NO_SPACE,	/* the disk refused the record's room */
	PRODUCER_ZERO,		/* sequence 0 */
	PRODUCER_HELD,		/* above a sequence refused for now, not sent again yet */
};

/* A batch of n stored events with this sequence, received at recv_ns, from the
 * connection whose Hello got gen (at epoch): decides, and for PRODUCER_RETRY fills
 * known[0..n) (UINT64_MAX: not stored) and known_part[0..n). *claim is the record to
 * pass to producer_record, or -1 when there is none (all known, or a refusal). */
enum producer_verdict producer_begin(struct producer *p, uint64_t gen, uint64_t epoch,
				     uint64_t sequence, uint32_t n, int64_t recv_ns,
				     uint64_t *known, uint32_t *known_part, int *claim);

/* A batch of this sequence was refused for now (it may be stored when sent again:
 * LOG_FULL, RATE_LIMITED, ...) on the connection whose Hello got gen: later sequences
 * are refused (PRODUCER_HELD) until it is claimed again, so that no batch of the
 * producer is stored before one sent ahead of it. A fenced connection's has no
 * effect, nor has a sequence the producer has forgotten (it would be refused as too
 * old when sent again). */
void producer_hold(struct producer *p, uint64_t gen, uint64_t epoch, uint64_t sequence);

/* The held sequence was answered for good (refused as bad input, too old, another
 * size, ...): it will not be stored, so the hold goes. Any other sequence: nothing. */
void producer_release(struct producer *p, uint64_t epoch, uint64_t sequence);

/* What the admin plane shows of a producer. */
struct producer_info {
	char id[PRODUCER_ID_MAX + 1];
	uint64_t epoch;
	uint32_t remembered;		/* answered batches whose offsets are kept */
	uint32_t in_flight;		/* batches being stored */
	uint64_t last_sequence;		/* highest of the epoch in force seen, 0 = none */
	uint64_t oldest_sequence;	/* lowest remembered of the epoch, 0 = none */
	uint64_t floor;			/* sequences at or below: refused as too old */
	uint64_t settled;		/* start-up: batches settled from the logs */
	uint64_t held;			/* the sequence later ones wait for, 0 = none */
};

/* Fills *out for producer i of the registry (0..r->n). Returns 0, or -ENOENT past the
 * last. Any thread. */
int producer_info_at(struct producer_registry *r, uint32_t i, struct producer_info *out);

/* Records a claimed batch once its events are appended: n entries (entries past n, and
 * those at UINT64_MAX, were not stored and are appended by a retry). n == 0 lets the
 * record go (nothing was stored: a retry stores it all). */
void producer_record(struct producer *p, int claim, uint32_t n, const uint32_t *partitions,
		     const uint64_t *offsets);

#endif
