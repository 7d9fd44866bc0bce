/* core/auth.c — tokens, topic permissions, rate limits, failures and refusals (see
 * auth.h). */
#include "core/auth.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define AUTH_PREFIX "fo_"
#define AUTH_SECRET_B64 43u	/* base64url of 32 bytes, unpadded */

int auth_init(struct auth *a, bool required)
{
	struct auth_set *set;

	memset(a, 0, sizeof(*a));
	if (sodium_init() < 0)
		return -ENOMEM;
	a->required = required;
	a->refusals = calloc(AUTH_REFUSALS_MAX, sizeof(*a->refusals));
	set = auth_set_new();
	if (!a->refusals || !set) {
		free(a->refusals);
		auth_set_free(set);
		return -ENOMEM;
	}
	atomic_init(&a->set, set);
	pthread_mutex_init(&a->lock, NULL);
	return 0;
}

void auth_free(struct auth *a)
{
	auth_set_free((struct auth_set *)auth_current(a));
	for (uint32_t i = 0; i < AUTH_USAGE_MAX / AUTH_USAGE_CHUNK; i++)
		free(a->usage[i]);
	free(a->refusals);
	pthread_mutex_destroy(&a->lock);
	memset(a, 0, sizeof(*a));
}

/* ---- tokens -------------------------------------------------------------------------- */

static void auth_hash(const char *text, size_t len, uint8_t hash[AUTH_HASH_BYTES])
{
	crypto_generichash(hash, AUTH_HASH_BYTES, (const unsigned char *)text, len, NULL, 0);
}

void auth_token_generate(char text[AUTH_TOKEN_LEN + 1], char id[AUTH_ID_LEN + 1],
			 uint8_t hash[AUTH_HASH_BYTES])
{
	uint8_t idb[AUTH_ID_LEN / 2], secret[32];
	char b64[AUTH_SECRET_B64 + 2];

	randombytes_buf(idb, sizeof(idb));
	randombytes_buf(secret, sizeof(secret));
	sodium_bin2hex(id, AUTH_ID_LEN + 1, idb, sizeof(idb));
	sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(text, AUTH_TOKEN_LEN + 1, AUTH_PREFIX "%s_%s", id, b64);
	auth_hash(text, AUTH_TOKEN_LEN, hash);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(b64, sizeof(b64));
}

static bool auth_hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool auth_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int auth_token_parse(const char *text, size_t len, char id[AUTH_ID_LEN + 1],
		     uint8_t hash[AUTH_HASH_BYTES])
{
	const size_t pre = sizeof(AUTH_PREFIX) - 1;

	if (len != AUTH_TOKEN_LEN || memcmp(text, AUTH_PREFIX, pre) != 0 ||
	    text[pre + AUTH_ID_LEN] != '_')
		return -EINVAL;
	for (size_t i = 0; i < AUTH_ID_LEN; i++)
		if (!auth_hex_digit(text[pre + i]))
			return -EINVAL;
	for (size_t i = pre + AUTH_ID_LEN + 1; i < len; i++)
		if (!auth_b64url(text[i]))
			return -EINVAL;
	memcpy(id, text + pre, AUTH_ID_LEN);
	id[AUTH_ID_LEN] = '\0';
	auth_hash(text, len, hash);
	return 0;
}

bool auth_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static const char *const auth_roles[] = { "client", "reader", "admin" };

int auth_role_parse(const char *s, enum auth_role *role)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, auth_roles[i]) == 0) {
			*role = (enum auth_role)i;
			return 0;
		}
	return -EINVAL;
}

const char *auth_role_name(enum auth_role role)
{
	return (unsigned)role < 3 ? auth_roles[role] : "?";
}

/* ---- topic patterns -------------------------------------------------------------------- */

int auth_pattern_check(const char *pattern, const char **why)
{
	size_t n = strlen(pattern), start = 0;

	if (n == 0 || n > AUTH_PATTERN_MAX) {
		*why = "a topic pattern must be 1..200 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i <= n; i++) {
		char c = pattern[i];

		if (i < n && c != '/') {
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
			      c == '*' || c == '>')) {
				*why = "a topic pattern holds topic-name characters (letters, digits, "
				       ". _ - /) and the wildcards * and >";
				return -EINVAL;
			}
			continue;
		}
		/* A segment [start, i). */
		if (i == start) {
			*why = "a topic pattern has no empty segments (no leading, trailing or "
			       "doubled '/')";
			return -EINVAL;
		}
		for (size_t k = start; k < i; k++)
			if ((pattern[k] == '*' || pattern[k] == '>') && i - start != 1) {
				*why = "a wildcard (* or >) is a whole segment: \"market-data/*\", "
				       "not \"market-*\"";
				return -EINVAL;
			}
		if (pattern[start] == '>' && i != n) {
			*why = "'>' may only be the last segment";
			return -EINVAL;
		}
		start = i + 1;
	}
	return 0;
}

bool auth_pattern_match(const char *pattern, const char *name, size_t len)
{
	const char *p = pattern, *t = name, *tend = name + len;

	for (;;) {
		const char *pseg_end = strchr(p, '/');
		const char *tseg_end = memchr(t, '/', (size_t)(tend - t));
		size_t plen = pseg_end ? (size_t)(pseg_end - p) : strlen(p);
		size_t tlen = tseg_end ? (size_t)(tseg_end - t) : (size_t)(tend - t);

		if (plen == 1 && p[0] == '>')
			return t < tend;	/* one or more segments remain */
		if (plen == 1 && p[0] == '*' ? tlen == 0 : plen != tlen || memcmp(p, t, plen))
			return false;
		if (!pseg_end || !tseg_end)
			return !pseg_end && !tseg_end;
		p = pseg_end + 1;
		t = tseg_end + 1;
	}
}

bool auth_allows(const struct auth_token *t, enum auth_action act, const char *topic,
		 size_t len)
{
	const struct auth_list *l = act == AUTH_PUBLISH ? &t->pub : &t->sub;
	bool ok = false;

	for (uint32_t i = 0; i < l->nallow && !ok; i++)
		ok = auth_pattern_match(l->allow[i], topic, len);
	for (uint32_t i = 0; i < l->ndeny && ok; i++)
		ok = !auth_pattern_match(l->deny[i], topic, len);
	return ok;
}

/* ---- sets ---------------------------------------------------------------------------- */

struct auth_set *auth_set_new(void)
{
	return calloc(1, sizeof(struct auth_set));
}

void auth_set_free(struct auth_set *set)
{
	if (!set)
		return;
	if (set->tokens)
		sodium_memzero(set->tokens, set->cap * sizeof(*set->tokens));
	free(set->tokens);
	free(set);
}

/* A new usage slot for id, or NULL (AUTH_USAGE_MAX, or no memory). Under a->lock. */
static struct auth_usage *auth_usage_new(struct auth *a, const char *id)
{
	uint32_t chunk = a->nusage / AUTH_USAGE_CHUNK;
	struct auth_usage *u;

	if (a->nusage == AUTH_USAGE_MAX)
		return NULL;
	if (!a->usage[chunk] && !(a->usage[chunk] = calloc(AUTH_USAGE_CHUNK, sizeof(*u))))
		return NULL;
	u = &a->usage[chunk][a->nusage++ % AUTH_USAGE_CHUNK];
	snprintf(u->id, sizeof(u->id), "%s", id);
	return u;
}

int auth_set_add(struct auth *a, struct auth_set *set, const struct auth_token *t)
{
	uint32_t at = 0;
	const struct auth_token *cur;
	struct auth_usage *u;

	while (at < set->n && strcmp(set->tokens[at].id, t->id) < 0)
		at++;
	if (at < set->n && strcmp(set->tokens[at].id, t->id) == 0)
		return -EEXIST;
	if (set->n == AUTH_TOKENS_MAX)
		return -ENOSPC;
	if (set->n == set->cap) {
		uint32_t cap = set->cap ? set->cap * 2 : 8;
		struct auth_token *grown = realloc(set->tokens, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		set->tokens = grown;
		set->cap = cap;
	}
	/* The slot it has in the set in force (the writer's own set: no section), else
	 * one from auth_swap: a set that is never put in force takes none. */
	cur = auth_find(auth_current(a), t->id);
	u = cur ? cur->usage : NULL;
	memmove(&set->tokens[at + 1], &set->tokens[at], (set->n - at) * sizeof(*set->tokens));
	set->tokens[at] = *t;
	set->tokens[at].usage = u;
	set->n++;
	return 0;
}

static void auth_set_reclaim(struct epoch_entry *ent)
{
	auth_set_free((struct auth_set *)((char *)ent - offsetof(struct auth_set, ent)));
}

uint32_t auth_swap(struct auth *a, struct auth_set *next)
{
	struct auth_set *old;
	uint32_t left_out = 0;

	/* New ids get their slots now, before any reader can see the set. */
	pthread_mutex_lock(&a->lock);
	for (uint32_t i = 0; i < next->n;) {
		struct auth_token *t = &next->tokens[i];

		if (!t->usage && !(t->usage = auth_usage_new(a, t->id))) {
			memmove(t, t + 1, (next->n - i - 1) * sizeof(*t));
			next->n--;
			left_out++;
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&a->lock);
	old = (struct auth_set *)atomic_exchange_explicit(&a->set, next, memory_order_acq_rel);

	atomic_fetch_add_explicit(&a->gen, 1, memory_order_release);
	if (old)
		epoch_defer(&old->ent, auth_set_reclaim);
	return left_out;
}

const struct auth_token *auth_find(const struct auth_set *set, const char *id)
{
	uint32_t lo = 0, hi = set->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->tokens[mid].id, id);

		if (c == 0)
			return &set->tokens[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct auth_token *auth_verify(const struct auth_set *set, const char *text, size_t len)
{
	char id[AUTH_ID_LEN + 1];
	uint8_t hash[AUTH_HASH_BYTES];
	const struct auth_token *t;
	bool same;

	if (auth_token_parse(text, len, id, hash) < 0)
		return NULL;
	t = auth_find(set, id);
	same = t && sodium_memcmp(t->hash, hash, AUTH_HASH_BYTES) == 0;
	sodium_memzero(hash, sizeof(hash));
	return same ? t : NULL;
}

/* ---- rate limits ------------------------------------------------------------------------ */

/* What n units cost in the bucket's time: each 1/per_s s. */
static int64_t auth_rate_cost(uint64_t per_s, uint64_t n)
{
	return (int64_t)((n * 1000000000ull + per_s - 1) / per_s);
}

void auth_rate_give(_Atomic int64_t *tat, uint64_t per_s, uint64_t n)
{
	if (per_s && n)
		atomic_fetch_sub_explicit(tat, auth_rate_cost(per_s, n), memory_order_relaxed);
}

int64_t auth_rate_take(_Atomic int64_t *tat, uint64_t per_s, uint64_t n, int64_t now_ns)
{
	int64_t cost, burst, cur, next;

	if (per_s == 0 || n == 0)
		return 0;
	/* The bucket holds a second's worth (or n, if larger). */
	cost = auth_rate_cost(per_s, n);
	burst = cost > AUTH_BURST_NS ? cost : AUTH_BURST_NS;
	cur = atomic_load_explicit(tat, memory_order_relaxed);
	do {
		int64_t base = cur > now_ns ? cur : now_ns;

		next = base + cost;
		if (next - now_ns > burst)
			return next - now_ns - burst;
	} while (!atomic_compare_exchange_weak_explicit(tat, &cur, next, memory_order_relaxed,
							memory_order_relaxed));
	return 0;
}

bool auth_count_take(_Atomic uint32_t *count, uint32_t max)
{
	uint32_t cur = atomic_load_explicit(count, memory_order_relaxed);

	do {
		if (max && cur >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(count, &cur, cur + 1,
							memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

void auth_count_give(_Atomic uint32_t *count)
{
	uint32_t prev = atomic_fetch_sub_explicit(count, 1, memory_order_relaxed);

	assert(prev > 0);	/* a give without its take */
	(void)prev;
}

/* ---- failures and refusals ------------------------------------------------------------- */

static bool auth_same_host(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET)
		return ((const struct sockaddr_in *)x)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)y)->sin_addr.s_addr;
	if (x->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
			      &((const struct sockaddr_in6 *)y)->sin6_addr, 16) == 0;
	return true;	/* Unix sockets: one local source */
}

/* The slot of addr (made, the stalest reused, when absent). Under a->lock. */
static struct auth_fail_slot *auth_fail_slot(struct auth *a, const struct sockaddr_storage *addr,
					     int64_t now_ns, bool make)
{
	struct auth_fail_slot *stale = &a->fails[0];

	for (uint32_t i = 0; i < AUTH_FAIL_SLOTS; i++) {
		struct auth_fail_slot *f = &a->fails[i];

		if (f->count && auth_same_host(&f->addr, addr)) {
			if (now_ns - f->last_ns > AUTH_FAIL_WINDOW_NS)
				f->count = 0;	/* forgotten */
			return f;
		}
		if (f->last_ns < stale->last_ns)
			stale = f;
	}
	if (!make)
		return NULL;
	memset(stale, 0, sizeof(*stale));
	stale->addr = *addr;
	return stale;
}

int64_t auth_fail(struct auth *a, const struct sockaddr_storage *addr, int64_t now_ns)
{
	struct auth_fail_slot *f;
	int64_t delay = 0;

	atomic_fetch_add_explicit(&a->failures, 1, memory_order_relaxed);
	pthread_mutex_lock(&a->lock);
	f = auth_fail_slot(a, addr, now_ns, true);
	f->count++;
	f->last_ns = now_ns;
	if (f->count > AUTH_FAIL_FREE) {
		uint32_t over = f->count - AUTH_FAIL_FREE - 1;

		delay = over >= 6 ? AUTH_FAIL_DELAY_MAX_NS : (100ll * 1000000) << over;
		if (delay > AUTH_FAIL_DELAY_MAX_NS)
			delay = AUTH_FAIL_DELAY_MAX_NS;
	}
	pthread_mutex_unlock(&a->lock);
	return delay;
}

uint32_t auth_fail_count(struct auth *a, const struct sockaddr_storage *addr, int64_t now_ns)
{
	struct auth_fail_slot *f;
	uint32_t n;

	pthread_mutex_lock(&a->lock);
	f = auth_fail_slot(a, addr, now_ns, false);
	n = f ? f->count : 0;
	pthread_mutex_unlock(&a->lock);
	return n;
}

void auth_refuse(struct auth *a, const char *who, const char *source, const char *action,
		 const char *target, const char *why)
{
	struct auth_refusal *r;

	pthread_mutex_lock(&a->lock);
	if (a->rn == AUTH_REFUSALS_MAX) {	/* the oldest goes */
		a->rhead = (a->rhead + 1) % AUTH_REFUSALS_MAX;
		a->rn--;
		a->refusals_dropped++;
	}
	r = &a->refusals[(a->rhead + a->rn++) % AUTH_REFUSALS_MAX];
	r->at_ns = clock_realtime_ns();
	snprintf(r->who, sizeof(r->who), "%s", who ? who : "");
	snprintf(r->source, sizeof(r->source), "%s", source ? source : "");
	snprintf(r->action, sizeof(r->action), "%s", action ? action : "");
	snprintf(r->target, sizeof(r->target), "%s", target ? target : "");
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	auth_text_clean(r->target);	/* a client's bytes, cut anywhere */
	auth_text_clean(r->why);
	pthread_mutex_unlock(&a->lock);
}

uint32_t auth_refusals_take(struct auth *a, struct auth_refusal *out, uint32_t max)
{
	uint32_t n = 0;

	pthread_mutex_lock(&a->lock);
	while (n < max && a->rn) {
		out[n++] = a->refusals[a->rhead];
		a->rhead = (a->rhead + 1) % AUTH_REFUSALS_MAX;
		a->rn--;
	}
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* The length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, surrogates or
 * code points past U+10FFFF), or 0. */
static size_t auth_utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 :
		   c >= 0xc2 && c <= 0xdf ? 2 : 0;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (n == 0)
		return 0;
	cp = c & (0xff >> (n + 1));
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* a NUL ends it here too */
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void auth_text_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = auth_utf8_len(p);

		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

void auth_addr_text(const struct sockaddr_storage *addr, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host, sizeof(host)))
		snprintf(buf, cap, "%s", host);
	else if (addr->ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host,
			   sizeof(host)))
		snprintf(buf, cap, "[%s]", host);
	else if (addr->ss_family == AF_UNIX)
		snprintf(buf, cap, "unix");
	else
		snprintf(buf, cap, "?");
}
