/* core/arena.c — bump allocator; frees are no-ops, arena_reset reclaims everything. */
#include "core/arena.h"

#include <errno.h>

#include "core/mem.h"

static void *arena_pb_alloc(void *data, size_t n)
{
	return arena_alloc(data, n);
}

static void arena_pb_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

int arena_init(struct arena *a, size_t cap)
{
	a->base = mem_map(cap);
	if (!a->base)
		return -ENOMEM;
	a->cap = cap;
	a->used = 0;
	a->failed = 0;
	a->pb.alloc = arena_pb_alloc;
	a->pb.free = arena_pb_free;
	a->pb.allocator_data = a;
	return 0;
}

void arena_free(struct arena *a)
{
	mem_unmap(a->base, a->cap);
	a->base = NULL;
	a->cap = a->used = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
	size_t at = (a->used + 15) & ~(size_t)15;

	if (n > a->cap || at > a->cap - n) {
		a->failed++;
		return NULL;
	}
	a->used = at + n;
	return a->base + at;
}
