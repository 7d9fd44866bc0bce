/* admin/tokens.c — the set of tokens in force, built from the store and the start-up set,
 * and tokens' JSON forms (tokens.h). */
#include "admin/tokens.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/log.h"

#define TOKENS_LIMIT_U32 UINT32_MAX

int tokens_init(struct admin *a)
{
	const struct auth_set *set = auth_current(a->eng->auth);

	a->tokens.stale = true;
	if (!set || set->n == 0)
		return 0;
	a->tokens.boot = calloc(set->n, sizeof(*a->tokens.boot));
	if (!a->tokens.boot) {
		admin_log(ADMIN_LOG_ERROR, "tokens: out of memory");
		return -1;
	}
	memcpy(a->tokens.boot, set->tokens, set->n * sizeof(*set->tokens));
	a->tokens.nboot = set->n;
	a->tokens.in_force = set->n;
	return 0;
}

void tokens_free(struct admin *a)
{
	free(a->tokens.boot);
	a->tokens.boot = NULL;
	a->tokens.nboot = 0;
}

const struct auth_token *tokens_boot_find(const struct admin *a, const char *id,
					  const char *name)
{
	for (uint32_t i = 0; i < a->tokens.nboot; i++)
		if ((id && strcmp(a->tokens.boot[i].id, id) == 0) ||
		    (name && strcmp(a->tokens.boot[i].name, name) == 0))
			return &a->tokens.boot[i];
	return NULL;
}

json_t *tokens_list_json(const struct auth_list *l)
{
	json_t *allow = json_array(), *deny = json_array();

	for (uint32_t i = 0; allow && i < l->nallow; i++)
		json_array_append_new(allow, json_string(l->allow[i]));
	for (uint32_t i = 0; deny && i < l->ndeny; i++)
		json_array_append_new(deny, json_string(l->deny[i]));
	return json_pack("{s:o*, s:o*}", "allow", allow, "deny", deny);
}

json_t *tokens_limits_json(const struct auth_limits *l)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
			 "events_per_s", (json_int_t)l->events_per_s,
			 "bytes_per_s", (json_int_t)l->bytes_per_s,
			 "subscriptions", (json_int_t)l->subscriptions,
			 "connections", (json_int_t)l->connections,
			 "rest_per_s", (json_int_t)l->rest_per_s);
}

/* One pattern array into dst (*n of them). Returns 0 or -1 with err. */
static int tokens_patterns(const json_t *arr, char dst[][AUTH_PATTERN_MAX + 1], uint32_t *n,
			   char err[TOKENS_ERR_BYTES])
{
	const json_t *v;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > AUTH_PATTERNS_MAX)
		return snprintf(err, TOKENS_ERR_BYTES, "must be an array of at most %u topic "
				"patterns", AUTH_PATTERNS_MAX), -1;
	*n = 0;
	json_array_foreach(arr, i, v) {
		const char *why = "not a string";

		if (!json_is_string(v) || json_string_length(v) > AUTH_PATTERN_MAX ||
		    auth_pattern_check(json_string_value(v), &why) < 0)
			return snprintf(err, TOKENS_ERR_BYTES, "[%zu]: %s (patterns are topic "
					"names split at '/', with '*' for one segment and a last "
					"'>' for the rest)", i, json_string_length(v) >
					AUTH_PATTERN_MAX ? "longer than 200 bytes" : why), -1;
		memcpy(dst[(*n)++], json_string_value(v), json_string_length(v) + 1);
	}
	return 0;
}

/* {"allow": [...], "deny": [...]} into l; members left out keep their value, and
 * *allow_given says whether allow was there. Returns 0 or -1 with field and err. */
static int tokens_list_parse(const json_t *o, const char *what, struct auth_list *l,
			     bool *allow_given, char field[TOKENS_FIELD_BYTES],
			     char err[TOKENS_ERR_BYTES])
{
	const char *key;
	json_t *v;

	snprintf(field, TOKENS_FIELD_BYTES, "%s", what);
	if (!json_is_object(o))
		return snprintf(err, TOKENS_ERR_BYTES, "%s must be an object {\"allow\": [...], "
				"\"deny\": [...]}", what), -1;
	json_object_foreach((json_t *)o, key, v) {
		bool allow = strcmp(key, "allow") == 0;
		char e[TOKENS_ERR_BYTES];

		snprintf(field, TOKENS_FIELD_BYTES, "%s.%.32s", what, key);
		if (!allow && strcmp(key, "deny") != 0)
			return snprintf(err, TOKENS_ERR_BYTES, "unknown field %s", field), -1;
		if (tokens_patterns(v, allow ? l->allow : l->deny, allow ? &l->nallow : &l->ndeny,
				    e) < 0)
			return snprintf(err, TOKENS_ERR_BYTES, "%s %.240s", field, e), -1;
		if (allow)
			*allow_given = true;
	}
	return 0;
}

/* {"events_per_s": N, ...} into l (members left out keep their value). */
static int tokens_limits_parse(const json_t *o, struct auth_limits *l,
			       char field[TOKENS_FIELD_BYTES], char err[TOKENS_ERR_BYTES])
{
	const char *key;
	json_t *v;

	snprintf(field, TOKENS_FIELD_BYTES, "limits");
	if (!json_is_object(o))
		return snprintf(err, TOKENS_ERR_BYTES, "limits must be an object"), -1;
	json_object_foreach((json_t *)o, key, v) {
		json_int_t x = json_integer_value(v);
		bool wide = strcmp(key, "events_per_s") == 0 || strcmp(key, "bytes_per_s") == 0;
		uint64_t max = wide ? (uint64_t)INT64_MAX : TOKENS_LIMIT_U32;

		snprintf(field, TOKENS_FIELD_BYTES, "limits.%.40s", key);
		if (!wide && strcmp(key, "subscriptions") && strcmp(key, "connections") &&
		    strcmp(key, "rest_per_s"))
			return snprintf(err, TOKENS_ERR_BYTES, "unknown field %s", field), -1;
		if (!json_is_integer(v) || x < 0 || (uint64_t)x > max)
			return snprintf(err, TOKENS_ERR_BYTES, "%s must be an integer in 0..%llu "
					"(0: no bound)", field, (unsigned long long)max), -1;
		if (strcmp(key, "events_per_s") == 0)
			l->events_per_s = (uint64_t)x;
		else if (strcmp(key, "bytes_per_s") == 0)
			l->bytes_per_s = (uint64_t)x;
		else if (strcmp(key, "subscriptions") == 0)
			l->subscriptions = (uint32_t)x;
		else if (strcmp(key, "connections") == 0)
			l->connections = (uint32_t)x;
		else
			l->rest_per_s = (uint32_t)x;
	}
	return 0;
}

/* One member of a body. */
static int tokens_member(const char *key, const json_t *v, bool create, struct auth_token *t,
			 bool given[2], char field[TOKENS_FIELD_BYTES], char err[TOKENS_ERR_BYTES])
{
	snprintf(field, TOKENS_FIELD_BYTES, "%.60s", key);
	if (strcmp(key, "name") == 0) {
		if (!json_is_string(v) || !auth_name_valid(json_string_value(v)))
			return snprintf(err, TOKENS_ERR_BYTES, "name must be 1..%u bytes of "
					"[A-Za-z0-9._-]", AUTH_NAME_MAX), -1;
		if (!create && strcmp(json_string_value(v), t->name) != 0)
			return snprintf(err, TOKENS_ERR_BYTES, "a token cannot be renamed (name "
					"must be absent or '%s')", t->name), -1;
		memcpy(t->name, json_string_value(v), json_string_length(v) + 1);
		return 0;
	}
	if (strcmp(key, "role") == 0) {
		if (!json_is_string(v) || auth_role_parse(json_string_value(v), &t->role) < 0)
			return snprintf(err, TOKENS_ERR_BYTES, "role must be client, reader or "
					"admin"), -1;
		return 0;
	}
	if (strcmp(key, "publish") == 0)
		return tokens_list_parse(v, key, &t->pub, &given[0], field, err);
	if (strcmp(key, "subscribe") == 0)
		return tokens_list_parse(v, key, &t->sub, &given[1], field, err);
	if (strcmp(key, "limits") == 0)
		return tokens_limits_parse(v, &t->limits, field, err);
	return snprintf(err, TOKENS_ERR_BYTES, "unknown field %s (known: name, role, publish, "
			"subscribe, limits)", field), -1;
}

int tokens_apply_body(const json_t *body, bool create, struct auth_token *t,
		      char field[TOKENS_FIELD_BYTES], char err[TOKENS_ERR_BYTES])
{
	bool given[2] = { false, false };
	const char *key;
	json_t *v;

	if (create && !json_is_string(json_object_get(body, "name")))
		return snprintf(field, TOKENS_FIELD_BYTES, "name"),
		       snprintf(err, TOKENS_ERR_BYTES, "name: required, 1..%u bytes of "
				"[A-Za-z0-9._-]", AUTH_NAME_MAX), -1;
	json_object_foreach((json_t *)body, key, v)
		if (tokens_member(key, v, create, t, given, field, err) < 0)
			return -1;
	/* An admin may do everything unless told otherwise; anyone else nothing. */
	if (create && t->role == AUTH_ROLE_ADMIN && !given[0]) {
		strcpy(t->pub.allow[0], ">");
		t->pub.nallow = 1;
	}
	if (create && t->role == AUTH_ROLE_ADMIN && !given[1]) {
		strcpy(t->sub.allow[0], ">");
		t->sub.nallow = 1;
	}
	field[0] = '\0';
	return 0;
}

int tokens_from_row(const struct store_token *row, struct auth_token *out, char *err,
		    size_t cap)
{
	char field[TOKENS_FIELD_BYTES], e[TOKENS_ERR_BYTES];
	json_t *perm = json_loads(row->permissions ? row->permissions : "", 0, NULL);
	json_t *lim = json_loads(row->limits ? row->limits : "", 0, NULL);
	bool given[2];
	size_t hash_len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", row->id);
	snprintf(out->name, sizeof(out->name), "%s", row->name);
	snprintf(e, sizeof(e), "permissions or limits are not JSON objects");
	if (strlen(row->token_hash) != 2 * AUTH_HASH_BYTES)
		snprintf(e, sizeof(e), "token_hash is not %u hex digits", 2 * AUTH_HASH_BYTES);
	else if (auth_role_parse(row->role, &out->role) < 0)
		snprintf(e, sizeof(e), "role '%s' is unknown", row->role);
	else if (json_is_object(perm) && json_is_object(lim) &&
		 tokens_list_parse(json_object_get(perm, "publish"), "publish", &out->pub,
				   &given[0], field, e) == 0 &&
		 tokens_list_parse(json_object_get(perm, "subscribe"), "subscribe", &out->sub,
				   &given[1], field, e) == 0 &&
		 tokens_limits_parse(lim, &out->limits, field, e) == 0)
		rc = 0;
	if (rc == 0 && (sodium_hex2bin(out->hash, AUTH_HASH_BYTES, row->token_hash,
				       2 * AUTH_HASH_BYTES, NULL, &hash_len, NULL) != 0 ||
			hash_len != AUTH_HASH_BYTES)) {
		snprintf(e, sizeof(e), "token_hash is not hex");
		rc = -1;
	}
	json_decref(perm);
	json_decref(lim);
	if (rc < 0)
		snprintf(err, cap, "stored token %s: %s", row->id, e);
	return rc;
}

int tokens_to_row(const struct auth_token *t, struct store_token *row)
{
	json_t *perm = json_pack("{s:o*, s:o*}", "publish", tokens_list_json(&t->pub),
				 "subscribe", tokens_list_json(&t->sub));
	json_t *lim = tokens_limits_json(&t->limits);

	snprintf(row->id, sizeof(row->id), "%s", t->id);
	snprintf(row->name, sizeof(row->name), "%s", t->name);
	snprintf(row->role, sizeof(row->role), "%s", auth_role_name(t->role));
	sodium_bin2hex(row->token_hash, sizeof(row->token_hash), t->hash, AUTH_HASH_BYTES);
	row->permissions = perm ? json_dumps(perm, JSON_COMPACT) : NULL;
	row->limits = lim ? json_dumps(lim, JSON_COMPACT) : NULL;
	json_decref(perm);
	json_decref(lim);
	if (!row->permissions || !row->limits) {
		store_token_clear(row);
		return -1;
	}
	return 0;
}

/* A start-up token the store now holds (under its id) is the store's from now on. */
static int tokens_boot_prune(struct admin *a)
{
	for (uint32_t i = 0; i < a->tokens.nboot;) {
		struct store_token row;
		int rc = store_token_get(&a->store, a->tokens.boot[i].id, &row);

		store_token_clear(&row);
		if (rc == STORE_NOT_FOUND) {
			i++;
			continue;
		}
		if (rc != STORE_OK)
			return rc;
		a->tokens.boot[i] = a->tokens.boot[--a->tokens.nboot];
	}
	return STORE_OK;
}

/* Adds the stored tokens in force to set, a page at a time. */
static int tokens_add_stored(struct admin *a, struct auth_set *set, struct auth_token *tmp,
			     char *err, size_t cap)
{
	char after[AUTH_ID_LEN + 1] = "", why[TOKENS_ERR_BYTES];
	struct store_token *rows;
	uint32_t n;
	int rc;

	do {
		rc = store_tokens_list(&a->store, false, after, STORE_LIST_MAX, &rows, &n);
		if (rc != STORE_OK)
			return snprintf(err, cap, "store: %s", a->store.err), -1;
		for (uint32_t i = 0; i < n; i++) {
			if (tokens_from_row(&rows[i], tmp, why, sizeof(why)) < 0) {
				a->tokens.bad_rows++;	/* one bad row must not shut everyone out */
				if (!a->tokens.looking)
					admin_log(ADMIN_LOG_ERROR, "tokens: %s; left out", why);
				continue;
			}
			rc = auth_set_add(a->eng->auth, set, tmp);
			if (rc == -ENOMEM) {
				store_tokens_free(rows, n);
				return snprintf(err, cap, "tokens: out of memory"), -1;
			}
			if (rc < 0) {	/* one token left out, never the whole set stale:
					 * revocations must go on taking effect */
				a->tokens.bad_rows++;
				if (!a->tokens.looking)	/* said once, not every look */
					admin_log(ADMIN_LOG_ERROR, "tokens: %s left out: %s",
						  tmp->id, rc == -ENOSPC ? "more tokens than the "
						  "server keeps in force" : strerror(-rc));
			}
		}
		if (n)
			snprintf(after, sizeof(after), "%s", rows[n - 1].id);
		store_tokens_free(rows, n);
	} while (n == STORE_LIST_MAX);
	return 0;
}

/* The same tokens, rights and limits (each copied from a zeroed token, so bytes
 * compare; a token keeps its usage slot from set to set). */
static bool tokens_same(const struct auth_set *x, const struct auth_set *y)
{
	return x->n == y->n && (x->n == 0 ||
				memcmp(x->tokens, y->tokens, x->n * sizeof(*x->tokens)) == 0);
}

int tokens_reload(struct admin *a, char *err, size_t cap)
{
	uint32_t left_out;
	struct auth_token *tmp;
	struct auth_set *set;
	int rc;

	if (!a->eng || !a->eng->auth)
		return 0;
	if (!a->store.up)
		return snprintf(err, cap, "the store is unavailable"), -1;
	if (tokens_boot_prune(a) != STORE_OK)
		return snprintf(err, cap, "store: %s", a->store.err), -1;
	tmp = malloc(sizeof(*tmp));	/* ~26 KiB: not on the stack */
	set = auth_set_new();
	rc = tmp && set ? 0 : (snprintf(err, cap, "out of memory"), -1);
	for (uint32_t i = 0; rc == 0 && i < a->tokens.nboot; i++)
		if (auth_set_add(a->eng->auth, set, &a->tokens.boot[i]) < 0)
			rc = (snprintf(err, cap, "out of memory"), -1);
	if (rc == 0)
		rc = tokens_add_stored(a, set, tmp, err, cap);
	free(tmp);
	if (rc < 0) {
		auth_set_free(set);
		return -1;
	}
	a->tokens.in_force = set->n;
	if (tokens_same(auth_current(a->eng->auth), set)) {	/* a periodic look: no change */
		auth_set_free(set);
		a->tokens.stale = false;
		a->tokens.ready = true;
		return 0;
	}
	left_out = auth_swap(a->eng->auth, set);	/* the reactors look again */
	if (left_out)
		admin_log(ADMIN_LOG_ERROR, "tokens: %u left out: this process has used up its "
			  "%u token ids (restart it)", left_out, AUTH_USAGE_MAX);
	a->tokens.swaps++;
	a->tokens.stale = false;
	a->tokens.ready = true;
	return 0;
}
