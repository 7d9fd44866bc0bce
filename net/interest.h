/* net/interest.h — which subscriptions want which exact routing keys of a partition.
 * A subscription whose patterns are all exact keys registers each key here; as events are
 * appended, one lookup per event finds the few subscriptions that want it, instead of
 * every subscription scanning every event. A ck_ht in direct mode: (partition log, key
 * hash) -> the lists of the keys with that hash, each list holding its key's bytes and
 * its subscriptions. A hash only finds candidates: the key's bytes pick the list, so a key
 * that shares another's hash is never handed that key's subscriptions.
 * Single-threaded: the reactor that owns the subscriptions. Add and remove allocate
 * (control plane); find never does. */
#ifndef FANOUT_NET_INTEREST_H
#define FANOUT_NET_INTEREST_H

#include <stdint.h>
#include <ck_ht.h>

#include "core/log.h"

struct interest_list {
	struct interest_list *next;	/* a key with the same hash in the same log */
	const char *key;		/* this key's bytes (stored after subs[cap]) */
	uint32_t klen;
	uint32_t n, cap;
	void *subs[];		/* n subscriptions, in registration order */
};

struct interest {
	ck_ht_t ht;
	uint64_t keys;		/* (log, key) pairs with at least one subscription */
	uint64_t bytes;		/* the lists' memory */
};

/* Returns 0 or -ENOMEM. */
int interest_init(struct interest *in);

/* Frees the table and every list (the subscriptions themselves are not touched). */
void interest_free(struct interest *in);

/* Registers sub for key (klen bytes, hash key_hash) in log; registering twice is one
 * registration. Returns 0 or -ENOMEM. */
int interest_add(struct interest *in, const struct log *log, uint64_t key_hash,
		 const char *key, uint32_t klen, void *sub);

/* Forgets sub for key in log (nothing if it was not registered). */
void interest_remove(struct interest *in, const struct log *log, uint64_t key_hash,
		     const char *key, uint32_t klen, void *sub);

/* The lists of the keys hashing to key_hash in log (chained through next), or NULL: a
 * frame whose hash finds nothing needs its key read no further. Valid until the next add
 * or remove. */
const struct interest_list *interest_find_hash(struct interest *in, const struct log *log,
					       uint64_t key_hash);

/* Of the chain interest_find_hash returned (may be NULL), the list of key, or NULL. */
const struct interest_list *interest_match(const struct interest_list *l, const char *key,
					   uint32_t klen);

/* The subscriptions registered for key in log, or NULL. */
static inline const struct interest_list *interest_find(struct interest *in,
							const struct log *log, uint64_t key_hash,
							const char *key, uint32_t klen)
{
	return interest_match(interest_find_hash(in, log, key_hash), key, klen);
}

#endif
