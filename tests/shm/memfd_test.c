/* tests/shm/memfd_test.c — rings as sealed memfds (shm/ring_memfd.c): the seals each
 * descriptor carries and that they are handed over once; a reader in another process that
 * tries to shrink, grow, punch, write or reseal what it was given fails at every try, the
 * writer then laps the ring many times over every page (a truncated ring would have killed
 * it with SIGBUS), and the reader reads what comes next; fanout_shm_open_fd refusing
 * descriptors that are not sealed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/ring_format.h"
#include "shm/ring_memfd.h"
#include "tests/shm/shm_harness.h"

#define READ_TIMEOUT_NS (60ll * 1000000000)
#define RING_BYTES (64u << 10)
#define EVENTS 20000u		/* ~4 MiB through a 64 KiB ring: 60+ laps */

static void test_seals_and_hand_over(void **state)
{
	struct pub_opts po = { .name = "memfd-seals", .ring_bytes = RING_BYTES, .no_logs = true,
			       .memfd = true };
	struct shm_ring_opts ro = { .memfd = true, .name = "x", .bytes = RING_BYTES };
	struct pub p, file;
	struct stat st;
	int ring, area, again;

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_string_equal(p.path, "memfd:memfd-seals");
	assert_int_equal(shm_ring_take_fds(p.w, &ring, &area), 0);
	assert_int_equal(shm_ring_take_fds(p.w, &again, &again), -EBADF);	/* once */
	assert_int_equal(fcntl(ring, F_GET_SEALS), SHM_MEMFD_RING_SEALS);
	assert_int_equal(fcntl(area, F_GET_SEALS), SHM_MEMFD_AREA_SEALS);
	assert_true(fcntl(ring, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fstat(area, &st), 0);
	assert_int_equal(st.st_size, SHM_READER_AREA_BYTES);
	assert_int_equal(fstat(ring, &st), 0);
	assert_int_equal((uint64_t)st.st_size + SHM_READER_AREA_BYTES, shm_ring_footprint(&ro));
	close(ring);
	close(area);
	pub_close(&p);
	po = (struct pub_opts){ .name = "file-ring", .ring_bytes = RING_BYTES, .no_logs = true };
	assert_int_equal(pub_open(&file, *state, &po), 0);
	assert_int_equal(shm_ring_take_fds(file.w, &ring, &area), -EBADF);	/* a file */
	pub_close(&file);
}

struct attacker {
	int ring, area;
	int tried_fd;			/* write end: every attempt made (and failed) */
	int lapped_fd;			/* read end: the writer lapped the ring */
	int ready_fd;			/* write end: reading from the latest record */
};

/* Every way a holder of the descriptors might change the ring under its writer. Returns
 * 0 when each failed. */
static int try_everything(int ring, int area)
{
	struct stat st;
	char self[64];
	int again, bad = 0;

	if (fstat(ring, &st) < 0)
		return -1;
	bad |= ftruncate(ring, 0) == 0;
	bad |= ftruncate(ring, st.st_size - 4096) == 0;
	bad |= ftruncate(ring, st.st_size + 4096) == 0;
	bad |= ftruncate(area, 0) == 0;
	bad |= fallocate(ring, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, st.st_size) == 0;
	bad |= fallocate(ring, 0, 0, st.st_size * 2) == 0;
	bad |= pwrite(ring, "x", 1, SHM_JOURNAL_OFFSET) == 1;
	bad |= mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ring, 0) != MAP_FAILED;
	bad |= fcntl(ring, F_ADD_SEALS, F_SEAL_WRITE) == 0;
	bad |= fcntl(area, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", ring);
	if ((again = open(self, O_RDWR | O_CLOEXEC)) >= 0) {	/* a new open file, same seals */
		bad |= ftruncate(again, 0) == 0;
		close(again);
	}
	if (bad)
		fprintf(stderr, "attacker: a change to the ring succeeded\n");
	return bad ? -1 : 0;
}

static int attacker_main(void *arg)
{
	const struct attacker *a = arg;
	struct fanout_shm_opts o;
	struct read_tally t = { 0 };
	struct fanout_shm *r;
	char err[256];

	if (try_everything(a->ring, a->area) < 0)
		return 1;
	pipe_signal(a->tried_fd);
	if (pipe_wait(a->lapped_fd, 30000) < 0)
		return 2;
	fanout_shm_opts_init(&o);	/* from the latest record: the laps are history */
	if (fanout_shm_open_fd(&r, a->ring, a->area, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "attacker: %s\n", err);
		return 3;
	}
	close(a->ring);	/* the mappings keep the ring */
	close(a->area);
	pipe_signal(a->ready_fd);
	if (read_expect(r, EVENTS, 100, 1, READ_TIMEOUT_NS, &t) < 0)
		return 4;
	fanout_shm_close(r);
	return 0;
}

static void test_reader_cannot_change_the_ring(void **state)
{
	struct pub_opts po = { .name = "memfd-attack", .ring_bytes = RING_BYTES, .no_logs = true,
			       .memfd = true };
	int tried[2], lapped[2], ready[2];
	struct attacker a;
	struct pub p;
	pid_t pid;

	assert_int_equal(pipe(tried), 0);
	assert_int_equal(pipe(lapped), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(shm_ring_take_fds(p.w, &a.ring, &a.area), 0);
	a.tried_fd = tried[1];
	a.lapped_fd = lapped[0];
	a.ready_fd = ready[1];
	pid = fork_child(attacker_main, &a);
	close(a.ring);
	close(a.area);
	assert_int_equal(pipe_wait(tried[0], 30000), 0);
	/* Every page of the ring written again, many times over: a ring the reader had
	 * managed to shrink would end this process with SIGBUS here. */
	assert_int_equal(pub_events(&p, EVENTS), 0);
	pipe_signal(lapped[1]);
	assert_int_equal(pipe_wait(ready[0], 30000), 0);
	assert_int_equal(pub_events(&p, 100), 0);	/* and it reads what comes next */
	assert_int_equal(wait_child(pid), 0);
	pub_close(&p);
	for (int i = 0; i < 2; i++) {
		close(tried[i]);
		close(lapped[i]);
		close(ready[i]);
	}
}

static void test_unsealed_descriptors_refused(void **state)
{
	struct fanout_shm *r = NULL;
	char err[256] = "";
	int ring = memfd_create("plain", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int area = memfd_create("plain-area", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	(void)state;
	assert_int_equal(ftruncate(ring, 1 << 20), 0);
	assert_int_equal(ftruncate(area, SHM_READER_AREA_BYTES), 0);
	assert_int_equal(fanout_shm_open_fd(&r, ring, area, NULL, err, sizeof(err)),
			 -FANOUT_SHM_E_UNSEALED);
	assert_non_null(strstr(err, "ring descriptor is not sealed"));
	assert_int_equal(fcntl(ring, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	assert_int_equal(fanout_shm_open_fd(&r, ring, area, NULL, err, sizeof(err)),
			 -FANOUT_SHM_E_UNSEALED);
	assert_non_null(strstr(err, "reader area descriptor is not sealed"));
	assert_int_equal(fcntl(area, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	/* Sealed now, but no ring in it: the header check speaks. */
	assert_int_equal(fanout_shm_open_fd(&r, ring, area, NULL, err, sizeof(err)),
			 -FANOUT_SHM_E_MAGIC);
	assert_non_null(strstr(err, "memfd:plain"));
	assert_null(r);
	close(ring);
	close(area);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seals_and_hand_over, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reader_cannot_change_the_ring,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unsealed_descriptors_refused,
						shm_fixture_setup, shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
