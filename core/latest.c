/* core/latest.c — the last-value table: a ck_ht in direct mode from (derived) key hashes
 * to nodes, nodes in slabs that never move, an update-order list for eviction, and key
 * bytes compared wherever a hash matches (see latest.h). */
#include "core/latest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "core/ck_direct.h"
#include "core/epoch.h"
#include "core/frame_key.h"

#define LATEST_SLAB0 64u		/* nodes of slab 0; slab s holds LATEST_SLAB0 << s */
#define LATEST_TABLE_SLOT_BYTES 32u	/* a ck_ht entry (16) at its load factor (0.5) */

_Static_assert(LATEST_KEYS_MAX <= LATEST_SLAB0 * ((1ull << LATEST_SLABS) - 1),
	       "the slabs hold LATEST_KEYS_MAX nodes");

/* Slab of node i and i's place in it: slab s starts at LATEST_SLAB0 * (2^s - 1). */
static struct latest_node *latest_node(const struct latest *t, uint32_t i)
{
	uint32_t s = 31u - (uint32_t)__builtin_clz(i / LATEST_SLAB0 + 1);
	uint32_t first = LATEST_SLAB0 * ((1u << s) - 1);
	struct latest_node *slab = atomic_load_explicit(&t->slabs[s], memory_order_acquire);

	return &slab[i - first];
}

/* The table key of a hash's probe-th key: the hash itself first, then mixes of it
 * (splitmix64's finaliser), so colliding keys spread over the table. */
static uintptr_t latest_dkey(uint64_t h, uint32_t probe)
{
	if (probe) {
		h ^= probe * 0x9e3779b97f4a7c15ull;
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
		h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
		h ^= h >> 31;
	}
	return ck_direct_key(h);
}

static bool latest_ht_get(struct latest *t, uintptr_t dkey, uint32_t *node)
{
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &t->ht, dkey);
	ck_ht_entry_key_set_direct(&e, dkey);
	if (!ck_ht_get_spmc(&t->ht, h, &e))
		return false;
	*node = (uint32_t)ck_ht_entry_value_direct(&e);
	return true;
}

static bool latest_ht_set(struct latest *t, uintptr_t dkey, uint32_t node)
{
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &t->ht, dkey);
	ck_ht_entry_set_direct(&e, h, dkey, node);
	return ck_ht_set_spmc(&t->ht, h, &e);
}

static void latest_ht_remove(struct latest *t, uintptr_t dkey)
{
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, &t->ht, dkey);
	ck_ht_entry_key_set_direct(&e, dkey);
	ck_ht_remove_spmc(&t->ht, h, &e);
}

/* Keys and memory after a key came or went. */
static void latest_count(struct latest *t, int64_t keys)
{
	uint64_t k = atomic_load_explicit(&t->keys, memory_order_relaxed) + (uint64_t)keys;

	atomic_store_explicit(&t->keys, k, memory_order_relaxed);
	atomic_store_explicit(&t->bytes, t->slab_bytes + k * LATEST_TABLE_SLOT_BYTES,
			      memory_order_relaxed);
}

int latest_init(struct latest *t, const struct log *log, uint32_t keys_max)
{
	memset(t, 0, sizeof(*t));
	t->log = log;
	t->keys_max = keys_max == 0 ? 1 : keys_max > LATEST_KEYS_MAX ? LATEST_KEYS_MAX : keys_max;
	t->free = t->oldest = t->newest = LATEST_NONE;
	if (!ck_ht_init(&t->ht, CK_HT_MODE_DIRECT, NULL, &epoch_allocator, 1024,
			0x6c61746573747631ull))
		return -ENOMEM;
	return 0;
}

void latest_free(struct latest *t)
{
	ck_ht_destroy(&t->ht);
	for (uint32_t s = 0; s < LATEST_SLABS; s++)
		free(atomic_load_explicit(&t->slabs[s], memory_order_relaxed));
	memset(t->slabs, 0, sizeof(t->slabs));
}

/* A node for a new key: a freed one, or the next of the slabs (making a slab when it
 * starts one). Returns 0 or -ENOMEM. */
static int latest_node_new(struct latest *t, uint32_t *out)
{
	uint32_t i = t->nodes, s;

	if (t->free != LATEST_NONE) {
		*out = t->free;
		t->free = latest_node(t, t->free)->next;
		return 0;
	}
	s = 31u - (uint32_t)__builtin_clz(i / LATEST_SLAB0 + 1);
	if (i == LATEST_SLAB0 * ((1u << s) - 1)) {	/* the first node of slab s */
		struct latest_node *slab = calloc((size_t)LATEST_SLAB0 << s, sizeof(*slab));

		if (!slab)
			return -ENOMEM;
		/* Release: a reader that finds a node of the slab in the table sees it. */
		atomic_store_explicit(&t->slabs[s], slab, memory_order_release);
		t->slab_bytes += ((size_t)LATEST_SLAB0 << s) * sizeof(*slab);
	}
	t->nodes++;
	*out = i;
	return 0;
}

/* ---- the update-order list (writer) ---------------------------------------------------- */

static void latest_unlink(struct latest *t, uint32_t i)
{
	struct latest_node *n = latest_node(t, i);

	if (n->prev != LATEST_NONE)
		latest_node(t, n->prev)->next = n->next;
	else
		t->oldest = n->next;
	if (n->next != LATEST_NONE)
		latest_node(t, n->next)->prev = n->prev;
	else
		t->newest = n->prev;
}

static void latest_append(struct latest *t, uint32_t i)
{
	struct latest_node *n = latest_node(t, i);

	n->prev = t->newest;
	n->next = LATEST_NONE;
	if (t->newest != LATEST_NONE)
		latest_node(t, t->newest)->next = i;
	else
		t->oldest = i;
	t->newest = i;
}

/* ---- finding a key (writer) ------------------------------------------------------------ */

struct latest_find {
	uint32_t node;		/* the key's node, or LATEST_NONE */
	uint32_t probe;		/* not found: the first free probe, LATEST_PROBES if none */
	bool collided;		/* another key of the same hash was met */
};

/* Whether table entry (probe of hash h) holds node i as a key of h (not another hash's
 * key whose derived hash is the same, odds 2^-64). */
static bool latest_member(struct latest *t, uint32_t i, uint64_t h, uint32_t probe)
{
	const struct latest_node *n = latest_node(t, i);

	return n->hash == h && n->probe == probe;
}

/* Whether node n holds key: its head first (in the node's cache line), then, for a long
 * key, the rest from the log. */
static bool latest_same(const struct latest_node *n, const char *key, uint32_t klen)
{
	uint32_t h = klen < LATEST_HEAD_BYTES ? klen : LATEST_HEAD_BYTES;

	return n->klen == klen && memcmp(n->head, key, h) == 0 &&
	       (klen <= LATEST_HEAD_BYTES ||
		memcmp(n->key + LATEST_HEAD_BYTES, key + LATEST_HEAD_BYTES, klen - h) == 0);
}

static void latest_find(struct latest *t, uint64_t h, const char *key, uint32_t klen,
			struct latest_find *f)
{
	uint32_t i;

	f->node = LATEST_NONE;
	f->collided = false;
	for (f->probe = 0; f->probe < LATEST_PROBES; f->probe++) {
		if (!latest_ht_get(t, latest_dkey(h, f->probe), &i))
			return;	/* the end of h's keys: none further */
		if (!latest_member(t, i, h, f->probe))
			continue;
		if (latest_same(latest_node(t, i), key, klen)) {
			f->node = i;
			return;
		}
		f->collided = true;
	}
}

/* Removes node i's table entry, keeping h's keys at consecutive probes as far as the
 * first free one: h's last key moves into the hole. */
static void latest_unindex(struct latest *t, uint32_t i)
{
	struct latest_node *n = latest_node(t, i);
	uint32_t last = LATEST_NONE, j, probe;

	for (probe = n->probe + 1; probe < LATEST_PROBES; probe++) {
		if (!latest_ht_get(t, latest_dkey(n->hash, probe), &j))
			break;
		if (latest_member(t, j, n->hash, probe))
			last = j;
	}
	if (last != LATEST_NONE && latest_ht_set(t, latest_dkey(n->hash, n->probe), last)) {
		latest_ht_remove(t, latest_dkey(n->hash, latest_node(t, last)->probe));
		latest_node(t, last)->probe = n->probe;
		return;
	}
	latest_ht_remove(t, latest_dkey(n->hash, n->probe));
}

/* Drops the least recently updated key: its node goes to the free list. */
static void latest_evict(struct latest *t)
{
	uint32_t i = t->oldest;

	latest_unlink(t, i);
	latest_unindex(t, i);
	latest_node(t, i)->next = t->free;
	t->free = i;
	latest_count(t, -1);
	atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Node i now holds key's newest event at offset. */
static void latest_touch(struct latest *t, uint32_t i, const char *key, uint32_t klen,
			 uint64_t offset)
{
	struct latest_node *n = latest_node(t, i);

	n->key = key;
	n->klen = klen;
	atomic_store_explicit(&n->offset, offset, memory_order_release);
	if (t->newest != i) {
		latest_unlink(t, i);
		latest_append(t, i);
	}
}

/* Every probe of h holds a key: the least recently updated of them gives its entry up. */
static void latest_take_over(struct latest *t, uint64_t h, const char *key, uint32_t klen,
			     uint64_t offset)
{
	uint32_t victim = LATEST_NONE, i;

	for (uint32_t probe = 0; probe < LATEST_PROBES; probe++)
		if (latest_ht_get(t, latest_dkey(h, probe), &i) && latest_member(t, i, h, probe) &&
		    (victim == LATEST_NONE ||
		     atomic_load_explicit(&latest_node(t, i)->offset, memory_order_relaxed) <
		     atomic_load_explicit(&latest_node(t, victim)->offset, memory_order_relaxed)))
			victim = i;
	atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
	if (victim != LATEST_NONE) {	/* else 16 other hashes' keys: the new key is lost */
		struct latest_node *n = latest_node(t, victim);

		memcpy(n->head, key, klen < LATEST_HEAD_BYTES ? klen : LATEST_HEAD_BYTES);
		latest_touch(t, victim, key, klen, offset);
	}
}

static int latest_insert(struct latest *t, uint64_t h, uint32_t probe, const char *key,
			 uint32_t klen, uint64_t offset)
{
	struct latest_node *n;
	uint32_t i;
	int rc = latest_node_new(t, &i);

	if (rc < 0)
		return rc;
	n = latest_node(t, i);
	n->hash = h;
	n->probe = probe;
	n->key = key;
	n->klen = klen;
	memcpy(n->head, key, klen < LATEST_HEAD_BYTES ? klen : LATEST_HEAD_BYTES);
	atomic_store_explicit(&n->offset, offset, memory_order_relaxed);
	if (!latest_ht_set(t, latest_dkey(h, probe), i)) {	/* publishes the node (fenced) */
		n->next = t->free;
		t->free = i;
		return -ENOMEM;
	}
	latest_append(t, i);
	latest_count(t, 1);
	return 0;
}

int latest_put(struct latest *t, uint64_t key_hash, const char *key, uint32_t klen,
	       uint64_t offset)
{
	struct latest_find f;

	latest_find(t, key_hash, key, klen, &f);
	if (f.collided)
		atomic_fetch_add_explicit(&t->collisions, 1, memory_order_relaxed);
	if (f.node != LATEST_NONE) {
		latest_touch(t, f.node, key, klen, offset);
		return 0;
	}
	if (f.probe == LATEST_PROBES) {
		latest_take_over(t, key_hash, key, klen, offset);
		return 0;
	}
	if (atomic_load_explicit(&t->keys, memory_order_relaxed) >= t->keys_max) {
		latest_evict(t);
		latest_find(t, key_hash, key, klen, &f);	/* the eviction may move h's keys */
	}
	return latest_insert(t, key_hash, f.probe, key, klen, offset);
}

/* ---- reading (any thread) ----------------------------------------------------------------- */

void latest_add_totals(const struct latest *t, struct latest_totals *sum)
{
	sum->partitions++;
	sum->keys += atomic_load_explicit(&t->keys, memory_order_relaxed);
	sum->evictions += atomic_load_explicit(&t->evictions, memory_order_relaxed);
	sum->collisions += atomic_load_explicit(&t->collisions, memory_order_relaxed);
	sum->bytes += atomic_load_explicit(&t->bytes, memory_order_relaxed);
}

bool latest_get(struct latest *t, uint64_t key_hash, const char *key, uint32_t klen,
		uint64_t *offset)
{
	for (uint32_t probe = 0; probe < LATEST_PROBES; probe++) {
		struct log_ref ref;
		const char *k;
		uint32_t i, kl;
		uint64_t at;

		if (!latest_ht_get(t, latest_dkey(key_hash, probe), &i))
			return false;
		/* Only the offset is the readers': the key is read back from its frame. */
		at = atomic_load_explicit(&latest_node(t, i)->offset, memory_order_acquire);
		if (log_read(t->log, at, &ref) == 0 && frame_key(ref.frame, ref.len, &k, &kl) == 0 &&
		    kl == klen && memcmp(k, key, klen) == 0) {
			*offset = at;
			return true;
		}
	}
	return false;
}

int latest_rebuild(struct latest *t)
{
	struct log_cursor cur;
	struct log_ref ref;

	log_cursor_seek(t->log, &cur, log_first(t->log));
	while (log_cursor_peek(t->log, &cur, &ref) == 0) {
		const char *key;
		uint32_t klen;

		/* A frame without a key is never stored; were one there, it is skipped. */
		if (frame_key(ref.frame, ref.len, &key, &klen) == 0 &&
		    latest_put(t, ref.entry->key_hash, key, klen, cur.offset) < 0)
			return -ENOMEM;
		log_cursor_next(&cur);
	}
	return 0;
}

bool latest_each(struct latest *t, bool (*fn)(void *ctx, uint64_t offset), void *ctx)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	/* ck_ht_next follows the table's current array by position: if the writer moves
	 * to a bigger one mid-walk, keys are skipped or repeated. Compare at the end. */
	const void *map = ck_pr_load_ptr(&t->ht.map);
	ck_ht_entry_t *e;

	while (ck_ht_next(&t->ht, &it, &e)) {
		uint32_t i = (uint32_t)ck_ht_entry_value_direct(e);

		if (!fn(ctx, atomic_load_explicit(&latest_node(t, i)->offset, memory_order_acquire)))
			break;
	}
	ck_pr_fence_load();
	return ck_pr_load_ptr(&t->ht.map) == map;
}
