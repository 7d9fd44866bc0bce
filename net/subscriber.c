/* net/subscriber.c — cursors, routing-key matching and gathering frames for a send. */
#include "net/subscriber.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/probes.h"
#include "fanout.pb-c.h"

int sub_init(struct subscription *s, uint32_t id, struct topic *tp, const char *const *patterns,
	     size_t npatterns, int start, uint64_t start_offset, const char **why)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->topic = tp;
	if (npatterns > SUB_PATTERNS_MAX) {
		*why = "more than 64 patterns";
		return -EINVAL;
	}
	s->cursors = calloc(tp->partitions, sizeof(*s->cursors));
	if (npatterns) {
		s->patterns = calloc(npatterns, sizeof(*s->patterns));
		s->cache = calloc(SUB_MATCH_CACHE, sizeof(*s->cache));
	}
	if (!s->cursors || (npatterns && (!s->patterns || !s->cache))) {
		sub_free(s);
		*why = "out of memory";
		return -ENOMEM;
	}
	for (size_t i = 0; i < npatterns; i++) {
		if (pattern_compile(&s->patterns[i], patterns[i], strlen(patterns[i]), why) < 0) {
			sub_free(s);
			return -EINVAL;
		}
	}
	s->npatterns = (uint32_t)npatterns;
	for (uint32_t p = 0; p < tp->partitions; p++) {
		const struct log *log = tp->part[p].log;
		uint64_t at = log_tail(log);

		if (start == FANOUT__V1__START_POSITION__START_POSITION_EARLIEST)
			at = log_first(log);
		else if (start == FANOUT__V1__START_POSITION__START_POSITION_OFFSET)
			at = start_offset;
		log_cursor_seek(log, &s->cursors[p], at);
	}
	return 0;
}

void sub_free(struct subscription *s)
{
	free(s->cursors);
	free(s->patterns);
	free(s->cache);
	memset(s, 0, sizeof(*s));
}

bool sub_pending(const struct subscription *s)
{
	for (uint32_t p = 0; p < s->topic->partitions; p++)
		if (s->cursors[p].offset < log_tail(s->topic->part[p].log))
			return true;
	return false;
}

/* Matches a frame's routing key against the patterns. The key is read by decoding the
 * frame, once per distinct key hash while the cache holds it. */
static bool sub_match(struct subscription *s, const struct log_ref *ref, struct arena *a)
{
	struct sub_match_slot *slot = &s->cache[ref->entry->key_hash & (SUB_MATCH_CACHE - 1)];
	Fanout__V1__ServerMessage *m;
	struct frame_view fv;
	bool hit = false;

	if (slot->state && slot->key_hash == ref->entry->key_hash)
		return slot->state == 2;
	arena_reset(a);
	if (frame_parse(ref->frame, ref->len, ref->len, &fv) <= 0)
		return false;
	m = fanout__v1__server_message__unpack(&a->pb, fv.len, fv.body);
	if (m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT &&
	    m->event->distribution) {
		const char *key = m->event->distribution->routing_key;
		size_t len = strlen(key);

		for (uint32_t i = 0; i < s->npatterns && !hit; i++)
			hit = pattern_match(&s->patterns[i], key, len);
	}
	slot->key_hash = ref->entry->key_hash;
	slot->state = hit ? 2 : 1;
	return hit;
}

/* Adds a frame to the gather, merged into the last iovec when adjacent in memory.
 * Returns false (nothing added) when the gather is full. */
static bool sub_gather_add(struct sub_gather *g, const struct log_ref *ref)
{
	struct iovec *last = g->niov ? &g->iov[g->niov - 1] : NULL;

	if (g->bytes + ref->len > g->bytes_max && g->bytes > 0)
		return false;
	if (last && (const uint8_t *)last->iov_base + last->iov_len == ref->frame) {
		last->iov_len += ref->len;
	} else {
		if (g->niov == g->iov_max)
			return false;
		g->iov[g->niov].iov_base = (void *)ref->frame;
		g->iov[g->niov].iov_len = ref->len;
		g->niov++;
	}
	g->bytes += ref->len;
	return true;
}

/* Gathers from one partition; returns frames added, sets *full when g has no room. */
static uint32_t sub_gather_part(struct subscription *s, uint32_t p, struct sub_gather *g,
				uint32_t *scanned, bool *full)
{
	const struct log *log = s->topic->part[p].log;
	struct log_cursor *cur = &s->cursors[p];
	struct log_ref ref;
	uint32_t added = 0;

	while (*scanned < SUB_SCAN_MAX && log_cursor_peek(log, cur, &ref) == 0) {
		(*scanned)++;
		if (s->npatterns == 0 || sub_match(s, &ref, g->arena)) {
			if (!sub_gather_add(g, &ref)) {
				*full = true;
				return added;
			}
			added++;
		}
		log_cursor_next(cur);
	}
	return added;
}

uint32_t sub_gather(struct subscription *s, struct sub_gather *g)
{
	uint32_t parts = s->topic->partitions, added = 0, scanned = 0;
	bool full = false;

	for (uint32_t i = 0; i < parts && !full && scanned < SUB_SCAN_MAX; i++) {
		uint32_t p = (s->next_part + i) % parts;

		added += sub_gather_part(s, p, g, &scanned, &full);
	}
	s->next_part = (s->next_part + 1) % parts;
	s->delivered += added;
	if (added)
		PROBE_ROUTE(s->id, added);
	return added;
}
