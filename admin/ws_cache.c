/* admin/ws_cache.c — see ws_cache.h. */
#include "admin/ws_cache.h"

#include <stdint.h>
#include <stdlib.h>

#include "admin/path.h"
#include "admin/ws_msg.h"
#include "core/clock.h"

void ws_cache_tick(struct ws_cache *c)
{
	time_format(clock_realtime_ns(), c->ts, sizeof(c->ts));
}

const char *ws_cache_data_msg(struct ws_cache *c, uint32_t id, const struct log_ref *ref,
			      size_t *len)
{
	/* Entries are 96 bytes apart: drop the low bits that never differ. */
	struct ws_cache_slot *s = &c->slot[((uintptr_t)ref->entry / sizeof(*ref->entry)) %
					   WS_CACHE_SLOTS];
	char *grown;

	if (s->entry != ref->entry) {
		free(s->event);
		s->entry = NULL;
		s->event = ws_msg_event_text(ref->frame, ref->len, &s->len);
		if (!s->event)
			return NULL;
		s->entry = ref->entry;
		c->misses++;
	} else {
		c->hits++;
	}
	if (ws_msg_data_wrap(c->msg, c->msg_cap, id, s->event, s->len, c->ts, len) == 0)
		return c->msg;
	grown = realloc(c->msg, *len);	/* the largest message so far: a few KiB */
	if (!grown)
		return NULL;
	c->msg = grown;
	c->msg_cap = *len;
	return ws_msg_data_wrap(c->msg, c->msg_cap, id, s->event, s->len, c->ts, len) == 0
	       ? c->msg : NULL;
}

void ws_cache_clear(struct ws_cache *c, bool all)
{
	if (all) {
		free(c->msg);
		c->msg = NULL;
		c->msg_cap = 0;
	}
	for (uint32_t i = 0; i < WS_CACHE_SLOTS; i++) {
		free(c->slot[i].event);
		c->slot[i].event = NULL;
		c->slot[i].entry = NULL;
	}
}
