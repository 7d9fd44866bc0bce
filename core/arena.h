/* core/arena.h — a bump allocator over one preallocated block, reset per unit of work.
 * It backs protobuf-c's unpacking on the hot path so decoding a frame never calls malloc.
 * Single-threaded: one arena per reactor. */
#ifndef FANOUT_CORE_ARENA_H
#define FANOUT_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

struct arena {
	uint8_t *base;
	size_t cap;
	size_t used;
	size_t failed;			/* allocations refused since the last reset */
	ProtobufCAllocator pb;		/* protobuf-c view of this arena */
};

/* Allocates the block (cap bytes). Returns 0 or -ENOMEM. Start-up only. */
int arena_init(struct arena *a, size_t cap);

void arena_free(struct arena *a);

/* Returns 16-byte aligned memory or NULL when the block is exhausted. */
void *arena_alloc(struct arena *a, size_t n);

/* Forgets every allocation. */
static inline void arena_reset(struct arena *a)
{
	a->used = 0;
	a->failed = 0;
}

#endif
