/* admin/admin_audit.h — the admin_audit trail: who changed what through REST (every
 * POST/PUT/PATCH/DELETE on topics, subscriptions, rules and tokens, done or failed),
 * every refused REST call (401, 403, 429), and the reactors' refused TCP attempts
 * (core/auth.h auth_refuse, drained here). Rows wait in a bounded ring
 * (ADMIN_AUDIT_QUEUE_MAX: the oldest dropped and counted when full, e.g. while the store
 * is down) and are written in transactions of ADMIN_AUDIT_FLUSH_ROWS. A token's text is
 * never in a row: only its id and name. The admin thread only. */
#ifndef FANOUT_ADMIN_ADMIN_AUDIT_H
#define FANOUT_ADMIN_ADMIN_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/store_auth.h"

#define ADMIN_AUDIT_QUEUE_MAX  4096u	/* rows held (~1 KiB each) */
#define ADMIN_AUDIT_FLUSH_ROWS 256u	/* rows per store transaction */
#define ADMIN_AUDIT_FLUSHES    4u	/* transactions per admin loop turn */
#define ADMIN_AUDIT_REFUSALS   256u	/* TCP refusals drained per turn */

struct admin;
struct admin_req;
struct admin_reply;

/* Who made a REST call: a verified token, or nobody ("-" with --auth off, "anonymous"
 * for a call refused 401). */
struct admin_caller {
	bool token;			/* id, name and role are a verified token's */
	char id[AUTH_ID_LEN + 1];
	char name[AUTH_NAME_MAX + 1];
	enum auth_role role;
	char source[STORE_AUDIT_SOURCE_BYTES];	/* the peer address */
};

struct admin_audit_q {
	struct store_audit_row *rows;	/* a ring of ADMIN_AUDIT_QUEUE_MAX: [head, head + n) */
	uint32_t head, n;
	struct auth_refusal *refusals;	/* ADMIN_AUDIT_REFUSALS: a drain's room */
	uint64_t added, written, dropped, rejected;
	bool drop_logged;
};

/* Allocates the ring. Returns 0 or -1 (out of memory). */
int admin_audit_init(struct admin_audit_q *q);
void admin_audit_free(struct admin_audit_q *q);

/* Queues one row (now; a UUID v7 id); strings are cut to their columns. */
void admin_audit_add(struct admin *a, const struct admin_caller *who, const char *action,
		     const char *target, const char *outcome, int status, const char *detail);

/* After a REST call was answered: a row when it was a change (by method and path) or a
 * refusal (401, 403, 429). */
void admin_audit_rest(struct admin *a, const struct admin_req *r, const struct admin_reply *rep,
		      const struct admin_caller *who);

/* Moves the reactors' refusals (bounded) into rows ("tcp." + their action). */
void admin_audit_refusals(struct admin *a);

/* Writes held rows while the store is up (bounded). Returns true when rows remain. */
bool admin_audit_flush(struct admin *a);

#endif
