/* admin/stats_json.h — statistics as JSON, in the shape Pulsar's admin API gives
 * (msgRateIn, msgThroughputIn, msgRateOut, msgThroughputOut, storageSize, backlogSize,
 * publishers/producerCount, subscriptions{...}, partitions{...}), from the sampler's
 * latest sample. The admin thread only. */
#ifndef FANOUT_ADMIN_STATS_JSON_H
#define FANOUT_ADMIN_STATS_JSON_H

#include <jansson.h>

#include "admin/admin.h"

/* A topic's stats; ts may be NULL (not sampled yet: zeros). */
json_t *stats_topic_json(const struct admin *a, const struct topic *tp,
			 const struct admin_topic_sample *ts);

/* ts's topic stats as JSON text, rendered on the first call after a sample and kept
 * with it (ts->stats_json, ts->stats_len): every later caller in the interval costs a
 * copy, not a build. NULL when out of memory. */
const char *stats_topic_text(const struct admin *a, struct admin_topic_sample *ts);

/* One subscription (its stats and what it is), as listings and GET show it. */
json_t *stats_sub_json(const struct admin *a, const struct admin_sub_sample *s);

/* The overview fanout-top shows: reactors, topics with rates, subscriptions by lag. */
json_t *stats_overview_json(const struct admin *a);

/* RFC 3339 for a CLOCK_REALTIME time, as a JSON string. */
json_t *stats_time_json(int64_t realtime_ns);

#endif
