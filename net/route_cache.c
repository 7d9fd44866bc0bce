/* net/route_cache.c — per-key wildcard routing answers over ck_ht in direct mode. */
#include "net/route_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ck_direct.h"

/* As net/interest.c: the log's address mixed into the key hash. */
static uintptr_t route_cache_key(const struct log *log, uint64_t key_hash)
{
	return ck_direct_key(key_hash ^ ((uint64_t)(uintptr_t)log * 0xc2b2ae3d27d4eb4full));
}

int route_cache_init(struct route_cache *rc)
{
	rc->count = 0;
	rc->bytes = 0;
	rc->resets = 0;
	if (!ck_ht_init(&rc->ht, CK_HT_MODE_DIRECT, NULL, &ck_direct_allocator, 1024,
			0x726f757465636163ull))
		return -ENOMEM;
	return 0;
}

static void route_cache_drop_all(struct route_cache *rc)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	while (ck_ht_next(&rc->ht, &it, &e))
		free((void *)ck_ht_entry_value_direct(e));
}

void route_cache_free(struct route_cache *rc)
{
	if (!rc->ht.map)
		return;	/* never initialised */
	route_cache_drop_all(rc);
	ck_ht_destroy(&rc->ht);
	rc->count = 0;
	rc->bytes = 0;
}

static size_t route_answer_bytes(uint32_t n, uint32_t klen)
{
	return sizeof(struct route_answer) + n * sizeof(void *) + klen;
}

const struct route_answer *route_cache_get(struct route_cache *rc, const struct log *log,
					   uint64_t key_hash, const char *key, uint32_t klen,
					   uint64_t gen)
{
	uintptr_t hkey = route_cache_key(log, key_hash);
	const struct route_answer *a;
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	if (!rc->ht.map)
		return NULL;
	ck_ht_hash_direct(&h, &rc->ht, hkey);
	ck_ht_entry_key_set_direct(&e, hkey);
	if (!ck_ht_get_spmc(&rc->ht, h, &e))
		return NULL;
	a = (const struct route_answer *)ck_ht_entry_value_direct(&e);
	return a->gen == gen && a->klen == klen && memcmp(a->key, key, klen) == 0 ? a : NULL;
}

const struct route_answer *route_cache_put(struct route_cache *rc, const struct log *log,
					   uint64_t key_hash, const char *key, uint32_t klen,
					   uint64_t gen, void *const *subs, uint32_t n)
{
	uintptr_t hkey = route_cache_key(log, key_hash);
	struct route_answer *a;
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	if (!rc->ht.map)
		return NULL;	/* disabled after a failed reset: callers route uncached */
	if (rc->count >= ROUTE_CACHE_MAX || rc->bytes >= ROUTE_CACHE_BYTES_MAX) {
		route_cache_drop_all(rc);	/* start over: bounded, and rare */
		rc->count = 0;
		rc->bytes = 0;
		rc->resets++;
		if (!ck_ht_reset_spmc(&rc->ht)) {	/* its entries point at freed answers */
			ck_ht_destroy(&rc->ht);
			memset(&rc->ht, 0, sizeof(rc->ht));
			return NULL;
		}
	}
	a = malloc(route_answer_bytes(n, klen));
	if (!a)
		return NULL;
	a->gen = gen;
	a->n = n;
	if (n)
		memcpy(a->subs, subs, n * sizeof(void *));
	memcpy(&a->subs[n], key, klen);
	a->key = (const char *)&a->subs[n];
	a->klen = klen;
	ck_ht_hash_direct(&h, &rc->ht, hkey);
	ck_ht_entry_set_direct(&e, h, hkey, (uintptr_t)a);
	if (!ck_ht_set_spmc(&rc->ht, h, &e)) {
		free(a);
		return NULL;
	}
	/* set hands back what it replaced: a stale answer for this key. */
	rc->bytes += route_answer_bytes(n, klen);
	if (ck_ht_entry_empty(&e)) {
		rc->count++;
	} else {
		struct route_answer *old = (struct route_answer *)ck_ht_entry_value_direct(&e);

		rc->bytes -= route_answer_bytes(old->n, old->klen);
		free(old);
	}
	return a;
}
