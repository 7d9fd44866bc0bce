/* core/keyhash.c — SipHash-2-4 under the data directory's secret (see keyhash.h). */
#include "core/keyhash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(crypto_shorthash_KEYBYTES == KEYHASH_KEY_BYTES, "SipHash takes a 16-byte key");
_Static_assert(crypto_shorthash_BYTES == 8, "SipHash-2-4 gives 64 bits");
_Static_assert(sizeof(KEYHASH_TEST_KEY) - 1 == KEYHASH_KEY_BYTES, "the test key is 16 bytes");

#define KEYHASH_HEX (2 * KEYHASH_KEY_BYTES)

/* Written at start-up only (before any thread that hashes exists), then read-only. */
static uint8_t keyhash_key[KEYHASH_KEY_BYTES] = KEYHASH_TEST_KEY;
static uint64_t keyhash_mask = UINT64_MAX;

uint64_t keyhash_bytes(const void *p, size_t n)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	/* Cannot fail: libsodium's SipHash is a pure function of its arguments. */
	crypto_shorthash(out, p, n, keyhash_key);
	memcpy(&h, out, sizeof(h));
	h &= keyhash_mask;
	return h ? h : 1;	/* 0 means "no string" in an index entry */
}

void keyhash_set_key(const uint8_t *key)
{
	memcpy(keyhash_key, key, KEYHASH_KEY_BYTES);
}

void keyhash_set_test_bits(uint32_t bits)
{
	keyhash_mask = bits >= 64 ? UINT64_MAX : (1ull << bits) - 1;
}

/* Whether data_dir/topics holds anything: then hashes of some key are stored there. */
static bool keyhash_has_topics(const char *data_dir)
{
	char path[PATH_MAX];
	struct dirent *d;
	bool any = false;
	DIR *dir;

	if (snprintf(path, sizeof(path), "%s/topics", data_dir) >= (int)sizeof(path))
		return true;	/* cannot tell: do not make a key */
	dir = opendir(path);
	if (!dir)
		return errno != ENOENT;
	while (!any && (d = readdir(dir)))
		any = strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
	closedir(dir);
	return any;
}

static int keyhash_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 32 lowercase hex digits, then an optional newline and nothing else. */
static int keyhash_parse(const char *hex, size_t n, uint8_t *key)
{
	if (n != KEYHASH_HEX && !(n == KEYHASH_HEX + 1 && hex[KEYHASH_HEX] == '\n'))
		return -1;
	for (size_t i = 0; i < KEYHASH_KEY_BYTES; i++) {
		int hi = keyhash_nibble(hex[2 * i]), lo = keyhash_nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Reads the key file: 0 with key set, 1 when there is none, -errno. */
static int keyhash_read(const char *path, uint8_t *key)
{
	char buf[KEYHASH_HEX + 8];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "fanoutd: %s is readable by others (mode %03o); chmod 600 it: "
			"whoever reads it can forge hash collisions\n", path, st.st_mode & 0777);
	close(fd);
	if (n < 0)
		return -errno;
	if (keyhash_parse(buf, (size_t)n, key) < 0) {
		fprintf(stderr, "fanoutd: %s is not 32 hex digits; it is the data dir's hash key "
			"and cannot be made again without losing what its index files mean\n", path);
		return -EINVAL;
	}
	return 0;
}

static int keyhash_fsync_dir(const char *data_dir)
{
	int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Makes a new key and stores it durably (the file, then its name). */
static int keyhash_create(const char *data_dir, const char *path, uint8_t *key)
{
	char tmp[PATH_MAX + 8], hex[KEYHASH_HEX + 2];
	int fd, rc = 0;

	if (getrandom(key, KEYHASH_KEY_BYTES, 0) != (ssize_t)KEYHASH_KEY_BYTES)
		return -EIO;
	for (size_t i = 0; i < KEYHASH_KEY_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[KEYHASH_HEX] = '\n';
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);	/* a leftover of a start that died here */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, hex, KEYHASH_HEX + 1) != KEYHASH_HEX + 1 || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	return keyhash_fsync_dir(data_dir);
}

static void keyhash_test_env(void)
{
	const char *bits = getenv(KEYHASH_TEST_ENV);
	char *end;
	unsigned long b;

	if (!bits || !*bits)
		return;
	b = strtoul(bits, &end, 10);
	if (*end || b > 64) {
		fprintf(stderr, "fanoutd: %s=%s ignored (want 0..64)\n", KEYHASH_TEST_ENV, bits);
		return;
	}
	keyhash_set_test_bits((uint32_t)b);
	fprintf(stderr, "fanoutd: %s=%lu: hashes keep %lu bits, for tests only: keys collide\n",
		KEYHASH_TEST_ENV, b, b);
}

int keyhash_load_dir(const char *data_dir)
{
	char path[PATH_MAX];
	uint8_t key[KEYHASH_KEY_BYTES];
	int rc;

	if (snprintf(path, sizeof(path), "%s/" KEYHASH_FILE, data_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = keyhash_read(path, key);
	if (rc == 1) {
		if (keyhash_has_topics(data_dir)) {
			fprintf(stderr, "fanoutd: %s is missing but %s/topics holds logs whose "
				"index hashes were made with it: restore the file (or move the "
				"data dir aside)\n", path, data_dir);
			return -ENOENT;
		}
		rc = keyhash_create(data_dir, path, key);
		if (rc < 0)
			fprintf(stderr, "fanoutd: cannot create %s: %s\n", path, strerror(-rc));
	} else if (rc < 0 && rc != -EINVAL) {
		fprintf(stderr, "fanoutd: %s: %s\n", path, strerror(-rc));
	}
	if (rc < 0)
		return rc;
	keyhash_set_key(key);
	sodium_memzero(key, sizeof(key));
	keyhash_test_env();
	return 0;
}
