/* core/latest.h — a partition's last-value table: routing key -> offset of the newest
 * event with that key. It serves snapshots ("the newest event of each matching key, then
 * the live stream") and, later, REST "latest" look-ups.
 *
 * Bounded: at most keys_max keys (--latest-keys-max). A new key past that evicts the
 * least recently updated one (a doubly linked list in update order), so a snapshot then
 * misses the evicted key; its events stay in the log.
 *
 * Hashes are never identity: a key is found by its hash and told apart by its bytes,
 * compared with the key of the stored frame. Keys whose hashes collide each get their own
 * entry, under derived hashes (up to LATEST_PROBES keys per hash; past that the least
 * recently updated of them gives its entry up). A collision can cost a snapshot at most
 * that key, never show another key's event in its place.
 *
 * Concurrency: one writer (the partition's owner, at append) and readers on any reactor
 * without locks (latest_get, latest_each), inside an epoch section. A Concurrency Kit hash
 * table in direct mode maps (derived) hashes to nodes, whose offset readers load; arrays
 * the table outgrows are freed through core/epoch, nodes live until latest_free. An
 * iteration racing the writer sees each key with its old or its new offset, may see a
 * key evicted meanwhile (or the key that took its node) and miss one added meanwhile; one
 * that raced a growth of the table may have skipped or repeated keys, and says so
 * (latest_each returns false: walk again). Offsets handed out may repeat: dedupe. */
#ifndef FANOUT_CORE_LATEST_H
#define FANOUT_CORE_LATEST_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <ck_ht.h>

#include "core/log.h"

#define LATEST_KEYS_DEFAULT (1u << 18)	/* per partition; ~100 bytes of memory a key */
#define LATEST_KEYS_MAX     (1u << 26)	/* what --latest-keys-max accepts */
#define LATEST_PROBES       16u		/* keys one hash can hold apart */
#define LATEST_SLABS        26u		/* node slabs: 64 << s nodes in slab s */
#define LATEST_NONE         UINT32_MAX

#define LATEST_HEAD_BYTES   24u		/* a key's first bytes, kept in its node */

/* One cache line: a put for a key of up to LATEST_HEAD_BYTES compares it without
 * touching an older frame. */
struct latest_node {
	_Atomic uint64_t offset;	/* the key's newest event: readers load it */
	/* Writer-private. */
	uint64_t hash;			/* the key's hash */
	const char *key;		/* its bytes, in the log's memory (the newest frame) */
	uint32_t klen;
	uint32_t prev, next;		/* update order, oldest first; next links free nodes */
	uint32_t probe;			/* which derived hash holds it in the table */
	char head[LATEST_HEAD_BYTES];	/* the key's first bytes */
};
static_assert(sizeof(struct latest_node) == 64, "a node is a cache line");

struct latest {
	ck_ht_t ht;			/* derived hash -> node index */
	const struct log *log;		/* whose frames hold the keys */
	_Atomic(struct latest_node *) slabs[LATEST_SLABS];
	uint32_t keys_max;
	uint32_t nodes;			/* handed out of the slabs so far */
	uint32_t free;			/* first free node, or LATEST_NONE */
	uint32_t oldest, newest;	/* ends of the update-order list */
	uint64_t slab_bytes;		/* the slabs' memory */
	/* Counters: the writer updates them, anyone may read (/metrics, the log line). */
	_Atomic uint64_t keys;		/* distinct keys held */
	_Atomic uint64_t evictions;	/* keys dropped for keys_max (or a full probe chain) */
	_Atomic uint64_t collisions;	/* puts whose hash matched another key's */
	_Atomic uint64_t bytes;		/* memory held: nodes and the table (approximate) */
};

/* Counters of many tables summed (topic_table_latest_totals). */
struct latest_totals {
	uint64_t partitions, keys, evictions, collisions, bytes;
};

/* Adds t's counters to *sum. Any thread (relaxed loads). */
void latest_add_totals(const struct latest *t, struct latest_totals *sum);

/* Creates an empty table over log (whose frames' keys it compares), holding at most
 * keys_max (1..LATEST_KEYS_MAX) keys. Returns 0 or -ENOMEM. */
int latest_init(struct latest *t, const struct log *log, uint32_t keys_max);

/* Frees the table. Caller: the writer, readers stopped. */
void latest_free(struct latest *t);

/* Records offset as the newest event of key (klen bytes, hash key_hash), key pointing
 * into the frame at offset in the log (the table keeps the pointer: log memory lives as
 * long as the log). A new key past keys_max evicts the least recently updated. Returns 0
 * or -ENOMEM (the previous value stays). Caller: the writer. */
int latest_put(struct latest *t, uint64_t key_hash, const char *key, uint32_t klen,
	       uint64_t offset);

/* Looks up the newest published offset of key (klen bytes, hash key_hash). Returns true
 * and sets *offset when known (a key whose newest event is not yet published reads as
 * absent). Any thread, inside an epoch section. */
bool latest_get(struct latest *t, uint64_t key_hash, const char *key, uint32_t klen,
		uint64_t *offset);

/* Rebuilds the table from every frame of the log, as the appends made it (the same keys
 * evicted). Returns 0 or -ENOMEM. Caller: the writer, at start-up. */
int latest_rebuild(struct latest *t);

/* Calls fn(ctx, offset) for every key's newest offset; stops early when fn returns false.
 * Returns false when the table grew meanwhile: some keys may have been skipped or seen
 * twice. Any reactor, inside its epoch section (see above). */
bool latest_each(struct latest *t, bool (*fn)(void *ctx, uint64_t offset), void *ctx);

#endif
