/* tests/shm/corrupt_test.c — a reader meets values in the shared file it must not trust:
 * the instant between the writer's two position stores (a legitimate race), a journal
 * entry whose position is out of range, a record that would run off the end of the data
 * area. Each gives NONE or CORRUPT; none aborts or reads outside the mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/fanout_shm.h"
#include "shm/ring_format.h"
#include "shm/ring_writer.h"

#define RING 65536u

static char dir[64];

/* A frame of total bytes: a 2-byte varint prefix and a body of 'x'. */
static uint32_t frame_of(uint8_t *buf, uint32_t total)
{
	uint32_t body = total - 2;

	buf[0] = (uint8_t)(body | 0x80);
	buf[1] = (uint8_t)(body >> 7);
	memset(buf + 2, 'x', body);
	return total;
}

/* A 64 KiB ring holding 63 records of 1 KiB, and a reader opened on it. */
static void setup_ring(const char *name, struct shm_ring_writer **w, struct fanout_shm **r)
{
	static uint8_t frame[2048];
	struct shm_ring_opts o = { .dir = dir, .name = name, .bytes = RING };
	struct fanout_shm_opts ro;
	char path[256], err[256];

	assert_int_equal(shm_ring_create(w, &o, path, sizeof(path)), 0);
	for (uint32_t i = 0; i < 63; i++)
		assert_int_equal(shm_ring_write(*w, frame, frame_of(frame, 992), 0, i, 0), 0);
	fanout_shm_opts_init(&ro);
	if (fanout_shm_open(r, path, &ro, err, sizeof(err)) < 0)
		fail_msg("open: %s", err);
}

static struct shm_journal_entry *journal(struct shm_ring_writer *w)
{
	return (struct shm_journal_entry *)((uint8_t *)shm_ring_base(w) + SHM_JOURNAL_OFFSET);
}

/* A reader that saw the new sequence but the old position is told "nothing yet". */
static void position_behind_sequence_is_not_yet(void **state)
{
	static uint8_t frame[4096];
	struct shm_ring_writer *w;
	struct fanout_shm *r;
	struct shm_ring_header *h;
	struct fanout_shm_record rec;
	uint64_t old;

	(void)state;
	setup_ring("behind", &w, &r);
	h = shm_ring_base(w);
	old = atomic_load(&h->write_pos);
	assert_int_equal(shm_ring_write(w, frame, frame_of(frame, 2000), 0, 63, 0), 0);	/* pads */
	atomic_store(&h->write_pos, old);	/* as between the writer's two stores */
	for (int i = 0; i < 200; i++) {
		int rc = fanout_shm_poll(r, &rec);

		if (rc != FANOUT_SHM_NONE && rc != FANOUT_SHM_EVENT)
			fail_msg("poll %d: %d %s", i, rc, fanout_shm_errmsg(r));
		if (rc == FANOUT_SHM_NONE)
			break;
	}
	fanout_shm_close(r);
	shm_ring_destroy(w);
}

static void journal_position_out_of_range_is_corrupt(void **state)
{
	static uint8_t frame[256];
	struct shm_ring_writer *w;
	struct fanout_shm *r;
	struct shm_ring_header *h;
	struct fanout_shm_record rec;
	int rc;

	(void)state;
	setup_ring("journal", &w, &r);
	h = shm_ring_base(w);
	assert_int_equal(shm_ring_write(w, frame, frame_of(frame, 100), 0, 63, 0), 0);
	journal(w)[63].pos = RING * 3 - 8;	/* misaligned, near the end */
	atomic_store(&h->write_pos, RING * 5ull);
	atomic_store(&h->reserve_pos, RING * 3ull);
	do
		rc = fanout_shm_poll(r, &rec);
	while (rc == FANOUT_SHM_EVENT || rc == FANOUT_SHM_GAP);
	assert_int_equal(rc, -FANOUT_SHM_E_CORRUPT);
	fanout_shm_close(r);
	shm_ring_destroy(w);
}

static void record_past_the_end_is_corrupt(void **state)
{
	static uint8_t frame[256];
	struct shm_ring_writer *w;
	struct fanout_shm *r;
	struct shm_ring_header *h;
	struct shm_record *sr;
	struct fanout_shm_record rec;
	uint8_t *data;
	uint32_t len = RING / 4 - 64;
	int rc;

	(void)state;
	setup_ring("straddle", &w, &r);
	h = shm_ring_base(w);
	data = (uint8_t *)h + h->data_offset;
	assert_int_equal(shm_ring_write(w, frame, frame_of(frame, 100), 0, 63, 0), 0);
	journal(w)[63].pos = RING - 64;
	sr = (struct shm_record *)(data + RING - 64);
	sr->frame_len = len;
	sr->seq = 63;
	atomic_store(&h->write_pos, RING * 2ull);
	atomic_store(&h->reserve_pos, RING * 1ull);
	do
		rc = fanout_shm_poll(r, &rec);
	while (rc == FANOUT_SHM_EVENT && rec.offset < 63);
	assert_int_equal(rc, -FANOUT_SHM_E_CORRUPT);
	fanout_shm_close(r);
	shm_ring_destroy(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(position_behind_sequence_is_not_yet),
		cmocka_unit_test(journal_position_out_of_range_is_corrupt),
		cmocka_unit_test(record_past_the_end_is_corrupt),
	};
	char cmd[96];
	int rc;

	strcpy(dir, "/tmp/fanout-shm-corrupt.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
