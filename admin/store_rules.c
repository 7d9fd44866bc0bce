/* admin/store_rules.c — the routing_rules table. */
#include <stdlib.h>
#include <string.h>

#include "admin/store_tables.h"
#include "core/clock.h"

#define RULE_COLS "rule_name, source_topic, source_pattern, target_topic, " \
	"routing_key_template, @json(conditions), priority, @bool(enabled), origin, " \
	"@ts(created_at), @ts(updated_at)"

static int store_rule_row(struct store *st, const struct store_result *r, uint32_t i,
			  struct store_rule *out)
{
	const char *cond = store_cell(r, i, 5);

	memset(out, 0, sizeof(*out));
	store_copy(out->name, sizeof(out->name), store_cell(r, i, 0));
	store_copy(out->source_topic, sizeof(out->source_topic), store_cell(r, i, 1));
	store_copy(out->source_pattern, sizeof(out->source_pattern), store_cell(r, i, 2));
	store_copy(out->target_topic, sizeof(out->target_topic), store_cell(r, i, 3));
	store_copy(out->routing_key_template, sizeof(out->routing_key_template),
		   store_cell(r, i, 4));
	out->priority = (int32_t)strtol(store_cell(r, i, 6), NULL, 10);
	out->enabled = strcmp(store_cell(r, i, 7), "0") != 0;
	store_copy(out->origin, sizeof(out->origin), store_cell(r, i, 8));
	store_copy(out->created_at, sizeof(out->created_at), store_cell(r, i, 9));
	store_copy(out->updated_at, sizeof(out->updated_at), store_cell(r, i, 10));
	if (cond && !(out->conditions = strdup(cond)))
		return store_fail(st, STORE_ERR, "out of memory");
	return STORE_OK;
}

/* The columns a write sets, $1..$9, in one order for insert and update. */
static void store_rule_args(struct store_args *a, const struct store_rule *r, const char *now)
{
	store_arg_str(a, r->name);
	store_arg_str(a, r->source_topic);
	store_arg_str(a, r->source_pattern);
	store_arg_str(a, r->target_topic);
	store_arg_str(a, r->routing_key_template);
	store_arg_str(a, r->conditions);
	store_arg_i64(a, r->priority);
	store_arg_bool(a, r->enabled);
	store_arg_str(a, r->origin[0] ? r->origin : "api");
	store_arg_str(a, now);
}

int store_rule_insert(struct store *st, const struct store_rule *r)
{
	struct store_args a = { .n = 0 };
	char now[STORE_TIME_BYTES], id[37];

	store_time(clock_realtime_ns(), now, sizeof(now));
	store_uuid(id);
	store_rule_args(&a, r, now);
	store_arg_str(&a, id);
	return store_run(st, "INSERT INTO routing_rules (rule_name, source_topic, source_pattern,"
			 " target_topic, routing_key_template, conditions, priority, enabled,"
			 " origin, created_at, updated_at, id)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)", a.n, a.v);
}

int store_rule_update(struct store *st, const struct store_rule *r)
{
	struct store_args a = { .n = 0 };
	struct store_result res;
	char now[STORE_TIME_BYTES];
	int rc;

	store_time(clock_realtime_ns(), now, sizeof(now));
	store_rule_args(&a, r, now);
	rc = store_exec(st, "UPDATE routing_rules SET source_topic = $2, source_pattern = $3,"
			" target_topic = $4, routing_key_template = $5, conditions = $6,"
			" priority = $7, enabled = $8, origin = $9, updated_at = $10"
			" WHERE rule_name = $1", a.n, a.v, &res);
	if (rc == STORE_OK && res.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no rule '%s'", r->name);
	store_result_free(&res);
	return rc;
}

int store_rule_delete(struct store *st, const char *name)
{
	const char *p[1] = { name };
	struct store_result r;
	int rc = store_exec(st, "DELETE FROM routing_rules WHERE rule_name = $1", 1, p, &r);

	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no rule '%s'", name);
	store_result_free(&r);
	return rc;
}

int store_rule_get(struct store *st, const char *name, struct store_rule *out)
{
	const char *p[1] = { name };
	struct store_result r;
	int rc = store_exec(st, "SELECT " RULE_COLS " FROM routing_rules WHERE rule_name = $1",
			    1, p, &r);

	memset(out, 0, sizeof(*out));
	if (rc == STORE_OK && r.nrows == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no rule '%s'", name);
	else if (rc == STORE_OK)
		rc = store_rule_row(st, &r, 0, out);
	store_result_free(&r);
	return rc;
}

int store_rules_list(struct store *st, struct store_rule **out, uint32_t *n)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	int rc;

	*out = NULL;
	*n = 0;
	store_arg_u64(&a, RULES_MAX + 1);	/* one more tells the caller it is over */
	rc = store_exec(st, "SELECT " RULE_COLS " FROM routing_rules"
			" ORDER BY priority, rule_name LIMIT $1", a.n, a.v, &r);
	if (rc == STORE_OK && r.nrows) {
		*out = calloc(r.nrows, sizeof(**out));
		if (!*out)
			rc = store_fail(st, STORE_ERR, "out of memory");
		for (uint32_t i = 0; rc == STORE_OK && i < r.nrows; i++, (*n)++)
			rc = store_rule_row(st, &r, i, &(*out)[i]);
	}
	store_result_free(&r);
	if (rc != STORE_OK) {
		store_rules_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_rule_clear(struct store_rule *r)
{
	free(r->conditions);
	r->conditions = NULL;
}

void store_rules_free(struct store_rule *r, uint32_t n)
{
	for (uint32_t i = 0; r && i < n; i++)
		store_rule_clear(&r[i]);
	free(r);
}
