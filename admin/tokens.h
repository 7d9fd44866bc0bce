/* admin/tokens.h — the tokens in force: built from the store's auth_tokens rows (those
 * not revoked) plus the tokens the server started with that the store does not hold (the
 * --auth-bootstrap admin token), and swapped into core/auth with auth_swap. Also the
 * JSON forms of a token's permissions and limits, shared by the store rows and the REST
 * bodies. The admin thread only (it is the set's one writer). */
#ifndef FANOUT_ADMIN_TOKENS_H
#define FANOUT_ADMIN_TOKENS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/store_auth.h"
#include "core/auth.h"

#define TOKENS_FIELD_BYTES 64u
#define TOKENS_ERR_BYTES   320u

struct admin;

#define ADMIN_TOKENS_LOOK_NS (5ll * 1000000000)	/* tokens re-read from the store */

struct admin_tokens {
	struct auth_token *boot;	/* the start-up set's tokens the store does not have */
	uint32_t nboot;
	bool stale;			/* the set should be rebuilt from the store */
	bool ready;			/* the store's tokens have been put in force once */
	int64_t retry_ns;		/* CLOCK_MONOTONIC: a failed rebuild is tried again */
	int64_t look_ns;		/* the next look at the store (ADMIN_TOKENS_LOOK_NS) */
	bool looking;			/* this rebuild is a periodic look: what it leaves out
					 * was logged when it changed */
	uint64_t swaps;			/* sets put in force */
	uint64_t bad_rows;		/* stored tokens left out: unreadable */
	uint32_t in_force;		/* tokens in the set in force */
};

/* Copies the tokens of the set in force (the start-up set: the bootstrap token) so every
 * later set keeps them. Returns 0 or -1 (out of memory, logged). On admin_start. */
int tokens_init(struct admin *a);
void tokens_free(struct admin *a);

/* Rebuilds the set from the store and swaps it in. Returns 0, or -1 with err (the
 * store's failure: the set in force stays). */
int tokens_reload(struct admin *a, char *err, size_t cap);

/* The start-up token with this id or name (NULL for the other), or NULL. */
const struct auth_token *tokens_boot_find(const struct admin *a, const char *id,
					  const char *name);

/* A stored row as a token (its hash, role, lists, limits). Returns 0, or -1 with err. */
int tokens_from_row(const struct store_token *row, struct auth_token *out, char *err,
		    size_t cap);

/* A token's permissions and limits as the JSON text the store keeps (malloc'd) into
 * row->permissions / row->limits, and its role's name. Returns 0 or -1 (ENOMEM). */
int tokens_to_row(const struct auth_token *t, struct store_token *row);

/* {"allow": [...], "deny": [...]} of one list; {"events_per_s": N, ...}. */
json_t *tokens_list_json(const struct auth_list *l);
json_t *tokens_limits_json(const struct auth_limits *l);

/* Applies a REST body's members to t: name (create only), role, publish, subscribe,
 * limits; with create, an allow list left out is [">"] for an admin and [] otherwise.
 * Returns 0, or -1 with field (the member at fault: "publish.allow", "limits.x") and
 * err. */
int tokens_apply_body(const json_t *body, bool create, struct auth_token *t,
		      char field[TOKENS_FIELD_BYTES], char err[TOKENS_ERR_BYTES]);

#endif
