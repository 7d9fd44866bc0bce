/* tests/fuzz/shm_reader_fuzz.c — libfanout-shm's reader (shm/shm_reader.c, shm_poll.c,
 * shm_wait.c, shm_log.c) on a ring whose shared bytes anyone with write access could
 * change: before the reader opens it and while it reads.
 *
 * Set up once: two partition logs holding 512 events (core/log, 64 KiB segments), the
 * first half on disk, the second in hot segments as a killed server leaves them. Per
 * input: a fresh 64 KiB ring (shm/ring_writer) and a program run against it.
 * Input: a 16-bit count of events written before the program, then operations, each an
 * opcode byte, an argument byte and what the opcode reads (sr_op): overwrite bytes or
 * add to a 64-bit word in the header, reader area, journal or data area; write more
 * events with the real writer; open a reader (first or latest record, recovery from the
 * logs through the header's or our data directory, the file cut short for the open and
 * extended again); poll or next (validating at once, or holding the record across the
 * next operations); wait with no timeout; read counters; close; the writer's report of
 * its readers; overwrite bytes of a log file recovery reads (put back afterwards).
 * Checks: open succeeds or fails with a documented error and a terminated message; poll
 * returns NONE, EVENT, GAP or CORRUPT, with record sequences that follow the reader's
 * own count; a ring event lies inside the mapped data area, its body right after a
 * prefix that says its length; an event recovered from a log is byte for byte the logged
 * event its partition and offset name (while the logs are intact); validate returns 0 or
 * -ESTALE; wait returns 1, 0, or WRITER_DEAD/CLOSED; decoding never crashes; the writer
 * reports each claimed slot once. While nothing was overwritten, every event arrives
 * exactly as written, in order, none lost, nothing corrupt. No crash, leak or read
 * outside the mappings. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fanout.pb-c.h"
#include "fuzz_event.h"
#include "fuzz_util.h"
#include "shm/ring_writer.h"
#include "shm/shm_internal.h"

#define SR_TOPIC "md/fuzz"
#define SR_PARTITIONS 2u
#define SR_EVENTS 512u			/* fewer than the journal's 1024 entries */
#define SR_RING_BYTES (64u << 10)
#define SR_OPS_MAX 48u
#define SR_PATCH_BYTES_MAX 16u

/* Event i: partition i % 2, offset i / 2, as logged. */
struct sr_event {
	uint8_t *frame;
	uint32_t len;
};

static struct sr_event sr_events[SR_EVENTS];
static char sr_ring_dir[600], sr_data_dir[600], sr_path[640];

/* The partition logs' files as written, put back after an input damaged them. */
#define SR_LOG_FILES_MAX 24u
struct sr_log_file {
	char path[800];
	uint8_t *bytes;
	size_t size;
	bool damaged;
};

static struct sr_log_file sr_log_files[SR_LOG_FILES_MAX];
static uint32_t sr_nlog_files;

/* One input's ring, reader and what the reader must deliver next. */
struct sr_run {
	struct shm_ring_writer *w;
	uint8_t *base;			/* the writer's mapping of the whole file */
	uint64_t file_bytes;
	struct fanout_shm *r;
	uint64_t written;		/* events written to the ring: sequences 0..written */
	uint64_t expect;		/* the reader's next sequence */
	bool mutated;			/* shared bytes were overwritten */
	bool logs_damaged;		/* partition log bytes too */
	bool held;			/* an event polled and not validated yet */
	struct fanout_shm_record rec;
	uint8_t copy[SR_RING_BYTES / 4];/* the held event's bytes as polled */
	uint64_t shrink_to;		/* file size for the next open only; 0 = none */
};

/* ---- set-up, once ------------------------------------------------------------------- */

/* Keeps a copy of every file in dir, in name order. */
static void sr_log_files_load(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	FUZZ_CHECK(n >= 0, "scandir %s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		struct sr_log_file *f = &sr_log_files[sr_nlog_files];
		struct stat st;
		int fd;

		if (names[i]->d_type == DT_REG) {
			FUZZ_CHECK(sr_nlog_files < SR_LOG_FILES_MAX, "too many log files");
			snprintf(f->path, sizeof(f->path), "%s/%s", dir, names[i]->d_name);
			fd = open(f->path, O_RDONLY | O_CLOEXEC);
			FUZZ_CHECK(fd >= 0 && fstat(fd, &st) == 0, "%s: %s", f->path, strerror(errno));
			f->size = (size_t)st.st_size;
			f->bytes = malloc(f->size);
			FUZZ_CHECK(f->bytes && pread(fd, f->bytes, f->size, 0) == (ssize_t)f->size,
				   "reading %s", f->path);
			close(fd);
			sr_nlog_files++;
		}
		free(names[i]);
	}
	free(names);
}

static void sr_logs_open(struct log **logs)
{
	struct log_config cfg = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };
	char dir[700];

	for (uint32_t p = 0; p < SR_PARTITIONS; p++) {
		int r;

		/* core/topic.c's layout, '/' written as %2F. */
		snprintf(dir, sizeof(dir), "%s/topics/md%%2Ffuzz/%u", sr_data_dir, p);
		r = log_open(&logs[p], dir, &cfg);
		FUZZ_CHECK(r == 0, "log_open %s: %s", dir, strerror(-r));
	}
}

/* The partition logs as a killed server leaves them: the first half of the events in disk
 * segments (written, closed), the second half in hot segments (reopened, written,
 * dropped), which recovery reads from each partition's hot/ directory. */
static void sr_logs(void)
{
	static uint8_t frame[FUZZ_EVENT_FRAME_MAX];
	struct log *logs[SR_PARTITIONS];
	static char root[512];
	char dir[700];

	fuzz_tmpdir(root, sizeof(root), "shm");
	snprintf(sr_ring_dir, sizeof(sr_ring_dir), "%s/rings", root);
	snprintf(sr_data_dir, sizeof(sr_data_dir), "%s/data", root);
	snprintf(sr_path, sizeof(sr_path), "%s/ring", sr_ring_dir);
	FUZZ_CHECK(mkdir(sr_ring_dir, 0700) == 0, "mkdir %s: %s", sr_ring_dir, strerror(errno));
	sr_logs_open(logs);
	for (uint32_t i = 0; i < SR_EVENTS; i++) {
		uint32_t p = i % SR_PARTITIONS, len;

		if (i == SR_EVENTS / 2) {
			for (uint32_t k = 0; k < SR_PARTITIONS; k++)
				log_close(logs[k]);
			sr_logs_open(logs);
		}
		len = fuzz_event_frame(frame, SR_TOPIC, i, p, i / SR_PARTITIONS, (i * 37) % 700);
		FUZZ_CHECK(fuzz_log_append(logs[p], frame, len, 1000 + i) == i / SR_PARTITIONS,
			   "event %u logged at the wrong offset", i);
		sr_events[i].frame = malloc(len);
		FUZZ_CHECK(sr_events[i].frame != NULL, "out of memory");
		memcpy(sr_events[i].frame, frame, len);
		sr_events[i].len = len;
	}
	for (uint32_t p = 0; p < SR_PARTITIONS; p++) {
		log_drop(logs[p]);
		snprintf(dir, sizeof(dir), "%s/topics/md%%2Ffuzz/%u", sr_data_dir, p);
		sr_log_files_load(dir);
		snprintf(dir, sizeof(dir), "%s/topics/md%%2Ffuzz/%u/hot", sr_data_dir, p);
		sr_log_files_load(dir);
	}
	for (uint32_t i = 0; i < sr_nlog_files && getenv("FANOUT_FUZZ_VERBOSE"); i++)
		fprintf(stderr, "shm_reader: log file %u: %s\n", i,
			sr_log_files[i].path + strlen(sr_data_dir));
}

/* ---- the writer side ---------------------------------------------------------------- */

static void sr_write(struct sr_run *s, uint32_t n)
{
	for (; n && s->written < SR_EVENTS; n--, s->written++) {
		const struct sr_event *ev = &sr_events[s->written];
		int r = shm_ring_write(s->w, ev->frame, ev->len, (uint32_t)s->written % SR_PARTITIONS,
				       s->written / SR_PARTITIONS, 1000 + s->written);

		FUZZ_CHECK(r == 0, "shm_ring_write: %s", strerror(-r));
	}
	shm_ring_wake(s->w);
}

static void sr_ring_create(struct sr_run *s)
{
	struct shm_ring_opts o = {
		.dir = sr_ring_dir, .name = "ring", .bytes = SR_RING_BYTES, .topic = SR_TOPIC,
		.partitions = SR_PARTITIONS, .data_dir = sr_data_dir,
	};
	int r = shm_ring_create(&s->w, &o, NULL, 0);

	FUZZ_CHECK(r == 0, "shm_ring_create: %s", strerror(-r));
	s->base = shm_ring_base(s->w);
	s->file_bytes = ((struct shm_ring_header *)s->base)->file_bytes;
}

/* Overwrites bytes, or adds to an aligned 64-bit word, in one area of the file. */
static void sr_patch(struct sr_run *s, struct fuzz_in *in, bool add)
{
	static const uint64_t start[4] = { 0, SHM_SLOTS_OFFSET, SHM_JOURNAL_OFFSET,
					   SHM_JOURNAL_OFFSET + SHM_JOURNAL_MIN *
					   sizeof(struct shm_journal_entry) };
	uint8_t area = fuzz_u8(in) % 4;
	uint64_t end = area < 3 ? start[area + 1] : s->file_bytes;
	uint64_t off = start[area] + fuzz_u16(in) % (end - start[area]);
	size_t got;

	s->mutated = true;
	if (add) {
		int16_t delta = (int16_t)fuzz_u16(in);
		uint64_t scale = (uint64_t)1 << (fuzz_u8(in) % 20), v;

		off &= ~(uint64_t)7;
		memcpy(&v, s->base + off, sizeof(v));
		v += (uint64_t)(int64_t)delta * scale;
		memcpy(s->base + off, &v, sizeof(v));
	} else {
		const uint8_t *b = fuzz_take(in, fuzz_u8(in) % (SR_PATCH_BYTES_MAX + 1), &got);

		got = off + got > s->file_bytes ? s->file_bytes - off : got;
		memcpy(s->base + off, b, got);
	}
}

/* Overwrites bytes of a partition log file: the reader maps them for recovery. */
static void sr_log_damage(struct sr_run *s, struct fuzz_in *in)
{
	struct sr_log_file *f = &sr_log_files[fuzz_u8(in) % sr_nlog_files];
	size_t off = fuzz_u16(in) % f->size, got;
	const uint8_t *b = fuzz_take(in, fuzz_u8(in) % (SR_PATCH_BYTES_MAX + 1), &got);
	int fd = open(f->path, O_WRONLY | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0, "%s: %s", f->path, strerror(errno));
	got = off + got > f->size ? f->size - off : got;
	FUZZ_CHECK(pwrite(fd, b, got, (off_t)off) == (ssize_t)got, "%s: %s", f->path,
		   strerror(errno));
	close(fd);
	f->damaged = true;
	s->logs_damaged = s->mutated = true;
}

static void sr_log_restore(void)
{
	for (uint32_t i = 0; i < sr_nlog_files; i++) {
		struct sr_log_file *f = &sr_log_files[i];
		int fd;

		if (!f->damaged)
			continue;
		fd = open(f->path, O_WRONLY | O_CLOEXEC);
		FUZZ_CHECK(fd >= 0 && pwrite(fd, f->bytes, f->size, 0) == (ssize_t)f->size,
			   "restoring %s: %s", f->path, strerror(errno));
		close(fd);
		f->damaged = false;
	}
}

/* ---- the reader side ---------------------------------------------------------------- */

static void sr_resize(uint64_t bytes)
{
	int fd = open(sr_path, O_RDWR | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0 && ftruncate(fd, (off_t)bytes) == 0, "resizing %s: %s", sr_path,
		   strerror(errno));
	close(fd);
}

static void sr_open(struct sr_run *s, uint8_t how)
{
	struct fanout_shm_opts o;
	char err[256];
	int r;

	if (s->r)
		return;
	fanout_shm_opts_init(&o);
	o.start = how & 1 ? FANOUT_SHM_START_FIRST : FANOUT_SHM_START_LATEST;
	o.data_dir = how & 2 ? NULL : sr_data_dir;	/* NULL: the one the header names */
	o.spin_iterations = how >> 2;
	/* A shorter file only for the open: the writer's mapping needs every byte back (its
	 * content past the cut is zeros now), and a reader must never map past the end. */
	if (s->shrink_to)
		sr_resize(s->shrink_to);
	memset(err, 0x5a, sizeof(err));
	r = fanout_shm_open(&s->r, sr_path, &o, err, sizeof(err));
	if (s->shrink_to)
		sr_resize(s->file_bytes);
	if (r < 0) {
		FUZZ_CHECK(r == -FANOUT_SHM_E_MAGIC || r == -FANOUT_SHM_E_VERSION ||
			   r == -FANOUT_SHM_E_TRUNCATED || r == -FANOUT_SHM_E_LAYOUT ||
			   r == -FANOUT_SHM_E_NOSLOT || r == -ENOMEM,
			   "fanout_shm_open returned %d (%s)", r, fanout_shm_strerror(r));
		FUZZ_CHECK(s->mutated, "open of an untouched ring: %d %s", r, err);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0], "no terminated message");
		s->shrink_to = 0;
		s->r = NULL;
		return;
	}
	s->shrink_to = 0;
	s->expect = s->r->seq;
	FUZZ_CHECK(s->mutated || s->expect == (how & 1 ? 0 : s->written),
		   "a new reader starts at %" PRIu64 " of %" PRIu64 " written", s->expect, s->written);
}

/* The logged event at (partition, offset), or NULL. */
static const struct sr_event *sr_logged(uint32_t partition, uint64_t offset)
{
	uint64_t i = offset * SR_PARTITIONS + partition;

	return partition < SR_PARTITIONS && offset < SR_EVENTS && i < SR_EVENTS ? &sr_events[i] : NULL;
}

/* An event as polled: where its bytes are, and (from a log) what they are. */
static void sr_check_event(struct sr_run *s, const struct fanout_shm_record *rec)
{
	const struct fanout_shm *r = s->r;

	FUZZ_CHECK(rec->seq == s->expect, "event sequence %" PRIu64 ", expected %" PRIu64, rec->seq,
		   s->expect);
	FUZZ_CHECK(rec->frame_len > 0 && rec->frame_len <= sizeof(s->copy) &&
		   rec->body > rec->frame && rec->body + rec->body_len == rec->frame + rec->frame_len,
		   "frame of %u bytes, body of %u at +%td", rec->frame_len, rec->body_len,
		   rec->body - rec->frame);
	if (rec->flags & FANOUT_SHM_RECOVERED && !s->logs_damaged) {
		const struct sr_event *ev = sr_logged(rec->partition, rec->offset);

		FUZZ_CHECK(ev && ev->len == rec->frame_len && memcmp(ev->frame, rec->frame,
			   ev->len) == 0, "recovered partition %u offset %" PRIu64 " is not the "
			   "logged event", rec->partition, rec->offset);
	} else if (!(rec->flags & FANOUT_SHM_RECOVERED)) {
		FUZZ_CHECK(rec->frame >= r->data + sizeof(struct shm_record) &&
			   rec->frame + rec->frame_len <= r->data + r->capacity,
			   "frame outside the ring's data area");
	}
	memcpy(s->copy, rec->frame, rec->frame_len);
}

/* After validate said the bytes were intact: untouched rings deliver what was written. */
static void sr_check_delivered(const struct sr_run *s, const struct fanout_shm_record *rec)
{
	const struct sr_event *ev = &sr_events[s->expect < SR_EVENTS ? s->expect : 0];

	if (s->mutated)
		return;
	FUZZ_CHECK(s->expect < s->written && rec->partition == s->expect % SR_PARTITIONS &&
		   rec->offset == s->expect / SR_PARTITIONS && rec->frame_len == ev->len &&
		   memcmp(s->copy, ev->frame, ev->len) == 0,
		   "sequence %" PRIu64 " delivered partition %u offset %" PRIu64 " (%u bytes%s), not "
		   "event %" PRIu64 " (%u bytes)", s->expect, rec->partition, rec->offset,
		   rec->frame_len, rec->flags & FANOUT_SHM_RECOVERED ? ", from the log" : "",
		   s->expect, ev->len);
}

static void sr_validate(struct sr_run *s)
{
	int r;

	if (!s->held)
		return;
	s->held = false;
	r = fanout_shm_validate(s->r, &s->rec);
	FUZZ_CHECK(r == 0 || r == -ESTALE, "fanout_shm_validate returned %d", r);
	if (r == 0) {
		sr_check_delivered(s, &s->rec);
		s->expect++;
	}
}

static void sr_decode(const struct fanout_shm_record *rec)
{
	Fanout__V1__ServerMessage *m = fanout_shm_decode(rec, NULL);

	if (m)
		fanout_shm_decode_free(m, NULL);
}

/* One poll (or fanout_shm_next with no timeout); hold: leave an event unvalidated until
 * the next validate. */
static void sr_poll(struct sr_run *s, bool next, bool hold, bool decode)
{
	int r;

	sr_validate(s);
	r = next ? fanout_shm_next(s->r, &s->rec, 0) : fanout_shm_poll(s->r, &s->rec);
	switch (r) {
	case FANOUT_SHM_NONE:
		return;
	case FANOUT_SHM_EVENT:
		sr_check_event(s, &s->rec);
		if (decode)
			sr_decode(&s->rec);
		s->held = true;
		if (!hold)
			sr_validate(s);
		return;
	case FANOUT_SHM_GAP:
		FUZZ_CHECK(s->mutated, "a gap in an untouched ring: %s", fanout_shm_errmsg(s->r));
		FUZZ_CHECK(s->rec.seq == s->expect && s->rec.lost > 0 &&
			   (!(s->rec.flags & FANOUT_SHM_OFFSET_KNOWN) || s->rec.lost == 1),
			   "gap at %" PRIu64 " of %" PRIu64 ", expected at %" PRIu64, s->rec.seq,
			   s->rec.lost, s->expect);
		s->expect += s->rec.lost;
		return;
	case -FANOUT_SHM_E_CORRUPT:
		FUZZ_CHECK(s->mutated, "corrupt in an untouched ring: %s", fanout_shm_errmsg(s->r));
		FUZZ_CHECK(memchr(fanout_shm_errmsg(s->r), '\0', sizeof(s->r->errmsg)) != NULL,
			   "error message not terminated");
		return;
	case -FANOUT_SHM_E_WRITER_DEAD:
	case -FANOUT_SHM_E_CLOSED:
		FUZZ_CHECK(next && s->mutated, "%s %d in an untouched ring",
			   next ? "fanout_shm_next" : "fanout_shm_poll", r);
		return;
	default:
		FUZZ_CHECK(false, "%s returned %d", next ? "fanout_shm_next" : "fanout_shm_poll", r);
	}
}

static void sr_wait(struct sr_run *s)
{
	int r = fanout_shm_wait(s->r, 0);

	FUZZ_CHECK(r == 0 || r == 1 || r == -FANOUT_SHM_E_WRITER_DEAD || r == -FANOUT_SHM_E_CLOSED,
		   "fanout_shm_wait returned %d", r);
	FUZZ_CHECK(s->mutated || r >= 0, "an untouched ring's live writer seen gone: %d", r);
}

static void sr_stats(const struct sr_run *s, uint32_t partition)
{
	struct fanout_shm_stats st;
	struct fanout_shm_info info;

	fanout_shm_get_stats(s->r, &st);
	fanout_shm_get_info(s->r, &info);
	FUZZ_CHECK(info.partitions == s->r->partitions && info.topic && info.path,
		   "get_info disagrees with the handle");
	FUZZ_CHECK(s->mutated || (st.lost_known == 0 && st.lost_unknown == 0),
		   "losses counted in an untouched ring");
	(void)fanout_shm_next_offset(s->r, partition);
}

static void sr_close(struct sr_run *s)
{
	struct fanout_shm_stats st;

	if (getenv("FANOUT_FUZZ_VERBOSE")) {	/* what a seed reached */
		fanout_shm_get_stats(s->r, &st);
		fprintf(stderr, "shm_reader: %" PRIu64 " delivered (%" PRIu64 " from the logs), lost %"
			PRIu64 "+%" PRIu64 ", %" PRIu64 " laps, %" PRIu64 " torn; last: %s\n",
			st.delivered, st.recovered, st.lost_known, st.lost_unknown, st.laps, st.torn,
			fanout_shm_errmsg(s->r));
	}
	s->held = false;
	fanout_shm_close(s->r);
	s->r = NULL;
}

/* The server's view of the reader slots, which readers (or anyone) may have scribbled on. */
static void sr_readers(const struct sr_run *s)
{
	struct shm_reader_info info[SHM_SLOT_COUNT];
	uint64_t seen = 0;
	uint32_t n = shm_ring_readers(s->w, info, SHM_SLOT_COUNT);

	FUZZ_CHECK(n <= SHM_SLOT_COUNT, "%u readers reported", n);
	for (uint32_t i = 0; i < n; i++) {
		FUZZ_CHECK(info[i].slot < SHM_SLOT_COUNT && !(seen >> info[i].slot & 1),
			   "slot %u reported twice or out of range", info[i].slot);
		seen |= 1ull << info[i].slot;
	}
	FUZZ_CHECK(shm_ring_has_reader(s->w) == (n > 0), "has_reader disagrees with the report");
	FUZZ_CHECK(s->mutated || n == (s->r != NULL), "%u readers, %d open", n, s->r != NULL);
}

/* Runs one operation: an opcode byte (mod 10), an argument byte, then what the opcode
 * reads. Reader operations do nothing without an open reader. */
static void sr_op(struct sr_run *s, struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in) % 11, arg = fuzz_u8(in);

	switch (op) {
	case 0: case 1:		/* overwrite bytes: area, offset, length, bytes */
		sr_patch(s, in, false);
		return;
	case 2:			/* add to a word: area, offset, delta, scale */
		sr_patch(s, in, true);
		return;
	case 3:
		sr_write(s, arg % 64);
		return;
	case 4:			/* bit 0: from the first record; bit 1: the header's data_dir;
				 * the rest: spins */
		sr_open(s, arg);
		return;
	case 5:			/* the next open sees a shorter file (the cut reads as zeros after) */
		s->shrink_to = s->file_bytes - (fuzz_u32(in) % s->file_bytes);
		s->mutated = true;
		return;
	case 9:
		if (!(arg & 1)) {
			sr_readers(s);
			return;
		}
		break;
	case 10:		/* overwrite log bytes: file, offset, length, bytes */
		sr_log_damage(s, in);
		return;
	default:
		break;
	}
	if (!s->r)
		return;
	switch (op) {
	case 6: case 7:		/* (arg & 31) + 1 polls; 0x20 next, 0x40 decode, 0x80 hold */
		for (uint32_t i = 0; i < (arg & 31u) + 1; i++)
			sr_poll(s, arg & 0x20, arg & 0x80, arg & 0x40);
		return;
	case 8:
		sr_validate(s);
		if (arg & 1)
			sr_wait(s);
		else
			sr_stats(s, arg >> 1);
		return;
	default:		/* 9 */
		sr_close(s);
		return;
	}
}

/* With no more writes, an untouched ring's reader catches up with every event. */
static void sr_drain(struct sr_run *s)
{
	for (uint32_t i = 0; i < 4 * SR_EVENTS && s->r && s->expect < s->written; i++)
		sr_poll(s, false, false, false);
	sr_validate(s);
	FUZZ_CHECK(s->mutated || !s->r || s->expect == s->written,
		   "the reader stopped at %" PRIu64 " of %" PRIu64 " events", s->expect, s->written);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sr_run s;
	struct fuzz_in in = { data, size };
	int fds;

	if (!sr_events[0].frame)
		sr_logs();
	memset(&s, 0, sizeof(s));
	fds = fuzz_open_fds();
	sr_ring_create(&s);
	sr_write(&s, fuzz_u16(&in) % (SR_EVENTS + 1));
	for (uint32_t i = 0; i < SR_OPS_MAX && in.n; i++)
		sr_op(&s, &in);
	sr_drain(&s);
	if (s.r)
		sr_close(&s);
	shm_ring_destroy(s.w);
	sr_log_restore();
	FUZZ_CHECK(fuzz_open_fds() == fds, "%d file descriptors leaked", fuzz_open_fds() - fds);
	return 0;
}
