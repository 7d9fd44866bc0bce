/* ingest/route.h — routing at ingest, between decoding a PublishBatch and storing it:
 * a coordination_completed event becomes one coordination_decision event per decision
 * (ingest/split.h), and every event to be stored, those included, meets the routing
 * rules (ingest/rules.h), which may give it another topic and routing key.
 *
 * publish_scan calls route_split for a batch that holds a coordination_completed (the
 * protobuf-c fallback), and publish_batch calls route_apply on each event once
 * wire_check_event has accepted it. What the publisher sent
 * maps onto what is stored, and acknowledged, in order: an ordinary event is one stored
 * event; a coordination_completed is one per decision, in the order of its decisions
 * (none for an empty list).
 *
 * Nothing here allocates after route_init: split products and keys rendered by rules live
 * in a scratch arena sized for the largest batch and reset per batch.
 * Single-threaded: the reactor that owns the publish path. rules may be replaced between
 * batches (a reload): the caller sets r->rules before each. */
#ifndef FANOUT_INGEST_ROUTE_H
#define FANOUT_INGEST_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "fanout.pb-c.h"
#include "ingest/publish.h"
#include "ingest/rules.h"

#define ROUTE_NOT_SPLIT UINT16_MAX	/* route_ctx.decision of an event stored as sent */

struct route_ctx {
	const struct rules_set *rules;	/* not owned; NULL = no rules */
	struct arena scratch;		/* split products, rendered keys; reset per batch */
	bool split;			/* this batch was expanded into the arrays below */
	Fanout__V1__Event *events[PUBLISH_BATCH_MAX];	/* the batch to store */
	/* events[i] is the publisher's events[origin[i]], or its decisions[decision[i]]. */
	uint32_t origin[PUBLISH_BATCH_MAX];
	uint16_t decision[PUBLISH_BATCH_MAX];
};

/* Sets r up with rules (NULL = none; not owned: it must outlive r's use) and maps the
 * scratch arena (a few MiB, faulted in now). Returns 0 or -ENOMEM. Start-up. */
int route_init(struct route_ctx *r, const struct rules_set *rules);

/* Unmaps the scratch arena; safe on a zeroed ctx. */
void route_free(struct route_ctx *r);

/* Starts a batch: forgets the previous one's split and rendered keys. */
void route_begin(struct route_ctx *r);

/* Expands the publisher's batch *events[0..*n): when it holds a coordination_completed,
 * *events and *n are replaced by r->events[0..m), the batch with each such event replaced
 * by its decisions; otherwise both are left as they are. m <= PUBLISH_BATCH_MAX.
 * Returns 0, or -1 with err naming the publisher's event and field (a bad
 * coordination_completed, or a batch that would store more than PUBLISH_BATCH_MAX
 * events). Resets the scratch arena: events of the previous batch are gone. */
int route_split(struct route_ctx *r, Fanout__V1__Event ***events, size_t *n,
		struct publish_error *err);

/* The index, in the publisher's batch, of stored event i (for error messages). r may be
 * NULL. */
static inline size_t route_origin(const struct route_ctx *r, size_t i)
{
	return r && r->split ? r->origin[i] : i;
}

/* Applies the routing rules to stored event i (v, accepted by wire_check_event): the
 * deciding rule's target topic and rendered key replace the view's (the topic string is
 * the rule set's, the key is in the scratch arena). Returns 0, or -1 with err
 * (INVALID_EVENT) naming the publisher's event and the rule: "events[3]: rule 'x':
 * {exchange} is empty for this event". */
int route_apply(struct route_ctx *r, struct event_view *v, size_t i, struct publish_error *err);

#endif
