/* ingest/split.c — a coordination_completed event into one coordination_decision event
 * per decision, built in the caller's arena. Validates everything first, then builds, so
 * a bad decision costs no arena space. */
#include "ingest/split.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/pattern.h"
#include "ingest/rules.h"

#define SPLIT_KEY_MIDDLE ".decision."

__attribute__((format(printf, 4, 5)))
static int split_fail(struct publish_error *err, Fanout__V1__ErrorCode code, int rc,
		      const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return rc;
}

static const char *split_str(const char *s)
{
	return s ? s : "";
}

bool split_needed(const Fanout__V1__Event *e)
{
	return e->payload_case == FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED;
}

/* A required identifier of 1..PUBLISH_ID_BYTES_MAX bytes. */
static bool split_id_ok(const char *s)
{
	size_t n = strlen(split_str(s));

	return n > 0 && n <= PUBLISH_ID_BYTES_MAX;
}

static int split_check_parent(const Fanout__V1__Event *p, size_t i, struct publish_error *err)
{
	const Fanout__V1__ErrorCode bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	const Fanout__V1__CoordinationCompleted *cc = p->coordination_completed;

	if (!split_id_ok(p->event_id))
		return split_fail(err, bad, -EINVAL, "events[%zu].event_id: required, 1..%u bytes",
				  i, PUBLISH_ID_BYTES_MAX);
	if (!p->distribution)
		return split_fail(err, bad, -EINVAL, "events[%zu].distribution: required", i);
	if (p->data_type != FANOUT__V1__DATA_TYPE__DATA_TYPE_UNSPECIFIED &&
	    p->data_type != FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_COMPLETED)
		return split_fail(err, bad, -EINVAL,
				  "events[%zu].data_type: %d does not match the payload", i,
				  (int)p->data_type);
	if (!cc || !split_id_ok(cc->coordination_id))
		return split_fail(err, bad, -EINVAL,
				  "events[%zu].coordination_completed.coordination_id: required, "
				  "1..%u bytes", i, PUBLISH_ID_BYTES_MAX);
	if (cc->n_decisions > SPLIT_DECISIONS_MAX)
		return split_fail(err, bad, -EINVAL,
				  "events[%zu].coordination_completed.decisions: %zu decisions exceed "
				  "the limit of %u", i, cc->n_decisions, SPLIT_DECISIONS_MAX);
	return 0;
}

/* One key token (instrument_id or action) of decision d. */
static int split_check_token(const char *v, size_t i, size_t d, const char *field,
			     struct publish_error *err)
{
	const Fanout__V1__ErrorCode bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	const char *why;

	if (!v[0])
		return split_fail(err, bad, -EINVAL, "events[%zu].coordination_completed."
				  "decisions[%zu].%s: required", i, d, field);
	if (rules_token_check(v, strlen(v), &why) < 0)
		return split_fail(err, bad, -EINVAL, "events[%zu].coordination_completed."
				  "decisions[%zu].%s: %s, so it cannot be one routing-key token",
				  i, d, field, why);
	return 0;
}

/* Decision d of parent p (events[i]): its fields, its event_id and routing key. */
static int split_check_decision(const Fanout__V1__Event *p, size_t i, size_t d,
				struct publish_error *err)
{
	const Fanout__V1__ErrorCode bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	const Fanout__V1__CoordinationDecision *c = p->coordination_completed->decisions[d];
	size_t id_len, key_len;
	int rc;

	if (!c)
		return split_fail(err, bad, -EINVAL,
				  "events[%zu].coordination_completed.decisions[%zu]: missing", i, d);
	if (!split_id_ok(c->decision_id))
		return split_fail(err, bad, -EINVAL, "events[%zu].coordination_completed."
				  "decisions[%zu].decision_id: required, 1..%u bytes", i, d,
				  PUBLISH_ID_BYTES_MAX);
	rc = split_check_token(split_str(c->instrument_id), i, d, "instrument_id", err);
	if (rc == 0)
		rc = split_check_token(split_str(c->action), i, d, "action", err);
	if (rc < 0)
		return rc;
	if (!split_id_ok(c->instrument_id))	/* as publish_check will require of the product */
		return split_fail(err, bad, -EINVAL, "events[%zu].coordination_completed."
				  "decisions[%zu].instrument_id: longer than %u bytes", i, d,
				  PUBLISH_ID_BYTES_MAX);
	id_len = strlen(p->event_id) + 1 + strlen(c->decision_id);
	if (id_len > PUBLISH_ID_BYTES_MAX)
		return split_fail(err, bad, -EINVAL, "events[%zu].coordination_completed."
				  "decisions[%zu].decision_id: the event_id '%s/%s' would be longer "
				  "than %u bytes", i, d, p->event_id, c->decision_id,
				  PUBLISH_ID_BYTES_MAX);
	key_len = strlen(c->instrument_id) + strlen(SPLIT_KEY_MIDDLE) + strlen(c->action);
	if (key_len > PATTERN_BYTES_MAX)
		return split_fail(err, bad, -EINVAL, "events[%zu].coordination_completed."
				  "decisions[%zu]: the routing key would be longer than %u bytes",
				  i, d, PATTERN_BYTES_MAX);
	return 0;
}

/* "a" + "sep" + "b" in the arena, or NULL. */
static char *split_join(struct arena *a, const char *x, const char *sep, const char *y)
{
	size_t lx = strlen(x), ls = strlen(sep), ly = strlen(y);
	char *s = arena_alloc(a, lx + ls + ly + 1);

	if (s) {
		memcpy(s, x, lx);
		memcpy(s + lx, sep, ls);
		memcpy(s + lx + ls, y, ly + 1);
	}
	return s;
}

/* Builds the event for decision c of parent p, or returns NULL when the arena is full. */
static Fanout__V1__Event *split_one(const Fanout__V1__Event *p,
				    const Fanout__V1__CoordinationDecision *c, struct arena *a)
{
	Fanout__V1__Event *e = arena_alloc(a, sizeof(*e));
	Fanout__V1__Distribution *dist = arena_alloc(a, sizeof(*dist));
	Fanout__V1__CoordinationDecision *dec = arena_alloc(a, sizeof(*dec));

	if (!e || !dist || !dec)
		return NULL;
	fanout__v1__event__init(e);
	fanout__v1__distribution__init(dist);
	*dec = *c;	/* shallow: strings, reasoning and portfolio_impact stay the parent's */
	dec->coordination_id = p->coordination_completed->coordination_id;
	dist->topic = p->distribution->topic;
	dist->n_target_workflows = p->distribution->n_target_workflows;
	dist->target_workflows = p->distribution->target_workflows;
	dist->priority = p->distribution->priority;
	dist->delivery_guarantee = p->distribution->delivery_guarantee;
	dist->routing_key = split_join(a, c->instrument_id, SPLIT_KEY_MIDDLE, c->action);
	e->event_id = split_join(a, p->event_id, "/", c->decision_id);
	if (!dist->routing_key || !e->event_id)
		return NULL;
	e->timestamp_ns = p->timestamp_ns;
	e->data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION;
	e->distribution = dist;
	e->metadata = p->metadata;
	e->payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
	e->coordination_decision = dec;
	return e;
}

int split_coordination(const Fanout__V1__Event *parent, size_t index, struct arena *a,
		       Fanout__V1__Event **out, size_t out_max, size_t *n_out,
		       struct publish_error *err)
{
	const size_t used = a->used;	/* restored on failure */
	size_t n;
	int rc;

	*n_out = 0;
	if (!split_needed(parent))
		return split_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT, -EINVAL,
				  "events[%zu]: not a coordination_completed event", index);
	rc = split_check_parent(parent, index, err);
	if (rc < 0)
		return rc;
	n = parent->coordination_completed->n_decisions;
	for (size_t d = 0; d < n; d++) {
		rc = split_check_decision(parent, index, d, err);
		if (rc < 0)
			return rc;
	}
	if (n > out_max)
		return split_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT, -ENOSPC,
				  "events[%zu].coordination_completed: %zu decisions do not fit in "
				  "the batch (room for %zu more events)", index, n, out_max);
	for (size_t d = 0; d < n; d++) {
		out[d] = split_one(parent, parent->coordination_completed->decisions[d], a);
		if (!out[d]) {
			a->used = used;
			return split_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, -ENOMEM,
					  "events[%zu].coordination_completed: out of scratch memory "
					  "at decision %zu of %zu", index, d, n);
		}
	}
	*n_out = n;
	return 0;
}
