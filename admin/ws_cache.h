/* admin/ws_cache.h — the JSON of recently sent events, encoded once for every WebSocket
 * subscriber that sends them (a thousand subscribers of one topic cost one encoding per
 * event, not a thousand). Keyed by the event's index entry in the log, which is its
 * identity while the log is open: stored frames never change, and a topic's deletion
 * clears the cache before its logs can go (ws_cache_clear). Bounded: WS_CACHE_SLOTS
 * events, direct-mapped. The admin thread only. */
#ifndef FANOUT_ADMIN_WS_CACHE_H
#define FANOUT_ADMIN_WS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

#define WS_CACHE_SLOTS 1024u

struct ws_cache_slot {
	const struct log_entry *entry;	/* NULL: empty */
	char *event;			/* the event's JSON (admin/event_json.h) */
	size_t len;
	/* The whole data message last made of it: subscribers whose subscription has the
	 * same id (most: a connection's first is 1) share it within a turn. */
	char *msg;
	size_t msg_len, msg_cap;
	uint32_t msg_id;
	uint64_t msg_tick;		/* the turn it was made in; 0: none */
};

struct ws_cache {
	struct ws_cache_slot slot[WS_CACHE_SLOTS];
	char ts[40];			/* the messages' timestamp this turn */
	uint64_t tick;			/* turns so far (ws_cache_tick) */
	uint64_t hits, misses;
};

/* Stamps the messages of this turn with the time now. */
void ws_cache_tick(struct ws_cache *c);

/* The data message of ref for subscription id (ws_msg.h's shape), *len bytes in the
 * cache's own buffer, valid until the next call (wslay copies what it queues): made once
 * per event, id and turn. NULL when the frame holds no event (retention zeroed it) or out
 * of memory. */
const char *ws_cache_data_msg(struct ws_cache *c, uint32_t id, const struct log_ref *ref,
			      size_t *len);

/* Forgets every event (a topic is going), and with all, its buffer too (at the end). */
void ws_cache_clear(struct ws_cache *c, bool all);

#endif
