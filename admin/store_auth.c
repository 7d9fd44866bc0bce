/* admin/store_auth.c — the auth_tokens and admin_audit tables (store_auth.h). */
#include "admin/store_auth.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define TOKEN_COLS "id, name, role, token_hash, @json(permissions), @json(limits), " \
	"@ts(created_at), created_by, @ts(updated_at), @ts(revoked_at)"
#define AUDIT_COLS "id, @ts(at), actor, actor_name, source, action, target, outcome, " \
	"status, detail"

static int store_token_row(struct store *st, const struct store_result *r, uint32_t i,
			   struct store_token *t)
{
	memset(t, 0, sizeof(*t));
	store_copy(t->id, sizeof(t->id), store_cell(r, i, 0));
	store_copy(t->name, sizeof(t->name), store_cell(r, i, 1));
	store_copy(t->role, sizeof(t->role), store_cell(r, i, 2));
	store_copy(t->token_hash, sizeof(t->token_hash), store_cell(r, i, 3));
	store_copy(t->created_at, sizeof(t->created_at), store_cell(r, i, 6));
	store_copy(t->created_by, sizeof(t->created_by), store_cell(r, i, 7));
	store_copy(t->updated_at, sizeof(t->updated_at), store_cell(r, i, 8));
	store_copy(t->revoked_at, sizeof(t->revoked_at), store_cell(r, i, 9));
	t->permissions = strdup(store_cell(r, i, 4) ? store_cell(r, i, 4) : "{}");
	t->limits = strdup(store_cell(r, i, 5) ? store_cell(r, i, 5) : "{}");
	if (!t->permissions || !t->limits) {
		store_token_clear(t);
		return store_fail(st, STORE_ERR, "out of memory");
	}
	return STORE_OK;
}

int store_token_insert(struct store *st, const struct store_token *t)
{
	struct store_args a = { .n = 0 };
	char now[STORE_TIME_BYTES];

	store_time(clock_realtime_ns(), now, sizeof(now));
	store_arg_str(&a, t->id);
	store_arg_str(&a, t->name);
	store_arg_str(&a, t->role);
	store_arg_str(&a, t->token_hash);
	store_arg_str(&a, t->permissions);
	store_arg_str(&a, t->limits);
	store_arg_str(&a, now);
	store_arg_str(&a, t->created_by[0] ? t->created_by : "-");
	return store_run(st, "INSERT INTO auth_tokens (id, name, role, token_hash, permissions,"
			 " limits, created_at, created_by, updated_at)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)", a.n, a.v);
}

int store_token_update(struct store *st, const struct store_token *t)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	char now[STORE_TIME_BYTES];
	int rc;

	store_time(clock_realtime_ns(), now, sizeof(now));
	store_arg_str(&a, t->id);
	store_arg_str(&a, t->role);
	store_arg_str(&a, t->permissions);
	store_arg_str(&a, t->limits);
	store_arg_str(&a, now);
	rc = store_exec(st, "UPDATE auth_tokens SET role = $2, permissions = $3, limits = $4,"
			" updated_at = $5 WHERE id = $1", a.n, a.v, &r);
	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no token '%s'", t->id);
	store_result_free(&r);
	return rc;
}

int store_token_revoke(struct store *st, const char *id, const char *at)
{
	const char *p[2] = { id, at };
	struct store_result r;
	int rc = store_exec(st, "UPDATE auth_tokens SET revoked_at = $2, updated_at = $2"
			    " WHERE id = $1 AND revoked_at IS NULL", 2, p, &r);

	if (rc == STORE_OK && r.changed == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no token '%s' in force", id);
	store_result_free(&r);
	return rc;
}

int store_token_get(struct store *st, const char *id, struct store_token *out)
{
	const char *p[1] = { id };
	struct store_result r;
	int rc = store_exec(st, "SELECT " TOKEN_COLS " FROM auth_tokens WHERE id = $1", 1, p, &r);

	memset(out, 0, sizeof(*out));
	if (rc == STORE_OK && r.nrows == 0)
		rc = store_fail(st, STORE_NOT_FOUND, "no token '%s'", id);
	else if (rc == STORE_OK)
		rc = store_token_row(st, &r, 0, out);
	store_result_free(&r);
	return rc;
}

int store_tokens_list(struct store *st, bool revoked, const char *after, uint32_t limit,
		      struct store_token **out, uint32_t *n)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	int rc;

	*out = NULL;
	*n = 0;
	a.v[a.n++] = after;	/* "" sorts first: never NULL here */
	store_arg_u64(&a, limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit);
	store_arg_bool(&a, revoked);
	rc = store_exec(st, "SELECT " TOKEN_COLS " FROM auth_tokens WHERE id > $1"
			" AND ($3 = '1' OR revoked_at IS NULL) ORDER BY id LIMIT $2", a.n, a.v, &r);
	if (rc == STORE_OK && r.nrows) {
		*out = calloc(r.nrows, sizeof(**out));
		if (!*out)
			rc = store_fail(st, STORE_ERR, "out of memory");
		for (uint32_t i = 0; rc == STORE_OK && i < r.nrows; i++, (*n)++)
			rc = store_token_row(st, &r, i, &(*out)[i]);
	}
	store_result_free(&r);
	if (rc != STORE_OK) {
		store_tokens_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_token_clear(struct store_token *t)
{
	free(t->permissions);
	free(t->limits);
	t->permissions = NULL;
	t->limits = NULL;
}

void store_tokens_free(struct store_token *t, uint32_t n)
{
	for (uint32_t i = 0; t && i < n; i++)
		store_token_clear(&t[i]);
	free(t);
}

static int store_audit_one(struct store *st, const struct store_audit_row *w)
{
	struct store_args a = { .n = 0 };

	store_arg_str(&a, w->id);
	store_arg_str(&a, w->at);
	store_arg_str(&a, w->actor[0] ? w->actor : "-");
	store_arg_str(&a, w->actor_name);
	store_arg_str(&a, w->source);
	store_arg_str(&a, w->action);
	store_arg_str(&a, w->target);
	store_arg_str(&a, w->outcome);
	store_arg_str(&a, w->status);
	store_arg_str(&a, w->detail);
	/* The only statement that writes admin_audit: an insert, never an update. */
	return store_run(st, "INSERT INTO admin_audit (id, at, actor, actor_name, source, action,"
			 " target, outcome, status, detail)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
			 " ON CONFLICT (id) DO NOTHING", a.n, a.v);
}

int store_audit_insert(struct store *st, const struct store_audit_row *rows, uint32_t n)
{
	int rc = store_begin(st);

	for (uint32_t i = 0; rc == STORE_OK && i < n; i++)
		rc = store_audit_one(st, &rows[i]);
	if (rc == STORE_OK)
		rc = store_commit(st);
	if (rc != STORE_OK)
		store_rollback(st);
	return rc;
}

static void store_audit_row_read(const struct store_result *r, uint32_t i,
				 struct store_audit_row *w)
{
	memset(w, 0, sizeof(*w));
	store_copy(w->id, sizeof(w->id), store_cell(r, i, 0));
	store_copy(w->at, sizeof(w->at), store_cell(r, i, 1));
	store_copy(w->actor, sizeof(w->actor), store_cell(r, i, 2));
	store_copy(w->actor_name, sizeof(w->actor_name), store_cell(r, i, 3));
	store_copy(w->source, sizeof(w->source), store_cell(r, i, 4));
	store_copy(w->action, sizeof(w->action), store_cell(r, i, 5));
	store_copy(w->target, sizeof(w->target), store_cell(r, i, 6));
	store_copy(w->outcome, sizeof(w->outcome), store_cell(r, i, 7));
	store_copy(w->status, sizeof(w->status), store_cell(r, i, 8));
	store_copy(w->detail, sizeof(w->detail), store_cell(r, i, 9));
}

int store_audit_list(struct store *st, const struct store_audit_filter *f, uint32_t limit,
		     struct store_audit_row **out, uint32_t *n)
{
	struct store_args a = { .n = 0 };
	struct store_result r;
	int rc;

	*out = NULL;
	*n = 0;
	store_arg_str(&a, f->since);
	store_arg_str(&a, f->actor);
	store_arg_str(&a, f->action);
	store_arg_str(&a, f->before_id);
	store_arg_u64(&a, limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit);
	/* The casts give PostgreSQL each parameter's type where IS NULL alone would not
	 * (SQLite keeps times and ids as text: no cast there). */
	rc = store_exec(st, st->kind == STORE_PG
			? "SELECT " AUDIT_COLS " FROM admin_audit"
			  " WHERE ($1::timestamptz IS NULL OR at >= $1::timestamptz)"
			  " AND ($2::text IS NULL OR actor = $2::text)"
			  " AND ($3::text IS NULL OR action = $3::text)"
			  " AND ($4::uuid IS NULL OR (at, id) <"
			  " (SELECT at, id FROM admin_audit WHERE id = $4::uuid))"
			  " ORDER BY at DESC, id DESC LIMIT $5"
			: "SELECT " AUDIT_COLS " FROM admin_audit"
			  " WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR actor = $2)"
			  " AND ($3 IS NULL OR action = $3)"
			  " AND ($4 IS NULL OR (at, id) < (SELECT at, id FROM admin_audit WHERE id = $4))"
			  " ORDER BY at DESC, id DESC LIMIT $5", a.n, a.v, &r);
	if (rc == STORE_OK && r.nrows) {
		*out = calloc(r.nrows, sizeof(**out));
		if (!*out)
			rc = store_fail(st, STORE_ERR, "out of memory");
		for (uint32_t i = 0; *out && i < r.nrows; i++)
			store_audit_row_read(&r, i, &(*out)[i]);
		*n = *out ? r.nrows : 0;
	}
	store_result_free(&r);
	return rc;
}
