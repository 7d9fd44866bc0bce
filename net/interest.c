/* net/interest.c — exact-key interest lists over ck_ht in direct mode. */
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

int interest_init(struct interest *in)
{
	in->keys = 0;
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
	while (ck_ht_next(&in->ht, &it, &e))
		free((void *)ck_ht_entry_value_direct(e));
	ck_ht_destroy(&in->ht);
	in->keys = 0;
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

int interest_add(struct interest *in, const struct log *log, uint64_t key_hash, void *sub)
{
	uintptr_t key = interest_key(log, key_hash);
	struct interest_list *l, *grown;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	uint32_t cap;

	l = interest_get(in, key, &h);
	if (l) {
		for (uint32_t i = 0; i < l->n; i++)
			if (l->subs[i] == sub)
				return 0;
		if (l->n < l->cap) {
			l->subs[l->n++] = sub;
			return 0;
		}
	}
	cap = l ? l->cap * 2 : INTEREST_LIST_MIN;
	grown = malloc(sizeof(*grown) + cap * sizeof(void *));
	if (!grown)
		return -ENOMEM;
	grown->n = l ? l->n : 0;
	grown->cap = cap;
	if (l)
		memcpy(grown->subs, l->subs, l->n * sizeof(void *));
	grown->subs[grown->n++] = sub;
	ck_ht_entry_set_direct(&e, h, key, (uintptr_t)grown);
	if (!ck_ht_set_spmc(&in->ht, h, &e)) {
		free(grown);	/* the table could not grow; the old list stays */
		return -ENOMEM;
	}
	if (l)
		free(l);
	else
		in->keys++;
	return 0;
}

void interest_remove(struct interest *in, const struct log *log, uint64_t key_hash, void *sub)
{
	uintptr_t key = interest_key(log, key_hash);
	struct interest_list *l;
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	l = interest_get(in, key, &h);
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
	ck_ht_entry_key_set_direct(&e, key);
	ck_ht_remove_spmc(&in->ht, h, &e);
	free(l);
	in->keys--;
}

const struct interest_list *interest_find(struct interest *in, const struct log *log,
					  uint64_t key_hash)
{
	ck_ht_hash_t h;

	return interest_get(in, interest_key(log, key_hash), &h);
}
