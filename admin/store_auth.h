/* admin/store_auth.h — the auth_tokens and admin_audit tables (migration 6): tokens as
 * their hash with permissions and limits as JSON text, and the append-only record of
 * changes and refusals. Same conventions as admin/store_tables.h: "" stands for SQL NULL
 * in optional columns, times are RFC 3339 UTC text, every call returns STORE_OK or a
 * negative enum store_rc. The store's thread only. */
#ifndef FANOUT_ADMIN_STORE_AUTH_H
#define FANOUT_ADMIN_STORE_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/store_tables.h"
#include "core/auth.h"

#define STORE_ACTOR_BYTES   65u	/* a token id, "anonymous", "-": as the column */
#define STORE_AUDIT_ACTION_BYTES 48u
#define STORE_AUDIT_TARGET_BYTES 301u
#define STORE_AUDIT_STATUS_BYTES 24u
#define STORE_AUDIT_DETAIL_BYTES 257u
#define STORE_AUDIT_SOURCE_BYTES 64u

/* auth_tokens; permissions and limits are JSON text (malloc'd, never NULL once read). */
struct store_token {
	char id[AUTH_ID_LEN + 1];
	char name[AUTH_NAME_MAX + 1];
	char role[8];			/* "client", "reader", "admin" */
	char token_hash[2 * AUTH_HASH_BYTES + 1];	/* lower-case hex */
	char *permissions;		/* {"publish":{"allow":[],"deny":[]},"subscribe":{...}} */
	char *limits;			/* {"events_per_s":N,...} */
	char created_at[STORE_TIME_BYTES];
	char created_by[STORE_ACTOR_BYTES];
	char updated_at[STORE_TIME_BYTES];
	char revoked_at[STORE_TIME_BYTES];	/* "" while in force */
};

/* One admin_audit row. */
struct store_audit_row {
	char id[37];			/* UUID v7: a retried insert keeps it */
	char at[STORE_TIME_BYTES];
	char actor[STORE_ACTOR_BYTES];
	char actor_name[AUTH_NAME_MAX + 1];
	char source[STORE_AUDIT_SOURCE_BYTES];
	char action[STORE_AUDIT_ACTION_BYTES];
	char target[STORE_AUDIT_TARGET_BYTES];
	char outcome[8];		/* "ok", "refused", "failed" */
	char status[STORE_AUDIT_STATUS_BYTES];
	char detail[STORE_AUDIT_DETAIL_BYTES];
};

/* What GET /api/v1/admin-audit filters by; "" = any. */
struct store_audit_filter {
	char since[STORE_TIME_BYTES];	/* at >= since */
	char actor[STORE_ACTOR_BYTES];
	char action[STORE_AUDIT_ACTION_BYTES];
	char before_id[37];		/* rows older than this row (paging) */
};

/* CONFLICT when the id or the name exists. created_at = updated_at = now. */
int store_token_insert(struct store *st, const struct store_token *t);
/* Writes role, permissions and limits of t->id (NOT_FOUND). */
int store_token_update(struct store *st, const struct store_token *t);
/* Sets revoked_at = at on a token in force (NOT_FOUND when none is). */
int store_token_revoke(struct store *st, const char *id, const char *at);
int store_token_get(struct store *st, const char *id, struct store_token *out);
/* Tokens with ids after `after` ("" = from the start), by id, at most limit (<=
 * STORE_LIST_MAX), revoked ones only with revoked. Free with store_tokens_free. */
int store_tokens_list(struct store *st, bool revoked, const char *after, uint32_t limit,
		      struct store_token **out, uint32_t *n);
void store_token_clear(struct store_token *t);
void store_tokens_free(struct store_token *t, uint32_t n);

/* Inserts rows in one transaction (rows whose id is there already are skipped). */
int store_audit_insert(struct store *st, const struct store_audit_row *rows, uint32_t n);
/* Rows matching f, newest first, at most limit (<= STORE_LIST_MAX); *out is malloc'd. */
int store_audit_list(struct store *st, const struct store_audit_filter *f, uint32_t limit,
		     struct store_audit_row **out, uint32_t *n);

#endif
