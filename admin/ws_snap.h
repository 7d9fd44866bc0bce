/* admin/ws_snap.h — a WebSocket subscription's snapshot: the newest event of each
 * matching key of its partitions (core/latest.h's tables) that precedes where its cursors
 * start, collected at the subscribe and sent before them, in offset order per partition,
 * as the TCP protocol's snapshot is. Bounded: WS_SNAPSHOT_MAX keys a subscription, and
 * the caller's budget of bytes over all of them. The admin thread only. */
#ifndef FANOUT_ADMIN_WS_SNAP_H
#define FANOUT_ADMIN_WS_SNAP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"

#define WS_SNAPSHOT_MAX   16384u	/* keys one snapshot holds */
#define WS_SNAPSHOT_TRIES 16u		/* walks of a table that grows meanwhile */

struct ws_sub;

struct ws_snap_entry {
	uint32_t part;			/* index into ws_sub.parts */
	uint64_t offset;
};

struct ws_snap {
	struct ws_snap_entry *e;
	uint32_t n, cap, pos;		/* pos: the next to send */
};

/* Collects s's snapshot into s->snap, taking its bytes from *budget_bytes. Returns 0,
 * -E2BIG past WS_SNAPSHOT_MAX keys, -ENOBUFS past the budget, -EAGAIN when a table kept
 * growing under the walk, or -ENOMEM (nothing held on error). */
int ws_snap_collect(struct ws_sub *s, uint64_t *budget_bytes);

/* The next snapshot event: 1 with *ref and *part_index, 0 when it is all sent (its memory
 * then given back to *budget_bytes). */
int ws_snap_next(struct ws_sub *s, struct log_ref *ref, uint32_t *part_index,
		 uint64_t *budget_bytes);

/* Frees what is left, giving it back to *budget_bytes. */
void ws_snap_free(struct ws_snap *snap, uint64_t *budget_bytes);

#endif
