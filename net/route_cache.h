/* net/route_cache.h — which wildcard subscriptions want a routing key, remembered per key.
 * A wildcard pattern cannot be looked up by key hash the way an exact key can; instead the
 * first frame of each key in a partition is decoded once, its key matched against the
 * topic's wildcard subscriptions, and the answer kept here: (partition log, key hash) ->
 * the key's bytes and the subscriptions. Every later frame of that key costs one lookup
 * and a compare of its key with the answer's: an answer is never used for another key
 * that only shares its hash (that key's answer is computed and replaces it). An answer is stamped
 * with the topic's wildcard generation, which changes whenever a wildcard subscription
 * comes or goes, so a stale answer is never used. At most ROUTE_CACHE_MAX answers are
 * (and ROUTE_CACHE_BYTES_MAX of them) kept: past that the cache starts over (memory stays bounded whatever keys arrive).
 * Single-threaded: the reactor that owns the subscriptions. Put allocates (once per key
 * and generation); get never does. */
#ifndef FANOUT_NET_ROUTE_CACHE_H
#define FANOUT_NET_ROUTE_CACHE_H

#include <stdint.h>
#include <ck_ht.h>

#include "core/log.h"

#define ROUTE_CACHE_MAX 65536u		/* answers kept */
#define ROUTE_CACHE_BYTES_MAX (64u << 20)	/* their bytes: many broad wildcards */

struct route_answer {
	uint64_t gen;		/* the topic's wildcard generation it was computed for */
	const char *key;	/* the key it answers for (klen bytes, after subs[n]) */
	uint32_t klen;
	uint32_t n;
	void *subs[];		/* the subscriptions whose patterns match the key */
};

struct route_cache {
	ck_ht_t ht;
	uint32_t count;
	uint64_t bytes;		/* of the answers kept */
	uint64_t resets;	/* times the cache was full and started over */
};

/* Returns 0 or -ENOMEM. */
int route_cache_init(struct route_cache *rc);

/* Frees every answer and the table. */
void route_cache_free(struct route_cache *rc);

/* The answer for key (klen bytes, hash key_hash) in log computed at generation gen, or
 * NULL (never computed, computed for another generation, or for another key). */
const struct route_answer *route_cache_get(struct route_cache *rc, const struct log *log,
					   uint64_t key_hash, const char *key, uint32_t klen,
					   uint64_t gen);

/* Keeps subs[0..n) as the answer for key in log at generation gen, replacing any older
 * one of its hash. Returns the stored answer, or NULL when memory ran out (the caller
 * routes this frame from subs itself; nothing is lost, the next frame tries again). */
const struct route_answer *route_cache_put(struct route_cache *rc, const struct log *log,
					   uint64_t key_hash, const char *key, uint32_t klen,
					   uint64_t gen, void *const *subs, uint32_t n);

#endif
