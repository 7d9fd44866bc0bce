/* tests/shm/fault_test.c — processes dying around a ring: a reader SIGKILLed while it
 * holds a record (its slot is reclaimed, nobody else notices); a writer SIGKILLed while a
 * reader waits (the reader drains what was published, is told the writer died, and reads
 * the new ring a new writer makes; the start-up sweep removes the dead one's file and
 * keeps the live one's); a ring closed by its writer (drained, then reported closed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/ring_format.h"
#include "tests/shm/shm_harness.h"

#define READ_TIMEOUT_NS (60ll * 1000000000)

struct holder {
	const char *path;
	int holding_fd, never_fd;
};

/* Reads 100 events, takes the 101st without validating it, and stays there. */
static int holding_reader(void *arg)
{
	const struct holder *h = arg;
	struct fanout_shm_opts o;
	struct fanout_shm_record rec;
	struct fanout_shm *r;
	struct read_tally t = { 0 };
	char err[256];

	fanout_shm_opts_init(&o);
	o.start = FANOUT_SHM_START_FIRST;
	if (fanout_shm_open(&r, h->path, &o, err, sizeof(err)) < 0 ||
	    read_expect(r, 0, 100, 1, READ_TIMEOUT_NS, &t) < 0 ||
	    fanout_shm_next(r, &rec, READ_TIMEOUT_NS) != FANOUT_SHM_EVENT)
		return 1;
	pipe_signal(h->holding_fd);
	pipe_wait(h->never_fd, 60000);	/* killed long before */
	return 1;
}

static void test_reader_killed_mid_read(void **state)
{
	struct pub_opts po = { .name = "kill-reader", .ring_bytes = 1 << 20, .no_logs = true };
	struct fanout_shm *r[SHM_SLOT_COUNT];
	struct shm_reader_info info[SHM_SLOT_COUNT];
	struct fanout_shm_info ri;
	struct read_tally t = { 0 };
	struct holder h;
	int holding[2], never[2];
	uint32_t dead_slot;
	struct pub p;
	char err[256];
	pid_t pid;

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(pipe(holding), 0);
	assert_int_equal(pipe(never), 0);
	h = (struct holder){ .path = p.path, .holding_fd = holding[1], .never_fd = never[0] };
	pid = fork_child(holding_reader, &h);
	assert_int_equal(pub_events(&p, 101), 0);
	assert_int_equal(pipe_wait(holding[0], 60000), 0);
	assert_int_equal(shm_ring_readers(p.w, info, SHM_SLOT_COUNT), 1);
	assert_int_equal(info[0].pid, pid);
	assert_true(info[0].alive);
	dead_slot = info[0].slot;
	/* While it lives, its slot is taken: 63 more fit, not 64. */
	for (uint32_t i = 0; i < SHM_SLOT_COUNT - 1; i++)
		assert_int_equal(fanout_shm_open(&r[i], p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(fanout_shm_open(&r[63], p.path, NULL, err, sizeof(err)),
			 -FANOUT_SHM_E_NOSLOT);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	assert_int_equal(shm_ring_readers(p.w, info, SHM_SLOT_COUNT), SHM_SLOT_COUNT);
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i++)
		assert_true(info[i].alive == (info[i].slot != dead_slot));
	/* The dead reader's slot is reclaimed by the next reader. */
	assert_int_equal(fanout_shm_open(&r[63], p.path, NULL, err, sizeof(err)), 0);
	fanout_shm_get_info(r[63], &ri);
	assert_int_equal(ri.slot, dead_slot);
	/* The writer and the other readers never noticed. */
	assert_int_equal(pub_events(&p, 50), 0);
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i += 21)
		assert_int_equal(read_expect(r[i], 101, 50, 1, READ_TIMEOUT_NS, &t), 0);
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i++)
		fanout_shm_close(r[i]);
	close(holding[0]);
	close(holding[1]);
	close(never[0]);
	close(never[1]);
	pub_close(&p);
}

struct writer_job {
	const struct shm_fixture *f;
	const char *name;
	uint64_t events;
	int ready_fd, release_fd;
};

/* Publishes, says so, and stays until released (or killed). */
static int writer_main(void *arg)
{
	const struct writer_job *j = arg;
	struct pub_opts po = { .name = j->name, .ring_bytes = 1 << 20, .no_logs = true };
	struct pub p;

	if (pub_open(&p, j->f, &po) < 0 || pub_events(&p, j->events) < 0)
		return 1;
	pipe_signal(j->ready_fd);
	if (pipe_wait(j->release_fd, 60000) < 0)
		return 1;
	pub_close(&p);
	return 0;
}

struct waiter_job {
	char ring1[PATH_MAX], ring2[PATH_MAX];
	int start_fd, drained_fd, ring2_fd;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Drains ring 1, waits past its writer's death, then reads ring 2. */
static int waiting_reader(void *arg)
{
	const struct waiter_job *j = arg;
	struct fanout_shm_opts o;
	struct fanout_shm_record rec;
	struct fanout_shm *r;
	struct read_tally t = { 0 };
	int64_t t0;
	char err[256];
	int rc;

	fanout_shm_opts_init(&o);
	o.start = FANOUT_SHM_START_FIRST;
	if (pipe_wait(j->start_fd, 60000) < 0 || fanout_shm_open(&r, j->ring1, &o, err,
								  sizeof(err)) < 0)
		return 2;
	if (read_expect(r, 0, 500, 1, READ_TIMEOUT_NS, &t) < 0)
		return 3;
	pipe_signal(j->drained_fd);
	t0 = mono_ns();
	rc = fanout_shm_next(r, &rec, 10ll * 1000000000);
	if (rc != -FANOUT_SHM_E_WRITER_DEAD || !strstr(fanout_shm_errmsg(r), "died") ||
	    mono_ns() - t0 > 5ll * 1000000000) {
		fprintf(stderr, "waiting reader: %s (%s)\n", fanout_shm_strerror(rc),
			fanout_shm_errmsg(r));
		return 4;
	}
	fanout_shm_close(r);
	/* Reattach: a new writer, a new ring. */
	if (pipe_wait(j->ring2_fd, 60000) < 0 ||
	    fanout_shm_open(&r, j->ring2, &o, err, sizeof(err)) < 0)
		return 5;
	rc = read_expect(r, 0, 100, 1, READ_TIMEOUT_NS, &t);
	fanout_shm_close(r);
	return rc < 0 ? 6 : 0;
}

static void test_writer_killed_then_new_ring(void **state)
{
	struct shm_fixture *f = *state;
	int ready[2], release[2], start[2], drained[2], ring2[2];
	struct writer_job w1, w2;
	struct waiter_job wj;
	pid_t pw1, pw2, pr;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	assert_int_equal(pipe(start), 0);
	assert_int_equal(pipe(drained), 0);
	assert_int_equal(pipe(ring2), 0);
	w1 = (struct writer_job){ .f = f, .name = "w-1", .events = 500, .ready_fd = ready[1],
				  .release_fd = release[0] };
	w2 = w1;
	w2.name = "w-2";
	w2.events = 100;
	snprintf(wj.ring1, sizeof(wj.ring1), "%s/w-1", f->ring_dir);
	snprintf(wj.ring2, sizeof(wj.ring2), "%s/w-2", f->ring_dir);
	wj.start_fd = start[0];
	wj.drained_fd = drained[1];
	wj.ring2_fd = ring2[0];

	pw1 = fork_child(writer_main, &w1);
	assert_int_equal(pipe_wait(ready[0], 60000), 0);
	pr = fork_child(waiting_reader, &wj);
	pipe_signal(start[1]);
	assert_int_equal(pipe_wait(drained[0], 60000), 0);
	assert_int_equal(kill(pw1, SIGKILL), 0);	/* the server dies; its ring file stays */
	assert_int_equal(wait_child(pw1), 128 + SIGKILL);
	pw2 = fork_child(writer_main, &w2);	/* the server restarts */
	assert_int_equal(pipe_wait(ready[0], 60000), 0);
	pipe_signal(ring2[1]);
	assert_int_equal(wait_child(pr), 0);
	/* What the restarted server does first: remove the dead one's rings. */
	assert_int_equal(shm_ring_sweep(f->ring_dir, "w-", NULL, NULL), 1);
	assert_int_equal(access(wj.ring1, F_OK), -1);
	assert_int_equal(access(wj.ring2, F_OK), 0);
	pipe_signal(release[1]);
	assert_int_equal(wait_child(pw2), 0);
	assert_int_equal(access(wj.ring2, F_OK), -1);	/* removed by its writer */
	for (int i = 0; i < 2; i++) {
		close(ready[i]);
		close(release[i]);
		close(start[i]);
		close(drained[i]);
		close(ring2[i]);
	}
}

static void test_closed_ring_drains_then_reports(void **state)
{
	struct pub_opts po = { .name = "closed", .ring_bytes = 1 << 20, .no_logs = true };
	struct fanout_shm_record rec;
	struct read_tally t = { 0 };
	struct fanout_shm *r;
	struct pub p;
	char err[256];

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(fanout_shm_open(&r, p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(pub_events(&p, 10), 0);
	pub_close(&p);	/* the subscription ended: closed, woken, unlinked */
	assert_int_equal(read_expect(r, 0, 10, 1, READ_TIMEOUT_NS, &t), 0);
	assert_int_equal(fanout_shm_next(r, &rec, READ_TIMEOUT_NS), -FANOUT_SHM_E_CLOSED);
	assert_non_null(strstr(fanout_shm_errmsg(r), "closed"));
	fanout_shm_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reader_killed_mid_read, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_writer_killed_then_new_ring,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_closed_ring_drains_then_reports,
						shm_fixture_setup, shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
