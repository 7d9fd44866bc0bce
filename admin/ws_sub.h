/* admin/ws_sub.h — a WebSocket subscription: a cursor over each partition of the topics
 * it reads, its routing-key patterns and its compiled filter, read from the admin thread
 * like any log reader (core/log.h: offsets below log_tail, acquire). It holds no copy of
 * an event: a step hands back a reference into the log. The admin thread only (topics it
 * reads are dropped through ws_sub_drop_topic before they are destroyed). */
#ifndef FANOUT_ADMIN_WS_SUB_H
#define FANOUT_ADMIN_WS_SUB_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/ws_msg.h"
#include "admin/ws_snap.h"
#include "core/log.h"
#include "core/topic.h"

#define WS_SUB_PARTS_MAX 1024u	/* partitions one subscription reads, over its topics */

struct ws_part {
	struct topic *tp;
	uint32_t p;
	struct log_cursor cur;
};

struct ws_sub {
	uint32_t id;
	uint32_t npatterns;
	struct pattern patterns[WS_PATTERNS_MAX];
	struct filter filter;
	uint64_t delivered, skipped;	/* events sent; events read and not matched */
	struct ws_snap snap;		/* sent before the cursors (ws_snap.h) */
	uint64_t *snap_budget;		/* what its snapshot's memory comes out of */
	uint32_t rr;			/* next partition to read from */
	bool every;			/* every topic: new ones join (ws_sub_add_topic) */
	uint32_t cap;			/* parts' room */
	uint32_t nparts;
	struct ws_part parts[];
};

/* A subscription to the topics tps[0..ntp) positioned as req says, with its snapshot when
 * req asks (its memory out of *snap_budget); takes req's filter (req->filter is left
 * empty). Returns 0, -ENOMEM, -E2BIG past WS_SUB_PARTS_MAX partitions, or a snapshot's
 * refusal: -EOVERFLOW past WS_SNAPSHOT_MAX keys, -ENOBUFS past the budget, -EAGAIN. */
int ws_sub_open(struct ws_sub **out, struct topic *const *tps, uint32_t ntp,
		struct ws_sub_req *req, uint64_t *snap_budget);

/* Adds tp's partitions from their first event (a subscription to every topic: one made
 * after it began holds nothing it was sent). Returns 1 when added, 0 when it reads tp
 * already, -E2BIG past WS_SUB_PARTS_MAX partitions, or -ENOMEM. *sp may move. */
int ws_sub_add_topic(struct ws_sub **sp, struct topic *tp);

/* True when the subscription wants the event: its filter and its patterns. */
bool ws_sub_wants(const struct ws_sub *s, const struct log_ref *ref);

void ws_sub_free(struct ws_sub *s);

/* The next event the subscription wants, reading at most scan_max events (*scanned counts
 * them up): 1 with *ref and *part (its cursor already past it), 0 when none is ready
 * within that. */
int ws_sub_next(struct ws_sub *s, uint32_t scan_max, uint32_t *scanned, struct log_ref *ref,
		const struct ws_part **part);

/* Frame bytes between the cursors and the tails, over every partition: how far behind. */
uint64_t ws_sub_lag_bytes(const struct ws_sub *s);

/* Events between the cursors and the tails (matching or not), over every partition. */
uint64_t ws_sub_lag_events(const struct ws_sub *s);

/* Forgets tp's partitions (it is being deleted), and what its snapshot has not sent yet
 * (its entries name partitions by index). Returns true when the subscription read tp. */
bool ws_sub_drop_topic(struct ws_sub *s, const struct topic *tp);

#endif
