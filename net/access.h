/* net/access.h — one connection's standing with core/auth: the token it authenticated
 * with, the counts it holds against the token's limits (connections, subscriptions),
 * and the per-connection rate buckets. Its reactor's thread only.
 *
 * The token pointer belongs to the auth_set in force when it was looked up: it is used
 * only inside a reactor turn (an epoch section) and only after access_refresh has seen
 * that the set has not changed since (auth.gen), so a swapped-out set is never read. */
#ifndef FANOUT_NET_ACCESS_H
#define FANOUT_NET_ACCESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/auth.h"

struct access {
	const struct auth_token *token;	/* NULL: not authenticated (or auth is off) */
	struct auth_usage *usage;	/* the token's, never freed */
	char id[AUTH_ID_LEN + 1];	/* "" = none */
	char name[AUTH_NAME_MAX + 1];
	uint64_t gen;			/* auth.gen when token was looked up */
	bool conn_counted;		/* holds one of usage->connections */
	uint32_t subs_counted;		/* holds that many of usage->subscriptions */
	_Atomic int64_t events_tat, bytes_tat;	/* --max-conn-*-per-s buckets */
	_Atomic int64_t audit_tat;	/* refusals recorded (ACCESS_AUDIT_PER_S) */
	uint32_t audit_suppressed;	/* refusals not recorded since the last one */
};

/* Refusals a connection has recorded in the admin audit, a second (bursts as many): a
 * client that sends forbidden requests as fast as it can must not fill the table. */
#define ACCESS_AUDIT_PER_S 10u

enum access_refresh_rc {
	ACCESS_SAME = 0,	/* nothing changed */
	ACCESS_CHANGED = 1,	/* the token's rights may have: look at what depends on them */
	ACCESS_REVOKED = 2,	/* the token is gone: the connection must close */
};

/* Authenticates with a presented token. Returns 0; -EACCES for a token that is not
 * valid (*delay_ns: how long to hold the answer back, auth_fail); -EUSERS when the
 * token's connection limit is reached; -EALREADY when the connection authenticated with
 * another token before. */
int access_hello(struct access *ac, struct auth *a, const char *token, size_t len,
		 const struct sockaddr_storage *peer, int64_t now_ns, int64_t *delay_ns);

/* Looks again when the set changed. Inside a turn, before each use of ac->token. */
enum access_refresh_rc access_refresh(struct access *ac, struct auth *a);

/* True when the connection may do act on the topic: always with auth off (a == NULL or
 * not required). Call access_refresh first. */
bool access_allows(const struct access *ac, const struct auth *a, enum auth_action act,
		   const char *topic, size_t len);

/* Charges a publish batch: the connection's buckets (conn_events_per_s,
 * conn_bytes_per_s: 0 = none) then the token's. Returns 0, or the ns until it would fit
 * (nothing charged: what the buckets before the refusing one took is given back). */
int64_t access_charge(struct access *ac, uint64_t conn_events_per_s, uint64_t conn_bytes_per_s,
		      uint64_t events, uint64_t bytes, int64_t now_ns);

/* Whether a refusal is recorded: true (with *suppressed, how many were not since the
 * last recorded), or false past ACCESS_AUDIT_PER_S (counted). */
bool access_audit_take(struct access *ac, int64_t now_ns, uint32_t *suppressed);

/* One more subscription for the token. Returns true, or false at its limit. */
bool access_sub_take(struct access *ac);
void access_sub_give(struct access *ac);

/* Gives back what the connection holds. */
void access_close(struct access *ac);

#endif
