/* ingest/route.c — the split of coordination_completed events and the routing rules,
 * hooked into publish_batch; products and rendered keys live in a per-batch scratch
 * arena sized once for the worst case. */
#include "ingest/route.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/pattern.h"
#include "ingest/split.h"

#define ROUTE_ALIGN(n) (((size_t)(n) + 15) & ~(size_t)15)	/* as arena_alloc */

/* What one stored event may take from the scratch arena at most: as a split product its
 * Event, Distribution and CoordinationDecision, its event_id and routing key
 * (ingest/split.c); then a key rendered by a rule. */
#define ROUTE_EVENT_BYTES_MAX							\
	(ROUTE_ALIGN(sizeof(Fanout__V1__Event)) +				\
	 ROUTE_ALIGN(sizeof(Fanout__V1__Distribution)) +			\
	 ROUTE_ALIGN(sizeof(Fanout__V1__CoordinationDecision)) +		\
	 ROUTE_ALIGN(PUBLISH_ID_BYTES_MAX + 1) +				\
	 2 * ROUTE_ALIGN(PATTERN_BYTES_MAX + 1))
#define ROUTE_SCRATCH_BYTES ((size_t)PUBLISH_BATCH_MAX * ROUTE_EVENT_BYTES_MAX)

_Static_assert(SPLIT_DECISIONS_MAX < ROUTE_NOT_SPLIT, "a decision index fits route_ctx.decision");

__attribute__((format(printf, 3, 4)))
static int route_fail(struct publish_error *err, Fanout__V1__ErrorCode code, const char *fmt,
		      ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

int route_init(struct route_ctx *r, const struct rules_set *rules)
{
	r->rules = rules;
	r->split = false;
	return arena_init(&r->scratch, ROUTE_SCRATCH_BYTES);
}

void route_free(struct route_ctx *r)
{
	if (r->scratch.base)
		arena_free(&r->scratch);
}

/* Appends the products of events[i] (or events[i] itself) to r->events[*m..). */
static int route_expand_one(struct route_ctx *r, Fanout__V1__Event *e, size_t i, size_t *m,
			    struct publish_error *err)
{
	size_t k;

	if (!split_needed(e)) {
		if (*m == PUBLISH_BATCH_MAX)
			return route_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT,
					  "events[%zu]: with the decisions of its "
					  "coordination_completed events the batch holds more "
					  "than %u events to store", i, PUBLISH_BATCH_MAX);
		r->events[*m] = e;
		r->origin[*m] = (uint32_t)i;
		r->decision[(*m)++] = ROUTE_NOT_SPLIT;
		return 0;
	}
	if (split_coordination(e, i, &r->scratch, r->events + *m, PUBLISH_BATCH_MAX - *m, &k,
			       err) < 0)
		return -1;
	for (size_t d = 0; d < k; d++) {
		r->origin[*m + d] = (uint32_t)i;
		r->decision[*m + d] = (uint16_t)d;
	}
	*m += k;
	return 0;
}

void route_begin(struct route_ctx *r)
{
	arena_reset(&r->scratch);
	r->split = false;
}

int route_split(struct route_ctx *r, Fanout__V1__Event ***events, size_t *n,
		struct publish_error *err)
{
	size_t i, m = 0;

	route_begin(r);
	for (i = 0; i < *n; i++)	/* the common case: nothing to split, nothing copied */
		if (split_needed((*events)[i]))
			break;
	if (i == *n)
		return 0;
	for (i = 0; i < *n; i++)
		if (route_expand_one(r, (*events)[i], i, &m, err) < 0)
			return -1;
	r->split = true;
	*events = r->events;
	*n = m;
	return 0;
}

int route_apply(struct route_ctx *r, struct event_view *v, size_t i, struct publish_error *err)
{
	const Fanout__V1__ErrorCode bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	struct rules_result res;
	size_t len;
	char *key;

	if (rules_apply(r->rules, v, NULL, &res) < 0) {
		if (r->split && r->decision[i] != ROUTE_NOT_SPLIT)
			return route_fail(err, bad, "events[%u].coordination_completed."
					  "decisions[%u]: %s", r->origin[i], r->decision[i],
					  res.error);
		return route_fail(err, bad, "events[%zu]: %s", route_origin(r, i), res.error);
	}
	if (!res.changed)
		return 0;
	len = strlen(res.key);
	if (!wire_str_eq(v->routing_key, res.key, len)) {
		key = arena_alloc(&r->scratch, len + 1);
		if (!key)	/* cannot happen: the arena holds a key per event */
			return route_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
					  "events[%zu]: out of scratch memory for rule '%s'",
					  route_origin(r, i), res.rule);
		memcpy(key, res.key, len + 1);
		v->routing_key = (struct wire_str){ key, (uint32_t)len };
	}
	/* The rule set's: it outlives the batch. */
	v->topic = (struct wire_str){ res.topic, (uint32_t)strlen(res.topic) };
	return 0;
}
