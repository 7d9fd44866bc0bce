/* tests/fuzz/log_recovery_fuzz.c — core/log.c and core/log_segment.c recovering a
 * partition log whose segment and index files were damaged.
 *
 * A valid log of three 64 KiB segments is written once with core/log (the first rolled
 * because its index filled, the second because its .log filled, the third half full).
 * Each input is a list of edits applied to a fresh copy of its six files: overwrite
 * bytes, zero a range, copy a range between files, change a file's size, remove a file,
 * add a file under another segment name. Then log_open, with the same or a larger
 * segment size.
 * Input: a flags byte (bit 0: segments of 128 KiB from now on; bit 1: the append check
 * below), then edits (lr_edit: an opcode, a file, an offset, then what the opcode
 * reads).
 * Checks: log_open succeeds or fails with -EUCLEAN, never crashes, asserts or reads out
 * of bounds (ASan), and leaks no memory or file descriptor. After success: offsets are
 * dense from log_first to the tail and the recovery counts them; every frame reads back
 * inside its segment's mapping, contiguous, with its entry's crc and a varint prefix
 * saying exactly its length; log_bytes_behind adds them up; the last segment's cut tail
 * is zeros; and (flags bit 1, as it doubles the cost) the recovered log is writable: one
 * more frame is appended, and reopening finds every frame as before plus that one, with
 * nothing torn. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/frame.h"
#include "fuzz_event.h"
#include "fuzz_util.h"

#define LR_SEGMENT_BYTES LOG_SEGMENT_BYTES_MIN
#define LR_SEGMENTS 3u
#define LR_FILES_MAX 8u		/* the template's six, and two that edits may add */
#define LR_EDITS_MAX 24u
#define LR_EDIT_BYTES_MAX 64u
#define LR_TOPIC "fuzz"

/* A file of the log directory: the template's content, or none for a file only an edit
 * creates. */
struct lr_file {
	char name[32];
	uint8_t *bytes;
	size_t used;		/* bytes up to the last non-zero one */
	size_t size;
};

static struct lr_file lr_files[LR_FILES_MAX];
static uint64_t lr_bases[LR_SEGMENTS];
static char lr_dir[600];

/* ---- the template, made once ------------------------------------------------------ */

static void lr_template_write(const char *dir)
{
	static uint8_t frame[FUZZ_EVENT_FRAME_MAX];
	struct log_config cfg = { .segment_bytes = LR_SEGMENT_BYTES };
	struct log *log;
	uint64_t i = 0;
	int r = log_open(&log, dir, &cfg);

	FUZZ_CHECK(r == 0, "log_open %s: %s", dir, strerror(-r));
	/* Small frames until the first index is full, then big ones until the second .log is
	 * full, then eight into the third segment. */
	while (atomic_load(&log->nsegs) < 2) {
		uint32_t len = fuzz_event_frame(frame, LR_TOPIC, i, 0, i, 0);

		fuzz_log_append(log, frame, len, 1000 + i++);
	}
	while (atomic_load(&log->nsegs) < LR_SEGMENTS ||
	       log->next - log->segs[LR_SEGMENTS - 1]->base_offset < 8) {
		uint32_t payload = 1000 + (uint32_t)(i % 7) * 300;
		uint32_t len = fuzz_event_frame(frame, LR_TOPIC, i, 0, i, payload);

		fuzz_log_append(log, frame, len, 1000 + i++);
	}
	for (uint32_t s = 0; s < LR_SEGMENTS; s++)
		lr_bases[s] = log->segs[s]->base_offset;
	FUZZ_CHECK(log->segs[0]->entry_capacity == lr_bases[1], "first index not full");
	log_close(log);
}

static void lr_file_load(struct lr_file *f, const char *dir)
{
	char path[700];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(fd >= 0 && fstat(fd, &st) == 0, "%s: %s", path, strerror(errno));
	f->size = (size_t)st.st_size;
	f->bytes = calloc(1, f->size);
	FUZZ_CHECK(f->bytes != NULL, "out of memory");
	n = pread(fd, f->bytes, f->size, 0);
	FUZZ_CHECK(n == (ssize_t)f->size, "%s: short read", path);
	close(fd);
	for (f->used = f->size; f->used > 0 && f->bytes[f->used - 1] == 0; f->used--)
		;
}

static void lr_template(void)
{
	static char root[512], tdir[560];

	fuzz_tmpdir(root, sizeof(root), "log");
	snprintf(tdir, sizeof(tdir), "%s/template", root);
	snprintf(lr_dir, sizeof(lr_dir), "%s/log", root);
	lr_template_write(tdir);
	for (uint32_t s = 0; s < LR_SEGMENTS; s++) {
		snprintf(lr_files[2 * s].name, sizeof(lr_files[0].name), "%020" PRIu64 ".log",
			 lr_bases[s]);
		snprintf(lr_files[2 * s + 1].name, sizeof(lr_files[0].name), "%020" PRIu64 ".idx",
			 lr_bases[s]);
		lr_file_load(&lr_files[2 * s], tdir);
		lr_file_load(&lr_files[2 * s + 1], tdir);
	}
	FUZZ_CHECK(fuzz_rmtree(tdir) == 0, "rm %s", tdir);
}

/* ---- one input's directory ---------------------------------------------------------- */

static int lr_open_file(uint32_t i, int flags)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", lr_dir, lr_files[i].name);
	return open(path, flags | O_CLOEXEC, 0644);
}

static void lr_dir_reset(void)
{
	FUZZ_CHECK(fuzz_rmtree(lr_dir) == 0 && mkdir(lr_dir, 0755) == 0, "reset %s: %s", lr_dir,
		   strerror(errno));
	for (uint32_t i = 0; i < 2 * LR_SEGMENTS; i++) {
		int fd = lr_open_file(i, O_RDWR | O_CREAT | O_EXCL);

		FUZZ_CHECK(fd >= 0 && pwrite(fd, lr_files[i].bytes, lr_files[i].used, 0) ==
			   (ssize_t)lr_files[i].used && ftruncate(fd, (off_t)lr_files[i].size) == 0,
			   "writing %s: %s", lr_files[i].name, strerror(errno));
		close(fd);
	}
}

/* A name for an added file: near a real base, or far off, as .log or .idx. */
static void lr_extra_name(struct fuzz_in *in, char *name, size_t cap)
{
	uint8_t sel = fuzz_u8(in);
	uint64_t base = sel & 0x40 ? fuzz_u64(in) : lr_bases[(sel >> 2) % LR_SEGMENTS] + sel % 4 - 1;

	snprintf(name, cap, "%020" PRIu64 ".%s", base, sel & 0x80 ? "idx" : "log");
}

/* Copies up to len bytes at from in file src to at in file dst; files that are gone
 * copy nothing. */
static void lr_copy(uint32_t dst, uint64_t at, uint32_t src, size_t len, uint64_t from)
{
	static uint8_t buf[4 * LR_SEGMENT_BYTES];
	int in = lr_open_file(src, O_RDONLY), out = lr_open_file(dst, O_WRONLY | O_CREAT);
	ssize_t n = in >= 0 && out >= 0 ? pread(in, buf, len < sizeof(buf) ? len : sizeof(buf),
						(off_t)from) : 0;

	if (n > 0)
		(void)!pwrite(out, buf, (size_t)n, (off_t)at);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

/* Applies one edit: an opcode, a file and an offset, then what the opcode reads. Edits of
 * a file that is gone do nothing. */
static void lr_edit(struct fuzz_in *in, uint32_t *nfiles)
{
	static const uint8_t zero[1u << 16];
	uint8_t op = fuzz_u8(in);
	uint32_t i = fuzz_u8(in) % *nfiles, j;
	uint32_t off = fuzz_u16(in), len;
	const uint8_t *bytes;
	char path[700];
	size_t got;
	int fd;

	switch (op % 8) {
	case 0: case 1: case 2:	/* overwrite bytes: length, bytes */
		bytes = fuzz_take(in, fuzz_u8(in) % (LR_EDIT_BYTES_MAX + 1), &got);
		if ((fd = lr_open_file(i, O_WRONLY)) >= 0) {
			(void)!pwrite(fd, bytes, got, off);
			close(fd);
		}
		return;
	case 3:			/* zero a range (a page that never reached the disk): length */
		len = fuzz_u16(in);
		if ((fd = lr_open_file(i, O_WRONLY)) >= 0) {
			(void)!pwrite(fd, zero, len, off);
			close(fd);
		}
		return;
	case 4:			/* copy a range from a file: source, length, source offset */
		j = fuzz_u8(in) % *nfiles;
		len = fuzz_u16(in) % 4097;
		lr_copy(i, off, j, len, fuzz_u16(in));
		return;
	case 5:			/* change the size: new size */
		if ((fd = lr_open_file(i, O_WRONLY)) >= 0) {
			(void)!ftruncate(fd, (off_t)(fuzz_u32(in) % (4 * LR_SEGMENT_BYTES + 1)));
			close(fd);
		}
		return;
	case 6:			/* remove */
		snprintf(path, sizeof(path), "%s/%s", lr_dir, lr_files[i].name);
		unlink(path);
		return;
	default:		/* add a copy of the file under another name: lr_extra_name */
		if (*nfiles == LR_FILES_MAX)
			return;
		j = (*nfiles)++;
		lr_extra_name(in, lr_files[j].name, sizeof(lr_files[j].name));
		lr_copy(j, 0, i, 4 * LR_SEGMENT_BYTES, 0);
		return;
	}
}

/* With FANOUT_FUZZ_VERBOSE: what an input left in the directory. */
static void lr_dir_show(void)
{
	struct dirent **names;
	int n;

	if (!getenv("FANOUT_FUZZ_VERBOSE") || (n = scandir(lr_dir, &names, NULL, alphasort)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		char path[700];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", lr_dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0)
			fprintf(stderr, "log_recovery: %s %lld bytes\n", names[i]->d_name,
				(long long)st.st_size);
		free(names[i]);
	}
	free(names);
}

/* ---- what a recovered log must look like -------------------------------------------- */

/* The frames a recovered log holds, for comparing two openings. */
struct lr_state {
	uint64_t first, tail, bytes;
	uint32_t crc_of_crcs;
};

static const struct log_segment *lr_seg_of(const struct log *log, uint64_t offset)
{
	const struct log_segment *seg = NULL;

	for (uint32_t s = 0; s < atomic_load(&log->nsegs); s++)
		if (log->segs[s]->base_offset <= offset)
			seg = log->segs[s];
	FUZZ_CHECK(seg != NULL, "offset %" PRIu64 " before the first segment", offset);
	return seg;
}

static void lr_check_frames(const struct log *log, struct lr_state *st)
{
	uint64_t expect_pos = 0;
	const struct log_segment *prev = NULL;

	for (uint64_t o = st->first; o < st->tail; o++) {
		const struct log_segment *seg = lr_seg_of(log, o);
		struct frame_view v;
		struct log_ref ref;

		FUZZ_CHECK(log_read(log, o, &ref) == 0, "offset %" PRIu64 " unreadable", o);
		if (seg != prev)
			expect_pos = 0;
		prev = seg;
		FUZZ_CHECK(ref.len > 0 && ref.frame == seg->data + expect_pos &&
			   (uint64_t)expect_pos + ref.len <= seg->log_bytes,
			   "offset %" PRIu64 ": frame at %td, %u bytes, expected at %" PRIu64, o,
			   ref.frame - seg->data, ref.len, expect_pos);
		FUZZ_CHECK(crc32c(0, ref.frame, ref.len) == ref.entry->crc, "offset %" PRIu64
			   ": crc", o);
		FUZZ_CHECK(frame_parse(ref.frame, ref.len, INT32_MAX, &v) == (int)ref.len,
			   "offset %" PRIu64 ": prefix does not say %u bytes", o, ref.len);
		expect_pos += ref.len;
		st->bytes += ref.len;
		st->crc_of_crcs = crc32c(st->crc_of_crcs, &ref.entry->crc, sizeof(ref.entry->crc));
	}
	FUZZ_CHECK(log_bytes_behind(log, st->first) == st->bytes, "log_bytes_behind %" PRIu64
		   ", frames hold %" PRIu64, log_bytes_behind(log, st->first), st->bytes);
}

static bool lr_zero(const void *p, size_t n)
{
	static const uint8_t zero[4096];
	const uint8_t *b = p;

	for (size_t k; n; b += k, n -= k) {
		k = n < sizeof(zero) ? n : sizeof(zero);
		if (memcmp(b, zero, k) != 0)
			return false;
	}
	return true;
}

/* The cut tail of the last segment: zero bytes past the frames, zero entries past them. */
static void lr_check_tail(const struct log *log)
{
	uint32_t n = atomic_load(&log->nsegs);
	const struct log_segment *seg;
	uint64_t kept;

	if (n == 0)
		return;
	seg = log->segs[n - 1];
	kept = log->next - seg->base_offset;
	FUZZ_CHECK(lr_zero(seg->data + log->write_pos, seg->log_bytes - log->write_pos),
		   "bytes of the last .log left after the cut");
	FUZZ_CHECK(lr_zero(seg->entries + kept, (seg->entry_capacity - kept) * sizeof(struct log_entry)),
		   "entries of the last .idx left after the cut");
}

static void lr_check(const struct log *log, struct lr_state *st)
{
	memset(st, 0, sizeof(*st));
	st->first = log_first(log);
	st->tail = log_tail(log);
	FUZZ_CHECK(st->tail == log->next && st->tail >= st->first, "tail %" PRIu64 ", next %"
		   PRIu64 ", first %" PRIu64, st->tail, log->next, st->first);
	FUZZ_CHECK(st->tail - st->first == log->recovery.frames, "%" PRIu64 " offsets, %" PRIu64
		   " frames recovered", st->tail - st->first, log->recovery.frames);
	FUZZ_CHECK(atomic_load(&log->nsegs) == 0 || st->first == log->segs[0]->base_offset,
		   "first is not the first segment's base");
	lr_check_frames(log, st);
	lr_check_tail(log);
}

/* Appends one frame to a recovered log, closes it and opens it again: everything kept,
 * the new frame last, nothing torn. */
static void lr_check_append(struct log *log, const struct log_config *cfg,
			    const struct lr_state *before)
{
	static uint8_t frame[FUZZ_EVENT_FRAME_MAX];
	uint32_t len = fuzz_event_frame(frame, LR_TOPIC, before->tail, 0, before->tail, 10);
	uint32_t n = atomic_load(&log->nsegs);
	struct lr_state after;
	struct log_ref ref;
	uint64_t offset;
	uint8_t *dst;
	int r = log_reserve(log, len, &dst, &offset);

	/* An empty last segment too small for any frame cannot roll (its name is taken). */
	if (r == -EMSGSIZE && n > 0 && log->segs[n - 1]->base_offset == log->next &&
	    log->segs[n - 1]->log_bytes < len) {
		log_close(log);
		return;
	}
	FUZZ_CHECK(r == 0 && offset == before->tail, "append after recovery: %s, offset %" PRIu64
		   " for tail %" PRIu64, strerror(-r), offset, before->tail);
	memcpy(dst, frame, len);
	log_commit(log, &(struct log_fields){ .recv_ns = 1 });
	log_publish(log);
	log_close(log);
	fuzz_quiet_begin();
	r = log_open(&log, lr_dir, cfg);
	fuzz_quiet_end();
	FUZZ_CHECK(r == 0, "reopening after the append: %s", strerror(-r));
	lr_check(log, &after);
	FUZZ_CHECK(after.first == before->first && after.tail == before->tail + 1 &&
		   log->recovery.torn_entries == 0 && log->recovery.torn_bytes == 0,
		   "reopened: offsets %" PRIu64 "..%" PRIu64 " (were %" PRIu64 "..%" PRIu64
		   "), torn %" PRIu64 "/%" PRIu64, after.first, after.tail, before->first,
		   before->tail, log->recovery.torn_entries, log->recovery.torn_bytes);
	FUZZ_CHECK(log_read(log, before->tail, &ref) == 0 && ref.len == len &&
		   memcmp(ref.frame, frame, len) == 0, "the appended frame came back different");
	log_close(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	struct log_config cfg = { .segment_bytes = flags & 1 ? 2 * LR_SEGMENT_BYTES
							     : LR_SEGMENT_BYTES };
	uint32_t nfiles = 2 * LR_SEGMENTS;
	struct lr_state st;
	struct log *log = NULL;
	int fds, r;

	if (!lr_files[0].bytes)
		lr_template();
	lr_dir_reset();
	for (uint32_t e = 0; e < LR_EDITS_MAX && in.n; e++)
		lr_edit(&in, &nfiles);
	lr_dir_show();
	fds = fuzz_open_fds();
	fuzz_quiet_begin();
	r = log_open(&log, lr_dir, &cfg);
	fuzz_quiet_end();
	FUZZ_CHECK(r == 0 || r == -EUCLEAN, "log_open returned %d (%s)", r, strerror(-r));
	if (r == 0) {
		lr_check(log, &st);
		if (flags & 2)
			lr_check_append(log, &cfg, &st);
		else
			log_close(log);
	}
	FUZZ_CHECK(fuzz_open_fds() == fds, "log_open leaked %d file descriptors",
		   fuzz_open_fds() - fds);
	for (uint32_t i = 2 * LR_SEGMENTS; i < nfiles; i++)
		lr_files[i].name[0] = '\0';
	return 0;
}
