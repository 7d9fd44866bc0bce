/* admin/ws_sub.c — see ws_sub.h. */
#include "admin/ws_sub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/event_encode.h"

/* Where a new cursor starts in log, as req says. */
static uint64_t ws_sub_start(const struct log *log, const struct ws_sub_req *req)
{
	switch (req->start) {
	case WS_START_EARLIEST:
		return log_first(log);
	case WS_START_OFFSET:
		return req->start_offset;	/* clamped by log_cursor_seek */
	case WS_START_TIME:
		return log_offset_at_time(log, req->start_time_ns);
	default:
		return log_tail(log);
	}
}

int ws_sub_open(struct ws_sub **out, struct topic *const *tps, uint32_t ntp,
		struct ws_sub_req *req, uint64_t *snap_budget)
{
	int rc;
	uint32_t n = 0;
	struct ws_sub *s;

	*out = NULL;
	for (uint32_t t = 0; t < ntp; t++)
		n += tps[t]->partitions;
	if (n > WS_SUB_PARTS_MAX)
		return -E2BIG;
	s = calloc(1, sizeof(*s) + n * sizeof(s->parts[0]));
	if (!s)
		return -ENOMEM;
	s->id = req->id;
	s->npatterns = req->npatterns;
	memcpy(s->patterns, req->patterns, req->npatterns * sizeof(req->patterns[0]));
	for (uint32_t t = 0; t < ntp; t++)
		for (uint32_t p = 0; p < tps[t]->partitions; p++) {
			const struct log *log = tps[t]->part[p].log;

			if (!log)	/* quarantined: nothing to read */
				continue;
			s->parts[s->nparts] = (struct ws_part){ .tp = tps[t], .p = p };
			log_cursor_seek(log, &s->parts[s->nparts].cur, ws_sub_start(log, req));
			s->nparts++;
		}
	s->filter = req->filter;
	memset(&req->filter, 0, sizeof(req->filter));
	s->snap_budget = snap_budget;
	s->every = req->topic[0] == '\0';
	s->cap = n;
	if (req->snapshot && (rc = ws_snap_collect(s, snap_budget)) < 0) {
		ws_sub_free(s);
		return rc == -E2BIG ? -EOVERFLOW : rc;
	}
	*out = s;
	return 0;
}

int ws_sub_add_topic(struct ws_sub **sp, struct topic *tp)
{
	struct ws_sub *s = *sp;
	uint32_t n = s->nparts + tp->partitions;

	for (uint32_t i = 0; i < s->nparts; i++)
		if (s->parts[i].tp == tp)
			return 0;
	if (n > WS_SUB_PARTS_MAX)
		return -E2BIG;
	if (n > s->cap) {
		s = realloc(s, sizeof(*s) + n * sizeof(s->parts[0]));
		if (!s)
			return -ENOMEM;
		s->cap = n;
		*sp = s;
	}
	for (uint32_t p = 0; p < tp->partitions; p++) {
		const struct log *log = tp->part[p].log;

		if (!log)	/* quarantined: nothing to read */
			continue;
		s->parts[s->nparts] = (struct ws_part){ .tp = tp, .p = p };
		log_cursor_seek(log, &s->parts[s->nparts].cur, log_first(log));
		s->nparts++;
	}
	return 1;
}

void ws_sub_free(struct ws_sub *s)
{
	if (!s)
		return;
	ws_snap_free(&s->snap, s->snap_budget);
	filter_free(&s->filter);
	free(s);
}

/* The frame's routing key matches one of the patterns (or there are none). */
static bool ws_sub_key_wanted(const struct ws_sub *s, const struct log_ref *ref)
{
	const char *key;
	uint32_t klen;

	if (s->npatterns == 0)
		return true;
	if (event_frame_key(ref->frame, ref->len, &key, &klen) < 0)
		return false;
	for (uint32_t i = 0; i < s->npatterns; i++)
		if (pattern_match(&s->patterns[i], key, klen))
			return true;
	return false;
}

bool ws_sub_wants(const struct ws_sub *s, const struct log_ref *ref)
{
	return filter_match(&s->filter, ref->entry) && ws_sub_key_wanted(s, ref);
}

int ws_sub_next(struct ws_sub *s, uint32_t scan_max, uint32_t *scanned, struct log_ref *ref,
		const struct ws_part **part)
{
	uint32_t idle = 0, ip;

	if (s->snap.e && ws_snap_next(s, ref, &ip, s->snap_budget) == 1) {
		(*scanned)++;
		*part = &s->parts[ip];
		s->delivered++;
		return 1;
	}
	/* Round robin over the partitions, one event at a time: a busy partition does not
	 * starve the others. Stops after a full round with nothing ready. */
	while (scan_max > 0 && s->nparts > 0 && idle < s->nparts) {
		struct ws_part *wp = &s->parts[s->rr];
		const struct log *log = wp->tp->part[wp->p].log;
		int rc = log_cursor_peek(log, &wp->cur, ref);

		s->rr = (s->rr + 1) % s->nparts;
		if (rc == -ESTALE)	/* retention passed it: moved to log_first */
			rc = log_cursor_peek(log, &wp->cur, ref);
		if (rc < 0) {
			idle++;
			continue;
		}
		idle = 0;
		scan_max--;
		(*scanned)++;
		log_cursor_next(&wp->cur);
		if (ws_sub_wants(s, ref)) {
			*part = wp;
			s->delivered++;
			return 1;
		}
		s->skipped++;
	}
	return 0;
}

uint64_t ws_sub_lag_bytes(const struct ws_sub *s)
{
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < s->nparts; i++)
		bytes += log_bytes_behind(s->parts[i].tp->part[s->parts[i].p].log,
					  s->parts[i].cur.offset);
	return bytes;
}

uint64_t ws_sub_lag_events(const struct ws_sub *s)
{
	uint64_t events = 0;

	for (uint32_t i = 0; i < s->nparts; i++) {
		uint64_t tail = log_tail(s->parts[i].tp->part[s->parts[i].p].log);

		events += tail > s->parts[i].cur.offset ? tail - s->parts[i].cur.offset : 0;
	}
	return events;
}

bool ws_sub_drop_topic(struct ws_sub *s, const struct topic *tp)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < s->nparts; i++)
		if (s->parts[i].tp != tp)
			s->parts[k++] = s->parts[i];
	if (k == s->nparts)
		return false;
	ws_snap_free(&s->snap, s->snap_budget);
	s->nparts = k;
	s->rr = 0;
	return true;
}
