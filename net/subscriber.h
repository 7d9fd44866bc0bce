/* net/subscriber.h — a subscription: a topic, its routing-key patterns and one log cursor
 * per partition. Sending gathers matching frames straight from log memory into iovecs
 * (adjacent frames merged into one iovec); nothing is copied or re-encoded per subscriber.
 * Single-threaded: the reactor that owns the subscriber's connection. */
#ifndef FANOUT_NET_SUBSCRIBER_H
#define FANOUT_NET_SUBSCRIBER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/pattern.h"
#include "core/topic.h"

#define SUB_PATTERNS_MAX 64u		/* patterns per subscription */
#define SUB_MATCH_CACHE  1024u		/* routing-key hash -> match result slots */
#define SUB_SCAN_MAX     65536u		/* index entries examined per gather */

struct sub_match_slot {
	uint64_t key_hash;
	uint8_t state;			/* 0 empty, 1 no match, 2 match */
};

struct subscription {
	uint32_t id;
	struct topic *topic;
	struct log_cursor *cursors;	/* topic->partitions entries */
	uint32_t next_part;		/* round-robin start for fairness */
	uint32_t npatterns;		/* 0 = every key */
	struct pattern *patterns;
	struct sub_match_slot *cache;	/* NULL when npatterns == 0 */
	uint64_t delivered;		/* frames handed to sends */
	uint64_t acked_offset;		/* the client's last Ack (any partition) */
};

/* Where gathered frames go. */
struct sub_gather {
	struct iovec *iov;
	uint32_t niov, iov_max;
	size_t bytes, bytes_max;
	struct arena *arena;		/* for decoding a frame whose key is not cached */
};

/* Allocates the subscription's cursors, patterns and cache (control plane) and positions
 * each cursor by start. patterns may be empty. Returns 0, -EINVAL with *why for a bad
 * pattern, or -ENOMEM. */
int sub_init(struct subscription *s, uint32_t id, struct topic *tp, const char *const *patterns,
	     size_t npatterns, int start, uint64_t start_offset, const char **why);

/* Frees what sub_init allocated. */
void sub_free(struct subscription *s);

/* True when some partition has frames past the cursor (they may not all match). */
bool sub_pending(const struct subscription *s);

/* Appends matching frames to g until it is full or the subscription is caught up, moving
 * the cursors past everything examined. Returns the frames added. */
uint32_t sub_gather(struct subscription *s, struct sub_gather *g);

#endif
