/* admin/watch.h — several nodes on one PostgreSQL store: topics and routing rules
 * written by another node (over its REST API, or by hand in SQL) are put in force here
 * without a restart. Every WATCH_LOOK_NS the store_changes counters (schema 7, bumped
 * by triggers on every write) are read — two numbers; only when one moved are the
 * topics or the rules read whole, and the differences applied through the paths the
 * REST handlers take locally:
 *   - a stored topic this node lacks is created (topic table, settings, retention);
 *   - a topic in both gets the store's enabled, priority and retention_policy (its
 *     partition count stays the one on disk);
 *   - a topic this node saw in the store at its last look and that is gone from it now
 *     was deleted elsewhere: it is deleted here too, data and live subscriptions
 *     included (they get an Error SUBSCRIPTION_ENDED);
 *   - a local topic the store never listed (auto-created here a moment ago, or made
 *     before this node shared the store) is left alone: the sampler stores it;
 *   - the rules are rebuilt from the store and swapped in (live_rules_reload).
 * A step that cannot finish now (the store drops, deletions pending) leaves the
 * counter unapplied and is tried again at the next look. SQLite is the node's own file:
 * nothing is watched there.
 *
 * The admin thread only. */
#ifndef FANOUT_ADMIN_WATCH_H
#define FANOUT_ADMIN_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/store_tables.h"

#define WATCH_LOOK_NS (1000ll * 1000000)	/* the counters read this often */

struct admin;

struct admin_watch {
	int64_t next_ns;		/* CLOCK_MONOTONIC of the next look */
	struct store_changes seen;	/* the counters whose changes are in force */
	bool topics_seen, rules_seen;	/* false: apply at the next look, whatever they say */
	char (*known)[TOPIC_NAME_MAX + 1];	/* the store's topics at the last apply, sorted */
	uint32_t nknown;
	bool failed_logged;		/* a failed look said once until one succeeds */
	uint64_t topics_created, topics_updated, topics_deleted, rules_reloads;
};

/* The store came up and the rules (and at the first time the topics) are being read
 * now: the rules counter read before them is taken as applied; the topics are compared
 * in full at the next look. Call before the sync reads them. */
void watch_store_up(struct admin *a);

/* Looks at the counters when due and applies what changed (see above). */
void watch_poll(struct admin *a, int64_t now_ns);

/* True when name was in the store at the last look (PostgreSQL; always false on
 * SQLite): the sampler does not store such a topic again, so a topic deleted on another
 * node is not put back by this one before its next look. */
bool watch_knows(const struct admin *a, const char *name);

/* This node deleted the topic (REST): its name is no longer one the store was seen to
 * list, so a topic made here again by that name is a new one (stored, not taken for
 * one deleted elsewhere and deleted at the next look). */
void watch_forget(struct admin *a, const char *name);

void watch_free(struct admin *a);

#endif
