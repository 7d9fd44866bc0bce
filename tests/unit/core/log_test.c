/* tests/unit/core/log_test.c — core/log.c and core/crc32c.c: append and read, cursors
 * across segments, roll-over, reopen, torn-tail recovery (in process and after a
 * SIGKILL), corruption detection, and one writer racing one reader. Each test runs in
 * its own temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/crc32c.h"
#include "core/executor.h"
#include "core/frame.h"
#include "core/log.h"
#include "tests/unit/tmp_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL_SEGMENT (64u << 10)
#define FRAME_MAX     (64u << 10)

struct fixture {
	char tmp[64];		/* mkdtemp directory, removed afterwards */
	char dir[128];		/* the log's directory, two levels below tmp */
	uint8_t buf[FRAME_MAX];
};

static const struct log_config small_config = { .segment_bytes = SMALL_SEGMENT };

/* ---- helpers ---------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/log_test.XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	/* Two missing levels: log_open must create them like mkdir -p. */
	snprintf(f->dir, sizeof(f->dir), "%s/parts/p0", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r = tmp_tree_remove(f->tmp);

	free(f);
	return r;
}

/* Body bytes for offset off: the offset itself (8 bytes) then a pattern with no zero
 * byte, so torn-byte counts are exact. */
static uint32_t body_fill(uint8_t *body, uint64_t off, uint32_t body_len)
{
	uint8_t tag[8];

	memcpy(tag, &off, sizeof(tag));
	for (uint32_t i = 0; i < body_len; i++)
		body[i] = i < 8 ? tag[i] : (uint8_t)(((off * 31 + i) % 255) + 1);
	return body_len;
}

/* Writes a whole delimited frame for offset off into dst; returns its length. */
static uint32_t frame_build(uint8_t *dst, uint64_t off, uint32_t body_len)
{
	uint32_t pre = (uint32_t)frame_varint_put(dst, body_len);

	return pre + body_fill(dst + pre, off, body_len);
}

static uint32_t frame_bytes_for(uint32_t body_len)
{
	return (uint32_t)frame_varint_size(body_len) + body_len;
}

static struct log_fields fields_for(uint64_t off)
{
	return (struct log_fields){
		.recv_ns = 1700000000000000000ull + off,
		.key_hash = off * 0x9e3779b97f4a7c15ull,
		.symbol_hash = off ^ 0x5555,
		.venue_hash = off + 7,
		.aux_hash = off * 3 + 1,
		.order_hash = ~off,
		.portfolio_hash = off * 5 + 2,
		.event_ns = (int64_t)off - 1000,
		.priority = (uint8_t)(off % 7),
		.price = (double)off * 0.5,
		.volume = -(double)off,
		.data_type = (uint8_t)(off % 5),
		.flags = (uint8_t)(off & 7),	/* LOG_ENTRY_TRADE among them */
	};
}

/* Appends the frame for the log's next offset (body_len bytes of body). */
static uint64_t append_one(struct log *log, uint32_t body_len)
{
	uint32_t len = frame_bytes_for(body_len);
	struct log_fields fl;
	uint64_t off;
	uint8_t *dst;

	assert_int_equal(log_reserve(log, len, &dst, &off), 0);
	assert_int_equal(frame_build(dst, off, body_len), len);
	fl = fields_for(off);
	log_commit(log, &fl);
	return off;
}

static uint32_t varied_body(uint64_t off)
{
	return 8 + (uint32_t)((off * 7919) % 700);
}

static void append_varied(struct log *log, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		uint64_t want = log->next;

		assert_int_equal(append_one(log, varied_body(want)), want);
	}
}

/* Checks ref is exactly the frame append_one wrote for off. */
static void check_ref(const struct log_ref *ref, uint64_t off, uint32_t body_len,
		      uint8_t *scratch)
{
	struct log_fields fl = fields_for(off);
	const struct log_entry *e = ref->entry;
	uint32_t len = frame_build(scratch, off, body_len);

	assert_int_equal(ref->len, len);
	assert_memory_equal(ref->frame, scratch, len);
	assert_int_equal(e->len, len);
	assert_int_equal(e->crc, crc32c(0, ref->frame, len));
	assert_int_equal(e->recv_ns, fl.recv_ns);
	assert_int_equal(e->key_hash, fl.key_hash);
	assert_int_equal(e->symbol_hash, fl.symbol_hash);
	assert_int_equal(e->venue_hash, fl.venue_hash);
	assert_true(e->price == fl.price);
	assert_true(e->volume == fl.volume);
	assert_int_equal(e->data_type, fl.data_type);
	assert_int_equal(e->flags, fl.flags);
	assert_int_equal(e->aux_hash, fl.aux_hash);
	assert_int_equal(e->order_hash, fl.order_hash);
	assert_int_equal(e->event_ns, fl.event_ns);
	assert_int_equal(e->priority, fl.priority);
	assert_int_equal(e->reserved0, 0);
	assert_int_equal(e->portfolio_hash, fl.portfolio_hash);
}

static void check_all(struct log *log, uint64_t count, uint8_t *scratch)
{
	struct log_ref ref;

	assert_int_equal(log_tail(log), count);
	for (uint64_t off = 0; off < count; off++) {
		assert_int_equal(log_read(log, off, &ref), 0);
		check_ref(&ref, off, varied_body(off), scratch);
	}
	assert_int_equal(log_read(log, count, &ref), -ERANGE);
}

static void seg_file(char *path, size_t n, const char *dir, uint64_t base, const char *ext)
{
	snprintf(path, n, "%s/%020" PRIu64 ".%s", dir, base, ext);
}

/* Overwrites n bytes at byte at of a segment file, as a crash or a bad disk would. */
static void file_poke(const char *dir, uint64_t base, const char *ext, off_t at,
		      const void *p, size_t n)
{
	char path[256];
	int fd;

	seg_file(path, sizeof(path), dir, base, ext);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, at), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void file_peek(const char *dir, uint64_t base, const char *ext, off_t at, void *p,
		      size_t n)
{
	char path[256];
	int fd;

	seg_file(path, sizeof(path), dir, base, ext);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, p, n, at), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static off_t entry_at(uint64_t i)
{
	return (off_t)(sizeof(struct log_index_header) + i * sizeof(struct log_entry));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- crc32c ----------------------------------------------------------------------- */

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static void test_crc32c_vectors(void **state)
{
	uint8_t zeros[32] = { 0 }, ones[32], inc[32], dec[32];

	(void)state;
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
	assert_int_equal(crc32c(0, NULL, 0), 0);
	/* RFC 3720 (iSCSI) B.4 test vectors. */
	assert_int_equal(crc32c(0, zeros, 32), 0x8a9136aau);
	assert_int_equal(crc32c(0, ones, 32), 0x62a8ab43u);
	assert_int_equal(crc32c(0, inc, 32), 0x46dd794eu);
	assert_int_equal(crc32c(0, dec, 32), 0x113fdb5cu);
	/* Continuing from a returned crc equals one pass. */
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void test_crc32c_unaligned(void **state)
{
	enum { N = 4096 + 64 };
	uint8_t *buf = malloc(N);
	uint32_t seed = 12345;

	(void)state;
	assert_non_null(buf);
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t start = 0; start < 16; start++) {
		for (size_t n = 0; n < 300; n++)
			assert_int_equal(crc32c(0, buf + start, n),
					 crc32c_bitwise(buf + start, n));
		assert_int_equal(crc32c(0, buf + start, 4096),
				 crc32c_bitwise(buf + start, 4096));
		/* Split at every small boundary: the running crc composes. */
		for (size_t k = 0; k < 20; k++)
			assert_int_equal(crc32c(crc32c(0, buf + start, k), buf + start + k,
						200 - k),
					 crc32c_bitwise(buf + start, 200));
	}
	free(buf);
}

/* ---- append and read -------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct log_ref ref;
	struct log *log;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log_first(log), 0);
	assert_int_equal(log_tail(log), 0);
	assert_int_equal(log_read(log, 0, &ref), -ERANGE);
	append_varied(log, 300);
	/* Committed but not published: readers must not see it yet. */
	assert_int_equal(log_tail(log), 0);
	assert_int_equal(log_read(log, 0, &ref), -ERANGE);
	log_publish(log);
	check_all(log, 300, f->buf);
	/* Frames sit back to back in each segment's .log from byte 0. */
	assert_int_equal(atomic_load(&log->nsegs), 2);
	for (uint64_t off = 0, pos = 0; off < 300; off++) {
		if (off == log->segs[1]->base_offset)
			pos = 0;
		assert_int_equal(log_read(log, off, &ref), 0);
		assert_int_equal(ref.entry->pos, pos);
		assert_ptr_equal(ref.frame,
				 log->segs[off >= log->segs[1]->base_offset]->data + pos);
		pos += ref.len;
	}
	log_close(log);
}

/* A receive time finds the first event received at or after it, across segments, by
 * binary search; before every event: the first; after every event: the tail. */
static void test_offset_at_time(void **state)
{
	struct fixture *f = *state;
	const int64_t t0 = 1700000000000000000ll;	/* fields_for: recv_ns = t0 + off */
	struct log *log;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log_offset_at_time(log, t0), 0);	/* empty: the tail */
	append_varied(log, 300);
	log_publish(log);
	assert_true(atomic_load(&log->nsegs) >= 2);
	for (uint64_t k = 0; k < 300; k += 7)
		assert_int_equal(log_offset_at_time(log, t0 + (int64_t)k), k);
	assert_int_equal(log_offset_at_time(log, t0 + 299), 299);
	assert_int_equal(log_offset_at_time(log, t0 - 1000), 0);
	assert_int_equal(log_offset_at_time(log, t0 + 300), 300);
	assert_int_equal(log_offset_at_time(log, INT64_MAX), 300);
	log_close(log);
}

static void test_cursor_segments(void **state)
{
	struct fixture *f = *state;
	struct log_cursor c;
	struct log_ref ref;
	struct log *log;
	uint64_t n = 0;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	log_cursor_seek(log, &c, 0);
	assert_int_equal(log_cursor_peek(log, &c, &ref), -EAGAIN);
	append_varied(log, 600);	/* ~220 KiB: four segments */
	log_publish(log);
	assert_true(atomic_load(&log->nsegs) >= 4);
	while (log_cursor_peek(log, &c, &ref) == 0) {
		assert_int_equal(c.offset, n);
		check_ref(&ref, n, varied_body(n), f->buf);
		log_cursor_next(&c);
		n++;
	}
	assert_int_equal(n, 600);
	assert_int_equal(log_cursor_peek(log, &c, &ref), -EAGAIN);

	/* Seek into the middle of each segment, and past the tail (clamped). */
	for (uint32_t s = 0; s < atomic_load(&log->nsegs); s++) {
		uint64_t off = log->segs[s]->base_offset + 3;

		log_cursor_seek(log, &c, off);
		assert_int_equal(c.seg, s);
		assert_int_equal(log_cursor_peek(log, &c, &ref), 0);
		check_ref(&ref, off, varied_body(off), f->buf);
	}
	log_cursor_seek(log, &c, 1000000);
	assert_int_equal(c.offset, 600);
	assert_int_equal(log_cursor_peek(log, &c, &ref), -EAGAIN);
	/* A zeroed cursor with a stale segment index still finds its frame. */
	c = (struct log_cursor){ .offset = 599, .seg = 0 };
	assert_int_equal(log_cursor_peek(log, &c, &ref), 0);
	check_ref(&ref, 599, varied_body(599), f->buf);
	assert_int_equal(c.seg, atomic_load(&log->nsegs) - 1);
	log_close(log);
}

static void test_roll_index_full(void **state)
{
	struct fixture *f = *state;
	uint64_t cap = SMALL_SEGMENT / sizeof(struct log_entry);
	struct log_ref ref;
	struct log *log;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	for (uint64_t i = 0; i < 3 * cap + 1; i++)
		assert_int_equal(append_one(log, 1), i);	/* 2-byte frames */
	log_publish(log);
	assert_int_equal(atomic_load(&log->nsegs), 4);
	for (uint32_t s = 0; s < 4; s++)
		assert_int_equal(log->segs[s]->base_offset, s * cap);
	assert_int_equal(log_read(log, cap - 1, &ref), 0);
	check_ref(&ref, cap - 1, 1, f->buf);
	assert_int_equal(log_read(log, cap, &ref), 0);
	assert_int_equal(ref.entry->pos, 0);
	check_ref(&ref, cap, 1, f->buf);
	log_close(log);
}

static void test_roll_bytes_full(void **state)
{
	struct fixture *f = *state;
	const uint32_t body = 20000;	/* three frames fill 60006 of 65536 bytes */
	struct log_ref ref;
	struct log *log;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	for (uint64_t i = 0; i < 10; i++)
		assert_int_equal(append_one(log, body), i);
	log_publish(log);
	assert_int_equal(atomic_load(&log->nsegs), 4);
	for (uint32_t s = 0; s < 4; s++)
		assert_int_equal(log->segs[s]->base_offset, 3 * s);
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(log_read(log, i, &ref), 0);
		assert_int_equal(ref.entry->pos, (i % 3) * frame_bytes_for(body));
		check_ref(&ref, i, body, f->buf);
	}
	log_close(log);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct log_config bad = { .segment_bytes = LOG_SEGMENT_BYTES_MIN - 1 };
	struct log *log;
	uint8_t *dst;
	uint64_t off;

	assert_int_equal(log_open(&log, f->dir, &bad), -EINVAL);
	bad.segment_bytes = (uint64_t)UINT32_MAX + 1;
	assert_int_equal(log_open(&log, f->dir, &bad), -EINVAL);
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log_reserve(log, SMALL_SEGMENT + 1, &dst, &off), -EMSGSIZE);
	assert_int_equal(log_reserve(log, 0, &dst, &off), -EINVAL);
	assert_int_equal(log->reserved_len, 0);
	/* A frame of exactly one segment fits, in a segment of its own. */
	append_one(log, 10);
	assert_int_equal(append_one(log, SMALL_SEGMENT - 3), 1);	/* 3-byte prefix */
	assert_int_equal(append_one(log, 10), 2);
	log_publish(log);
	assert_int_equal(atomic_load(&log->nsegs), 3);
	log_close(log);
}

static void test_bad_dir(void **state)
{
	struct fixture *f = *state;
	char path[256], *huge;
	struct log *log;
	int fd;

	snprintf(path, sizeof(path), "%s/file", f->tmp);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(log_open(&log, path, &small_config), -ENOTDIR);
	strcat(path, "/below");
	assert_int_equal(log_open(&log, path, &small_config), -ENOTDIR);
	assert_int_equal(log_open(&log, "", &small_config), -EINVAL);
	huge = calloc(1, sizeof(log->dir) + 1);	/* one byte too long for log->dir */
	assert_non_null(huge);
	memset(huge, 'a', sizeof(log->dir));
	assert_int_equal(log_open(&log, huge, &small_config), -ENAMETOOLONG);
	free(huge);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct log *log;
	uint32_t nsegs;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	append_varied(log, 1000);
	log_publish(log);
	nsegs = atomic_load(&log->nsegs);
	log_close(log);

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	/* The disk segments, and a new hot one the writer starts at the next offset. */
	assert_int_equal(atomic_load(&log->nsegs), nsegs + 1);
	assert_int_equal(log->recovery.segments, nsegs);
	assert_int_equal(log->segs[nsegs]->base_offset, 1000);
	assert_true(atomic_load(&log->segs[nsegs]->hot));
	assert_int_equal(log->recovery.frames, 1000);
	assert_int_equal(log->recovery.torn_entries, 0);
	assert_int_equal(log->recovery.torn_bytes, 0);
	check_all(log, 1000, f->buf);
	append_varied(log, 500);
	log_publish(log);
	check_all(log, 1500, f->buf);
	log_close(log);

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log->recovery.frames, 1500);
	check_all(log, 1500, f->buf);
	log_close(log);
}

/* ---- recovery ----------------------------------------------------------------------- */

/* Writes count frames, publishes, closes; returns the last segment's base offset. */
static uint64_t make_log(struct fixture *f, uint64_t count)
{
	struct log *log;
	uint64_t base;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	append_varied(log, count);
	log_publish(log);
	base = log->segs[atomic_load(&log->nsegs) - 1]->base_offset;
	log_close(log);
	return base;
}

/* Reads entry i of segment base from disk. */
static struct log_entry disk_entry(struct fixture *f, uint64_t base, uint64_t i)
{
	struct log_entry e;

	file_peek(f->dir, base, "idx", entry_at(i), &e, sizeof(e));
	return e;
}

/* Reopens and checks that exactly kept frames remain, torn_entries entries and
 * torn_bytes bytes were cut, the cut entries and bytes are zero on disk, and appending
 * continues right after the kept frames (in a new hot segment). */
static void check_recovered(struct fixture *f, uint64_t base, uint64_t kept,
			    uint64_t torn_entries, uint64_t torn_bytes)
{
	uint64_t end = 0;
	struct log_entry e;
	struct log *log;
	uint8_t *junk;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);	/* hot files copied */
	if (kept > base) {
		e = disk_entry(f, base, kept - base - 1);
		end = e.pos + e.len;
	}
	assert_int_equal(log->recovery.frames, kept);
	assert_int_equal(log->recovery.torn_entries, torn_entries);
	assert_int_equal(log->recovery.torn_bytes, torn_bytes);
	check_all(log, kept, f->buf);
	assert_int_equal(log->next, kept);
	assert_int_equal(log->write_pos, 0);
	assert_int_equal(log->segs[atomic_load(&log->nsegs) - 1]->base_offset, kept);
	log_close(log);

	junk = malloc(SMALL_SEGMENT - end);
	assert_non_null(junk);
	file_peek(f->dir, base, "log", (off_t)end, junk, SMALL_SEGMENT - end);
	assert_true(all_zero(junk, SMALL_SEGMENT - end));
	free(junk);
	for (uint64_t i = kept - base; i < kept - base + torn_entries + 2; i++) {
		e = disk_entry(f, base, i);
		assert_true(all_zero((const uint8_t *)&e, sizeof(e)));
	}

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log->recovery.torn_entries, 0);	/* the cut was persisted */
	assert_int_equal(log->recovery.torn_bytes, 0);
	append_varied(log, 10);
	log_publish(log);
	check_all(log, kept + 10, f->buf);
	log_close(log);
}

/* (a) a process killed with bytes reserved and written but never committed, plus
 * committed frames that were never published: the committed ones are kept (copied from
 * the hot segment it left), the junk never reaches the disk. */
static void test_torn_uncommitted(void **state)
{
	struct fixture *f = *state;
	struct log *log;
	uint64_t off, base;
	uint8_t *dst;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	append_varied(log, 100);
	log_publish(log);
	append_varied(log, 5);
	assert_int_equal(log_reserve(log, 300, &dst, &off), 0);
	assert_int_equal(off, 105);
	memset(dst, 0xab, 300);
	base = log->segs[atomic_load(&log->nsegs) - 1]->base_offset;
	log_drop(log);	/* as kill -9 leaves it */
	check_recovered(f, base, 105, 0, 0);
}

/* (b) the last entry's crc, or a byte of the last frame, is wrong on disk. */
static void test_torn_bad_crc(void **state)
{
	struct fixture *f = *state;
	uint64_t base = make_log(f, 50);
	struct log_entry e = disk_entry(f, base, 49 - base);

	e.crc ^= 1;
	file_poke(f->dir, base, "idx", entry_at(49 - base), &e, sizeof(e));
	check_recovered(f, base, 49, 1, e.len);
}

static void test_torn_bad_frame_byte(void **state)
{
	struct fixture *f = *state;
	uint64_t base = make_log(f, 50);
	struct log_entry e = disk_entry(f, base, 49 - base);
	uint8_t b = 0x5a;

	file_poke(f->dir, base, "log", e.pos + e.len / 2, &b, 1);
	check_recovered(f, base, 49, 1, e.len);
}

/* The first bad entry ends the log even when good ones follow it. */
static void test_torn_middle(void **state)
{
	struct fixture *f = *state;
	uint64_t base = make_log(f, 50);
	struct log_entry e = disk_entry(f, base, 30 - base);
	struct log_entry last = disk_entry(f, base, 49 - base);

	e.crc ^= 0x100;
	file_poke(f->dir, base, "idx", entry_at(30 - base), &e, sizeof(e));
	check_recovered(f, base, 30, 20, last.pos + last.len - e.pos);
}

/* (c) an entry with a length but the wrong position: it is a copy of the entry before,
 * so its crc and prefix are right for the bytes it points at and only pos is wrong. */
static void test_torn_bad_pos(void **state)
{
	struct fixture *f = *state;
	uint64_t base = make_log(f, 50);
	struct log_entry prev = disk_entry(f, base, 48 - base);
	struct log_entry e = disk_entry(f, base, 49 - base);

	file_poke(f->dir, base, "idx", entry_at(49 - base), &prev, sizeof(prev));
	check_recovered(f, base, 49, 1, e.len);
}

/* A frame whose varint prefix disagrees with the entry's len (crc made to match). */
static void test_torn_bad_prefix(void **state)
{
	struct fixture *f = *state;
	uint64_t base = make_log(f, 50);
	struct log_entry e = disk_entry(f, base, 49 - base);
	uint8_t *frame = malloc(e.len);

	assert_non_null(frame);
	file_peek(f->dir, base, "log", e.pos, frame, e.len);
	frame[0] = (uint8_t)(frame[0] ^ 1);	/* the body length is now off by one */
	file_poke(f->dir, base, "log", e.pos, frame, 1);
	e.crc = crc32c(0, frame, e.len);
	file_poke(f->dir, base, "idx", entry_at(49 - base), &e, sizeof(e));
	free(frame);
	check_recovered(f, base, 49, 1, e.len);
}

/* (d) corruption in a segment that is not the last one is not a torn tail. */
static void test_corrupt_earlier_segment(void **state)
{
	struct fixture *f = *state;
	uint64_t base = make_log(f, 600);
	struct log_entry e = disk_entry(f, 0, 10);
	struct log_fault fault;
	struct log *log;
	uint64_t count;

	assert_true(base > 0);
	e.crc ^= 1;
	file_poke(f->dir, 0, "idx", entry_at(10), &e, sizeof(e));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
	/* What an operator is told: the file, the reason, the first offset lost. */
	assert_int_equal(log_open_report(&log, f->dir, &small_config, &fault), -EUCLEAN);
	assert_non_null(strstr(fault.file, "/00000000000000000000.idx"));
	assert_string_equal(fault.what, "bad entry before the last segment");
	assert_int_equal(fault.offset, 10);
	e.crc ^= 1;
	file_poke(f->dir, 0, "idx", entry_at(10), &e, sizeof(e));
	/* A stray entry right after the segment's last frame: the offsets still line up
	 * with the next segment, but the entry is neither a frame nor empty. */
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	check_all(log, 600, f->buf);
	count = log->segs[1]->base_offset;
	log_close(log);
	e = disk_entry(f, 0, count - 1);
	e.pos += e.len;
	file_poke(f->dir, 0, "idx", entry_at(count), &e, sizeof(e));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
}

static void test_corrupt_header(void **state)
{
	struct fixture *f = *state;
	uint64_t last = make_log(f, 600), magic = 0x1234, wrong_base = 77;
	struct log_index_header h;
	struct log *log;

	file_peek(f->dir, 0, "idx", 0, &h, sizeof(h));
	file_poke(f->dir, 0, "idx", 0, &magic, sizeof(magic));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
	file_poke(f->dir, 0, "idx", 0, &h, sizeof(h));
	/* A valid-looking header in the last segment whose base is not its name. */
	file_poke(f->dir, last, "idx", offsetof(struct log_index_header, base_offset),
		  &wrong_base, sizeof(wrong_base));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
}

static unsigned hot_files(const char *dir);

/* An index of format 2 (unkeyed FNV hashes, which decided partitions and filters) is
 * refused as such, in any segment and in a hot segment a killed server left: never read
 * with the wrong hash, never discarded as a half-made file. */
static void test_old_format(void **state)
{
	struct fixture *f = *state;
	uint64_t last = make_log(f, 600);
	uint32_t v2 = LOG_INDEX_VERSION_FNV, v3 = LOG_INDEX_VERSION;
	const off_t at = offsetof(struct log_index_header, version);
	struct log *log;
	char cmd[600];

	file_poke(f->dir, 0, "idx", at, &v2, sizeof(v2));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EPROTONOSUPPORT);
	file_poke(f->dir, 0, "idx", at, &v3, sizeof(v3));
	file_poke(f->dir, last, "idx", at, &v2, sizeof(v2));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EPROTONOSUPPORT);
	file_poke(f->dir, last, "idx", at, &v3, sizeof(v3));
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	append_varied(log, 10);
	log_publish(log);
	log_drop(log);	/* as kill -9 leaves it: its hot segment holds frames */
	snprintf(cmd, sizeof(cmd), "for i in %s/hot/hot-*.idx; do printf '\\002' | "
		 "dd of=$i bs=1 seek=%d conv=notrunc status=none; done", f->dir, (int)at);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), -EPROTONOSUPPORT);
	assert_true(hot_files(f->dir) > 0);	/* kept for a server that reads them */
}

static void test_missing_segment(void **state)
{
	struct fixture *f = *state;
	char log1[256], moved[300], log2[256], idx2[256];
	struct log_fault fault;
	struct log *log;
	uint64_t gap;

	assert_true(make_log(f, 800) > 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_true(atomic_load(&log->nsegs) >= 4);
	seg_file(log1, sizeof(log1), f->dir, log->segs[1]->base_offset, "log");
	seg_file(log2, sizeof(log2), f->dir, log->segs[2]->base_offset, "log");
	seg_file(idx2, sizeof(idx2), f->dir, log->segs[2]->base_offset, "idx");
	gap = log->segs[2]->base_offset;
	log_close(log);
	snprintf(moved, sizeof(moved), "%s.moved", log1);

	/* An .idx without its .log. */
	assert_int_equal(rename(log1, moved), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
	assert_int_equal(rename(moved, log1), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	check_all(log, 800, f->buf);
	log_close(log);
	/* A .log without its .idx, before the last segment. */
	assert_int_equal(unlink(idx2), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
	/* Neither: a gap in the offsets, from the missing segment's first offset. */
	assert_int_equal(unlink(log2), 0);
	assert_int_equal(log_open_report(&log, f->dir, &small_config, &fault), -EUCLEAN);
	assert_string_equal(fault.what, "base offset does not follow on");
	assert_int_equal(fault.offset, gap);
}

/* A crash while creating the last segment: an all-zero header, or no .idx at all. */
static void test_unfinished_last_segment(void **state)
{
	struct fixture *f = *state;
	struct log_index_header zero = { 0 };
	uint64_t last = make_log(f, 600);
	char path[256];
	struct log *log;
	int fd;

	/* The next segment was being created: .log made, .idx empty. */
	seg_file(path, sizeof(path), f->dir, 600, "log");
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	seg_file(path, sizeof(path), f->dir, 600, "idx");
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(pwrite(fd, &zero, sizeof(zero), 0), (ssize_t)sizeof(zero));
	assert_int_equal(close(fd), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log->segs[atomic_load(&log->nsegs) - 1]->base_offset, 600);
	check_all(log, 600, f->buf);
	append_varied(log, 10);
	log_publish(log);
	check_all(log, 610, f->buf);
	log_close(log);
	/* A zero header over entries that are not zero was not a crash at creation. */
	file_poke(f->dir, 600, "idx", 0, &zero, sizeof(zero));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
	/* An empty .idx before the last segment is corruption. */
	seg_file(path, sizeof(path), f->dir, last, "idx");
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
}

/* A segment whose base offset leaves no room for its offsets below 2^64 is corruption:
 * kept, the offsets wrapped to 0 after the first append (found by
 * tests/fuzz/log_recovery_fuzz.c: an empty .log named 18446744073709551615). */
static void test_base_offset_out_of_range(void **state)
{
	struct fixture *f = *state;
	const uint64_t top = UINT64_MAX, high = UINT64_MAX - 100;
	char from[256], to[256];
	struct log *log;
	int fd;

	/* The crash-at-creation form: an empty .log alone, as the last segment. */
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	log_close(log);
	seg_file(to, sizeof(to), f->dir, top, "log");
	fd = open(to, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
	assert_int_equal(unlink(to), 0);
	/* A whole segment, name and header agreeing on a base too close to 2^64. */
	make_log(f, 10);
	for (int i = 0; i < 2; i++) {
		seg_file(from, sizeof(from), f->dir, 0, i ? "idx" : "log");
		seg_file(to, sizeof(to), f->dir, high, i ? "idx" : "log");
		assert_int_equal(rename(from, to), 0);
	}
	file_poke(f->dir, high, "idx", offsetof(struct log_index_header, base_offset), &high,
		  sizeof(high));
	assert_int_equal(log_open(&log, f->dir, &small_config), -EUCLEAN);
}

/* (e) the writer process is killed mid-append. */
static void child_append_and_die(const char *dir)
{
	struct log *log;
	uint64_t off;
	uint8_t *dst;
	uint8_t frame[2000];
	uint32_t len;

	if (log_open(&log, dir, &small_config) < 0)
		_exit(2);
	for (int i = 0; i < 500; i++) {
		len = frame_build(frame, log->next, varied_body(log->next));
		if (log_reserve(log, len, &dst, &off) < 0)
			_exit(3);
		memcpy(dst, frame, len);
		struct log_fields fl = fields_for(off);

		log_commit(log, &fl);
	}
	log_publish(log);
	len = frame_build(frame, log->next, 1500);
	if (log_reserve(log, len, &dst, &off) < 0)
		_exit(4);
	memcpy(dst, frame, len / 2);
	raise(SIGKILL);
	_exit(5);
}

static void test_kill_mid_append(void **state)
{
	struct fixture *f = *state;
	struct log *log;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_append_and_die(f->dir);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log->recovery.frames, 500);
	assert_int_equal(log->recovery.torn_entries, 0);
	/* The half frame had no entry: the hot copy stopped before it. */
	assert_int_equal(log->recovery.torn_bytes, 0);
	check_all(log, 500, f->buf);
	log_close(log);
}

/* ---- one writer, one reader ------------------------------------------------------- */

#define RACE_FRAMES 200000u

struct race {
	struct log *log;
	uint64_t seen;
	uint64_t errors;	/* checked by the main thread: cmocka is not thread-safe */
	uint64_t first_bad;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;

	for (uint64_t i = 0; i < RACE_FRAMES; i++) {
		uint32_t body = 8 + (uint32_t)(i % 97);
		uint32_t len = frame_bytes_for(body);
		struct log_fields fl = fields_for(i);
		uint64_t off;
		uint8_t *dst;

		if (log_reserve(r->log, len, &dst, &off) < 0 || off != i) {
			__atomic_store_n(&r->errors, 1000000, __ATOMIC_RELAXED);
			break;
		}
		frame_build(dst, off, body);
		log_commit(r->log, &fl);
		if (i % 64 == 63)
			log_publish(r->log);
	}
	log_publish(r->log);
	return NULL;
}

static bool race_frame_ok(const struct log_ref *ref, uint64_t off)
{
	struct frame_view v = { 0 };
	uint64_t tag;

	if (frame_parse(ref->frame, ref->len, FRAME_MAX, &v) != (int)ref->len || v.len < 8)
		return false;
	memcpy(&tag, v.body, sizeof(tag));
	return tag == off && v.len == 8 + off % 97 && ref->entry->len == ref->len &&
	       crc32c(0, ref->frame, ref->len) == ref->entry->crc;
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	struct log_cursor c;
	struct log_ref ref;

	log_cursor_seek(r->log, &c, 0);
	while (c.offset < RACE_FRAMES && __atomic_load_n(&r->errors, __ATOMIC_RELAXED) == 0) {
		int rc = log_cursor_peek(r->log, &c, &ref);

		if (rc == -EAGAIN) {
			sched_yield();
			continue;
		}
		/* Never past the tail: the tail only grows, so it is still above us. */
		if (rc != 0 || c.offset >= log_tail(r->log) || !race_frame_ok(&ref, c.offset)) {
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
			r->first_bad = c.offset;
			break;
		}
		log_cursor_next(&c);
		r->seen++;
	}
	return NULL;
}

static void test_writer_reader_race(void **state)
{
	struct fixture *f = *state;
	struct log_config config = { .segment_bytes = 256u << 10 };
	struct race r = { 0 };
	pthread_t w, rd;

	assert_int_equal(log_open(&r.log, f->dir, &config), 0);
	assert_int_equal(pthread_create(&rd, NULL, race_reader, &r), 0);
	assert_int_equal(pthread_create(&w, NULL, race_writer, &r), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	assert_int_equal(pthread_join(rd, NULL), 0);
	if (r.errors)
		print_error("first bad offset %" PRIu64 "\n", r.first_bad);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.seen, RACE_FRAMES);
	assert_int_equal(log_tail(r.log), RACE_FRAMES);
	assert_true(atomic_load(&r.log->nsegs) > 10);
	log_close(r.log);
}

/* Bytes behind the tail, across segment boundaries and after a reopen. */
static void check_bytes_behind(struct log *log, uint64_t count)
{
	uint64_t behind = 0;

	assert_int_equal(log_bytes_behind(log, count), 0);
	assert_int_equal(log_bytes_behind(log, count + 5), 0);
	for (uint64_t off = count; off-- > 0;) {
		behind += frame_bytes_for(varied_body(off));
		if (log_bytes_behind(log, off) != behind)
			fail_msg("offset %llu: %llu bytes behind, expected %llu",
				 (unsigned long long)off,
				 (unsigned long long)log_bytes_behind(log, off),
				 (unsigned long long)behind);
	}
}

static void test_bytes_behind(void **state)
{
	struct fixture *f = *state;
	struct log *log;

	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	assert_int_equal(log_bytes_behind(log, 0), 0);	/* empty log */
	append_varied(log, 1000);
	assert_int_equal(log_bytes_behind(log, 0), 0);	/* nothing published yet */
	log_publish(log);
	assert_true(atomic_load(&log->nsegs) > 3);
	check_bytes_behind(log, 1000);
	log_close(log);
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	check_bytes_behind(log, 1000);
	append_varied(log, 300);
	log_publish(log);
	check_bytes_behind(log, 1300);
	log_close(log);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)


/* ---- with the executor: hot segments to disk ---------------------------------------- */

#define EXEC_FRAMES 3200u	/* 200 batches of 16 */

struct exec_reader {
	struct log *log;
	uint64_t seen, errors;
	_Atomic bool done;
};

/* Reads every frame as it is published and checks its bytes while the executor moves
 * sealed segments from hot memory to their disk files under it. */
static void *exec_read(void *arg)
{
	struct exec_reader *r = arg;
	struct log_cursor cur;
	struct log_ref ref;
	uint8_t *scratch = malloc(2048);

	log_cursor_seek(r->log, &cur, 0);
	while (r->seen < EXEC_FRAMES) {
		if (log_cursor_peek(r->log, &cur, &ref) < 0) {
			sched_yield();
			continue;
		}
		uint32_t len = frame_build(scratch, cur.offset, varied_body(cur.offset));

		if (ref.len != len || memcmp(ref.frame, scratch, len) != 0 ||
		    ref.entry->crc != crc32c(0, ref.frame, len))
			r->errors++;
		log_cursor_next(&cur);
		r->seen++;
	}
	free(scratch);
	atomic_store(&r->done, true);
	return NULL;
}

static unsigned hot_files(const char *dir)
{
	char cmd[400];
	FILE *p;
	unsigned n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s/hot 2>/dev/null | grep -c '^hot-.*\\.log$'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fscanf(p, "%u", &n) != 1)
		n = 0;
	pclose(p);
	return n;
}

static void test_executor_moves_sealed_segments(void **state)
{
	struct fixture *f = *state;
	struct executor x;
	struct log_config cfg = small_config;
	struct exec_reader rd = { 0 };
	struct log_entry disk;
	pthread_t t;
	struct log *log;
	uint32_t n;

	assert_int_equal(executor_start(&x), 0);
	cfg.executor = &x;
	assert_int_equal(log_open(&log, f->dir, &cfg), 0);
	rd.log = log;
	assert_int_equal(pthread_create(&t, NULL, exec_read, &rd), 0);
	for (uint64_t i = 0; i < EXEC_FRAMES; i += 16) {
		append_varied(log, 16);
		log_publish(log);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rd.errors, 0);
	assert_int_equal(rd.seen, EXEC_FRAMES);
	/* Within a few passes every sealed segment is on disk and off the hot memory. */
	n = atomic_load(&log->nsegs);
	assert_true(n >= 8);
	for (int i = 0; i < 5000 && atomic_load(&log->disk_seg) < n - 1; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&log->disk_seg), n - 1);
	for (uint32_t k = 0; k + 1 < n; k++)
		assert_false(atomic_load(&log->segs[k]->hot));
	assert_true(atomic_load(&log->segs[n - 1]->hot));
	assert_true(hot_files(f->dir) <= 2);	/* the active one and the next, ready */
	assert_true(log_persisted(log) >= log->segs[n - 1]->base_offset);
	file_peek(f->dir, 0, "idx", entry_at(5), &disk, sizeof(disk));
	assert_memory_equal(&disk, &log->segs[0]->entries[5], sizeof(disk));
	check_all(log, EXEC_FRAMES, f->buf);
	log_close(log);
	executor_stop(&x);
	assert_int_equal(hot_files(f->dir), 0);
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	check_all(log, EXEC_FRAMES, f->buf);
	log_close(log);
}

/* Killed while the executor was half way: what it copied and what only the hot files
 * hold make up every published frame again. */
static void test_executor_kill(void **state)
{
	struct fixture *f = *state;
	struct log *log;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct executor x;
		struct log_config cfg = small_config;

		if (executor_start(&x) < 0)
			_exit(2);
		cfg.executor = &x;
		if (log_open(&log, f->dir, &cfg) < 0)
			_exit(3);
		for (int i = 0; i < 100; i++) {
			append_varied(log, 20);
			log_publish(log);
			if (i == 50)
				usleep(20000);	/* let some reach the disk */
		}
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(log_open(&log, f->dir, &small_config), 0);
	check_all(log, 2000, f->buf);
	log_close(log);
	assert_int_equal(hot_files(f->dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_unaligned),
		T(test_round_trip),
		T(test_offset_at_time),
		T(test_cursor_segments),
		T(test_roll_index_full),
		T(test_roll_bytes_full),
		T(test_limits),
		T(test_bad_dir),
		T(test_reopen),
		T(test_bytes_behind),
		T(test_torn_uncommitted),
		T(test_torn_bad_crc),
		T(test_torn_bad_frame_byte),
		T(test_torn_middle),
		T(test_torn_bad_pos),
		T(test_torn_bad_prefix),
		T(test_corrupt_earlier_segment),
		T(test_corrupt_header),
		T(test_old_format),
		T(test_missing_segment),
		T(test_unfinished_last_segment),
		T(test_base_offset_out_of_range),
		T(test_kill_mid_append),
		T(test_writer_reader_race),
		T(test_executor_moves_sealed_segments),
		T(test_executor_kill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
