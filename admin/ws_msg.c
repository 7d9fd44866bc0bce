/* admin/ws_msg.c — see ws_msg.h. */
#include "admin/ws_msg.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/event_json.h"
#include "admin/path.h"
#include "core/clock.h"

/* The filter's string lists: JSON key and where the Fanout__V1__Filter keeps it. */
static const struct {
	const char *key;
	size_t n_off, v_off;
} ws_lists[] = {
#define WS_LIST(f) { #f, offsetof(Fanout__V1__Filter, n_##f), offsetof(Fanout__V1__Filter, f) }
	WS_LIST(symbols), WS_LIST(exchanges), WS_LIST(currencies), WS_LIST(actions),
	WS_LIST(order_ids), WS_LIST(portfolio_ids),
#undef WS_LIST
};

static const struct {
	const char *key;
	size_t off;
} ws_bounds[] = {
	{ "min_price", offsetof(Fanout__V1__Filter, min_price) },
	{ "max_price", offsetof(Fanout__V1__Filter, max_price) },
	{ "min_volume", offsetof(Fanout__V1__Filter, min_volume) },
	{ "min_confidence", offsetof(Fanout__V1__Filter, min_confidence) },
};

static const struct {
	const char *name;
	Fanout__V1__DataType v;
} ws_types[] = {
	{ "market_data", FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA },
	{ "coordination_decision", FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION },
	{ "execution", FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION },
};

static int ws_fail(struct ws_msg_error *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int ws_fail(struct ws_msg_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* A data type by name ("market_data", "DATA_TYPE_MARKET_DATA", any case) or number. */
static int ws_type_parse(const json_t *v, Fanout__V1__DataType *out)
{
	const char *s = json_string_value(v);

	if (json_is_integer(v)) {
		*out = (Fanout__V1__DataType)json_integer_value(v);	/* filter_compile checks */
		return 0;
	}
	if (!s)
		return -1;
	if (strncasecmp(s, "DATA_TYPE_", 10) == 0)
		s += 10;
	for (size_t i = 0; i < sizeof(ws_types) / sizeof(ws_types[0]); i++)
		if (strcasecmp(s, ws_types[i].name) == 0) {
			*out = ws_types[i].v;
			return 0;
		}
	return -1;
}

/* The arrays a filter built from JSON points to (strings point into the JSON). */
struct ws_filter_mem {
	const char **lists[sizeof(ws_lists) / sizeof(ws_lists[0])];
	Fanout__V1__DataType *types;
	Fanout__V1__Bound bounds[sizeof(ws_bounds) / sizeof(ws_bounds[0])];
};

static void ws_filter_mem_free(struct ws_filter_mem *m)
{
	for (size_t i = 0; i < sizeof(m->lists) / sizeof(m->lists[0]); i++)
		free(m->lists[i]);
	free(m->types);
}

static int ws_filter_list(const json_t *v, size_t i, Fanout__V1__Filter *f,
			  struct ws_filter_mem *m, const char *prefix, struct ws_msg_error *err)
{
	char field[96];
	size_t n = json_array_size(v);

	snprintf(field, sizeof(field), "%s.filters.%s", prefix, ws_lists[i].key);
	if (!json_is_array(v))
		return ws_fail(err, field, "%s must be an array of strings", field);
	if (n > FILTER_VALUES_MAX)
		return ws_fail(err, field, "%s has more than %u values", field, FILTER_VALUES_MAX);
	m->lists[i] = calloc(n ? n : 1, sizeof(char *));
	if (!m->lists[i])
		return ws_fail(err, field, "out of memory");
	for (size_t k = 0; k < n; k++) {
		const char *s = json_string_value(json_array_get(v, k));

		if (!s || !s[0])
			return ws_fail(err, field, "%s[%zu] must be a non-empty string", field, k);
		m->lists[i][k] = s;
	}
	*(size_t *)((char *)f + ws_lists[i].n_off) = n;
	*(char ***)((char *)f + ws_lists[i].v_off) = (char **)m->lists[i];
	return 0;
}

static int ws_filter_types(const json_t *v, Fanout__V1__Filter *f, struct ws_filter_mem *m,
			   const char *prefix, struct ws_msg_error *err)
{
	char field[96];
	size_t n = json_array_size(v);

	snprintf(field, sizeof(field), "%s.filters.data_types", prefix);
	if (!json_is_array(v) || n > 8)
		return ws_fail(err, field, "%s must be an array of at most 8 data types", field);
	m->types = calloc(n ? n : 1, sizeof(*m->types));
	if (!m->types)
		return ws_fail(err, field, "out of memory");
	for (size_t k = 0; k < n; k++)
		if (ws_type_parse(json_array_get(v, k), &m->types[k]) < 0)
			return ws_fail(err, field, "%s[%zu] must be market_data, "
				       "coordination_decision or execution", field, k);
	f->n_data_types = n;
	f->data_types = m->types;
	return 0;
}

/* One key of "filters" into f. */
static int ws_filter_key(const char *key, const json_t *v, Fanout__V1__Filter *f,
			 struct ws_filter_mem *m, const char *prefix, struct ws_msg_error *err)
{
	char field[96];

	for (size_t i = 0; i < sizeof(ws_lists) / sizeof(ws_lists[0]); i++)
		if (strcmp(key, ws_lists[i].key) == 0)
			return ws_filter_list(v, i, f, m, prefix, err);
	if (strcmp(key, "data_types") == 0)
		return ws_filter_types(v, f, m, prefix, err);
	snprintf(field, sizeof(field), "%s.filters.%s", prefix, key);
	for (size_t i = 0; i < sizeof(ws_bounds) / sizeof(ws_bounds[0]); i++) {
		if (strcmp(key, ws_bounds[i].key) != 0)
			continue;
		if (!json_is_number(v))
			return ws_fail(err, field, "%s must be a number", field);
		fanout__v1__bound__init(&m->bounds[i]);
		m->bounds[i].value = json_number_value(v);
		*(Fanout__V1__Bound **)((char *)f + ws_bounds[i].off) = &m->bounds[i];
		return 0;
	}
	return ws_fail(err, field, "%s is not a filter (symbols, exchanges, currencies, "
		       "actions, order_ids, portfolio_ids, data_types, min_price, max_price, "
		       "min_volume, min_confidence)", field);
}

/* "filters" (may be NULL) over preset (may be NULL) compiled into out->filter. */
static int ws_filters(const json_t *filters, const json_t *preset, const char *prefix,
		      struct ws_sub_req *out, struct ws_msg_error *err)
{
	Fanout__V1__Filter f = FANOUT__V1__FILTER__INIT;
	struct ws_filter_mem m = { 0 };
	const char *key, *why = NULL;
	const json_t *v;
	char field[96];
	int rc = 0;

	snprintf(field, sizeof(field), "%s.filters", prefix);
	if (filters && !json_is_object(filters) && !json_is_null(filters))
		return ws_fail(err, field, "%s must be an object", field);
	json_object_foreach((json_t *)filters, key, v)
		if (rc == 0)
			rc = ws_filter_key(key, v, &f, &m, prefix, err);
	json_object_foreach((json_t *)preset, key, v)
		if (rc == 0 && !json_object_get(filters, key))
			rc = ws_filter_key(key, v, &f, &m, prefix, err);
	if (rc == 0 && filter_compile(&out->filter, &f, &why) < 0) {
		/* filter_compile's reasons begin with the field they are about. */
		if (why)
			snprintf(field, sizeof(field), "%s.filters.%.*s", prefix,
				 (int)strcspn(why, " [:"), why);
		rc = ws_fail(err, field, "%s.filters: %s", prefix, why ? why : "out of memory");
	}
	ws_filter_mem_free(&m);
	return rc;
}

static int ws_patterns(const json_t *v, const char *prefix, struct ws_sub_req *out,
		       struct ws_msg_error *err)
{
	char field[96];
	const char *why;

	snprintf(field, sizeof(field), "%s.patterns", prefix);
	if (!json_is_array(v) || json_array_size(v) > WS_PATTERNS_MAX)
		return ws_fail(err, field, "%s must be an array of at most %u routing-key "
			       "patterns", field, WS_PATTERNS_MAX);
	for (size_t k = 0; k < json_array_size(v); k++) {
		const json_t *s = json_array_get(v, k);

		if (!json_is_string(s) ||
		    pattern_compile(&out->patterns[k], json_string_value(s), json_string_length(s),
				    &why) < 0)
			return ws_fail(err, field, "%s[%zu]: %s", field, k,
				       json_is_string(s) ? why : "must be a string");
	}
	out->npatterns = (uint32_t)json_array_size(v);
	return 0;
}

static int ws_start(const json_t *v, const char *prefix, struct ws_sub_req *out,
		    struct ws_msg_error *err)
{
	const char *s = json_string_value(v);
	const json_t *off = json_object_get(v, "offset"), *t = json_object_get(v, "time");
	char field[96];

	snprintf(field, sizeof(field), "%s.start", prefix);
	if (s && strcmp(s, "latest") == 0)
		out->start = WS_START_LATEST;
	else if (s && strcmp(s, "earliest") == 0)
		out->start = WS_START_EARLIEST;
	else if (json_is_object(v) && json_object_size(v) == 1 && json_is_integer(off) &&
		 json_integer_value(off) >= 0) {
		out->start = WS_START_OFFSET;
		out->start_offset = (uint64_t)json_integer_value(off);
	} else if (json_is_object(v) && json_object_size(v) == 1 && json_is_integer(t) &&
		   json_integer_value(t) > 0) {
		out->start = WS_START_TIME;
		out->start_time_ns = json_integer_value(t);
	} else if (json_is_object(v) && json_object_size(v) == 1 && json_is_string(t) &&
		   time_parse(json_string_value(t), &out->start_time_ns) == 0) {
		out->start = WS_START_TIME;
	} else {
		return ws_fail(err, field, "%s must be \"latest\", \"earliest\", {\"offset\": N} "
			       "or {\"time\": RFC 3339 or ns}", field);
	}
	return 0;
}

static int ws_sub_key(const char *key, const json_t *v, const char *prefix,
		      struct ws_sub_req *out, struct ws_msg_error *err)
{
	char field[96];
	const char *why;

	snprintf(field, sizeof(field), "%s.%s", prefix, key);
	if (strcmp(key, "id") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > WS_SUB_ID_MAX)
			return ws_fail(err, field, "%s must be an integer in 1..%u", field,
				       WS_SUB_ID_MAX);
		out->id = (uint32_t)json_integer_value(v);
		return 0;
	}
	if (strcmp(key, "topic") == 0) {
		if (!json_is_string(v) || (json_string_length(v) &&
		    topic_name_check(json_string_value(v), json_string_length(v), &why) < 0))
			return ws_fail(err, field, "%s must be a topic name (or \"\" for every "
				       "topic)", field);
		snprintf(out->topic, sizeof(out->topic), "%s", json_string_value(v));
		return 0;
	}
	if (strcmp(key, "patterns") == 0)
		return ws_patterns(v, prefix, out, err);
	if (strcmp(key, "start") == 0)
		return ws_start(v, prefix, out, err);
	if (strcmp(key, "snapshot") == 0) {
		if (!json_is_boolean(v))
			return ws_fail(err, field, "%s must be true or false", field);
		out->snapshot = json_is_true(v);
		return 0;
	}
	if (strcmp(key, "filters") == 0)
		return 0;	/* with the preset, after the loop */
	return ws_fail(err, field, "%s is not a subscribe field (id, topic, patterns, "
		       "filters, start, snapshot)", field);
}

int ws_sub_parse(const json_t *payload, const json_t *preset, const char *prefix,
		 struct ws_sub_req *out, struct ws_msg_error *err)
{
	const char *key;
	const json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(payload))
		return ws_fail(err, prefix, "%s must be an object", prefix);
	json_object_foreach((json_t *)payload, key, v)
		if (ws_sub_key(key, v, prefix, out, err) < 0)
			return -1;
	return ws_filters(json_object_get(payload, "filters"), preset, prefix, out, err);
}

void ws_sub_req_free(struct ws_sub_req *r)
{
	filter_free(&r->filter);
	memset(&r->filter, 0, sizeof(r->filter));
}

int ws_msg_parse(const char *text, size_t len, const json_t *preset,
		 struct ws_client_msg *out, struct ws_msg_error *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type = json_string_value(json_object_get(j, "type"));
	const json_t *payload = json_object_get(j, "payload");
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!j)
		ws_fail(err, "message", "not JSON: line %d column %d: %s", jerr.line, jerr.column,
			jerr.text);
	else if (!json_is_object(j))
		ws_fail(err, "message", "a message must be a JSON object");
	else if (!type)
		ws_fail(err, "type", "type must be \"subscribe\" or \"unsubscribe\"");
	else if (strcmp(type, "subscribe") == 0) {
		out->type = WS_MSG_SUBSCRIBE;
		rc = ws_sub_parse(payload, preset, "payload", &out->sub, err);
	} else if (strcmp(type, "unsubscribe") == 0) {
		const json_t *id = json_object_get(payload, "id");

		out->type = WS_MSG_UNSUBSCRIBE;
		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) > WS_SUB_ID_MAX)
			ws_fail(err, "payload.id", "payload.id must be a subscription's id");
		else {
			out->unsub_id = (uint32_t)json_integer_value(id);
			rc = 0;
		}
	} else {
		ws_fail(err, "type", "type must be \"subscribe\" or \"unsubscribe\", not \"%.64s\"",
			type);
	}
	json_decref(j);
	return rc;
}

/* A comma-separated list into a JSON array of strings. */
static json_t *ws_query_list(const char *value)
{
	json_t *arr = json_array();

	for (const char *p = value; arr && *p;) {
		size_t n = strcspn(p, ",");

		json_array_append_new(arr, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return arr;
}

static json_t *ws_query_start(const char *value)
{
	char *end;
	uint64_t off;

	if (strcmp(value, "latest") == 0 || strcmp(value, "earliest") == 0)
		return json_string(value);
	if (strncmp(value, "offset:", 7) == 0 && value[7] >= '0' && value[7] <= '9') {
		off = strtoull(value + 7, &end, 10);
		return *end || off > INT64_MAX ? NULL : json_pack("{s:I}", "offset", (json_int_t)off);
	}
	if (strncmp(value, "time:", 5) == 0)
		return json_pack("{s:s}", "time", value + 5);
	return NULL;
}

int ws_query_set(json_t *payload, const char *key, const char *value,
		 struct ws_msg_error *err)
{
	json_t *filters = json_object_get(payload, "filters"), *v = NULL;
	char *end;
	double d;

	if (!key[0])
		return ws_fail(err, "query", "a query parameter has no name");
	if (strcmp(key, "topic") == 0)
		return json_object_set_new(payload, key, json_string(value)) == 0 ? 0
		       : ws_fail(err, key, "%s must be UTF-8", key);
	if (strcmp(key, "patterns") == 0 || strcmp(key, "pattern") == 0)
		return json_object_set_new(payload, "patterns", ws_query_list(value));
	if (strcmp(key, "snapshot") == 0) {
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
			return ws_fail(err, key, "snapshot must be true or false");
		return json_object_set_new(payload, key, json_boolean(value[0] == 't'));
	}
	if (strcmp(key, "start") == 0) {
		v = ws_query_start(value);
		if (!v)
			return ws_fail(err, key, "start must be latest, earliest, offset:N or time:T");
		return json_object_set_new(payload, key, v);
	}
	if (!filters) {
		filters = json_object();
		json_object_set_new(payload, "filters", filters);
	}
	for (size_t i = 0; i < sizeof(ws_lists) / sizeof(ws_lists[0]); i++)
		if (strcmp(key, ws_lists[i].key) == 0)
			v = ws_query_list(value);
	if (strcmp(key, "data_types") == 0)
		v = ws_query_list(value);
	for (size_t i = 0; i < sizeof(ws_bounds) / sizeof(ws_bounds[0]); i++) {
		if (strcmp(key, ws_bounds[i].key) != 0)
			continue;
		d = strtod(value, &end);
		if (!value[0] || *end)
			return ws_fail(err, key, "%s must be a number", key);
		v = json_real(d);
	}
	if (!v)
		return ws_fail(err, key, "%s is not a stream parameter", key);
	return json_object_set_new(filters, key, v);
}

char *ws_msg_text(const char *type, json_t *payload, size_t *len)
{
	char ts[40];
	json_t *m;
	char *text;

	time_format(clock_realtime_ns(), ts, sizeof(ts));
	m = json_pack("{s:s, s:o, s:s}", "type", type, "payload", payload ? payload : json_null(),
		      "timestamp", ts);
	text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	*len = text ? strlen(text) : 0;
	return text;
}

char *ws_msg_error_text(const char *code, const char *field, const char *message, size_t *len)
{
	return ws_msg_text("error", json_pack("{s:s, s:o, s:s}", "code", code, "field",
					      field ? json_string(field) : json_null(),
					      "message", message), len);
}

char *ws_msg_event_text(const uint8_t *frame, uint32_t flen, size_t *len)
{
	Fanout__V1__ServerMessage *m = event_frame_unpack(frame, flen);
	json_t *ev = m ? event_to_json(m->event) : NULL;
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

	if (m)
		fanout__v1__server_message__free_unpacked(m, NULL);
	json_decref(ev);
	*len = text ? strlen(text) : 0;
	return text;
}

/* The envelope, with the event's text (jansson's, valid JSON) where its value goes. The
 * other two values are a number and a timestamp of digits, '-', ':', '.', 'T' and 'Z':
 * nothing in them needs escaping. */
#define WS_DATA_HEAD "{\"type\":\"data\",\"payload\":{\"subscription\":%" PRIu32 ",\"event\":"
#define WS_DATA_TAIL "},\"timestamp\":\"%s\"}"

int ws_msg_data_wrap(char *buf, size_t cap, uint32_t id, const char *event, size_t elen,
		     const char *ts, size_t *len)
{
	char head[96], tail[96];
	int hl = snprintf(head, sizeof(head), WS_DATA_HEAD, id);
	int tl = snprintf(tail, sizeof(tail), WS_DATA_TAIL, ts);

	/* head: 60 bytes and 10 digits at most; tail: 18 and a timestamp of 64 at most */
	assert(hl > 0 && (size_t)hl < sizeof(head) && tl > 0 && (size_t)tl < sizeof(tail));
	*len = (size_t)hl + elen + (size_t)tl;
	if (*len + 1 > cap) {
		*len += 1;
		return -ENOSPC;
	}
	memcpy(buf, head, (size_t)hl);
	memcpy(buf + hl, event, elen);
	memcpy(buf + hl + elen, tail, (size_t)tl + 1);
	return 0;
}

char *ws_msg_data_text(uint32_t id, const uint8_t *frame, uint32_t flen, size_t *len)
{
	Fanout__V1__ServerMessage *m = event_frame_unpack(frame, flen);
	json_t *ev = m ? event_to_json(m->event) : NULL;

	if (m)
		fanout__v1__server_message__free_unpacked(m, NULL);
	if (!ev)
		return NULL;
	return ws_msg_text("data", json_pack("{s:I, s:o}", "subscription", (json_int_t)id,
					     "event", ev), len);
}
