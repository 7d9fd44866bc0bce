/* core/epoch.c — one global ck_epoch, one record per registered thread. */
#include "core/epoch.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <stdint.h>

static ck_epoch_t epoch_global;
static _Atomic int epoch_ready;	/* ck_epoch_init ran (first registration) */

static __thread ck_epoch_record_t *epoch_rec;
static __thread ck_epoch_section_t epoch_section;
static __thread bool epoch_inside;
static __thread unsigned epoch_npending;

/* A block from epoch_allocator: its entry sits in a header before the caller's bytes. */
#define EPOCH_BLOCK_HEADER 64u
struct epoch_block {
	struct epoch_entry ent;
};
_Static_assert(sizeof(struct epoch_block) <= EPOCH_BLOCK_HEADER, "block header fits");

int epoch_register(void)
{
	static _Atomic int once;
	int expected = 0;

	if (epoch_rec)
		return 0;
	if (atomic_compare_exchange_strong(&once, &expected, 1)) {
		ck_epoch_init(&epoch_global);
		atomic_store(&epoch_ready, 1);
	}
	while (!atomic_load(&epoch_ready))
		;	/* another thread is initialising: a few instructions */
	epoch_rec = ck_epoch_recycle(&epoch_global, NULL);
	if (!epoch_rec) {
		epoch_rec = malloc(sizeof(*epoch_rec));
		if (!epoch_rec)
			return -ENOMEM;
		ck_epoch_register(&epoch_global, epoch_rec, NULL);
	}
	return 0;
}

void epoch_unregister(void)
{
	if (!epoch_rec)
		return;
	assert(!epoch_inside);
	ck_epoch_barrier(epoch_rec);	/* runs this record's deferred frees */
	ck_epoch_unregister(epoch_rec);	/* kept by ck for ck_epoch_recycle */
	epoch_rec = NULL;
}

void epoch_enter(void)
{
	assert(epoch_rec && !epoch_inside);
	ck_epoch_begin(epoch_rec, &epoch_section);
	epoch_inside = true;
}

void epoch_exit(void)
{
	assert(epoch_inside);
	ck_epoch_end(epoch_rec, &epoch_section);
	epoch_inside = false;
}

void epoch_poll(void)
{
	if (!epoch_rec || epoch_npending == 0)
		return;
	assert(!epoch_inside);
	ck_epoch_poll(epoch_rec);	/* epoch_run counts what it frees */
}

void epoch_synchronize(void)
{
	if (!epoch_rec)
		return;
	assert(!epoch_inside);
	ck_epoch_barrier(epoch_rec);
}

unsigned epoch_pending(void)
{
	return epoch_npending;
}

/* Runs on the deferring thread, from ck_epoch_poll or ck_epoch_barrier. */
static void epoch_run(ck_epoch_entry_t *ck)
{
	struct epoch_entry *ent = (struct epoch_entry *)(void *)ck;	/* first member */

	epoch_npending--;
	ent->fn(ent);
}

void epoch_defer(struct epoch_entry *ent, void (*fn)(struct epoch_entry *ent))
{
	if (!epoch_rec) {
		fn(ent);
		return;
	}
	ent->fn = fn;
	ck_epoch_call(epoch_rec, &ent->ck, epoch_run);
	epoch_npending++;
}

static void *epoch_block_malloc(size_t n)
{
	uint8_t *p = malloc(EPOCH_BLOCK_HEADER + n);

	return p ? p + EPOCH_BLOCK_HEADER : NULL;
}

static void epoch_block_release(struct epoch_entry *ent)
{
	free(ent);	/* the entry is the block's first bytes */
}

static void epoch_block_free(void *p, size_t n, bool defer)
{
	struct epoch_block *b;

	(void)n;
	if (!p)
		return;
	b = (struct epoch_block *)((uint8_t *)p - EPOCH_BLOCK_HEADER);
	if (defer)
		epoch_defer(&b->ent, epoch_block_release);
	else
		free(b);
}

struct ck_malloc epoch_allocator = { .malloc = epoch_block_malloc, .free = epoch_block_free };
