/* admin/cache_keys.h — the Redis cache's contents (admin/cache.h is the connection):
 * once a sample, the seeds' keys for what changed —
 *   latest:{symbol}                   60 s   the REST /latest answer
 *   exec_status:{order_id}            1 h    the REST /status answer
 *   fills:{order_id}                  24 h   the order's fills (execution items)
 *   topic_stats:{topic}               30 s   the REST topic stats answer
 *   backpressure:{topic}:{partition}  10 s   offsets, rates, the topic's backlog
 *   subscription:{id}                 5 min  the REST subscription answer
 *   routing:{pattern}                 15 min the rules with that source pattern
 * A key is written at most once per sample however many events touched it. The admin
 * thread only. */
#ifndef FANOUT_ADMIN_CACHE_KEYS_H
#define FANOUT_ADMIN_CACHE_KEYS_H

#include "admin/admin.h"

#define CACHE_DATA_KEYS_PER_SAMPLE 20000u	/* symbols and orders written per sample */
#define CACHE_ROUTING_EVERY_S      300		/* routing keys refreshed (TTL 15 min) */

/* Writes what changed since the last sample. */
void cache_keys_sample(struct admin *a);

#endif
