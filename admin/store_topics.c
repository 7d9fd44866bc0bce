/* admin/store_topics.c — the topics table. */
#include <stdlib.h>
#include <string.h>

#include "admin/store_tables.h"
#include "core/clock.h"

#define TOPIC_COLS "topic_name, partitions, retention_policy, compression_type, " \
	"schema_version, data_type, latency_requirement_ms, @bool(enabled), @ts(created_at), " \
	"@ts(updated_at), priority"

static void store_topic_row(const struct store_result *r, uint32_t i, struct store_topic *t)
{
	memset(t, 0, sizeof(*t));
	store_copy(t->name, sizeof(t->name), store_cell(r, i, 0));
	t->partitions = (uint32_t)strtoul(store_cell(r, i, 1), NULL, 10);
	store_copy(t->retention_policy, sizeof(t->retention_policy), store_cell(r, i, 2));
	store_copy(t->compression_type, sizeof(t->compression_type), store_cell(r, i, 3));
	store_copy(t->schema_version, sizeof(t->schema_version), store_cell(r, i, 4));
	store_copy(t->data_type, sizeof(t->data_type), store_cell(r, i, 5));
	t->latency_requirement_ms = (int32_t)strtol(store_cell(r, i, 6), NULL, 10);
	t->enabled = strcmp(store_cell(r, i, 7), "0") != 0;
	store_copy(t->created_at, sizeof(t->created_at), store_cell(r, i, 8));
	store_copy(t->updated_at, sizeof(t->updated_at), store_cell(r, i, 9));
	t->priority = (uint8_t)strtoul(store_cell(r, i, 10), NULL, 10);
}

int store_topic_insert(struct store *st, const struct store_topic *t)
{
	struct store_args a = { .n = 0 };
	char id[37], now[STORE_TIME_BYTES];

	store_uuid(id);
	store_time(clock_realtime_ns(), now, sizeof(now));
	store_arg_str(&a, id);
	store_arg_str(&a, t->name);
	store_arg_u64(&a, t->partitions);
	store_arg_str(&a, t->retention_policy);
	store_arg_str(&a, t->compression_type);
	store_arg_str(&a, t->schema_version);
	store_arg_str(&a, t->data_type);
	store_arg_i64(&a, t->latency_requirement_ms);
	store_arg_bool(&a, t->enabled);
	store_arg_str(&a, now);
	store_arg_u64(&a, t->priority);
	return store_run(st, "INSERT INTO topics (id, topic_name, partitions, retention_policy,"
			 " compression_type, schema_version, data_type, latency_requirement_ms,"
			 " enabled, created_at, updated_at, priority)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)", a.n, a.v);
}

int store_topic_update(struct store *st, const struct store_topic *t)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	char now[STORE_TIME_BYTES];
	int rc;

	store_time(clock_realtime_ns(), now, sizeof(now));
	store_arg_str(&a, t->name);
	store_arg_str(&a, t->retention_policy);
	store_arg_str(&a, t->compression_type);
	store_arg_str(&a, t->schema_version);
	store_arg_str(&a, t->data_type);
	store_arg_i64(&a, t->latency_requirement_ms);
	store_arg_bool(&a, t->enabled);
	store_arg_str(&a, now);
	store_arg_u64(&a, t->partitions);
	store_arg_u64(&a, t->priority);
	rc = store_exec(st, "UPDATE topics SET retention_policy = $2, compression_type = $3,"
			" schema_version = $4, data_type = $5, latency_requirement_ms = $6,"
			" enabled = $7, updated_at = $8, partitions = $9, priority = $10"
			" WHERE topic_name = $1",
			a.n, a.v, &r);
	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no topic '%s' in the store", t->name);
	store_result_free(&r);
	return rc;
}

int store_topic_delete(struct store *st, const char *name)
{
	const char *p[1] = { name };
	struct store_result r;
	int rc = store_exec(st, "DELETE FROM topics WHERE topic_name = $1", 1, p, &r);

	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no topic '%s' in the store", name);
	store_result_free(&r);
	return rc;
}

int store_topic_get(struct store *st, const char *name, struct store_topic *out)
{
	const char *p[1] = { name };
	struct store_result r;
	int rc = store_exec(st, "SELECT " TOPIC_COLS " FROM topics WHERE topic_name = $1", 1, p,
			    &r);

	if (rc == STORE_OK && r.nrows == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no topic '%s' in the store", name);
	else if (rc == STORE_OK)
		store_topic_row(&r, 0, out);
	store_result_free(&r);
	return rc;
}

int store_topics_list(struct store *st, const char *after, uint32_t limit,
		      struct store_topic **out, uint32_t *n)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	int rc;

	*out = NULL;
	*n = 0;
	a.v[a.n++] = after;	/* "" sorts first: never NULL here */
	store_arg_u64(&a, limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit);
	rc = store_exec(st, "SELECT " TOPIC_COLS " FROM topics WHERE topic_name > $1"
			" ORDER BY topic_name LIMIT $2", a.n, a.v, &r);
	if (rc == STORE_OK && r.nrows) {
		*out = calloc(r.nrows, sizeof(**out));
		if (!*out)
			rc = store_fail(st, STORE_ERR, "out of memory");
		for (uint32_t i = 0; *out && i < r.nrows; i++)
			store_topic_row(&r, i, &(*out)[i]);
		*n = *out ? r.nrows : 0;
	}
	store_result_free(&r);
	return rc;
}
