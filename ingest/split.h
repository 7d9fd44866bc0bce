/* ingest/split.h — the coordination engine's coordination_completed event is never stored
 * whole: at ingest it becomes one coordination_decision event per decision, each then
 * validated (publish_check) and routed (rules_apply) like any published event.
 *
 * Decision i of parent P becomes an Event with
 *   event_id            "{P.event_id}/{decision_id}"
 *   timestamp_ns        P.timestamp_ns
 *   data_type           DATA_TYPE_COORDINATION_DECISION
 *   distribution        topic, target_workflows, priority, delivery_guarantee of P's;
 *                       routing_key "{instrument_id}.decision.{action}" ("AAPL.decision.buy")
 *   metadata            P.metadata
 *   coordination_decision  a copy of the decision with coordination_id = P's
 * in the order of P's decisions. The summary is dropped. instrument_id and action are
 * used as given (no case folding) and must each be one routing-key token (no '.',
 * whitespace, '*' or '>'); a decision that cannot form its key is an error, not skipped.
 *
 * The produced structs (Event, Distribution, CoordinationDecision) and the new strings
 * (event_id, routing_key) live in the caller's arena; everything else — the decision's
 * strings, reasoning and portfolio_impact, the parent's metadata, topic and
 * target_workflows — is shared with the parent, which must outlive the produced events
 * and must not be freed with free_unpacked while they are in use. Nothing is malloc'd.
 * Single-threaded per arena: the reactor that owns the arena. */
#ifndef FANOUT_INGEST_SPLIT_H
#define FANOUT_INGEST_SPLIT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "fanout.pb-c.h"
#include "ingest/publish.h"

#define SPLIT_DECISIONS_MAX 4096u	/* decisions in one coordination_completed */

/* True when e carries a coordination_completed payload, which publish_check does not
 * accept: it must go through split_coordination first. */
bool split_needed(const Fanout__V1__Event *e);

/* Splits parent (events[index] of its batch; index only names it in errors) into
 * out[0..*n_out). The parent needs event_id (1..PUBLISH_ID_BYTES_MAX bytes), distribution,
 * data_type COORDINATION_COMPLETED or UNSPECIFIED, coordination_id (1..128 bytes), at most
 * SPLIT_DECISIONS_MAX decisions; each decision needs decision_id (1..128 bytes),
 * instrument_id (1..128 bytes) and action, each one routing-key token, and a produced
 * event_id within PUBLISH_ID_BYTES_MAX. The parent's routing_key is not used (it may be
 * empty). The topic is not checked here: publish_check checks each product.
 * An empty decisions list is valid: 0 events, *n_out = 0 (the batch then stores nothing
 * for this event).
 * Returns 0; -EINVAL with err (code INVALID_EVENT) naming the field, e.g.
 * "events[0].coordination_completed.decisions[2].instrument_id: required"; -ENOSPC when
 * the decisions do not fit in out_max (code INVALID_EVENT); -ENOMEM when the arena is
 * exhausted (code INTERNAL). On error *n_out is 0 and the arena is as it was on entry. */
int split_coordination(const Fanout__V1__Event *parent, size_t index, struct arena *a,
		       Fanout__V1__Event **out, size_t out_max, size_t *n_out,
		       struct publish_error *err);

#endif
