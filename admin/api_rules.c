/* admin/api_rules.c — /api/v1/rules: routing rules kept in the store's routing_rules
 * table, validated as --rules files are, and put in force on every reactor (the whole
 * set rebuilt from the store and swapped, net_engine_swap_rules) before the answer. A
 * rule written over REST is the API's (origin "api"): a --rules import leaves it alone
 * unless the file has a rule of the same name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/live.h"
#include "admin/router.h"
#include "admin/rules_io.h"

static int rule_answer(struct admin_req *r, struct admin_reply *rep, int status,
		       const char *name)
{
	struct store_rule rule;
	int rc = store_rule_get(&r->a->store, name, &rule);

	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, name);
	rc = admin_ok(rep, status, rules_io_rule_rest(&rule));
	store_rule_clear(&rule);
	return rc;
}

/* The change is in the store: put the store's set in force, or say why not. */
static int rule_apply(struct admin_req *r, struct admin_reply *rep, int status,
		      const char *name)
{
	char err[RULES_ERROR_BYTES + 64];

	if (live_rules_reload(r->a, err, sizeof(err)) < 0)
		return admin_error(rep, 503, "STORE_UNAVAILABLE", NULL, "the change is stored but "
				   "not yet in force (%s); it is applied when the store answers "
				   "again", err);
	if (!name)
		return admin_ok(rep, status, json_pack("{s:i, s:i}", "rules", (int)r->a->rules_n,
						       "enabled", (int)r->a->rules_enabled));
	return rule_answer(r, rep, status, name);
}

/* Parses and checks a rule object; NULL-safe on failure (rep set). */
static int rule_parse(struct admin_req *r, struct admin_reply *rep, json_t *obj,
		      struct store_rule *out)
{
	char err[RULES_ERROR_BYTES + 64], field[RULES_ERROR_BYTES + 64];

	if (rules_io_parse(obj, out, err, field, sizeof(err)) < 0)
		return admin_error(rep, 400, "INVALID_FIELD", field[0] ? field : NULL, "%s", err),
		       -1;
	if (!r->a->cfg->auto_create && !admin_topic_find(r->a, out->target_topic)) {
		store_rule_clear(out);
		return admin_error(rep, 400, "INVALID_FIELD", "target_topic", "target_topic '%s' "
				   "does not exist and the server runs with --no-auto-create",
				   out->target_topic), -1;
	}
	return 0;
}

int api_rules_list(struct admin_req *r, struct admin_reply *rep)
{
	struct store_rule *rows;
	uint32_t n;
	json_t *arr;
	int rc = store_rules_list(&r->a->store, &rows, &n);

	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, "listing rules");
	arr = json_array();
	for (uint32_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, rules_io_rule_rest(&rows[i]));
	store_rules_free(rows, n);
	return admin_ok(rep, 200, json_pack("{s:o, s:i, s:i}", "rules", arr, "in_force",
					    (int)r->a->rules_n, "in_force_enabled",
					    (int)r->a->rules_enabled));
}

int api_rules_create(struct admin_req *r, struct admin_reply *rep)
{
	json_t *body = admin_body(r, rep);
	struct store_rule rule;
	int rc;

	if (!body)
		return 0;
	rc = rule_parse(r, rep, body, &rule);
	json_decref(body);
	if (rc < 0)
		return 0;
	if (r->a->rules_n >= RULES_MAX) {
		store_rule_clear(&rule);
		return admin_error(rep, 409, "CONFLICT", NULL, "at most %u rules", RULES_MAX);
	}
	rc = store_rule_insert(&r->a->store, &rule);
	store_rule_clear(&rule);
	if (rc == STORE_CONFLICT)
		return admin_error(rep, 409, "ALREADY_EXISTS", "name", "a rule named '%s' exists",
				   rule.name);
	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, "creating the rule");
	return rule_apply(r, rep, 201, rule.name);
}

int api_rule_get(struct admin_req *r, struct admin_reply *rep)
{
	return rule_answer(r, rep, 200, r->path.seg[3]);
}

/* Writes rule (the body's or the merged one) over the stored one of the path's name. */
static int rule_replace(struct admin_req *r, struct admin_reply *rep, json_t *obj)
{
	const char *name = r->path.seg[3];
	json_t *given = json_object_get(obj, "name");
	struct store_rule rule;
	int rc;

	if (given && (!json_is_string(given) || strcmp(json_string_value(given), name) != 0))
		return admin_error(rep, 400, "INVALID_FIELD", "name", "a rule cannot be renamed "
				   "(name must be absent or '%s')", name);
	json_object_set_new(obj, "name", json_string(name));
	if (rule_parse(r, rep, obj, &rule) < 0)
		return 0;
	rc = store_rule_update(&r->a->store, &rule);
	store_rule_clear(&rule);
	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, name);
	return rule_apply(r, rep, 200, name);
}

int api_rule_put(struct admin_req *r, struct admin_reply *rep)
{
	json_t *body = admin_body(r, rep);

	if (!body)
		return 0;
	rule_replace(r, rep, body);
	json_decref(body);
	return 0;
}

/* The stored rule of the path's name as a rule object, or NULL with rep set. */
static json_t *rule_current(struct admin_req *r, struct admin_reply *rep)
{
	struct store_rule rule;
	json_t *o;
	int rc = store_rule_get(&r->a->store, r->path.seg[3], &rule);

	if (rc != STORE_OK) {
		admin_store_error(rep, r->a, rc, r->path.seg[3]);
		return NULL;
	}
	o = rules_io_rule(&rule);
	store_rule_clear(&rule);
	if (!o)
		admin_error(rep, 500, "INTERNAL", NULL, "stored rule '%s' is unreadable",
			    r->path.seg[3]);
	return o;
}

int api_rule_patch(struct admin_req *r, struct admin_reply *rep)
{
	json_t *body = admin_body(r, rep), *cur;

	if (!body)
		return 0;
	cur = rule_current(r, rep);
	if (cur) {
		json_object_update(cur, body);	/* null members unset a field */
		rule_replace(r, rep, cur);
		json_decref(cur);
	}
	json_decref(body);
	return 0;
}

static int rule_switch(struct admin_req *r, struct admin_reply *rep, bool on)
{
	json_t *cur = rule_current(r, rep);

	if (!cur)
		return 0;
	json_object_set_new(cur, "enabled", json_boolean(on));
	rule_replace(r, rep, cur);
	json_decref(cur);
	return 0;
}

int api_rule_enable(struct admin_req *r, struct admin_reply *rep)
{
	return rule_switch(r, rep, true);
}

int api_rule_disable(struct admin_req *r, struct admin_reply *rep)
{
	return rule_switch(r, rep, false);
}

int api_rule_delete(struct admin_req *r, struct admin_reply *rep)
{
	int rc = store_rule_delete(&r->a->store, r->path.seg[3]);

	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, r->path.seg[3]);
	return rule_apply(r, rep, 200, NULL);
}
