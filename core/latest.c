/* core/latest.c — the last-value table over ck_ht in direct mode. */
#include "core/latest.h"

#include <errno.h>
#include <stdlib.h>

#include <ck_pr.h>

#include "core/ck_direct.h"
#include "core/epoch.h"

int latest_init(struct latest *t)
{
	t->keys = 0;
	if (!ck_ht_init(&t->ht, CK_HT_MODE_DIRECT, NULL, &epoch_allocator, 1024,
			0x6c61746573747631ull))
		return -ENOMEM;
	return 0;
}

void latest_free(struct latest *t)
{
	ck_ht_destroy(&t->ht);
}

int latest_put(struct latest *t, uint64_t key_hash, uint64_t offset)
{
	uintptr_t key = ck_direct_key(key_hash);
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &t->ht, key);
	ck_ht_entry_set_direct(&e, h, key, (uintptr_t)offset);
	if (!ck_ht_set_spmc(&t->ht, h, &e))
		return -ENOMEM;
	/* set returns the replaced entry in e; an empty one means the key is new. */
	if (ck_ht_entry_empty(&e))
		t->keys++;
	return 0;
}

bool latest_get(struct latest *t, uint64_t key_hash, uint64_t *offset)
{
	uintptr_t key = ck_direct_key(key_hash);
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &t->ht, key);
	ck_ht_entry_key_set_direct(&e, key);
	if (!ck_ht_get_spmc(&t->ht, h, &e))
		return false;
	*offset = ck_ht_entry_value_direct(&e);
	return true;
}

int latest_rebuild(struct latest *t, const struct log *log)
{
	struct log_cursor cur;
	struct log_ref ref;

	log_cursor_seek(log, &cur, log_first(log));
	while (log_cursor_peek(log, &cur, &ref) == 0) {
		if (latest_put(t, ref.entry->key_hash, cur.offset) < 0)
			return -ENOMEM;
		log_cursor_next(&cur);
	}
	return 0;
}

bool latest_each(struct latest *t, bool (*fn)(void *ctx, uint64_t key_hash, uint64_t offset),
		 void *ctx)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	/* ck_ht_next follows the table's current array by position: if the writer moves
	 * to a bigger one mid-walk, keys are skipped or repeated. Compare at the end. */
	const void *map = ck_pr_load_ptr(&t->ht.map);
	ck_ht_entry_t *e;

	while (ck_ht_next(&t->ht, &it, &e))
		if (!fn(ctx, ck_ht_entry_key_direct(e), ck_ht_entry_value_direct(e)))
			break;
	ck_pr_fence_load();
	return ck_pr_load_ptr(&t->ht.map) == map;
}
