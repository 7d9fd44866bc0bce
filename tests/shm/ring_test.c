/* tests/shm/ring_test.c — readers in other processes (fork) on real shared memory under
 * /dev/shm: a small ring wrapping hundreds of times under load with every frame arriving
 * intact and in order; four readers of one ring each seeing every frame in order; readers
 * that sleep in the futex being woken by the writer's batch wake; a busy-spinning reader.
 * Children report through their exit status; pipes order the processes (no sleeps). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/ring_format.h"
#include "tests/shm/shm_harness.h"

#define READ_TIMEOUT_NS (60ll * 1000000000)

struct reader_job {
	const char *path;
	uint64_t n;
	uint32_t partitions, spin;
	int ready_fd;			/* write end: "opened" */
	bool expect_ring_only;		/* fail if anything had to come from the log */
};

static int reader_main(void *arg)
{
	const struct reader_job *j = arg;
	struct fanout_shm_opts o;
	struct fanout_shm *r;
	struct read_tally t = { 0 };
	struct fanout_shm_stats st;
	char err[256];
	int rc;

	fanout_shm_opts_init(&o);
	o.start = FANOUT_SHM_START_FIRST;
	o.spin_iterations = j->spin;
	if (fanout_shm_open(&r, j->path, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "reader %d: %s\n", (int)getpid(), err);
		return 2;
	}
	pipe_signal(j->ready_fd);
	rc = read_expect(r, 0, j->n, j->partitions, READ_TIMEOUT_NS, &t);
	fanout_shm_get_stats(r, &st);
	if (rc == 0 && j->expect_ring_only && (t.recovered || st.laps || t.torn)) {
		fprintf(stderr, "reader %d: %" PRIu64 " recovered, %" PRIu64 " laps: expected the "
			"ring alone\n", (int)getpid(), t.recovered, st.laps);
		rc = -1;
	}
	if (rc == 0 && st.delivered != j->n)
		rc = -1;
	fanout_shm_close(r);
	return rc == 0 ? 0 : 1;
}

/* Keeps the writer within half a ring of its slowest reader, so the test measures the
 * ring's wrap-around, not lap recovery (lap_test.c has that). Bounded: 60 s. */
static int throttle(struct pub *p, uint64_t capacity)
{
	struct shm_reader_info info[SHM_SLOT_COUNT];
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 60;
	for (;;) {
		uint32_t n = shm_ring_readers(p->w, info, SHM_SLOT_COUNT);
		uint64_t worst = 0;
		struct timespec now;

		for (uint32_t i = 0; i < n; i++)
			worst = info[i].lag_bytes > worst ? info[i].lag_bytes : worst;
		if (worst < capacity / 2)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec)
			return -1;
		sched_yield();
	}
}

static void run_readers(struct shm_fixture *f, struct pub_opts *po, uint32_t readers,
			uint64_t n, uint32_t spin, bool throttled)
{
	struct reader_job job = { .n = n, .partitions = po->partitions ? po->partitions : 1,
				  .spin = spin, .expect_ring_only = true };
	pid_t pids[8];
	int fds[2];
	struct pub p;

	assert_true(readers <= 8);
	assert_int_equal(pub_open(&p, f, po), 0);
	assert_int_equal(pipe(fds), 0);
	job.path = p.path;
	job.ready_fd = fds[1];
	for (uint32_t i = 0; i < readers; i++)
		pids[i] = fork_child(reader_main, &job);
	/* Every reader has its slot (and is about to wait) before the first event. */
	for (uint32_t i = 0; i < readers; i++)
		assert_int_equal(pipe_wait(fds[0], 30000), 0);
	for (uint64_t k = 0; k < n; k += 64) {
		if (throttled)
			assert_int_equal(throttle(&p, po->ring_bytes), 0);
		assert_int_equal(pub_events(&p, n - k < 64 ? n - k : 64), 0);
	}
	for (uint32_t i = 0; i < readers; i++)
		assert_int_equal(wait_child(pids[i]), 0);
	close(fds[0]);
	close(fds[1]);
	pub_close(&p);
}

/* 64 KiB holds ~256 of these records: 100k events wrap the ring ~400 times, each wrap
 * with a padding record, while the reader reads concurrently. */
static void test_wrap_around_under_load(void **state)
{
	struct pub_opts po = { .name = "wrap", .ring_bytes = 64 << 10, .partitions = 3,
			       .payload = 100 };

	run_readers(*state, &po, 1, 100000, FANOUT_SHM_SPIN_DEFAULT, true);
}

/* A ring big enough that nobody is lapped: each of four readers sees all of it. */
static void test_four_readers_every_frame_in_order(void **state)
{
	struct pub_opts po = { .name = "four", .ring_bytes = 32 << 20, .partitions = 4,
			       .no_logs = true };

	run_readers(*state, &po, 4, 50000, FANOUT_SHM_SPIN_DEFAULT, false);
}

struct pingpong {
	const char *path;
	int ready_fd, ack_fd;
	uint32_t rounds;
};

/* Never spins: each event must reach it through the writer's futex wake. */
static int pingpong_reader(void *arg)
{
	const struct pingpong *pp = arg;
	struct fanout_shm_opts o;
	struct fanout_shm *r;
	struct read_tally t = { 0 };
	char err[256];

	fanout_shm_opts_init(&o);
	o.spin_iterations = 0;
	if (fanout_shm_open(&r, pp->path, &o, err, sizeof(err)) < 0)
		return 2;
	pipe_signal(pp->ready_fd);
	for (uint32_t i = 0; i < pp->rounds; i++) {
		if (read_expect(r, i, 1, 1, READ_TIMEOUT_NS, &t) < 0)
			return 1;
		pipe_signal(pp->ack_fd);
	}
	fanout_shm_close(r);
	return 0;
}

/* One event, one answer, 40 times. A reader that was not woken would sleep out its
 * 100 ms check interval each round (4 s in all); woken, a round takes microseconds. */
static void test_sleeping_reader_is_woken(void **state)
{
	struct pub_opts po = { .name = "sleep", .ring_bytes = 1 << 20, .no_logs = true };
	struct pingpong pp = { .rounds = 40 };
	struct timespec t0, t1;
	int ready[2], ack[2];
	struct pub p;
	pid_t pid;
	double secs;

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(ack), 0);
	pp.path = p.path;
	pp.ready_fd = ready[1];
	pp.ack_fd = ack[1];
	pid = fork_child(pingpong_reader, &pp);
	assert_int_equal(pipe_wait(ready[0], 30000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < pp.rounds; i++) {
		assert_int_equal(pub_event(&p, true), 0);
		assert_int_equal(pipe_wait(ack[0], 30000), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(wait_child(pid), 0);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "40 futex round trips: %.3f s\n", secs);
	assert_true(secs < 1.5);
	close(ready[0]);
	close(ready[1]);
	close(ack[0]);
	close(ack[1]);
	pub_close(&p);
}

/* A reader that never sleeps. */
static void test_busy_spin_reader(void **state)
{
	struct pub_opts po = { .name = "spin", .ring_bytes = 4 << 20, .no_logs = true };

	run_readers(*state, &po, 1, 5000, FANOUT_SHM_SPIN_FOREVER, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrap_around_under_load, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_four_readers_every_frame_in_order,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sleeping_reader_is_woken, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_busy_spin_reader, shm_fixture_setup,
						shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
