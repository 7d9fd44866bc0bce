/* tests/shm/lap_test.c — readers the writer laps (shm/shm_poll.c, shm/shm_log.c): a slow
 * reader in another process gets every missed frame back from real partition logs on disk
 * (written by core/log), in order, with no gap; a reader lapped past the journal is told
 * exactly how many events it lost; events the log no longer holds are reported one by one
 * with their offsets; a record overwritten while in use fails validation and comes back
 * from the log; without a data directory every missed offset is still reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log_segment.h"
#include "shm/ring_format.h"
#include "tests/shm/shm_harness.h"

#define READ_TIMEOUT_NS (60ll * 1000000000)

struct slow_job {
	const char *path;
	uint64_t before, n;		/* read `before` events, pause, then expect up to n */
	uint32_t partitions;
	int paused_fd, go_fd;
	uint64_t expect_lost_unknown;	/* a journal gap of exactly this many after the pause */
};

/* Reads events up to `before`, says so, waits for the writer to finish, then reads the
 * rest: one journal gap of the expected size first if there must be one, then events in
 * order to n - 1. */
static int slow_reader(void *arg)
{
	const struct slow_job *j = arg;
	struct fanout_shm_opts o;
	struct fanout_shm_record rec;
	struct fanout_shm_stats st;
	struct fanout_shm *r;
	struct read_tally t = { 0 };
	uint64_t next = j->before;
	char err[256];

	fanout_shm_opts_init(&o);
	o.start = FANOUT_SHM_START_FIRST;
	if (fanout_shm_open(&r, j->path, &o, err, sizeof(err)) < 0)
		return 2;
	if (read_expect(r, 0, j->before, j->partitions, READ_TIMEOUT_NS, &t) < 0)
		return 3;
	pipe_signal(j->paused_fd);
	if (pipe_wait(j->go_fd, 60000) < 0)
		return 4;
	if (j->expect_lost_unknown) {
		if (fanout_shm_next(r, &rec, READ_TIMEOUT_NS) != FANOUT_SHM_GAP ||
		    rec.lost != j->expect_lost_unknown || (rec.flags & FANOUT_SHM_OFFSET_KNOWN) ||
		    rec.seq != j->before) {
			fprintf(stderr, "expected a gap of %" PRIu64 " at %" PRIu64 ", got %" PRIu64
				" at %" PRIu64 "\n", j->expect_lost_unknown, j->before, rec.lost,
				rec.seq);
			return 5;
		}
		next += rec.lost;
	}
	if (read_expect(r, next, j->n - next, j->partitions, READ_TIMEOUT_NS, &t) < 0)
		return 6;
	fanout_shm_get_stats(r, &st);
	fprintf(stderr, "slow reader: %" PRIu64 " recovered from the log, %" PRIu64 " laps, %"
		PRIu64 " lost\n", st.recovered, st.laps, st.lost_unknown + st.lost_known);
	/* Everything after the pause that the ring no longer held came from the log. */
	if (st.laps == 0 || st.recovered == 0 || st.lost_unknown != j->expect_lost_unknown ||
	    st.lost_known != 0 || st.delivered != j->n - j->expect_lost_unknown)
		return 7;
	fanout_shm_close(r);
	return 0;
}

static void run_slow(struct shm_fixture *f, struct pub_opts *po, uint64_t before, uint64_t n,
		     uint64_t expect_lost)
{
	struct slow_job j = { .before = before, .n = n, .expect_lost_unknown = expect_lost,
			      .partitions = po->partitions ? po->partitions : 1 };
	int paused[2], go[2];
	struct pub p;
	pid_t pid;

	assert_int_equal(pub_open(&p, f, po), 0);
	assert_int_equal(pipe(paused), 0);
	assert_int_equal(pipe(go), 0);
	j.path = p.path;
	j.paused_fd = paused[1];
	j.go_fd = go[0];
	pid = fork_child(slow_reader, &j);
	assert_int_equal(pub_events(&p, before), 0);
	assert_int_equal(pipe_wait(paused[0], 60000), 0);
	assert_int_equal(pub_events(&p, n - before), 0);	/* laps the paused reader */
	pipe_signal(go[1]);
	assert_int_equal(wait_child(pid), 0);
	close(paused[0]);
	close(paused[1]);
	close(go[0]);
	close(go[1]);
	pub_close(&p);
}

/* 20k events through a 64 KiB ring (~250 records) while the reader pauses after 100:
 * the journal (64k entries) still names them all, the logs hold them all. */
static void test_slow_reader_recovers_from_the_log(void **state)
{
	struct pub_opts po = { .name = "slow", .ring_bytes = 64 << 10, .journal_entries = 65536,
			       .partitions = 2 };

	run_slow(*state, &po, 100, 20000, 0);
}

/* The journal holds 1024 entries: a reader paused at 10 while 5000 are written has lost
 * exactly 5000 - 1024 - 10 events whose offsets nobody knows any more. */
static void test_journal_lapped_exact_loss(void **state)
{
	struct pub_opts po = { .name = "jlap", .ring_bytes = 64 << 10, .journal_entries = 1024,
			       .partitions = 2 };

	run_slow(*state, &po, 10, 5000, 5000 - 1024 - 10);
}

/* Events whose log segment is gone (retention) come back as gaps with their offsets. */
static void test_retention_reported_per_offset(void **state)
{
	struct shm_fixture *f = *state;
	struct pub_opts po = { .name = "ret", .ring_bytes = 64 << 10, .journal_entries = 65536,
			       .partitions = 2 };
	struct fanout_shm_record rec;
	struct fanout_shm_stats st;
	struct fanout_shm *r;
	struct pub p;
	char path[LOG_PATH_BYTES], err[256];
	uint64_t seg1, i, lost = 0;

	assert_int_equal(pub_open(&p, f, &po), 0);
	assert_int_equal(fanout_shm_open(&r, p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(pub_events(&p, 20000), 0);
	/* Partition 0's first segment disappears (retention); the reader, opened before the
	 * first event, was lapped long ago. */
	assert_true(p.logs[0]->nsegs >= 2);
	seg1 = p.logs[0]->segs[1]->base_offset;
	log_segment_path(path, p.logs[0]->dir, 0, "idx");
	assert_int_equal(unlink(path), 0);
	log_segment_path(path, p.logs[0]->dir, 0, "log");
	assert_int_equal(unlink(path), 0);
	for (i = 0; i < 20000;) {
		int rc = fanout_shm_next(r, &rec, READ_TIMEOUT_NS);

		if (rc == FANOUT_SHM_GAP) {
			/* Only partition 0 below its second segment, each with its offset. */
			assert_true(rec.flags & FANOUT_SHM_OFFSET_KNOWN);
			assert_int_equal(rec.lost, 1);
			assert_int_equal(rec.partition, i % 2);
			assert_int_equal(rec.offset, i / 2);
			assert_true(rec.partition == 0 && rec.offset < seg1);
			assert_non_null(strstr(fanout_shm_errmsg(r), "retention"));
			lost++;
			i++;
			continue;
		}
		assert_int_equal(rc, FANOUT_SHM_EVENT);
		assert_int_equal(check_event(&rec, i, 2), 0);
		assert_false(rec.partition == 0 && rec.offset < seg1 &&
			     (rec.flags & FANOUT_SHM_RECOVERED));
		if (fanout_shm_validate(r, &rec) == 0)
			i++;
	}
	fanout_shm_get_stats(r, &st);
	assert_true(lost > 0);
	assert_int_equal(st.lost_known, lost);
	assert_int_equal(st.delivered + lost, 20000);
	fanout_shm_close(r);
	pub_close(&p);
}

/* Deterministic tear: read a record, let the writer lap it, then validate. */
static void test_overwritten_while_in_use(void **state)
{
	struct pub_opts po = { .name = "torn", .ring_bytes = 64 << 10, .journal_entries = 8192 };
	struct fanout_shm_record rec, again;
	struct fanout_shm_stats st;
	struct read_tally t = { 0 };
	struct fanout_shm *r;
	struct pub p;
	char err[256];

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(fanout_shm_open(&r, p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(pub_events(&p, 1), 0);
	assert_int_equal(fanout_shm_poll(r, &rec), FANOUT_SHM_EVENT);
	assert_int_equal(rec.flags & FANOUT_SHM_RECOVERED, 0);
	assert_int_equal(fanout_shm_validate(r, &rec), 0);	/* intact: nothing wrote */
	assert_int_equal(fanout_shm_validate(r, &rec), 0);	/* twice is harmless */
	assert_int_equal(pub_events(&p, 1), 0);
	assert_int_equal(fanout_shm_poll(r, &rec), FANOUT_SHM_EVENT);	/* event 1, in the ring */
	assert_int_equal(pub_events(&p, 1000), 0);	/* ~4 laps while "in use" */
	assert_int_equal(fanout_shm_validate(r, &rec), -ESTALE);
	assert_int_equal(fanout_shm_poll(r, &again), FANOUT_SHM_EVENT);
	assert_true(again.flags & FANOUT_SHM_RECOVERED);
	assert_int_equal(check_event(&again, 1, 1), 0);
	assert_int_equal(fanout_shm_validate(r, &again), 0);
	assert_int_equal(read_expect(r, 2, 1000, 1, READ_TIMEOUT_NS, &t), 0);
	fanout_shm_get_stats(r, &st);
	assert_int_equal(st.torn, 1);
	assert_int_equal(st.delivered, 1002);
	assert_int_equal(st.lost_known + st.lost_unknown, 0);
	fanout_shm_close(r);
	pub_close(&p);
}

/* No data directory: nothing to recover from, yet each missed offset is named. */
static void test_no_data_dir_still_exact(void **state)
{
	struct pub_opts po = { .name = "nodir", .ring_bytes = 64 << 10, .journal_entries = 8192,
			       .no_logs = true };
	struct fanout_shm_record rec;
	struct fanout_shm *r;
	struct pub p;
	uint64_t events = 0, gaps = 0;
	char err[256];

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(fanout_shm_open(&r, p.path, NULL, err, sizeof(err)), 0);
	assert_int_equal(pub_events(&p, 3000), 0);
	for (uint64_t i = 0; i < 3000; i++) {
		int rc = fanout_shm_next(r, &rec, READ_TIMEOUT_NS);

		assert_true(rc == FANOUT_SHM_EVENT || rc == FANOUT_SHM_GAP);
		assert_int_equal(rec.offset, i);	/* in order, gap or not */
		if (rc == FANOUT_SHM_GAP) {
			assert_true(rec.flags & FANOUT_SHM_OFFSET_KNOWN);
			gaps++;
		} else {
			assert_int_equal(check_event(&rec, i, 1), 0);
			assert_int_equal(fanout_shm_validate(r, &rec), 0);
			events++;
		}
	}
	assert_true(gaps > 2000 && events > 100);	/* the ring held the last ~250 */
	assert_int_equal(fanout_shm_poll(r, &rec), FANOUT_SHM_NONE);
	fanout_shm_close(r);
	pub_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slow_reader_recovers_from_the_log,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_journal_lapped_exact_loss, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_retention_reported_per_offset,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_overwritten_while_in_use, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_data_dir_still_exact, shm_fixture_setup,
						shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
