/* admin/ws_snap.c — see ws_snap.h. */
#include "admin/ws_snap.h"

#include <errno.h>
#include <stdlib.h>

#include "admin/ws_sub.h"
#include "core/epoch.h"
#include "core/latest.h"

struct ws_snap_ctx {
	struct ws_sub *s;
	uint32_t part;
	uint64_t *budget;
	int err;
};

static int ws_snap_grow(struct ws_snap *snap, uint64_t *budget)
{
	uint32_t cap = snap->cap ? snap->cap * 2 : 64;
	uint64_t more = (uint64_t)(cap - snap->cap) * sizeof(*snap->e);
	struct ws_snap_entry *e;

	if (cap > WS_SNAPSHOT_MAX)
		return -E2BIG;
	if (more > *budget)
		return -ENOBUFS;
	e = realloc(snap->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	*budget -= more;
	snap->e = e;
	snap->cap = cap;
	return 0;
}

/* latest_each's callback: keeps a key's newest event when it precedes the cursor and the
 * subscription wants it. */
static bool ws_snap_key(void *p, uint64_t offset)
{
	struct ws_snap_ctx *c = p;
	struct ws_sub *s = c->s;
	const struct ws_part *wp = &s->parts[c->part];
	struct log_ref ref;

	if (offset >= wp->cur.offset || log_read(wp->tp->part[wp->p].log, offset, &ref) < 0)
		return true;	/* the live stream sends it, or retention dropped it */
	if (!ws_sub_wants(s, &ref))
		return true;
	if (s->snap.n == s->snap.cap && (c->err = ws_snap_grow(&s->snap, c->budget)) < 0)
		return false;
	s->snap.e[s->snap.n++] = (struct ws_snap_entry){ .part = c->part, .offset = offset };
	return true;
}

static int ws_snap_cmp(const void *a, const void *b)
{
	const struct ws_snap_entry *x = a, *y = b;

	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorted, each event once (a walk racing the writer may meet an offset twice). */
static void ws_snap_order(struct ws_snap *snap)
{
	uint32_t out = 0;

	if (snap->n > 1)
		qsort(snap->e, snap->n, sizeof(*snap->e), ws_snap_cmp);
	for (uint32_t i = 0; i < snap->n; i++)
		if (out == 0 || ws_snap_cmp(&snap->e[out - 1], &snap->e[i]) != 0)
			snap->e[out++] = snap->e[i];
	snap->n = out;
}

/* Walks one partition's table until a walk saw it whole (a reactor may be growing it). */
static int ws_snap_part(struct ws_snap_ctx *c)
{
	const struct ws_part *wp = &c->s->parts[c->part];
	struct topic_partition *tpart = &wp->tp->part[wp->p];
	uint32_t before = c->s->snap.n;
	bool whole = false;

	if (!tpart->latest_ready)
		return 0;
	for (uint32_t tries = 0; !whole && tries < WS_SNAPSHOT_TRIES; tries++) {
		c->s->snap.n = before;
		epoch_enter();	/* the table's arrays are freed through the epoch */
		whole = latest_each(&tpart->latest, ws_snap_key, c);
		epoch_exit();
		if (c->err < 0)
			return c->err;
	}
	return whole ? 0 : -EAGAIN;
}

int ws_snap_collect(struct ws_sub *s, uint64_t *budget_bytes)
{
	struct ws_snap_ctx c = { .s = s, .budget = budget_bytes };
	int rc = 0;

	for (c.part = 0; c.part < s->nparts && rc == 0; c.part++)
		rc = ws_snap_part(&c);
	if (rc < 0) {
		ws_snap_free(&s->snap, budget_bytes);
		return rc;
	}
	ws_snap_order(&s->snap);
	return 0;
}

int ws_snap_next(struct ws_sub *s, struct log_ref *ref, uint32_t *part_index,
		 uint64_t *budget_bytes)
{
	struct ws_snap *snap = &s->snap;

	while (snap->pos < snap->n) {
		const struct ws_snap_entry *e = &snap->e[snap->pos++];
		const struct ws_part *wp = &s->parts[e->part];

		if (log_read(wp->tp->part[wp->p].log, e->offset, ref) == 0) {
			*part_index = e->part;
			return 1;
		}	/* retention took it meanwhile */
	}
	if (snap->e)	/* all sent: its memory goes back at once */
		ws_snap_free(snap, budget_bytes);
	return 0;
}

void ws_snap_free(struct ws_snap *snap, uint64_t *budget_bytes)
{
	*budget_bytes += (uint64_t)snap->cap * sizeof(*snap->e);
	free(snap->e);
	*snap = (struct ws_snap){ 0 };
}
