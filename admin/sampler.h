/* admin/sampler.h — statistics, once a second: every partition's log tail and bytes and
 * the per-reactor delivery counters (read directly: single-writer atomics and release-
 * published tails), every live subscription (asked of the reactors), the reactors'
 * counters; rates against the previous sample. The REST stats, /metrics and fanout-top
 * read the latest sample, so a request costs no reactor any work.
 *
 * Also here, riding the same tick: the store learns of topics clients auto-created and
 * of subscriptions that started or ended; a distribution_stats row per topic is queued
 * every --stats-interval and the queue written whenever the store is up. The admin
 * thread only. */
#ifndef FANOUT_ADMIN_SAMPLER_H
#define FANOUT_ADMIN_SAMPLER_H

#include <stdbool.h>

#include "admin/admin.h"

/* Takes a sample now (and does the store chores above). */
void sampler_tick(struct admin *a);

/* The latest sample's figures for a topic, or NULL (not sampled yet). */
const struct admin_topic_sample *sampler_topic(const struct admin *a, const char *name);

/* Records every topic of the table the store does not know yet (auto-created ones).
 * Cheap when there are none. */
void sampler_store_topics(struct admin *a);

/* Marks a topic known to the store (created over REST) or forgotten (deleted). */
void sampler_topic_stored(struct admin *a, const struct topic *tp, bool stored);

/* tp is about to be destroyed: the latest sample lets go of it and of its subscriptions
 * (their rows went with the topic's, ON DELETE CASCADE), so nothing that reads the sample
 * before the next one follows a freed topic. */
void sampler_topic_forget(struct admin *a, const struct topic *tp);

/* Queues rows and writes what the store takes; at shutdown with final. */
void sampler_flush_rows(struct admin *a, bool final);

/* Frees both samples and the queue. */
void sampler_free(struct admin *a);

#endif
