/* tests/shm/layout_test.c — the consumer library reads the partition logs without
 * including core/ (shm/shm_log.h restates their layout): this test includes both and checks
 * they agree, at compile time where it can; and shm/wire.c, the protobuf wire reading the
 * library does by hand, against frames protobuf-c packs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/frame.h"
#include "core/log.h"
#include "core/log_segment.h"
#include "shm/ring_format.h"
#include "shm/shm_log.h"
#include "shm/wire.h"
#include "tests/shm/shm_harness.h"

static_assert(SHM_LOG_INDEX_MAGIC == LOG_INDEX_MAGIC, "index magic");
static_assert(SHM_LOG_INDEX_VERSION == LOG_INDEX_VERSION, "index version");
static_assert(SHM_LOG_HEADER_BYTES == sizeof(struct log_index_header), "index header size");
static_assert(SHM_LOG_ENTRY_BYTES == sizeof(struct log_entry), "index entry size");
static_assert(SHM_LOG_NAME_DIGITS == LOG_NAME_DIGITS, "segment file names");
static_assert(SHM_LOG_ENTRY_POS == offsetof(struct log_entry, pos), "entry pos");
static_assert(SHM_LOG_ENTRY_LEN == offsetof(struct log_entry, len), "entry len");
static_assert(SHM_LOG_ENTRY_RECV_NS == offsetof(struct log_entry, recv_ns), "entry recv_ns");
static_assert(SHM_LOG_HDR_VERSION == offsetof(struct log_index_header, version), "hdr version");
static_assert(SHM_LOG_HDR_ENTRY_BYTES == offsetof(struct log_index_header, entry_bytes),
	      "hdr entry_bytes");
static_assert(SHM_LOG_HDR_BASE == offsetof(struct log_index_header, base_offset), "hdr base");
static_assert(SHM_LOG_HDR_LOG_BYTES == offsetof(struct log_index_header, log_bytes),
	      "hdr log_bytes");
static_assert(SHM_LOG_HDR_CAPACITY == offsetof(struct log_index_header, entry_capacity),
	      "hdr entry_capacity");
static_assert(SHM_WIRE_PREFIX_MAX == FRAME_PREFIX_MAX, "frame prefix bound");

/* The same file read both ways: core/log writes a segment, the layout constants read it. */
static void test_segment_read_both_ways(void **state)
{
	struct shm_fixture *f = *state;
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };
	struct log_fields fl = { .recv_ns = 4242 };
	uint8_t frame[HARNESS_FRAME_MAX], *dst;
	const uint8_t *idx;
	struct log *log;
	uint64_t off;
	uint32_t len = event_frame(frame, 7, 0, 0, 10), v32;
	uint64_t v64;

	assert_int_equal(log_open(&log, f->data_dir, &lc), 0);
	assert_int_equal(log_reserve(log, len, &dst, &off), 0);
	memcpy(dst, frame, len);
	log_commit(log, &fl);
	log_publish(log);
	idx = (const uint8_t *)log->segs[0]->header;
	memcpy(&v64, idx, 8);
	assert_true(v64 == SHM_LOG_INDEX_MAGIC);
	memcpy(&v64, idx + SHM_LOG_HDR_CAPACITY, 8);
	assert_true(v64 == log->segs[0]->entry_capacity);
	memcpy(&v32, idx + SHM_LOG_HEADER_BYTES + SHM_LOG_ENTRY_LEN, 4);
	assert_int_equal(v32, len);
	memcpy(&v64, idx + SHM_LOG_HEADER_BYTES + SHM_LOG_ENTRY_RECV_NS, 8);
	assert_true(v64 == 4242);
	log_close(log);
}

static void test_wire_event_position(void **state)
{
	uint8_t frame[HARNESS_FRAME_MAX];
	uint32_t len = event_frame(frame, 99, 3, 123456789012ull, 50), prefix, body, p;
	uint64_t o;

	(void)state;
	assert_int_equal(shm_wire_prefix(frame, len, &prefix, &body), 1);
	assert_int_equal(prefix + body, len);
	assert_int_equal(shm_wire_event_position(frame + prefix, body, &p, &o), 0);
	assert_int_equal(p, 3);
	assert_true(o == 123456789012ull);
	/* Cut anywhere inside the event, the body no longer parses. */
	assert_int_equal(shm_wire_event_position(frame + prefix, body - 1, &p, &o), -1);
	/* A prefix that needs more bytes, and one that is not a varint of <= 5 bytes. */
	assert_int_equal(shm_wire_prefix((const uint8_t *)"\x80\x80", 2, &prefix, &body), 0);
	assert_int_equal(shm_wire_prefix((const uint8_t *)"\x80\x80\x80\x80\x80\x01", 6,
					 &prefix, &body), -1);
}

static void test_wire_varint_round_trip(void **state)
{
	static const uint64_t values[] = { 0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX };
	uint8_t buf[10];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const uint8_t *p = buf;
		size_t n = shm_wire_varint_put(buf, values[i]);
		uint64_t v = 0;

		assert_int_equal(shm_wire_varint(&p, buf + n, &v), 0);
		assert_true(v == values[i] && p == buf + n);
		p = buf;	/* one byte short: cut, never read past the end */
		assert_int_equal(shm_wire_varint(&p, buf + n - 1, &v), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_segment_read_both_ways, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test(test_wire_event_position),
		cmocka_unit_test(test_wire_varint_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
