/* admin/rules_io.c — see rules_io.h. */
#include "admin/rules_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ingest/rules_json.h"

/* Sets key to a string, or leaves it out for "". Returns 0 or -1. */
static int rules_io_set_str(json_t *o, const char *key, const char *v)
{
	return v[0] ? json_object_set_new(o, key, json_string(v)) : 0;
}

json_t *rules_io_rule(const struct store_rule *r)
{
	json_t *o = json_object(), *cond = NULL;
	int rc = 0;

	if (!o)
		return NULL;
	if (r->conditions) {
		cond = json_loads(r->conditions, JSON_REJECT_DUPLICATES, NULL);
		if (!cond) {
			json_decref(o);
			return NULL;
		}
	}
	rc |= rules_io_set_str(o, "name", r->name);
	rc |= rules_io_set_str(o, "source_topic", r->source_topic);
	rc |= rules_io_set_str(o, "source_pattern", r->source_pattern);
	rc |= rules_io_set_str(o, "target_topic", r->target_topic);
	rc |= rules_io_set_str(o, "routing_key_template", r->routing_key_template);
	if (cond)
		rc |= json_object_set_new(o, "conditions", cond);
	rc |= json_object_set_new(o, "priority", json_integer(r->priority));
	rc |= json_object_set_new(o, "enabled", json_boolean(r->enabled));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *rules_io_rule_rest(const struct store_rule *r)
{
	json_t *o = rules_io_rule(r);

	if (!o)
		return NULL;
	json_object_set_new(o, "origin", json_string(r->origin));
	json_object_set_new(o, "created_at", json_string(r->created_at));
	json_object_set_new(o, "updated_at", r->updated_at[0] ? json_string(r->updated_at)
							       : json_null());
	return o;
}

json_t *rules_io_array(const struct store_rule *rows, uint32_t n)
{
	json_t *arr = json_array();

	for (uint32_t i = 0; arr && i < n; i++) {
		json_t *o = rules_io_rule(&rows[i]);

		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* The key a rules-compiler message blames: the token after "rules[i] 'name': " up to a
 * space, colon or quote ("conditions.min_price", "source_pattern"). */
static void rules_io_field(const char *msg, char *field, size_t cap)
{
	const char *p = strstr(msg, "': ");
	size_t n = 0;

	if (!p && strncmp(msg, "rules[", 6) == 0)
		p = strstr(msg, "]: ");
	field[0] = '\0';
	if (!p)
		return;
	p += 3;
	while (p[n] && p[n] != ' ' && p[n] != ':' && p[n] != '\'' && n + 1 < cap)
		n++;
	if (strcmp(p, "expected an object") == 0 || n == 0)
		return;
	memcpy(field, p, n);
	field[n] = '\0';
}

/* Copies a string member (absent or null: ""). */
static void rules_io_get(const json_t *obj, const char *key, char *dst, size_t cap)
{
	const char *v = json_string_value(json_object_get(obj, key));

	snprintf(dst, cap, "%s", v ? v : "");
}

int rules_io_parse(const json_t *obj, struct store_rule *out, char *err, char *field,
		   size_t errcap)
{
	json_t *arr = json_array(), *cond;
	struct rules_set *set = NULL;
	char msg[RULES_ERROR_BYTES + 64];
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = field[0] = '\0';
	if (!arr || json_array_append(arr, (json_t *)obj) < 0) {
		json_decref(arr);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	rc = rules_from_json(&set, arr, msg, sizeof(msg));
	json_decref(arr);
	rules_free(set);
	if (rc < 0) {
		const char *m = strncmp(msg, "rules[0] ", 9) == 0 ? msg + 9 : msg;

		snprintf(err, errcap, "%s%s", m[0] == '\'' ? "rule " : "", m);
		rules_io_field(msg, field, errcap);
		return -1;
	}
	rules_io_get(obj, "name", out->name, sizeof(out->name));
	rules_io_get(obj, "source_topic", out->source_topic, sizeof(out->source_topic));
	rules_io_get(obj, "source_pattern", out->source_pattern, sizeof(out->source_pattern));
	rules_io_get(obj, "target_topic", out->target_topic, sizeof(out->target_topic));
	rules_io_get(obj, "routing_key_template", out->routing_key_template,
		     sizeof(out->routing_key_template));
	cond = json_object_get(obj, "conditions");
	if (cond && !json_is_null(cond) && !(out->conditions = json_dumps(cond, JSON_COMPACT))) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	out->priority = (int32_t)json_integer_value(json_object_get(obj, "priority"));
	out->enabled = !json_is_false(json_object_get(obj, "enabled"));	/* default true */
	strcpy(out->origin, "api");
	return 0;
}

int rules_io_load_file(const char *path, json_t **arr, char *err, size_t cap)
{
	char msg[RULES_ERROR_BYTES + 64];
	struct rules_set *set = NULL;
	json_error_t jerr;
	struct stat st;

	*arr = NULL;
	if (stat(path, &st) == 0 && st.st_size > RULES_FILE_BYTES_MAX) {
		snprintf(err, cap, "%s: larger than %u bytes", path, RULES_FILE_BYTES_MAX);
		return -1;
	}
	*arr = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!*arr) {
		snprintf(err, cap, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		return -1;
	}
	if (rules_from_json(&set, *arr, msg, sizeof(msg)) < 0) {
		snprintf(err, cap, "%s: %s", path, msg);
		json_decref(*arr);
		*arr = NULL;
		return -1;
	}
	rules_free(set);
	return 0;
}
