/* core/topic_quota.h — how many topics one connection may create, and how fast: a count
 * (--max-topics-per-connection) and a rate (--topic-create-rate, topics a second, taken
 * as a burst of that many and then that many a second: a generic cell rate algorithm,
 * one timestamp). Every topic costs the server memory, descriptors and mappings for as
 * long as it exists (core/headroom.h), so no single client may make them at will.
 * One per connection; single-threaded: the connection's reactor. */
#ifndef FANOUT_CORE_TOPIC_QUOTA_H
#define FANOUT_CORE_TOPIC_QUOTA_H

#include <stdint.h>

struct topic_quota {
	uint32_t created;	/* topics this connection made */
	uint32_t max;		/* 0 = no bound */
	uint32_t rate;		/* topics a second; 0 = no bound */
	int64_t tat_ns;		/* when the next creation is due at the steady rate */
};

/* Sets a quota up for a new connection. */
void topic_quota_init(struct topic_quota *q, uint32_t max, uint32_t rate);

/* Asks to create one topic at now_ns (CLOCK_MONOTONIC). Returns 0 and counts it, or
 * -EDQUOT when the connection has made max topics, or -EAGAIN when it makes them faster
 * than rate (nothing counted); *why then says so in a sentence (static). */
int topic_quota_take(struct topic_quota *q, int64_t now_ns, const char **why);

/* Gives back a creation that did not happen (the topic existed after all, or its
 * creation failed). */
void topic_quota_undo(struct topic_quota *q);

#endif
