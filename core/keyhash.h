/* core/keyhash.h — the string hash fanout stores in index entries and decides with
 * (partitions, filters, reactors of topics): SipHash-2-4 (libsodium's crypto_shorthash)
 * under a 16-byte secret of the data directory, so nobody outside the server can choose
 * strings that collide or land on one partition. A hash still never stands for the
 * bytes: where a hash matches, the bytes are compared (net/interest, net/route_cache,
 * core/latest, net/subscriber); only filters trust hashes alone, which the secret makes
 * unforgeable.
 *
 * The key is process-wide. It starts as KEYHASH_TEST_KEY, the fixed key tools and unit
 * tests use (they have no data directory); fanoutd loads the data directory's own
 * (keyhash_load_dir) before any log is opened or thread started. The hashes in a data
 * directory's index files are only meaningful under its key: the key is part of the
 * on-disk format (core/log.h, LOG_INDEX_VERSION 3). */
#ifndef FANOUT_CORE_KEYHASH_H
#define FANOUT_CORE_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

#define KEYHASH_KEY_BYTES 16u
/* The fixed key of tools and tests, documented here and in README: the 16 ASCII bytes
 * "fanout-test-key!". Never the key of a data directory fanoutd serves. */
#define KEYHASH_TEST_KEY "fanout-test-key!"
#define KEYHASH_FILE "HASHKEY"		/* DIR/HASHKEY: 32 hex digits and a newline, 0600 */
/* Test hook (environment of fanoutd): FANOUT_TEST_HASH_BITS=N keeps only N bits of every
 * hash (0 = every string hashes alike), so tests can force collisions on every path. */
#define KEYHASH_TEST_ENV "FANOUT_TEST_HASH_BITS"

/* Hashes n bytes under the process key. Never 0 (0 is what index entries store for "no
 * such string"). Any thread, once start-up set the key. */
uint64_t keyhash_bytes(const void *p, size_t n);

/* Puts key (KEYHASH_KEY_BYTES bytes) in force. Start-up, before threads; tests. */
void keyhash_set_key(const uint8_t *key);

/* Keeps only the low bits of every hash (0..63; 64 = all, the default). Tests only:
 * collisions everywhere. Start-up, before threads. */
void keyhash_set_test_bits(uint32_t bits);

/* Reads data_dir/HASHKEY and puts it in force, or, for a data directory that holds no
 * topics yet, makes one (16 bytes from getrandom, written 0600 through a temporary file
 * and a rename) and puts that in force. A missing key beside existing topics, or a file
 * that is not 32 hex digits, is refused: every stored hash depends on it. Also applies
 * FANOUT_TEST_HASH_BITS when set (with a warning on stderr). Returns 0, or -errno with a
 * message on stderr. Start-up, main thread, before any log is opened. */
int keyhash_load_dir(const char *data_dir);

#endif
