/* tests/shm/ring_writer_test.c — shm/ring_writer.c and shm/ring_sweep.c: exact file modes
 * whatever the umask, the group, O_EXCL, option checks, the record bound, what the writer
 * reports about its readers, removal on destroy, and the start-up sweep (stale rings of a
 * dead writer removed, live ones and foreign files kept). */
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
#include <sys/stat.h>
#include <unistd.h>

#include "shm/ring_format.h"
#include "tests/shm/shm_harness.h"

static struct shm_ring_opts opts(const struct shm_fixture *f, const char *name)
{
	return (struct shm_ring_opts){ .dir = f->ring_dir, .name = name, .bytes = 64 << 10,
				       .topic = "t", .partitions = 1 };
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_mode_is_exact_whatever_the_umask(void **state)
{
	struct shm_fixture *f = *state;
	struct shm_ring_opts o = opts(f, "r-default");
	struct shm_ring_writer *w;
	char path[PATH_MAX];
	mode_t old = umask(0);	/* would make a plain open(..., 0600) still 0600, but
				 * 0666 defaults wide open */

	assert_int_equal(shm_ring_create(&w, &o, path, sizeof(path)), 0);
	assert_int_equal(file_mode(path), 0600);
	shm_ring_destroy(w);
	umask(0077);	/* would strip a requested group bit */
	o = opts(f, "r-group");
	o.mode = 0640;
	o.set_group = true;
	o.group = getegid() == 0 ? 4242 : getegid();	/* root may give any group */
	assert_int_equal(shm_ring_create(&w, &o, path, sizeof(path)), 0);
	assert_int_equal(file_mode(path), 0640);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_gid, o.group);
	}
	shm_ring_destroy(w);
	umask(old);
}

static void test_create_checks(void **state)
{
	struct shm_fixture *f = *state;
	struct shm_ring_opts o = opts(f, "r");
	struct shm_ring_writer *w, *w2;
	char path[PATH_MAX], topic[300];
	struct stat st;

	assert_int_equal(shm_ring_create(&w, &o, path, sizeof(path)), 0);
	assert_int_equal(shm_ring_create(&w2, &o, NULL, 0), -EEXIST);	/* never reused */
	o.name = "";
	assert_int_equal(shm_ring_create(&w2, &o, NULL, 0), -EINVAL);
	o.name = ".hidden";
	assert_int_equal(shm_ring_create(&w2, &o, NULL, 0), -EINVAL);
	o.name = "a/b";
	assert_int_equal(shm_ring_create(&w2, &o, NULL, 0), -EINVAL);
	o = opts(f, "big");
	o.bytes = SHM_CAPACITY_MAX + 1;
	assert_int_equal(shm_ring_create(&w2, &o, NULL, 0), -EINVAL);
	o = opts(f, "topic");
	memset(topic, 'x', sizeof(topic) - 1);
	topic[sizeof(topic) - 1] = '\0';
	o.topic = topic;
	assert_int_equal(shm_ring_create(&w2, &o, NULL, 0), -ENAMETOOLONG);
	o = opts(f, "short-path-buffer");
	assert_int_equal(shm_ring_create(&w2, &o, path, 8), -ENAMETOOLONG);
	/* Nothing was left behind by the failures. */
	snprintf(path, sizeof(path), "%s/topic", f->ring_dir);
	assert_int_equal(stat(path, &st), -1);
	/* The size is rounded up to a power of two, the file allocated at its full size. */
	o = opts(f, "rounded");
	o.bytes = 100000;
	assert_int_equal(shm_ring_create(&w2, &o, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, shm_data_offset(2048) + 131072);
	assert_true(st.st_blocks * 512 >= st.st_size);	/* preallocated, not sparse */
	shm_ring_destroy(w2);
	assert_int_equal(stat(path, &st), -1);	/* destroy unlinks */
	shm_ring_destroy(w);
}

static void test_record_bound(void **state)
{
	struct shm_fixture *f = *state;
	struct shm_ring_opts o = opts(f, "bound");
	struct shm_ring_writer *w;
	static uint8_t frame[64 << 10];
	uint32_t biggest = (uint32_t)(shm_record_bytes_max(64 << 10) - sizeof(struct shm_record));

	assert_int_equal(shm_ring_create(&w, &o, NULL, 0), 0);
	assert_int_equal(shm_ring_write(w, frame, 0, 0, 0, 0), -EMSGSIZE);
	assert_int_equal(shm_ring_write(w, frame, biggest + 1, 0, 0, 0), -EMSGSIZE);
	assert_int_equal(shm_ring_written(w), 0);
	/* The largest record, many times over: it wraps (with padding) and always fits. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(shm_ring_write(w, frame, biggest - (uint32_t)i * 8, 0,
						(uint64_t)i, 0), 0);
	assert_int_equal(shm_ring_written(w), 20);
	shm_ring_destroy(w);
}

static void test_readers_report(void **state)
{
	struct shm_fixture *f = *state;
	struct pub_opts po = { .name = "rep", .ring_bytes = 1 << 20, .no_logs = true };
	struct shm_reader_info info[4];
	struct fanout_shm *r1, *r2;
	struct read_tally t = { 0 };
	struct pub p;
	char err[256];

	assert_int_equal(pub_open(&p, f, &po), 0);
	assert_int_equal(shm_ring_readers(p.w, info, 4), 0);
	assert_int_equal(fanout_shm_open(&r1, p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(fanout_shm_open(&r2, p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(pub_events(&p, 10), 0);
	assert_int_equal(read_expect(r1, 0, 4, 1, 5000000000, &t), 0);
	assert_int_equal(shm_ring_readers(p.w, info, 4), 2);
	assert_int_equal(info[0].pid, getpid());
	assert_true(info[0].alive && info[1].alive);
	assert_int_equal(info[0].lag_records, 6);	/* r1 read 4 of 10 */
	assert_int_equal(info[1].lag_records, 10);
	assert_true(info[1].lag_bytes > info[0].lag_bytes && info[0].lag_bytes > 0);
	fanout_shm_close(r2);
	assert_int_equal(shm_ring_readers(p.w, info, 4), 1);	/* closing frees the slot */
	fanout_shm_close(r1);
	pub_close(&p);
}

/* A writer that creates a ring and exits without removing it: a crashed server. */
static int stale_writer(void *arg)
{
	const struct shm_fixture *f = arg;
	struct shm_ring_opts o = opts(f, "fanout-stale");
	struct shm_ring_writer *w;

	return shm_ring_create(&w, &o, NULL, 0) == 0 ? 0 : 1;
}

struct sweep_seen {
	int removed, kept;
	char removed_path[PATH_MAX];
};

static void on_sweep(void *ctx, const char *path, bool removed, const char *why)
{
	struct sweep_seen *s = ctx;

	assert_non_null(why);
	if (removed) {
		s->removed++;
		snprintf(s->removed_path, sizeof(s->removed_path), "%s", path);
	} else {
		s->kept++;
	}
}

static void test_sweep(void **state)
{
	struct shm_fixture *f = *state;
	struct shm_ring_opts o = opts(f, "fanout-live");
	struct sweep_seen seen = { 0 };
	struct shm_ring_writer *live, *other;
	char stale[PATH_MAX], foreign[PATH_MAX], live_path[PATH_MAX], other_path[PATH_MAX];
	int fd;

	assert_int_equal(wait_child(fork_child(stale_writer, f)), 0);
	snprintf(stale, sizeof(stale), "%s/fanout-stale", f->ring_dir);
	assert_int_equal(access(stale, F_OK), 0);
	assert_int_equal(shm_ring_create(&live, &o, live_path, sizeof(live_path)), 0);
	o = opts(f, "other-prefix");
	assert_int_equal(shm_ring_create(&other, &o, other_path, sizeof(other_path)), 0);
	snprintf(foreign, sizeof(foreign), "%s/fanout-notes.txt", f->ring_dir);
	fd = open(foreign, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a ring, but long enough to have a header of sorts....."
			       "...............................................................",
			       122), 122);
	close(fd);

	assert_int_equal(shm_ring_sweep(f->ring_dir, "fanout-", on_sweep, &seen), 1);
	assert_int_equal(seen.removed, 1);
	assert_string_equal(seen.removed_path, stale);
	assert_int_equal(seen.kept, 2);	/* the live ring and the foreign file */
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(access(live_path, F_OK), 0);
	assert_int_equal(access(foreign, F_OK), 0);
	assert_int_equal(access(other_path, F_OK), 0);	/* another prefix: not looked at */
	assert_int_equal(shm_ring_sweep("/nonexistent-dir", "fanout-", NULL, NULL), -ENOENT);
	shm_ring_destroy(live);
	shm_ring_destroy(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode_is_exact_whatever_the_umask,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_create_checks, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_record_bound, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_readers_report, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sweep, shm_fixture_setup,
						shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
