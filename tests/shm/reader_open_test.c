/* tests/shm/reader_open_test.c — shm/shm_reader.c's checks of a ring file before it is
 * mapped: a missing file, bad or missing magic, another format version, truncation at
 * several lengths, inconsistent sizes, a file of garbage; each refused with its own code
 * and a message that names the problem, never a crash. And the 64 reader slots. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/ring_format.h"
#include "tests/shm/shm_harness.h"

struct ring_file {
	struct shm_ring_writer *w;
	char path[PATH_MAX];
};

static void make_ring(const struct shm_fixture *f, struct ring_file *rf)
{
	struct shm_ring_opts o = { .dir = f->ring_dir, .name = "r", .bytes = 64 << 10,
				   .topic = "t", .partitions = 1 };

	assert_int_equal(shm_ring_create(&rf->w, &o, rf->path, sizeof(rf->path)), 0);
}

static void poke(const char *path, off_t at, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, at), (ssize_t)n);
	close(fd);
}

/* Opening fails with want, and the message holds every word in words. */
static void expect_refused(const char *path, int want, const char *word)
{
	struct fanout_shm *r = NULL;
	char err[512] = "";
	int rc = fanout_shm_open(&r, path, NULL, err, sizeof(err));

	assert_int_equal(rc, want);
	assert_null(r);
	if (!strstr(err, word) || !strstr(err, path)) {
		fprintf(stderr, "message '%s' lacks '%s' or the path\n", err, word);
		fail();
	}
	assert_non_null(fanout_shm_strerror(rc));
}

static void test_missing_file(void **state)
{
	struct shm_fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nothing-here", f->ring_dir);
	expect_refused(path, -ENOENT, "No such file");
}

static void test_bad_magic(void **state)
{
	struct shm_fixture *f = *state;
	struct ring_file rf;
	uint64_t v = 0x1122334455667788ull;

	make_ring(f, &rf);
	poke(rf.path, 0, &v, sizeof(v));
	expect_refused(rf.path, -FANOUT_SHM_E_MAGIC, "not a fanout ring (magic 0x1122334455667788)");
	v = 0;	/* a creation that never finished */
	poke(rf.path, 0, &v, sizeof(v));
	expect_refused(rf.path, -FANOUT_SHM_E_MAGIC, "did not finish");
	shm_ring_destroy(rf.w);
}

static void test_version_mismatch(void **state)
{
	struct shm_fixture *f = *state;
	struct ring_file rf;
	uint32_t v = SHM_RING_VERSION + 1;
	char word[64];

	make_ring(f, &rf);
	poke(rf.path, offsetof(struct shm_ring_header, version), &v, sizeof(v));
	snprintf(word, sizeof(word), "version %u, this library reads version %u", v,
		 SHM_RING_VERSION);
	expect_refused(rf.path, -FANOUT_SHM_E_VERSION, word);
	shm_ring_destroy(rf.w);
}

static void test_truncated(void **state)
{
	struct shm_fixture *f = *state;
	struct ring_file rf;
	off_t cuts[] = { 0, 100, SHM_HEADER_BYTES - 1 };

	make_ring(f, &rf);
	/* Short of the data area's end: the header is fine, the file is not. */
	assert_int_equal(truncate(rf.path, (off_t)shm_data_offset(1024) + 1000), 0);
	expect_refused(rf.path, -FANOUT_SHM_E_TRUNCATED, "its header says");
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(truncate(rf.path, cuts[i]), 0);
		expect_refused(rf.path, -FANOUT_SHM_E_TRUNCATED, "less than a ring header");
	}
	shm_ring_destroy(rf.w);
}

static void test_inconsistent_sizes(void **state)
{
	struct shm_fixture *f = *state;
	struct ring_file rf;
	uint64_t cap = (64 << 10) + 64;	/* not a power of two */
	uint32_t align = 32;

	make_ring(f, &rf);
	poke(rf.path, offsetof(struct shm_ring_header, capacity), &cap, sizeof(cap));
	expect_refused(rf.path, -FANOUT_SHM_E_LAYOUT, "out of range or inconsistent");
	cap = 64 << 10;
	poke(rf.path, offsetof(struct shm_ring_header, capacity), &cap, sizeof(cap));
	poke(rf.path, offsetof(struct shm_ring_header, record_align), &align, sizeof(align));
	expect_refused(rf.path, -FANOUT_SHM_E_LAYOUT, "sizes differ");
	shm_ring_destroy(rf.w);
}

static void test_garbage_file(void **state)
{
	struct shm_fixture *f = *state;
	char path[PATH_MAX];
	static uint8_t junk[1 << 20];

	snprintf(path, sizeof(path), "%s/junk", f->ring_dir);
	memset(junk, 0xAA, sizeof(junk));
	{
		int fd = open(path, O_CREAT | O_WRONLY, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
	}
	expect_refused(path, -FANOUT_SHM_E_MAGIC, "not a fanout ring");
}

static void test_slots(void **state)
{
	struct shm_fixture *f = *state;
	struct fanout_shm *r[SHM_SLOT_COUNT + 1];
	struct fanout_shm_info info;
	struct ring_file rf;
	char err[256];

	make_ring(f, &rf);
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i++) {
		assert_int_equal(fanout_shm_open(&r[i], rf.path, NULL, err, sizeof(err)), 0);
		fanout_shm_get_info(r[i], &info);
		assert_int_equal(info.slot, i);
	}
	expect_refused(rf.path, -FANOUT_SHM_E_NOSLOT, "reader slots");
	fanout_shm_close(r[17]);
	assert_int_equal(fanout_shm_open(&r[17], rf.path, NULL, err, sizeof(err)), 0);
	fanout_shm_get_info(r[17], &info);
	assert_int_equal(info.slot, 17);
	assert_string_equal(info.topic, "t");
	assert_int_equal(info.capacity, 64 << 10);
	assert_int_equal(info.writer_pid, getpid());
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i++)
		fanout_shm_close(r[i]);
	shm_ring_destroy(rf.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_file, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_version_mismatch, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_truncated, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inconsistent_sizes, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_slots, shm_fixture_setup,
						shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
