/* core/hash.h — the one string hash fanout stores on disk (sidecar index) and uses to
 * pick partitions: 64-bit FNV-1a. Stable across versions; changing it is a format change. */
#ifndef FANOUT_CORE_HASH_H
#define FANOUT_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#endif
