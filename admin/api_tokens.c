/* admin/api_tokens.c — /api/v1/tokens: bearer tokens kept in the store's auth_tokens
 * table (their hash only), put in force on every reactor (the whole set rebuilt and
 * swapped, admin/tokens.h) before the answer. A token's text is answered once, by the
 * POST that made it; nothing else shows it, and nothing logs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/rest_auth.h"
#include "admin/router.h"
#include "admin/tokens.h"
#include "core/clock.h"

/* A stored token as the API shows it. */
static json_t *token_json(const struct store_token *row)
{
	json_t *perm = json_loads(row->permissions ? row->permissions : "", 0, NULL);
	json_t *lim = json_loads(row->limits ? row->limits : "", 0, NULL);
	json_t *o = json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:O?, s:s, s:s, s:s, s:o, s:b}",
			      "id", row->id, "name", row->name, "role", row->role,
			      "publish", json_object_get(perm, "publish"),
			      "subscribe", json_object_get(perm, "subscribe"),
			      "limits", lim, "createdAt", row->created_at,
			      "createdBy", row->created_by, "updatedAt", row->updated_at,
			      "revokedAt", row->revoked_at[0] ? json_string(row->revoked_at)
							      : json_null(),
			      "bootstrap", 0);

	json_decref(perm);
	json_decref(lim);
	return o;
}

/* A start-up token (not in the store) as the API shows it. */
static json_t *token_boot_json(const struct auth_token *t)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:n, s:n, s:n, s:n, s:b}",
			 "id", t->id, "name", t->name, "role", auth_role_name(t->role),
			 "publish", tokens_list_json(&t->pub), "subscribe", tokens_list_json(&t->sub),
			 "limits", tokens_limits_json(&t->limits), "createdAt", "createdBy",
			 "updatedAt", "revokedAt", "bootstrap", 1);
}

/* The path's token id, checked for shape (12 lower-case hex digits), or NULL (404). */
static const char *token_path_id(struct admin_req *r, struct admin_reply *rep)
{
	const char *id = r->path.seg[3];

	if (strlen(id) != AUTH_ID_LEN || strspn(id, "0123456789abcdef") != AUTH_ID_LEN) {
		admin_error(rep, 404, "NOT_FOUND", NULL, "no token '%.64s' (ids are %u hex "
			    "digits)", id, AUTH_ID_LEN);
		return NULL;
	}
	return id;
}

/* The stored token of id answered with status; text, when given, is shown once. */
static int token_answer(struct admin_req *r, struct admin_reply *rep, int status,
			const char *id, const char *text, bool in_force)
{
	struct store_token row;
	json_t *o;
	int rc = store_token_get(&r->a->store, id, &row);

	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, "reading the token");
	o = token_json(&row);
	store_token_clear(&row);
	if (o && text)
		json_object_set_new(o, "token", json_string(text));
	if (o)
		json_object_set_new(o, "inForce", json_boolean(in_force));
	return o ? admin_ok(rep, status, o) : admin_error(rep, 500, "INTERNAL", NULL,
							  "out of memory");
}

/* The change is stored: put it in force. False when that failed (retried by the admin
 * loop: tokens.stale). */
static bool token_apply(struct admin *a)
{
	char err[TOKENS_ERR_BYTES + 64];

	a->tokens.stale = true;
	return tokens_reload(a, err, sizeof(err)) == 0;
}

int api_tokens_list(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	char after[AUTH_ID_LEN + 1] = "";
	struct store_token *rows;
	uint32_t limit, n;
	json_t *arr, *boot = json_array(), *next;
	bool revoked;
	int rc;

	if (admin_query_limit(r, &limit, rep) < 0 ||
	    admin_query(r, "after", after, sizeof(after), rep) < 0 ||
	    admin_query_bool(r, "includeRevoked", &revoked, rep) < 0)
		return json_decref(boot), 0;
	rc = store_tokens_list(&a->store, revoked, after, limit, &rows, &n);
	if (rc != STORE_OK)
		return json_decref(boot), admin_store_error(rep, a, rc, "listing tokens");
	arr = json_array();
	for (uint32_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, token_json(&rows[i]));
	next = n == limit ? json_string(rows[n - 1].id) : json_null();
	store_tokens_free(rows, n);
	for (uint32_t i = 0; boot && i < a->tokens.nboot; i++)
		json_array_append_new(boot, token_boot_json(&a->tokens.boot[i]));
	return admin_ok(rep, 200, json_pack("{s:o, s:o, s:o, s:i}", "tokens", arr, "next", next,
					    "bootstrap", boot, "inForce",
					    (int)a->tokens.in_force));
}

/* Stores a new token t (its id and hash made here); text receives its text. Returns
 * 0, or -1 with rep set. */
static int token_insert(struct admin_req *r, struct admin_reply *rep, struct auth_token *t,
			char text[AUTH_TOKEN_LEN + 1])
{
	struct admin *a = r->a;
	struct store_token row = { 0 };
	int rc;

	if (tokens_boot_find(a, NULL, t->name))
		return admin_error(rep, 409, "ALREADY_EXISTS", "name", "'%s' is the start-up "
				   "token's name", t->name), -1;
	if (a->tokens.in_force >= AUTH_TOKENS_MAX)
		return admin_error(rep, 409, "CONFLICT", NULL, "at most %u tokens in force",
				   AUTH_TOKENS_MAX), -1;
	auth_token_generate(text, t->id, t->hash);
	if (tokens_to_row(t, &row) < 0)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory"), -1;
	snprintf(row.created_by, sizeof(row.created_by), "%s",
		 r->who && r->who->token ? r->who->id : "-");
	rc = store_token_insert(&a->store, &row);
	store_token_clear(&row);
	if (rc == STORE_CONFLICT)
		return admin_error(rep, 409, "ALREADY_EXISTS", "name", "a token named '%s' "
				   "exists (revoked ones keep their names)", t->name), -1;
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "creating the token"), -1;
	return 0;
}

int api_tokens_create(struct admin_req *r, struct admin_reply *rep)
{
	char field[TOKENS_FIELD_BYTES], err[TOKENS_ERR_BYTES], text[AUTH_TOKEN_LEN + 1] = "";
	json_t *body = admin_body(r, rep);
	struct auth_token *t;
	int rc;

	if (!body)
		return 0;
	t = calloc(1, sizeof(*t));	/* ~26 KiB: not on the stack */
	if (!t) {
		json_decref(body);
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	}
	t->role = AUTH_ROLE_CLIENT;
	rc = tokens_apply_body(body, true, t, field, err);
	json_decref(body);
	if (rc < 0)
		admin_error(rep, 400, "INVALID_FIELD", field[0] ? field : NULL, "%s", err);
	else if (token_insert(r, rep, t, text) == 0)
		token_answer(r, rep, 201, t->id, text, token_apply(r->a));
	explicit_bzero(text, sizeof(text));	/* the only copy left is the answer's */
	free(t);
	return 0;
}

int api_token_get(struct admin_req *r, struct admin_reply *rep)
{
	const char *id = token_path_id(r, rep);
	const struct auth_token *boot = id ? tokens_boot_find(r->a, id, NULL) : NULL;

	if (!id)
		return 0;
	if (boot)
		return admin_ok(rep, 200, token_boot_json(boot));
	return token_answer(r, rep, 200, id, NULL, auth_find(auth_current(r->a->eng->auth),
							     id) != NULL);
}

/* The stored token in force with this id into t, or -1 with rep set. */
static int token_current(struct admin_req *r, struct admin_reply *rep, const char *id,
			 struct auth_token *t)
{
	char err[TOKENS_ERR_BYTES + 64];
	struct store_token row;
	int rc;

	if (tokens_boot_find(r->a, id, NULL))
		return admin_error(rep, 409, "CONFLICT", NULL, "token %s is the start-up token "
				   "(--auth-bootstrap); it changes only with that file", id), -1;
	rc = store_token_get(&r->a->store, id, &row);
	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, "reading the token"), -1;
	if (row.revoked_at[0]) {
		admin_error(rep, 409, "CONFLICT", NULL, "token %s was revoked at %s", id,
			    row.revoked_at);
		store_token_clear(&row);
		return -1;
	}
	rc = tokens_from_row(&row, t, err, sizeof(err));
	store_token_clear(&row);
	if (rc < 0)
		return admin_error(rep, 500, "INTERNAL", NULL, "%s", err), -1;
	return 0;
}

/* Writes t's role, lists and limits over its stored row, then answers. */
static int token_update(struct admin_req *r, struct admin_reply *rep, const struct auth_token *t)
{
	struct store_token row = { 0 };
	int rc;

	if (tokens_to_row(t, &row) < 0)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	rc = store_token_update(&r->a->store, &row);
	store_token_clear(&row);
	if (rc != STORE_OK)
		return admin_store_error(rep, r->a, rc, "updating the token");
	if (!token_apply(r->a))
		return admin_error(rep, 503, "STORE_UNAVAILABLE", NULL, "the change is stored but "
				   "not yet in force; it is applied when the store answers again");
	return token_answer(r, rep, 200, t->id, NULL, true);
}

int api_token_patch(struct admin_req *r, struct admin_reply *rep)
{
	char field[TOKENS_FIELD_BYTES], err[TOKENS_ERR_BYTES];
	const char *id = token_path_id(r, rep);
	struct auth_token *t;
	json_t *body;

	if (!id || !(body = admin_body(r, rep)))
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	else if (token_current(r, rep, id, t) < 0)
		;	/* rep set */
	else if (tokens_apply_body(body, false, t, field, err) < 0)
		admin_error(rep, 400, "INVALID_FIELD", field[0] ? field : NULL, "%s", err);
	else
		token_update(r, rep, t);
	free(t);
	json_decref(body);
	return 0;
}

int api_token_revoke(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	const char *id = token_path_id(r, rep);
	char now[STORE_TIME_BYTES];
	struct store_token row;
	int rc;

	if (!id)
		return 0;
	if (tokens_boot_find(a, id, NULL))
		return admin_error(rep, 409, "CONFLICT", NULL, "token %s is the start-up token "
				   "(--auth-bootstrap): replace that file and restart instead", id);
	store_time(clock_realtime_ns(), now, sizeof(now));
	rc = store_token_revoke(&a->store, id, now);
	if (rc == STORE_NOT_FOUND && store_token_get(&a->store, id, &row) == STORE_OK) {
		admin_error(rep, 409, "CONFLICT", NULL, "token %s was revoked at %s", id,
			    row.revoked_at);
		store_token_clear(&row);
		return 0;
	}
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "revoking the token");
	/* The reactors see the new set at their next turn and close its connections. */
	if (!token_apply(a))
		return admin_error(rep, 503, "STORE_UNAVAILABLE", NULL, "the token is revoked in "
				   "the store but still accepted until the store answers again; "
				   "that is retried every second");
	return token_answer(r, rep, 200, id, NULL, false);
}
