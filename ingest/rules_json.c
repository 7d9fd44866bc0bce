/* ingest/rules_json.c — a JSON array of rule objects into RoutingRule messages (strings
 * borrowed from the document), then rules_compile; reading a rules file. */
#include "ingest/rules_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Where an error is reported and which rule it concerns. */
struct rules_json_ctx {
	char *err;
	size_t errlen;
	size_t index;		/* the rule's place in the array */
	const char *name;	/* its name once known to be a fine one, else NULL */
};

/* Writes "rules[i] 'name': <fmt>" (the format rules_compile uses); returns -EINVAL. */
__attribute__((format(printf, 2, 3)))
static int rules_json_fail(const struct rules_json_ctx *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rules_vfail(c->err, c->errlen, c->index, c->name, fmt, ap);
	va_end(ap);
	return rc;
}

#define RULES_JSON_LISTS 6	/* the string lists a condition may hold */

/* A rule message built from JSON: strings point into the JSON document; the lists are
 * the only allocations, freed once the rule is compiled. */
struct rules_json_rule {
	Fanout__V1__RoutingRule rule;
	Fanout__V1__Filter filter;
	Fanout__V1__Bound bounds[4];
	char **lists[RULES_JSON_LISTS];
	Fanout__V1__DataType *types;
};

static const struct {
	const char *key;
	size_t n_off, v_off;
} rules_json_lists[RULES_JSON_LISTS] = {
	{ "symbols", offsetof(Fanout__V1__Filter, n_symbols), offsetof(Fanout__V1__Filter, symbols) },
	{ "exchanges", offsetof(Fanout__V1__Filter, n_exchanges),
	  offsetof(Fanout__V1__Filter, exchanges) },
	{ "currencies", offsetof(Fanout__V1__Filter, n_currencies),
	  offsetof(Fanout__V1__Filter, currencies) },
	{ "actions", offsetof(Fanout__V1__Filter, n_actions), offsetof(Fanout__V1__Filter, actions) },
	{ "order_ids", offsetof(Fanout__V1__Filter, n_order_ids),
	  offsetof(Fanout__V1__Filter, order_ids) },
	{ "portfolio_ids", offsetof(Fanout__V1__Filter, n_portfolio_ids),
	  offsetof(Fanout__V1__Filter, portfolio_ids) },
};

static const struct {
	const char *key;
	size_t off;
} rules_json_bounds[4] = {
	{ "min_price", offsetof(Fanout__V1__Filter, min_price) },
	{ "max_price", offsetof(Fanout__V1__Filter, max_price) },
	{ "min_volume", offsetof(Fanout__V1__Filter, min_volume) },
	{ "min_confidence", offsetof(Fanout__V1__Filter, min_confidence) },
};

static const char *rules_json_kind(const json_t *j)
{
	static const char *const kinds[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
		[JSON_INTEGER] = "an integer", [JSON_REAL] = "a real", [JSON_TRUE] = "true",
		[JSON_FALSE] = "false", [JSON_NULL] = "null",
	};

	return kinds[json_typeof(j)];
}

static void rules_json_rule_free(struct rules_json_rule *jr)
{
	for (size_t i = 0; i < RULES_JSON_LISTS; i++)
		free(jr->lists[i]);
	free(jr->types);
}

/* A JSON string without NUL bytes; *out points into the document. */
static int rules_json_string(const struct rules_json_ctx *c, const char *path, const json_t *v,
			     char **out)
{
	if (!json_is_string(v))
		return rules_json_fail(c, "%s: expected a string, got %s", path, rules_json_kind(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return rules_json_fail(c, "%s: contains a NUL byte", path);
	*out = (char *)json_string_value(v);
	return 0;
}

static int rules_json_strings(const struct rules_json_ctx *c, const char *key, const json_t *v,
			      size_t *n, char ***vals)
{
	char path[64];
	int rc;

	if (!json_is_array(v))
		return rules_json_fail(c, "conditions.%s: expected an array of strings, got %s", key,
				  rules_json_kind(v));
	*n = json_array_size(v);
	*vals = calloc(*n ? *n : 1, sizeof(**vals));
	if (!*vals)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		snprintf(path, sizeof(path), "conditions.%s[%zu]", key, i);
		rc = rules_json_string(c, path, json_array_get(v, i), &(*vals)[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A DataType as a number, a full name or a short name in any case ("market_data"). */
static int rules_json_type(const struct rules_json_ctx *c, size_t i, const json_t *v,
			   Fanout__V1__DataType *out)
{
	const ProtobufCEnumValue *ev;
	char full[64];
	const char *s;

	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX) {
		*out = (Fanout__V1__DataType)json_integer_value(v);	/* filter_compile checks */
		return 0;
	}
	if (!json_is_string(v))
		return rules_json_fail(c, "conditions.data_types[%zu]: expected a name, got %s", i,
				  rules_json_kind(v));
	s = json_string_value(v);
	ev = protobuf_c_enum_descriptor_get_value_by_name(&fanout__v1__data_type__descriptor, s);
	if (!ev && strlen(s) < sizeof(full) - 10) {
		size_t n = (size_t)snprintf(full, sizeof(full), "DATA_TYPE_%s", s);

		for (size_t k = 10; k < n; k++)
			full[k] = (char)(full[k] >= 'a' && full[k] <= 'z' ? full[k] - 32 : full[k]);
		ev = protobuf_c_enum_descriptor_get_value_by_name(&fanout__v1__data_type__descriptor,
								  full);
	}
	if (!ev)
		return rules_json_fail(c, "conditions.data_types[%zu]: unknown data type '%.64s'", i, s);
	*out = (Fanout__V1__DataType)ev->value;
	return 0;
}

static int rules_json_types(const struct rules_json_ctx *c, const json_t *v, struct rules_json_rule *jr)
{
	Fanout__V1__Filter *f = &jr->filter;
	int rc;

	if (!json_is_array(v))
		return rules_json_fail(c, "conditions.data_types: expected an array, got %s",
				  rules_json_kind(v));
	f->n_data_types = json_array_size(v);
	jr->types = calloc(f->n_data_types ? f->n_data_types : 1, sizeof(*jr->types));
	if (!jr->types)
		return -ENOMEM;
	f->data_types = jr->types;
	for (size_t i = 0; i < f->n_data_types; i++) {
		rc = rules_json_type(c, i, json_array_get(v, i), &jr->types[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A bound as a number or as the Bound message {"value": number}. */
static int rules_json_bound(const struct rules_json_ctx *c, const char *key, const json_t *v,
			    Fanout__V1__Bound *b, Fanout__V1__Bound **slot)
{
	const json_t *n = json_is_object(v) && json_object_size(v) == 1 ?
			  json_object_get(v, "value") : v;

	if (!n || !json_is_number(n))
		return rules_json_fail(c, "conditions.%s: expected a number, got %s", key,
				  rules_json_kind(v));
	fanout__v1__bound__init(b);
	b->value = json_number_value(n);
	*slot = b;
	return 0;
}

/* One key of the conditions object. */
static int rules_json_condition(const struct rules_json_ctx *c, const char *key, const json_t *v,
				struct rules_json_rule *jr)
{
	uint8_t *f = (uint8_t *)&jr->filter;

	for (size_t i = 0; i < RULES_JSON_LISTS; i++) {
		if (strcmp(key, rules_json_lists[i].key) == 0) {
			int rc = rules_json_strings(c, key, v, (size_t *)(f + rules_json_lists[i].n_off),
						    &jr->lists[i]);

			*(char ***)(f + rules_json_lists[i].v_off) = jr->lists[i];
			return rc;
		}
	}
	for (size_t i = 0; i < 4; i++)
		if (strcmp(key, rules_json_bounds[i].key) == 0)
			return rules_json_bound(c, key, v, &jr->bounds[i],
						(Fanout__V1__Bound **)(f + rules_json_bounds[i].off));
	if (strcmp(key, "data_types") == 0)
		return rules_json_types(c, v, jr);
	return rules_json_fail(c, "conditions.%s: unknown key", key);
}

static int rules_json_conditions(const struct rules_json_ctx *c, const json_t *v,
				 struct rules_json_rule *jr)
{
	const char *key;
	json_t *val;
	int rc;

	if (!json_is_object(v))
		return rules_json_fail(c, "conditions: expected an object, got %s", rules_json_kind(v));
	fanout__v1__filter__init(&jr->filter);
	jr->rule.conditions = &jr->filter;
	json_object_foreach((json_t *)v, key, val) {
		if (json_is_null(val))
			continue;
		rc = rules_json_condition(c, key, val, jr);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One key of a rule object. */
static int rules_json_field(const struct rules_json_ctx *c, const char *key, const json_t *v,
			    struct rules_json_rule *jr)
{
	static const struct {
		const char *key;
		size_t off;
	} strings[] = {
		{ "name", offsetof(Fanout__V1__RoutingRule, name) },
		{ "source_topic", offsetof(Fanout__V1__RoutingRule, source_topic) },
		{ "source_pattern", offsetof(Fanout__V1__RoutingRule, source_pattern) },
		{ "target_topic", offsetof(Fanout__V1__RoutingRule, target_topic) },
		{ "routing_key_template", offsetof(Fanout__V1__RoutingRule, routing_key_template) },
	};

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (strcmp(key, strings[i].key) == 0)
			return rules_json_string(c, key, v,
						 (char **)((uint8_t *)&jr->rule + strings[i].off));
	if (strcmp(key, "priority") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
		    json_integer_value(v) > INT32_MAX)
			return rules_json_fail(c, "priority: expected a 32-bit integer, got %s",
					  rules_json_kind(v));
		jr->rule.priority = (int32_t)json_integer_value(v);
		return 0;
	}
	if (strcmp(key, "enabled") == 0) {
		if (!json_is_boolean(v))
			return rules_json_fail(c, "enabled: expected true or false, got %s",
					  rules_json_kind(v));
		jr->rule.enabled = json_is_true(v);
		return 0;
	}
	if (strcmp(key, "conditions") == 0)
		return rules_json_conditions(c, v, jr);
	return rules_json_fail(c, "%s: unknown key", key);
}

/* Builds the rule message for one JSON object. */
static int rules_json_rule(struct rules_json_ctx *c, const json_t *o, struct rules_json_rule *jr)
{
	const json_t *name = json_object_get(o, "name");
	const char *key;
	json_t *val;
	int rc;

	fanout__v1__routing_rule__init(&jr->rule);
	jr->rule.enabled = true;	/* the seed table's default */
	if (!json_is_object(o))
		return rules_json_fail(c, "expected an object, got %s", rules_json_kind(o));
	/* Name errors by the rule's name as soon as it is known to be a fine one. */
	if (json_is_string(name) && json_string_length(name) > 0 &&
	    json_string_length(name) <= RULES_NAME_BYTES_MAX &&
	    strlen(json_string_value(name)) == json_string_length(name))
		c->name = json_string_value(name);
	json_object_foreach((json_t *)o, key, val) {
		if (json_is_null(val))
			continue;
		rc = rules_json_field(c, key, val, jr);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reports a JSON error in rule k, unless rules_compile finds one in an earlier rule:
 * errors name the first bad rule in array order, whatever kind of error it has. */
static int rules_json_first_error(Fanout__V1__RoutingRule **msgs, size_t k, int rc,
				  char *err, size_t errlen)
{
	char earlier[RULES_ERROR_BYTES];
	struct rules_set *s = NULL;
	int erc = k ? rules_compile(&s, msgs, k, earlier, sizeof(earlier)) : 0;

	rules_free(s);
	if (erc == -EINVAL) {
		snprintf(err, errlen, "%s", earlier);
		return erc;
	}
	return rc;
}

int rules_from_json(struct rules_set **out, const json_t *rules, char *err, size_t errlen)
{
	struct rules_json_rule *jr = NULL;
	Fanout__V1__RoutingRule **msgs = NULL;
	size_t n, built = 0;
	int rc = -ENOMEM;

	*out = NULL;
	err[0] = '\0';
	if (!json_is_array(rules)) {
		snprintf(err, errlen, "rules: expected an array of rule objects, got %s",
			 rules_json_kind(rules));
		return -EINVAL;
	}
	n = json_array_size(rules);
	if (n > RULES_MAX) {
		snprintf(err, errlen, "rules: %zu rules exceed the limit of %u", n, RULES_MAX);
		return -EINVAL;
	}
	jr = calloc(n ? n : 1, sizeof(*jr));
	msgs = calloc(n ? n : 1, sizeof(*msgs));
	if (!jr || !msgs)
		goto out;
	for (built = 0; built < n; built++) {
		struct rules_json_ctx c = { .err = err, .errlen = errlen, .index = built };

		msgs[built] = &jr[built].rule;
		rc = rules_json_rule(&c, json_array_get(rules, built), &jr[built]);
		if (rc < 0) {
			built++;	/* its lists are freed below */
			rc = rules_json_first_error(msgs, built - 1, rc, err, errlen);
			goto out;
		}
	}
	rc = rules_compile(out, msgs, n, err, errlen);
out:
	if (rc == -ENOMEM && !err[0])
		snprintf(err, errlen, "rules: out of memory");
	for (size_t i = 0; jr && i < built; i++)
		rules_json_rule_free(&jr[i]);
	free(jr);
	free(msgs);
	return rc;
}

int rules_load_file(struct rules_set **out, const char *path, char *err, size_t errlen)
{
	char msg[RULES_ERROR_BYTES];
	json_error_t jerr;
	struct stat st;
	json_t *j;
	FILE *fp;
	int rc;

	*out = NULL;
	fp = fopen(path, "re");
	if (!fp) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fileno(fp), &st) < 0) {
		rc = -errno;
		fclose(fp);
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {	/* a directory opens, then fails to read obscurely */
		fclose(fp);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > (off_t)RULES_FILE_BYTES_MAX) {
		fclose(fp);
		snprintf(err, errlen, "%s: %lld bytes exceed the limit of %u", path,
			 (long long)st.st_size, RULES_FILE_BYTES_MAX);
		return -EFBIG;
	}
	j = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
	fclose(fp);
	if (!j) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	rc = rules_from_json(out, j, msg, sizeof(msg));
	json_decref(j);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, msg);
	return rc;
}
