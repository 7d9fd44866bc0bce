/* net/access.c — a connection's token, limits and rate buckets (see access.h). */
#include "net/access.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void access_take_token(struct access *ac, const struct auth_token *t, uint64_t gen)
{
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
	if (ac->id[0])
		return strcmp(ac->id, t->id) == 0 ? 0 : -EALREADY;
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
	int64_t wait;

	if ((wait = auth_rate_take(&ac->events_tat, conn_events_per_s, events, now_ns)) ||
	    (wait = auth_rate_take(&ac->bytes_tat, conn_bytes_per_s, bytes, now_ns)))
		return wait;
	if (!ac->token)
		return 0;
	if ((wait = auth_rate_take(&ac->usage->events_tat, ac->token->limits.events_per_s,
				   events, now_ns)) ||
	    (wait = auth_rate_take(&ac->usage->bytes_tat, ac->token->limits.bytes_per_s, bytes,
				   now_ns)))
		return wait;
	return 0;
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
