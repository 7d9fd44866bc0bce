/* net/access.c — a connection's token, limits and rate buckets (see access.h). */
#include "net/access.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void access_take_token(struct access *ac, const struct auth_token *t, uint64_t gen)
{
	/* The id left a set and came back with a new slot: what the connection holds moves
	 * with it, so it gives back where it took. */
	if (ac->usage && ac->usage != t->usage) {
		if (ac->conn_counted) {
			auth_count_give(&ac->usage->connections);
			atomic_fetch_add_explicit(&t->usage->connections, 1, memory_order_relaxed);
		}
		for (uint32_t i = 0; i < ac->subs_counted; i++) {
			auth_count_give(&ac->usage->subscriptions);
			atomic_fetch_add_explicit(&t->usage->subscriptions, 1,
						  memory_order_relaxed);
		}
	}
	ac->token = t;
	ac->usage = t->usage;
	ac->gen = gen;
	snprintf(ac->id, sizeof(ac->id), "%s", t->id);
	snprintf(ac->name, sizeof(ac->name), "%s", t->name);
}

int access_hello(struct access *ac, struct auth *a, const char *token, size_t len,
		 const struct sockaddr_storage *peer, int64_t now_ns, int64_t *delay_ns)
{
	uint64_t gen = atomic_load_explicit(&a->gen, memory_order_acquire);
	const struct auth_token *t = auth_verify(auth_current(a), token, len);

	*delay_ns = 0;
	if (!t) {
		*delay_ns = auth_fail(a, peer, now_ns);
		return -EACCES;
	}
	if (ac->id[0]) {
		if (strcmp(ac->id, t->id) != 0)
			return -EALREADY;
		access_take_token(ac, t, gen);	/* the set in force now */
		return 0;
	}
	if (!auth_count_take(&t->usage->connections, t->limits.connections)) {
		snprintf(ac->name, sizeof(ac->name), "%s", t->name);	/* for the Error */
		return -EUSERS;
	}
	access_take_token(ac, t, gen);
	ac->conn_counted = true;
	return 0;
}

enum access_refresh_rc access_refresh(struct access *ac, struct auth *a)
{
	uint64_t gen = atomic_load_explicit(&a->gen, memory_order_acquire);
	const struct auth_token *t;

	if (!ac->id[0] || gen == ac->gen)
		return ACCESS_SAME;
	t = auth_find(auth_current(a), ac->id);
	if (!t) {
		ac->token = NULL;
		return ACCESS_REVOKED;
	}
	access_take_token(ac, t, gen);
	return ACCESS_CHANGED;
}

bool access_allows(const struct access *ac, const struct auth *a, enum auth_action act,
		   const char *topic, size_t len)
{
	if (!a || !a->required)
		return true;
	return ac->token && auth_allows(ac->token, act, topic, len);
}

int64_t access_charge(struct access *ac, uint64_t conn_events_per_s, uint64_t conn_bytes_per_s,
		      uint64_t events, uint64_t bytes, int64_t now_ns)
{
	const struct auth_limits *l = ac->token ? &ac->token->limits : NULL;
	struct {
		_Atomic int64_t *tat;
		uint64_t per_s, n;
	} b[4] = {
		{ &ac->events_tat, conn_events_per_s, events },
		{ &ac->bytes_tat, conn_bytes_per_s, bytes },
		{ l ? &ac->usage->events_tat : NULL, l ? l->events_per_s : 0, events },
		{ l ? &ac->usage->bytes_tat : NULL, l ? l->bytes_per_s : 0, bytes },
	};
	int64_t wait = 0;
	int i;

	for (i = 0; i < 4 && wait == 0; i++)
		if (b[i].tat)
			wait = auth_rate_take(b[i].tat, b[i].per_s, b[i].n, now_ns);
	if (wait == 0)
		return 0;
	/* Refused by bucket i - 1: what the ones before it took goes back. */
	for (int k = 0; k < i - 1; k++)
		if (b[k].tat)
			auth_rate_give(b[k].tat, b[k].per_s, b[k].n);
	return wait;
}

bool access_audit_take(struct access *ac, int64_t now_ns, uint32_t *suppressed)
{
	if (auth_rate_take(&ac->audit_tat, ACCESS_AUDIT_PER_S, 1, now_ns) > 0) {
		ac->audit_suppressed++;
		return false;
	}
	*suppressed = ac->audit_suppressed;
	ac->audit_suppressed = 0;
	return true;
}

bool access_sub_take(struct access *ac)
{
	if (!ac->token)
		return true;
	if (!auth_count_take(&ac->usage->subscriptions, ac->token->limits.subscriptions))
		return false;
	ac->subs_counted++;
	return true;
}

void access_sub_give(struct access *ac)
{
	if (!ac->subs_counted)
		return;
	ac->subs_counted--;
	auth_count_give(&ac->usage->subscriptions);
}

void access_close(struct access *ac)
{
	while (ac->subs_counted)
		access_sub_give(ac);
	if (ac->conn_counted)
		auth_count_give(&ac->usage->connections);
	memset(ac, 0, sizeof(*ac));
}
