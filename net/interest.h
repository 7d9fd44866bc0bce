/* net/interest.h — which subscriptions want which exact routing keys of a partition.
 * A subscription whose patterns are all exact keys registers each key here; as events are
 * appended, one lookup per event finds the few subscriptions that want it, instead of
 * every subscription scanning every event. A ck_ht in direct mode: (partition log, key
 * hash) -> the list of subscriptions. Hash collisions only cost a false wake: the
 * subscription still matches the key itself before sending.
 * Single-threaded: the reactor that owns the subscriptions. Add and remove allocate
 * (control plane); find never does. */
#ifndef FANOUT_NET_INTEREST_H
#define FANOUT_NET_INTEREST_H

#include <stdint.h>
#include <ck_ht.h>

#include "core/log.h"

struct interest_list {
	uint32_t n, cap;
	void *subs[];		/* n subscriptions, in registration order */
};

struct interest {
	ck_ht_t ht;
	uint64_t keys;		/* (log, key) pairs with at least one subscription */
};

/* Returns 0 or -ENOMEM. */
int interest_init(struct interest *in);

/* Frees the table and every list (the subscriptions themselves are not touched). */
void interest_free(struct interest *in);

/* Registers sub for key_hash in log; registering twice is one registration.
 * Returns 0 or -ENOMEM. */
int interest_add(struct interest *in, const struct log *log, uint64_t key_hash, void *sub);

/* Forgets sub for key_hash in log (nothing if it was not registered). */
void interest_remove(struct interest *in, const struct log *log, uint64_t key_hash, void *sub);

/* The subscriptions registered for key_hash in log, or NULL. The list is valid until the
 * next add or remove. */
const struct interest_list *interest_find(struct interest *in, const struct log *log,
					  uint64_t key_hash);

#endif
