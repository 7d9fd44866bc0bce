/* core/ck_direct.h — what every Concurrency Kit hash table here in direct mode (64-bit
 * key, 64-bit value) needs: keys that avoid the table's two markers, and an allocator.
 * Used by the last-value table, the exact-key index and the route cache. */
#ifndef FANOUT_CORE_CK_DIRECT_H
#define FANOUT_CORE_CK_DIRECT_H

#include <stdint.h>
#include <ck_ht.h>

/* Direct-mode keys 0 and ~0 are the table's empty and tombstone markers; the two hashes
 * that would be them are folded onto neighbours (one more ~2^-64 collision). */
static inline uintptr_t ck_direct_key(uint64_t k)
{
	if (k == 0)
		return 1;
	if (k == UINT64_MAX)
		return UINT64_MAX - 1;
	return (uintptr_t)k;
}

/* malloc/free for ck_ht tables read only on their writer's thread (the key index, the
 * route cache): frees are immediate. Tables other threads read use epoch_allocator. */
extern struct ck_malloc ck_direct_allocator;

#endif
