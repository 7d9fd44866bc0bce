/* core/latest.h — a partition's last-value table: routing key (by its 64-bit hash) ->
 * offset of the newest event with that key. It serves snapshots ("the newest event of
 * each matching key, then the live stream") and, later, REST "latest" look-ups.
 * A Concurrency Kit hash table in direct mode: one writer (the partition's owner, at
 * append) and readers on any reactor without locks (latest_get, latest_each), inside an
 * epoch section: arrays the table outgrows are freed through core/epoch. An iteration
 * racing the writer sees each key with its old or its new offset; one that raced a growth
 * of the table may have skipped or repeated keys, and says so (latest_each returns
 * false: walk again). Two keys whose hashes collide share a slot (odds ~2^-64 a pair). */
#ifndef FANOUT_CORE_LATEST_H
#define FANOUT_CORE_LATEST_H

#include <stdbool.h>
#include <stdint.h>
#include <ck_ht.h>

#include "core/log.h"

struct latest {
	ck_ht_t ht;
	uint64_t keys;		/* distinct keys held */
};

/* Creates an empty table. Returns 0 or -ENOMEM. */
int latest_init(struct latest *t);

/* Frees the table. Caller: the writer, readers stopped. */
void latest_free(struct latest *t);

/* Records offset as the newest event of key_hash. Returns 0 or -ENOMEM (the previous
 * value stays). Caller: the writer. */
int latest_put(struct latest *t, uint64_t key_hash, uint64_t offset);

/* Looks up the newest offset of key_hash. Returns true and sets *offset when known.
 * Any thread. */
bool latest_get(struct latest *t, uint64_t key_hash, uint64_t *offset);

/* Rebuilds the table from every entry of log (no frame is decoded). Returns 0 or
 * -ENOMEM. Caller: the writer, at start-up. */
int latest_rebuild(struct latest *t, const struct log *log);

/* Calls fn(ctx, key_hash, offset) for every key; stops early when fn returns false.
 * Returns false when the table grew meanwhile: some keys may have been skipped or seen
 * twice. Any reactor, inside its epoch section (see above). */
bool latest_each(struct latest *t, bool (*fn)(void *ctx, uint64_t key_hash, uint64_t offset),
		 void *ctx);

#endif
