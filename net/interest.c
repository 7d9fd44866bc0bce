/* net/interest.c — exact-key interest lists over ck_ht in direct mode; keys that share a
 * hash are chained and told apart by their bytes. */
#include "net/interest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ck_direct.h"

#define INTEREST_LIST_MIN 4u

/* One table for every partition: the log's address is mixed into the key hash. */
static uintptr_t interest_key(const struct log *log, uint64_t key_hash)
{
	return ck_direct_key(key_hash ^ ((uint64_t)(uintptr_t)log * 0x9e3779b97f4a7c15ull));
}

static size_t interest_list_bytes(uint32_t cap, uint32_t klen)
{
	return sizeof(struct interest_list) + cap * sizeof(void *) + klen;
}

int interest_init(struct interest *in)
{
	in->keys = 0;
	in->bytes = 0;
	if (!ck_ht_init(&in->ht, CK_HT_MODE_DIRECT, NULL, &ck_direct_allocator, 1024,
			0x696e746572657374ull))
		return -ENOMEM;
	return 0;
}

void interest_free(struct interest *in)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	if (!in->ht.map)
		return;	/* never initialised */
	while (ck_ht_next(&in->ht, &it, &e)) {
		struct interest_list *l = (struct interest_list *)ck_ht_entry_value_direct(e);

		while (l) {
			struct interest_list *next = l->next;

			free(l);
			l = next;
		}
	}
	ck_ht_destroy(&in->ht);
	in->keys = 0;
	in->bytes = 0;
}

static struct interest_list *interest_get(struct interest *in, uintptr_t key, ck_ht_hash_t *h)
{
	ck_ht_entry_t e;

	ck_ht_hash_direct(h, &in->ht, key);
	ck_ht_entry_key_set_direct(&e, key);
	if (!ck_ht_get_spmc(&in->ht, *h, &e))
		return NULL;
	return (struct interest_list *)ck_ht_entry_value_direct(&e);
}

/* Points the table (prev NULL) or prev at l for chain head key. Returns 0 or -ENOMEM. */
static int interest_link(struct interest *in, uintptr_t key, ck_ht_hash_t h,
			 struct interest_list *prev, struct interest_list *l)
{
	ck_ht_entry_t e;

	if (prev) {
		prev->next = l;
		return 0;
	}
	if (l) {
		ck_ht_entry_set_direct(&e, h, key, (uintptr_t)l);
		return ck_ht_set_spmc(&in->ht, h, &e) ? 0 : -ENOMEM;
	}
	ck_ht_entry_key_set_direct(&e, key);
	ck_ht_remove_spmc(&in->ht, h, &e);
	return 0;
}

/* A list for key with room for cap subscriptions, holding old's (NULL: none). */
static struct interest_list *interest_list_new(const struct interest_list *old, const char *key,
					       uint32_t klen, uint32_t cap)
{
	struct interest_list *l = malloc(interest_list_bytes(cap, klen));

	if (!l)
		return NULL;
	l->next = old ? old->next : NULL;
	l->klen = klen;
	l->cap = cap;
	l->n = old ? old->n : 0;
	if (old)
		memcpy(l->subs, old->subs, old->n * sizeof(void *));
	memcpy(&l->subs[cap], key, klen);
	l->key = (const char *)&l->subs[cap];
	return l;
}

int interest_add(struct interest *in, const struct log *log, uint64_t key_hash,
		 const char *key, uint32_t klen, void *sub)
{
	uintptr_t hkey = interest_key(log, key_hash);
	struct interest_list *head, *l, *prev = NULL, *grown;
	ck_ht_hash_t h;

	head = interest_get(in, hkey, &h);
	for (l = head; l && !(l->klen == klen && memcmp(l->key, key, klen) == 0); l = l->next)
		prev = l;
	if (l) {
		for (uint32_t i = 0; i < l->n; i++)
			if (l->subs[i] == sub)
				return 0;
		if (l->n < l->cap) {
			l->subs[l->n++] = sub;
			return 0;
		}
	}
	grown = interest_list_new(l, key, klen, l ? l->cap * 2 : INTEREST_LIST_MIN);
	if (!grown)
		return -ENOMEM;
	grown->subs[grown->n++] = sub;
	if (interest_link(in, hkey, h, prev, grown) < 0) {
		free(grown);	/* the table could not grow; the old list stays */
		return -ENOMEM;
	}
	in->bytes += interest_list_bytes(grown->cap, klen);
	if (l) {
		in->bytes -= interest_list_bytes(l->cap, klen);
		free(l);
	} else {
		in->keys++;
	}
	return 0;
}

void interest_remove(struct interest *in, const struct log *log, uint64_t key_hash,
		     const char *key, uint32_t klen, void *sub)
{
	uintptr_t hkey = interest_key(log, key_hash);
	struct interest_list *l, *prev = NULL;
	ck_ht_hash_t h;

	for (l = interest_get(in, hkey, &h); l; l = l->next) {
		if (l->klen == klen && memcmp(l->key, key, klen) == 0)
			break;
		prev = l;
	}
	if (!l)
		return;
	for (uint32_t i = 0; i < l->n; i++) {
		if (l->subs[i] != sub)
			continue;
		/* Keep registration order: delivery order across subscriptions is stable. */
		memmove(&l->subs[i], &l->subs[i + 1], (l->n - i - 1) * sizeof(void *));
		l->n--;
		break;
	}
	if (l->n > 0)
		return;
	/* Removing or replacing an entry never allocates. */
	(void)interest_link(in, hkey, h, prev, l->next);
	in->bytes -= interest_list_bytes(l->cap, klen);
	free(l);
	in->keys--;
}

const struct interest_list *interest_find_hash(struct interest *in, const struct log *log,
					       uint64_t key_hash)
{
	ck_ht_hash_t h;

	return interest_get(in, interest_key(log, key_hash), &h);
}

const struct interest_list *interest_match(const struct interest_list *l, const char *key,
					   uint32_t klen)
{
	for (; l; l = l->next)
		if (l->klen == klen && memcmp(l->key, key, klen) == 0)
			return l;
	return NULL;
}
