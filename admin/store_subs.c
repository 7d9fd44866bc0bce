/* admin/store_subs.c — the subscriptions table (the record of the server's
 * subscriptions) and distribution_stats rows. */
#include <stdlib.h>
#include <string.h>

#include "admin/store_tables.h"

#define SUB_COLS "subscription_id, topic_name, subscription_name, subscription_type, " \
	"consumer_group, @json(filters), start_position, delivery_guarantee, status, " \
	"@ts(created_at), @ts(last_activity), node_id"

static int store_sub_row(struct store *st, const struct store_result *r, uint32_t i,
			 struct store_sub *out)
{
	const char *filters = store_cell(r, i, 5);

	memset(out, 0, sizeof(*out));
	store_copy(out->subscription_id, sizeof(out->subscription_id), store_cell(r, i, 0));
	store_copy(out->topic_name, sizeof(out->topic_name), store_cell(r, i, 1));
	store_copy(out->subscription_name, sizeof(out->subscription_name), store_cell(r, i, 2));
	store_copy(out->subscription_type, sizeof(out->subscription_type), store_cell(r, i, 3));
	store_copy(out->consumer_group, sizeof(out->consumer_group), store_cell(r, i, 4));
	store_copy(out->start_position, sizeof(out->start_position), store_cell(r, i, 6));
	store_copy(out->delivery_guarantee, sizeof(out->delivery_guarantee), store_cell(r, i, 7));
	store_copy(out->status, sizeof(out->status), store_cell(r, i, 8));
	store_copy(out->created_at, sizeof(out->created_at), store_cell(r, i, 9));
	store_copy(out->last_activity, sizeof(out->last_activity), store_cell(r, i, 10));
	store_copy(out->node_id, sizeof(out->node_id), store_cell(r, i, 11));
	if (filters && !(out->filters = strdup(filters)))
		return store_fail(st, STORE_ERR, "out of memory");
	return STORE_OK;
}

int store_sub_upsert(struct store *st, const struct store_sub *s)
{
	struct store_args a = { .n = 0 };
	char id[37];

	store_uuid(id);
	store_arg_str(&a, id);
	store_arg_str(&a, s->subscription_id);
	store_arg_str(&a, s->topic_name);
	store_arg_str(&a, s->subscription_name);
	store_arg_str(&a, s->subscription_type);
	store_arg_str(&a, s->consumer_group);
	store_arg_str(&a, s->filters);
	store_arg_str(&a, s->start_position);
	store_arg_str(&a, s->delivery_guarantee);
	store_arg_str(&a, s->status);
	store_arg_str(&a, s->created_at);
	store_arg_str(&a, s->last_activity);
	store_arg_str(&a, s->node_id);
	/* Both dialects know ON CONFLICT ... DO UPDATE (SQLite since 3.24). */
	return store_run(st, "INSERT INTO subscriptions (id, subscription_id, topic_name,"
			 " subscription_name, subscription_type, consumer_group, filters,"
			 " start_position, delivery_guarantee, status, created_at, last_activity,"
			 " node_id)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
			 " ON CONFLICT (subscription_id) DO UPDATE SET status = excluded.status,"
			 " last_activity = excluded.last_activity", a.n, a.v);
}

int store_sub_status(struct store *st, const char *id, const char *status, const char *at)
{
	const char *p[3] = { id, status, at };
	struct store_result r;
	int rc = store_exec(st, "UPDATE subscriptions SET status = $2, last_activity = $3"
			    " WHERE subscription_id = $1", 3, p, &r);

	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no subscription '%s'", id);
	store_result_free(&r);
	return rc;
}

int store_sub_delete(struct store *st, const char *id)
{
	const char *p[1] = { id };
	struct store_result r;
	int rc = store_exec(st, "DELETE FROM subscriptions WHERE subscription_id = $1", 1, p, &r);

	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no subscription '%s'", id);
	store_result_free(&r);
	return rc;
}

int store_subs_stop_all(struct store *st, const char *node, const char *at)
{
	const char *p[2] = { at, node };

	if (!node)	/* the store is this node's alone */
		return store_run(st, "UPDATE subscriptions SET status = 'stopped', "
				 "last_activity = $1 WHERE status = 'active'", 1, p);
	return store_run(st, "UPDATE subscriptions SET status = 'stopped', last_activity = $1"
			 " WHERE status = 'active' AND (node_id = $2 OR node_id IS NULL)", 2, p);
}

int store_sub_get(struct store *st, const char *id, struct store_sub *out)
{
	const char *p[1] = { id };
	struct store_result r;
	int rc = store_exec(st, "SELECT " SUB_COLS " FROM subscriptions WHERE subscription_id = $1",
			    1, p, &r);

	memset(out, 0, sizeof(*out));
	if (rc == STORE_OK && r.nrows == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no subscription '%s'", id);
	else if (rc == STORE_OK)
		rc = store_sub_row(st, &r, 0, out);
	store_result_free(&r);
	return rc;
}

int store_subs_list(struct store *st, const char *topic, const char *status, const char *node,
		    const char *after, uint32_t limit, struct store_sub **out, uint32_t *n)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	int rc;

	*out = NULL;
	*n = 0;
	/* Never NULL: "" means any (CAST keeps PostgreSQL from guessing the type). */
	a.v[a.n++] = topic;
	a.v[a.n++] = status;
	a.v[a.n++] = after;
	store_arg_u64(&a, limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit);
	a.v[a.n++] = node;
	rc = store_exec(st, "SELECT " SUB_COLS " FROM subscriptions"
			" WHERE (CAST($1 AS TEXT) = '' OR topic_name = $1)"
			" AND (CAST($2 AS TEXT) = '' OR status = $2) AND subscription_id > $3"
			" AND (CAST($5 AS TEXT) = '' OR node_id = $5)"
			" ORDER BY subscription_id LIMIT $4", a.n, a.v, &r);
	if (rc == STORE_OK && r.nrows) {
		*out = calloc(r.nrows, sizeof(**out));
		if (!*out)
			rc = store_fail(st, STORE_ERR, "out of memory");
		for (uint32_t i = 0; rc == STORE_OK && i < r.nrows; i++, (*n)++)
			rc = store_sub_row(st, &r, i, &(*out)[i]);
	}
	store_result_free(&r);
	if (rc != STORE_OK) {
		store_subs_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_sub_clear(struct store_sub *s)
{
	free(s->filters);
	s->filters = NULL;
}

void store_subs_free(struct store_sub *s, uint32_t n)
{
	for (uint32_t i = 0; s && i < n; i++)
		store_sub_clear(&s[i]);
	free(s);
}

static int store_stat_insert(struct store *st, const struct store_stat_row *row)
{
	struct store_args a = { .n = 0 };
	char id[37];

	store_uuid(id);
	store_arg_str(&a, id);
	store_arg_str(&a, row->timestamp);
	store_arg_str(&a, row->topic_name);
	store_arg_u64(&a, row->messages_distributed);
	store_arg_u64(&a, row->bytes_distributed);
	store_arg_u64(&a, row->messages_received);
	store_arg_u64(&a, row->bytes_received);
	store_arg_u64(&a, row->error_count);
	store_arg_u64(&a, row->active_subscriptions);
	return store_run(st, "INSERT INTO distribution_stats (id, timestamp, topic_name,"
			 " messages_distributed, bytes_distributed, messages_received,"
			 " bytes_received, error_count, active_subscriptions, created_at)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, @now)", a.n, a.v);
}

int store_stats_insert(struct store *st, const struct store_stat_row *rows, uint32_t n)
{
	int rc = store_begin(st);

	for (uint32_t i = 0; rc == STORE_OK && i < n; i++)
		rc = store_stat_insert(st, &rows[i]);
	if (rc == STORE_OK)
		return store_commit(st);
	store_rollback(st);
	return rc;
}
