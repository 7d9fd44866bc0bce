/* ingest/event_view.h — one published event as ingest sees it: the fields validation,
 * routing rules, partitioning and the sidecar index read, as (pointer, length) views into
 * the event's wire bytes, plus where in those bytes lie the parts the stored frame keeps.
 * Filled by ingest/wire_scan.c without copying or allocating; read by ingest/publish.c,
 * ingest/rules.c and ingest/event_encode.c. A leaf: it includes nothing of ingest/.
 *
 * Strings are exactly the bytes sent: wire_scan has checked them (valid UTF-8, no NUL),
 * so they are never cut short, but they are not NUL-terminated: use .len. */
#ifndef FANOUT_INGEST_EVENT_VIEW_H
#define FANOUT_INGEST_EVENT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"

/* A string inside the event's bytes (or the rule set's, or route scratch, after a rule). */
struct wire_str {
	const char *p;
	uint32_t len;
};

/* Event.payload: the field number of the payload the event carries. */
enum event_payload {
	EVENT_PAYLOAD_NONE = 0,
	EVENT_PAYLOAD_MARKET_DATA = 10,
	EVENT_PAYLOAD_DECISION = 11,
	EVENT_PAYLOAD_EXECUTION = 12,
	EVENT_PAYLOAD_COMPLETED = 13,	/* split into decisions at ingest, never stored */
};

struct event_view {
	/* The Event message's bytes. The stored frame keeps, in this order: [0, pre_end)
	 * (event_id), the server's timestamp, data_type and distribution, [mid_start,
	 * mid_end) (metadata), the receive time, [post_start, len) (payload and fields this
	 * server does not know). Everything else is the server's to write. */
	const uint8_t *bytes;
	uint32_t len;
	uint32_t pre_end, mid_start, mid_end, post_start;
	/* Distribution fields kept as sent: target_workflows, priority, delivery guarantee
	 * and unknown fields (numbers 5 and up), contiguous. */
	const uint8_t *dist_tail;
	uint32_t dist_tail_len;

	/* Values. Strings absent on the wire are empty (len 0, p not NULL). */
	struct wire_str event_id, topic, routing_key;
	struct wire_str source_service, meta_venue;	/* metadata */
	struct wire_str symbol, exchange, currency;	/* market_data */
	struct wire_str kind;				/* market_data: "trade", "quote", ... */
	struct wire_str instrument_id;			/* decision | execution */
	struct wire_str action, decision_id;		/* coordination_decision */
	struct wire_str order_id, exec_venue;		/* execution */
	struct wire_str portfolio_id;			/* execution */
	int64_t timestamp_ns;
	uint32_t data_type;		/* as sent (0 = unspecified); publish fills it in */
	uint32_t priority;		/* distribution.priority */
	uint32_t delivery_guarantee;
	uint32_t exec_data_type;	/* execution.execution_data_type */
	uint32_t n_workflows, n_flags, n_reasoning;	/* repeated strings, for bounds */
	uint8_t payload;		/* enum event_payload */
	bool has_distribution;
	bool fallback;			/* coordination_completed: split first (wire_scan.h) */
	bool reorder;			/* fields out of order: put in order first */
	bool latency_sensitive, audit_required;
	double price;			/* index price: market/execution price, decision confidence */
	double volume;			/* index volume: market volume, execution/decision quantity */
};

static inline bool wire_str_eq(struct wire_str s, const char *c, size_t len)
{
	return s.len == len && memcmp(s.p, c, len) == 0;
}

/* The sidecar index fields of an accepted event (data_type filled), received at recv_ns:
 * what filters and rule conditions read without decoding the frame. Pure; any thread. */
void event_view_fields(const struct event_view *v, int64_t recv_ns, struct log_fields *f);

#endif
