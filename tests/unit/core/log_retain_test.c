/* tests/unit/core/log_retain_test.c — retention (core/log_retain.c) on a real log of
 * 64 KiB segments in a temporary directory: the plan by size and by time (whole sealed
 * segments only, never the writer's), retiring (first offset, files, reads and cursors
 * below it), reclaiming only after its grace generation (zero pages at the same
 * addresses), a reopen that keeps the cut, and a subscription whose cursor was below it
 * told of the gap (net/subscriber.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/keyhash.h"
#include "core/log.h"
#include "core/log_hot.h"
#include "core/log_retain.h"
#include "net/subscriber.h"
#include "tests/unit/tmp_tree.h"

#define FRAME 1000u	/* bytes per frame: 65 to a 64 KiB segment */
#define OLD_NS 1000ll	/* receive time of the old frames */
#define NEW_NS 5000ll

struct fx {
	char dir[64];
	struct topic_table topics;
	struct topic *tp;
	struct log *log;
	bool closed;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN,
				 .fsync = LOG_FSYNC_NEVER };

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/fanout-retain-test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0 ||
	    topic_create(&f->topics, "t", 1, 1, &f->tp) < 0)
		return -1;
	f->log = f->tp->part[0].log;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f->closed)
		topic_table_close(&f->topics);
	tmp_tree_remove(f->dir);
	free(f);
	return 0;
}

/* Appends n event frames (routing key "K") received at recv_ns. */
static void append(struct log *log, uint32_t n, int64_t recv_ns)
{
	for (uint32_t i = 0; i < n; i++) {
		struct log_fields fl = { .key_hash = keyhash_bytes("K", 1),
					 .recv_ns = (uint64_t)recv_ns };
		uint8_t *dst;
		uint64_t at;

		assert_int_equal(log_reserve(log, FRAME, &dst, &at), 0);
		memset(dst, 0, FRAME);
		dst[0] = (uint8_t)(0x80 | ((FRAME - 2) & 0x7f));	/* varint FRAME - 2 */
		dst[1] = (uint8_t)((FRAME - 2) >> 7);
		dst[2] = 0x0a;	/* ServerMessage.event, the rest of the body */
		dst[3] = (uint8_t)(0x80 | ((FRAME - 5) & 0x7f));
		dst[4] = (uint8_t)((FRAME - 5) >> 7);
		log_commit(log, &fl);
	}
	log_publish(log);
}

/* Segment i's base offset, and whether its files are there. */
static uint64_t base(const struct log *log, uint32_t i)
{
	return log->segs[i]->base_offset;
}

static bool files_exist(const struct log *log, uint32_t i)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%020llu.log", log->dir,
		 (unsigned long long)base(log, i));
	return stat(path, &st) == 0;
}

/* 4 segments of old frames, 2 of new, the writer's last: sealed and on disk. */
static uint32_t fill(struct fx *f)
{
	uint32_t n;

	append(f->log, 4 * 65, OLD_NS);
	append(f->log, 2 * 65 + 10, NEW_NS);
	assert_int_equal(log_persist_run(f->log, false), 0);
	n = atomic_load(&f->log->nsegs);
	assert_true(n >= 7);
	return n;
}

static void plans_by_time_and_size(void **state)
{
	struct fx *f = *state;
	uint32_t n = fill(f);
	/* A full segment's storage: its frames and index entries. */
	uint64_t seg = log_bytes_behind(f->log, base(f->log, 1)) -
		       log_bytes_behind(f->log, base(f->log, 2)) +
		       (base(f->log, 2) - base(f->log, 1)) * sizeof(struct log_entry);

	assert_int_equal(log_retain_plan(f->log, 0, 0), 0);	/* no bounds */
	/* By time: the segments whose newest frame is old; not the one old and new share. */
	{
		uint64_t b = log_retain_plan(f->log, NEW_NS, 0);
		struct log_ref ref;

		assert_true(b > 0);
		assert_int_equal(log_read(f->log, b - 1, &ref), 0);
		assert_true((int64_t)ref.entry->recv_ns < NEW_NS);	/* all below are old */
		for (uint32_t i = 0; i < n; i++)
			if (base(f->log, i) == b)
				goto found;
		fail_msg("the plan is not a segment's base");
found:
		assert_true(b <= 4 * 65);
	}
	/* By size: the oldest go while the rest hold 3 segments' bytes without them. */
	{
		uint64_t b = log_retain_plan(f->log, 0, 3 * seg);
		uint64_t kept = log_bytes_behind(f->log, b) +
				(log_tail(f->log) - b) * sizeof(struct log_entry);

		assert_true(kept >= 3 * seg && kept < 4 * seg);
	}
	/* Never the writer's segment, however small the bound. */
	assert_true(log_retain_plan(f->log, INT64_MAX, 1) <= base(f->log, n - 1));
	assert_true(log_retain_plan(f->log, INT64_MAX, 1) > 0);
}

static void retire_then_reclaim_after_grace(void **state)
{
	struct fx *f = *state;
	uint64_t tail, b;
	struct log_cursor cur;
	struct log_ref ref;
	uint8_t *old_data;

	fill(f);
	tail = log_tail(f->log);
	b = base(f->log, 3);
	log_cursor_seek(f->log, &cur, 0);
	assert_int_equal(log_retire(f->log, b, 7), 3);
	assert_int_equal(log_first(f->log), b);
	assert_int_equal(f->log->retired_events, b);
	for (uint32_t i = 0; i < 3; i++)
		assert_false(files_exist(f->log, i));
	assert_true(files_exist(f->log, 3));
	assert_int_equal(log_read(f->log, b - 1, &ref), -ERANGE);
	assert_int_equal(log_read(f->log, b, &ref), 0);
	/* A cursor below the first offset is moved up, told (-ESTALE), then reads on. */
	assert_int_equal(log_cursor_peek(f->log, &cur, &ref), -ESTALE);
	assert_int_equal(cur.offset, b);
	assert_int_equal(log_cursor_peek(f->log, &cur, &ref), 0);
	/* The memory waits for grace generation 7. */
	old_data = f->log->segs[0]->data;
	assert_int_equal(old_data[0], 0xe6);	/* FRAME - 2's first varint byte */
	assert_true(log_reclaim_pending(f->log));
	assert_int_equal(log_reclaim(f->log, 6), 0);
	assert_int_equal(old_data[0], 0xe6);
	assert_int_equal(log_reclaim(f->log, 7), 3);
	assert_false(log_reclaim_pending(f->log));
	assert_ptr_equal(f->log->segs[0]->data, old_data);	/* same address: zeros */
	assert_int_equal(old_data[0], 0);
	/* Nothing more to retire below the same offset; a reopen keeps the cut. */
	assert_int_equal(log_retire(f->log, b, 8), 0);
	assert_int_equal(log_tail(f->log), tail);
}

static void reopen_keeps_the_cut(void **state)
{
	struct fx *f = *state;
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN,
				 .fsync = LOG_FSYNC_NEVER };
	char dir[600];
	struct log *log;
	uint64_t b, tail;

	fill(f);
	b = base(f->log, 2);
	tail = log_tail(f->log);
	assert_int_equal(log_retire(f->log, b, 1), 2);
	snprintf(dir, sizeof(dir), "%s", f->log->dir);
	topic_table_close(&f->topics);
	f->closed = true;
	assert_int_equal(log_open(&log, dir, &lc), 0);
	assert_int_equal(log_first(log), b);
	assert_int_equal(log_tail(log), tail);
	log_close(log);
}

/* A scanning subscription whose cursor was below the cut: a gap, then the frames. */
static void subscription_is_told_of_the_gap(void **state)
{
	struct fx *f = *state;
	struct sub_request req = { .id = 1, .topic = f->tp,
				   .start = 1 /* EARLIEST */ };
	struct subscription sub;
	struct iovec iov[64];
	struct arena a;
	struct sub_gather g = { .iov = iov, .iov_max = 64, .bytes_max = 1 << 20, .arena = &a };
	const char *why;
	uint64_t b;
	uint32_t n;

	assert_int_equal(arena_init(&a, 1 << 16), 0);
	fill(f);
	assert_int_equal(sub_init(&sub, &req, &a, &why), SUB_OK);
	b = base(f->log, 2);
	assert_int_equal(log_retire(f->log, b, 1), 2);
	n = sub_gather(&sub, &g);
	assert_true(n > 0);
	assert_int_equal(sub.ngaps, 1);
	assert_int_equal(sub.gaps[0].partition, 0);
	assert_int_equal(sub.gaps[0].first, 0);
	assert_int_equal(sub.gaps[0].end, b);
	assert_true(sub.cursors[0].offset > b);
	sub_free(&sub);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(plans_by_time_and_size, setup, teardown),
		cmocka_unit_test_setup_teardown(retire_then_reclaim_after_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_keeps_the_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(subscription_is_told_of_the_gap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
