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
	c->tick++;	/* messages made before carry another timestamp */
}

/* Wraps the slot's event for subscription id into the slot's message buffer. */
static const char *ws_cache_wrap(struct ws_cache *c, struct ws_cache_slot *s, uint32_t id,
				 size_t *len)
{
	char *grown;

	if (ws_msg_data_wrap(s->msg, s->msg_cap, id, s->event, s->len, c->ts, len) != 0) {
		grown = realloc(s->msg, *len);	/* the event's message: a few KiB at most */
		if (!grown)
			return NULL;
		s->msg = grown;
		s->msg_cap = *len;
		if (ws_msg_data_wrap(s->msg, s->msg_cap, id, s->event, s->len, c->ts, len) != 0)
			return NULL;
	}
	s->msg_len = *len;
	s->msg_id = id;
	s->msg_tick = c->tick;
	return s->msg;
}

const char *ws_cache_data_msg(struct ws_cache *c, uint32_t id, const struct log_ref *ref,
			      size_t *len)
{
	/* Entries are 96 bytes apart: drop the low bits that never differ. */
	struct ws_cache_slot *s = &c->slot[((uintptr_t)ref->entry / sizeof(*ref->entry)) %
					   WS_CACHE_SLOTS];

	if (s->entry != ref->entry) {
		free(s->event);
		s->entry = NULL;
		s->msg_tick = 0;	/* its message was another event's */
		s->event = ws_msg_event_text(ref->frame, ref->len, &s->len);
		if (!s->event)
			return NULL;
		s->entry = ref->entry;
		c->misses++;
	} else {
		c->hits++;
	}
	if (s->msg_tick == c->tick && s->msg_id == id && c->tick) {
		*len = s->msg_len;	/* made this turn for the same id: as it is */
		return s->msg;
	}
	return ws_cache_wrap(c, s, id, len);
}

void ws_cache_clear(struct ws_cache *c, bool all)
{
	for (uint32_t i = 0; i < WS_CACHE_SLOTS; i++) {
		free(c->slot[i].event);
		c->slot[i].event = NULL;
		c->slot[i].entry = NULL;
		c->slot[i].msg_tick = 0;
		if (all) {
			free(c->slot[i].msg);
			c->slot[i].msg = NULL;
			c->slot[i].msg_cap = 0;
		}
	}
}
