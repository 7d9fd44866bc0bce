/* ingest/rules.c — compiling RoutingRule messages into an immutable, ordered rule set,
 * and applying it to published events: match, evaluate the conditions on the event's
 * index fields, render the routing-key template. Compiling allocates (control plane);
 * rules_apply only reads the set and writes the caller's result. The JSON form of a rule
 * set is ingest/rules_json.c's. */
#include "ingest/rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Placeholder names, indexed by enum rules_field. */
static const char *const rules_field_names[RULES_F_COUNT] = {
	[RULES_F_SYMBOL] = "symbol",
	[RULES_F_EXCHANGE] = "exchange",
	[RULES_F_VENUE] = "venue",
	[RULES_F_INSTRUMENT_ID] = "instrument_id",
	[RULES_F_ACTION] = "action",
	[RULES_F_ORDER_ID] = "order_id",
	[RULES_F_DECISION_ID] = "decision_id",
	[RULES_F_CURRENCY] = "currency",
	[RULES_F_DATA_TYPE] = "data_type",
	[RULES_F_SOURCE_SERVICE] = "source_service",
	[RULES_F_KEY] = "key",
	[RULES_F_TOPIC] = "topic",
};

/* Where an error is reported and which rule it concerns. */
struct rules_ctx {
	char *err;
	size_t errlen;
	size_t index;		/* the rule's place in the input */
	const char *name;	/* its name once known to be valid, else NULL */
};

/* Writes "rules[i] 'name': <fmt>" into the context's buffer; returns -EINVAL. */
__attribute__((format(printf, 2, 3)))
static int rules_fail(const struct rules_ctx *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rules_vfail(c->err, c->errlen, c->index, c->name, fmt, ap);
	va_end(ap);
	return rc;
}

int rules_vfail(char *err, size_t errlen, size_t index, const char *name, const char *fmt,
		va_list ap)
{
	char msg[RULES_ERROR_BYTES];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (name)
		snprintf(err, errlen, "rules[%zu] '%s': %s", index, name, msg);
	else
		snprintf(err, errlen, "rules[%zu]: %s", index, msg);
	return -EINVAL;
}

static const char *rules_str(const char *s)
{
	return s ? s : "";
}

int rules_token_check(const char *s, size_t len, const char **why)
{
	if (len == 0) {
		*why = "is empty";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			*why = "contains '.'";
			return -EINVAL;
		}
		if (c <= ' ' || c == 0x7f) {
			*why = "contains whitespace or a control byte";
			return -EINVAL;
		}
		if (c == '*' || c == '>') {
			*why = "contains a wildcard ('*' or '>')";
			return -EINVAL;
		}
	}
	return 0;
}

const char *rules_data_type_name(Fanout__V1__DataType t)
{
	switch (t) {
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA:
		return "market_data";
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION:
		return "coordination_decision";
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION:
		return "execution";
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_COMPLETED:
		return "coordination_completed";
	default:
		return "";
	}
}

/* ---- templates ------------------------------------------------------------------- */

static int rules_part_add(struct rules_rule *r, const struct rules_ctx *c, struct rules_part p)
{
	if (r->nparts == RULES_TEMPLATE_PARTS_MAX)	/* cannot happen under 256 bytes */
		return rules_fail(c, "routing_key_template: more than %u parts",
				  RULES_TEMPLATE_PARTS_MAX);
	r->parts[r->nparts++] = p;
	return 0;
}

static int rules_literal_add(struct rules_rule *r, const struct rules_ctx *c, size_t from,
			     size_t to)
{
	struct rules_part p = { .is_literal = 1, .off = (uint8_t)from, .len = (uint8_t)(to - from) };

	return to > from ? rules_part_add(r, c, p) : 0;
}

/* Parses "{name}" starting at t[at] == '{'; *end receives the index past '}'. */
static int rules_placeholder(struct rules_rule *r, const struct rules_ctx *c, size_t at,
			     size_t *end)
{
	const char *t = r->template_text;
	size_t j = at + 1, n;

	while (t[j] && t[j] != '}' && t[j] != '{')
		j++;
	if (t[j] != '}')
		return rules_fail(c, "routing_key_template '%s': unbalanced '{' at byte %zu", t, at);
	n = j - at - 1;
	for (unsigned f = 0; f < RULES_F_COUNT; f++) {
		if (strlen(rules_field_names[f]) == n && memcmp(rules_field_names[f], t + at + 1, n) == 0) {
			*end = j + 1;
			return rules_part_add(r, c, (struct rules_part){ .field = (uint8_t)f });
		}
	}
	return rules_fail(c, "routing_key_template '%s': unknown placeholder {%.*s}", t, (int)n,
			  t + at + 1);
}

/* Renders the template with "x" for every placeholder: literal text that cannot be part
 * of a key ("{symbol}..trade", "{symbol} trade", "*.{symbol}") fails here, once, rather
 * than on every event. */
static int rules_template_shape(const struct rules_rule *r, const struct rules_ctx *c)
{
	char key[RULES_TEMPLATE_BYTES_MAX + 1];
	const char *why;
	size_t n = 0;

	for (uint32_t i = 0; i < r->nparts; i++) {
		const struct rules_part *p = &r->parts[i];

		if (p->is_literal) {
			memcpy(key + n, r->template_text + p->off, p->len);
			n += p->len;
		} else {
			key[n++] = 'x';	/* a placeholder is at least "{key}": never longer */
		}
	}
	key[n] = '\0';
	if (pattern_key_check(key, n, &why) < 0)
		return rules_fail(c, "routing_key_template '%s': cannot form a routing key: %s",
				  r->template_text, why);
	return 0;
}

/* Compiles r->template_text into r->parts. */
static int rules_template_compile(struct rules_rule *r, const struct rules_ctx *c)
{
	const char *t = r->template_text;
	size_t i = 0, lit = 0;
	int rc;

	r->nparts = 0;
	if (!t[0])
		return 0;
	while (t[i]) {
		if (t[i] == '}')
			return rules_fail(c, "routing_key_template '%s': unbalanced '}' at byte %zu",
					  t, i);
		if (t[i] != '{') {
			i++;
			continue;
		}
		rc = rules_literal_add(r, c, lit, i);
		if (rc == 0)
			rc = rules_placeholder(r, c, i, &i);
		if (rc < 0)
			return rc;
		lit = i;
	}
	rc = rules_literal_add(r, c, lit, i);
	return rc < 0 ? rc : rules_template_shape(r, c);
}

/* ---- compiling one rule ------------------------------------------------------------ */

/* Copies a topic field into dst after checking it; empty is allowed when optional. */
static int rules_topic_field(char *dst, const char *src, const char *field, bool required,
			     const struct rules_ctx *c)
{
	size_t len = strlen(src);
	const char *why;

	if (len == 0)
		return required ? rules_fail(c, "%s: required", field) : 0;
	if (topic_name_check(src, len, &why) < 0)
		return rules_fail(c, "%s '%.200s': %s", field, src, why);
	memcpy(dst, src, len + 1);
	return 0;
}

static int rules_rule_compile(struct rules_rule *r, const Fanout__V1__RoutingRule *m,
			      struct rules_ctx *c)
{
	const char *name = rules_str(m->name), *pat = rules_str(m->source_pattern);
	const char *tmpl = rules_str(m->routing_key_template), *why;
	size_t len = strlen(name);
	int rc;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > RULES_NAME_BYTES_MAX)
		return rules_fail(c, "name: required, 1..%u bytes", RULES_NAME_BYTES_MAX);
	memcpy(r->name, name, len + 1);
	c->name = r->name;
	rc = rules_topic_field(r->source_topic, rules_str(m->source_topic), "source_topic", false, c);
	if (rc == 0)
		rc = rules_topic_field(r->target_topic, rules_str(m->target_topic), "target_topic",
				       true, c);
	if (rc < 0)
		return rc;
	if (pat[0]) {
		if (pattern_compile(&r->pattern, pat, strlen(pat), &why) < 0)
			return rules_fail(c, "source_pattern '%.255s': %s", pat, why);
		r->has_pattern = true;
	}
	len = strlen(tmpl);
	if (len > RULES_TEMPLATE_BYTES_MAX)
		return rules_fail(c, "routing_key_template: longer than %u bytes",
				  RULES_TEMPLATE_BYTES_MAX);
	memcpy(r->template_text, tmpl, len + 1);
	rc = rules_template_compile(r, c);
	if (rc < 0)
		return rc;
	r->priority = m->priority;
	r->enabled = m->enabled;
	/* Last, so a failure before it leaves nothing allocated in r. */
	rc = filter_compile(&r->conditions, m->conditions, &why);
	if (rc < 0)
		return rc == -EINVAL ? rules_fail(c, "conditions: %s", why) : rc;
	r->has_conditions = !r->conditions.empty;
	return 0;
}

/* ---- sets -------------------------------------------------------------------------- */

static struct rules_set *rules_set_alloc(size_t n)
{
	return calloc(1, sizeof(struct rules_set) + n * sizeof(struct rules_rule));
}

/* Compiles m as the set's next rule, refusing a name an earlier rule has. */
static int rules_set_add(struct rules_set *s, const Fanout__V1__RoutingRule *m,
			 struct rules_ctx *c)
{
	struct rules_rule *r = &s->rules[s->n];
	int rc = rules_rule_compile(r, m, c);

	if (rc < 0)
		return rc;
	/* Quadratic, but bounded: at most RULES_MAX^2/2 short compares, control plane. */
	for (uint32_t i = 0; i < s->n; i++) {
		if (strcmp(s->rules[i].name, r->name) == 0) {
			filter_free(&r->conditions);
			return rules_fail(c, "name: duplicate of rules[%u]", i);
		}
	}
	s->n++;
	return 0;
}

/* Enabled first, then priority ascending, then name bytewise (names are unique, so the
 * order is total and does not depend on the input order). */
static int rules_order(const void *a, const void *b)
{
	const struct rules_rule *x = a, *y = b;

	if (x->enabled != y->enabled)
		return x->enabled ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void rules_set_finish(struct rules_set *s)
{
	qsort(s->rules, s->n, sizeof(s->rules[0]), rules_order);
	s->n_enabled = 0;
	while (s->n_enabled < s->n && s->rules[s->n_enabled].enabled)
		s->n_enabled++;
}

void rules_free(struct rules_set *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->n; i++)
		filter_free(&s->rules[i].conditions);
	free(s);
}

int rules_compile(struct rules_set **out, Fanout__V1__RoutingRule *const *msgs, size_t n,
		  char *err, size_t errlen)
{
	struct rules_set *s;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if (n > RULES_MAX) {
		snprintf(err, errlen, "rules: %zu rules exceed the limit of %u", n, RULES_MAX);
		return -EINVAL;
	}
	s = rules_set_alloc(n);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct rules_ctx c = { .err = err, .errlen = errlen, .index = i };

		rc = msgs[i] ? rules_set_add(s, msgs[i], &c) : rules_fail(&c, "missing");
		if (rc < 0)
			goto err;
	}
	rules_set_finish(s);
	*out = s;
	return 0;
err:
	if (rc == -ENOMEM && !err[0])
		snprintf(err, errlen, "rules: out of memory");
	rules_free(s);
	return rc;
}

/* ---- applying ---------------------------------------------------------------------- */

/* The value of a placeholder for v; empty when the event has none. */
static struct wire_str rules_value(const struct event_view *v, enum rules_field f)
{
	bool md = v->payload == EVENT_PAYLOAD_MARKET_DATA;
	bool cd = v->payload == EVENT_PAYLOAD_DECISION;
	bool ex = v->payload == EVENT_PAYLOAD_EXECUTION;
	static const struct wire_str none = { "", 0 };
	const char *name;

	switch (f) {
	case RULES_F_SYMBOL:
		return md ? v->symbol : rules_value(v, RULES_F_INSTRUMENT_ID);
	case RULES_F_EXCHANGE:
		return md && v->exchange.len ? v->exchange : rules_value(v, RULES_F_VENUE);
	case RULES_F_VENUE:
		return ex && v->exec_venue.len ? v->exec_venue : v->meta_venue;
	case RULES_F_INSTRUMENT_ID:
		return cd || ex ? v->instrument_id : none;
	case RULES_F_ACTION:
		return cd ? v->action : none;
	case RULES_F_ORDER_ID:
		return ex ? v->order_id : none;
	case RULES_F_DECISION_ID:
		return cd ? v->decision_id : none;
	case RULES_F_CURRENCY:
		return md ? v->currency : none;
	case RULES_F_DATA_TYPE:
		name = rules_data_type_name((Fanout__V1__DataType)v->data_type);
		return (struct wire_str){ name, (uint32_t)strlen(name) };
	case RULES_F_SOURCE_SERVICE:
		return v->source_service;
	case RULES_F_KEY:
		return v->routing_key;
	case RULES_F_TOPIC:
		return v->topic;
	default:
		return none;
	}
}

/* Why a placeholder's value cannot go into the key, written to out->error. */
static int rules_bad_value(const struct rules_rule *r, enum rules_field f, struct wire_str v,
			   const char *why, struct rules_result *out)
{
	if (!v.len)
		snprintf(out->error, sizeof(out->error), "rule '%s': {%s} is empty for this event",
			 r->name, rules_field_names[f]);
	else if (strcmp(why, "contains whitespace or a control byte") == 0)
		snprintf(out->error, sizeof(out->error), "rule '%s': {%s} %s for this event",
			 r->name, rules_field_names[f], why);	/* not echoed: it may not print */
	else
		snprintf(out->error, sizeof(out->error), "rule '%s': {%s} '%.*s' %s for this event",
			 r->name, rules_field_names[f], (int)(v.len > 64 ? 64 : v.len), v.p, why);
	return -EINVAL;
}

/* Renders r's template for v into out->key. */
static int rules_render(const struct rules_rule *r, const struct event_view *v,
			struct rules_result *out)
{
	const char *why;
	size_t n = 0;

	for (uint32_t i = 0; i < r->nparts; i++) {
		const struct rules_part *p = &r->parts[i];
		struct wire_str val = p->is_literal ?
			(struct wire_str){ r->template_text + p->off, p->len } :
			rules_value(v, p->field);

		/* {key} and {topic} were checked by wire_check_event and may hold dots; the
		 * whole key is checked below. */
		if (!p->is_literal && p->field != RULES_F_KEY && p->field != RULES_F_TOPIC &&
		    rules_token_check(val.p, val.len, &why) < 0)
			return rules_bad_value(r, p->field, val, why, out);
		if (val.len > PATTERN_BYTES_MAX - n) {
			snprintf(out->error, sizeof(out->error),
				 "rule '%s': the routing key would be longer than %u bytes for this "
				 "event", r->name, PATTERN_BYTES_MAX);
			return -EINVAL;
		}
		memcpy(out->key + n, val.p, val.len);
		n += val.len;
	}
	out->key[n] = '\0';
	if (pattern_key_check(out->key, n, &why) < 0) {
		snprintf(out->error, sizeof(out->error), "rule '%s': routing key '%.120s' %s", r->name,
			 out->key, why);
		return -EINVAL;
	}
	return 0;
}

/* The index entry filter_match reads, from the event's fields. */
static void rules_entry(const struct event_view *v, const struct log_fields *fields,
			struct log_entry *le)
{
	struct log_fields f;

	if (!fields) {
		event_view_fields(v, 0, &f);
		fields = &f;
	}
	memset(le, 0, sizeof(*le));
	le->data_type = fields->data_type;
	le->flags = fields->flags;
	le->priority = fields->priority;
	le->recv_ns = fields->recv_ns;
	le->event_ns = fields->event_ns;
	le->key_hash = fields->key_hash;
	le->symbol_hash = fields->symbol_hash;
	le->venue_hash = fields->venue_hash;
	le->aux_hash = fields->aux_hash;
	le->order_hash = fields->order_hash;
	le->portfolio_hash = fields->portfolio_hash;
	le->price = fields->price;
	le->volume = fields->volume;
}

int rules_apply(const struct rules_set *s, const struct event_view *v,
		const struct log_fields *fields, struct rules_result *out)
{
	struct wire_str topic = v->topic, key = v->routing_key;
	struct log_entry le;
	bool have_entry = false;

	out->changed = false;
	out->rule = NULL;
	out->topic = NULL;
	out->error[0] = '\0';
	if (!s || s->n_enabled == 0)
		return 0;	/* the common case: no rules, nothing measured */
	for (uint32_t i = 0; i < s->n_enabled; i++) {
		const struct rules_rule *r = &s->rules[i];

		if (r->source_topic[0] && !wire_str_eq(topic, r->source_topic,
							strlen(r->source_topic)))
			continue;
		if (r->has_pattern && !pattern_match(&r->pattern, key.p, key.len))
			continue;
		if (r->has_conditions) {
			if (!have_entry) {	/* computed once, only when a rule needs it */
				rules_entry(v, fields, &le);
				have_entry = true;
			}
			if (!filter_match(&r->conditions, &le))
				continue;
		}
		out->rule = r->name;
		if (r->nparts == 0) {
			if (key.len > PATTERN_BYTES_MAX) {
				snprintf(out->error, sizeof(out->error),
					 "rule '%s': routing key longer than %u bytes", r->name,
					 PATTERN_BYTES_MAX);
				return -EINVAL;
			}
			memcpy(out->key, key.p, key.len);
			out->key[key.len] = '\0';
		} else if (rules_render(r, v, out) < 0) {
			return -EINVAL;
		}
		out->topic = r->target_topic;
		out->changed = true;
		return 0;
	}
	return 0;
}
