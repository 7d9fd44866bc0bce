/* tests/fuzz/log_recovery_fuzz.c — core/log.c, log_segment.c and log_hot.c recovering a
 * partition log whose segment and index files were damaged.
 *
 * Two directories are written once with core/log, 64 KiB segments: closed (three disk
 * segments: the first rolled because its index filled, the second because its .log
 * filled, the third half full) and killed (two disk segments, then two hot ones in hot/
 * as a killed writer leaves them, log_drop). Each input picks one, applies a list of
 * edits to a fresh copy of its files (overwrite bytes, zero a range, copy a range
 * between files, change a file's size, remove a file, add a file under another segment
 * or hot name), then runs log_open, with the same or a larger segment size.
 * Input: a flags byte (bit 0: segments of 128 KiB from now on; bit 1: the append check
 * below; bit 2: the killed directory), then edits (lr_edit: an opcode, a file, an
 * offset, then what the opcode reads). Files are numbered in name order, hot/ last.
 * Checks: log_open succeeds or fails with -EUCLEAN, never crashes, asserts or reads out
 * of bounds (ASan, UBSan), and leaks no memory or file descriptor. After success:
 * offsets are dense from log_first to the tail and the recovery counts them; every frame
 * reads back inside its segment's mapping, contiguous, with its entry's crc and a varint
 * prefix saying exactly its length; log_bytes_behind adds them up; the last disk
 * segment's cut tail is zeros; and (flags bit 1, as it doubles the cost) the recovered
 * log is writable: one more frame is appended, and reopening finds every frame as before
 * plus that one, with nothing torn. */
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
#define LR_TEMPLATE_FILES_MAX 8u
#define LR_FILES_MAX (LR_TEMPLATE_FILES_MAX + 2u)	/* and two that edits may add */
#define LR_BASES_MAX 4u
#define LR_EDITS_MAX 24u
#define LR_EDIT_BYTES_MAX 64u
#define LR_TOPIC "fuzz"

/* A file of the log directory, named relative to it ("hot/hot-0000000001.idx" too): the
 * template's content, or none for a file only an edit creates. */
struct lr_file {
	char name[48];
	uint8_t *bytes;
	size_t used;		/* bytes up to the last non-zero one */
	size_t size;
};

/* A log directory as written once, restored before every input. */
struct lr_template {
	struct lr_file files[LR_TEMPLATE_FILES_MAX];
	uint32_t nfiles;
	uint64_t bases[LR_BASES_MAX];	/* its segments' base offsets, for added names */
	uint32_t nbases;
};

/* 0: closed cleanly (disk segments only); 1: killed (disk segments and hot ones). */
static struct lr_template lr_templates[2];
static const struct lr_template *lr_t;		/* this input's */
static struct lr_file lr_files[LR_FILES_MAX];	/* its files, then the added ones */
static char lr_dir[600];

/* ---- the templates, made once ------------------------------------------------------- */

/* Appends frames of payload bytes (0: small) until the log has nsegs segments, the last
 * holding at least last_frames. */
static void lr_fill(struct log *log, uint32_t payload, uint32_t nsegs, uint64_t last_frames)
{
	static uint8_t frame[FUZZ_EVENT_FRAME_MAX];

	while (atomic_load(&log->nsegs) < nsegs ||
	       log->next - log->segs[nsegs - 1]->base_offset < last_frames) {
		uint32_t len = fuzz_event_frame(frame, LR_TOPIC, log->next, 0, log->next,
						payload ? payload + (uint32_t)(log->next % 7) * 300 : 0);

		fuzz_log_append(log, frame, len, 1000 + log->next);
	}
}

static struct log *lr_open_template(const char *dir)
{
	struct log_config cfg = { .segment_bytes = LR_SEGMENT_BYTES };
	struct log *log;
	int r = log_open(&log, dir, &cfg);

	FUZZ_CHECK(r == 0, "log_open %s: %s", dir, strerror(-r));
	return log;
}

static void lr_bases_note(struct lr_template *t, const struct log *log)
{
	for (uint32_t s = 0; s < atomic_load(&log->nsegs) && t->nbases < LR_BASES_MAX; s++)
		t->bases[t->nbases++] = log->segs[s]->base_offset;
}

/* Closed: small frames until the first index is full, big ones until the second .log
 * is, eight into the third; closed (all on disk). Killed: the first segment's frames,
 * closed; then, reopened, big frames into two hot segments, and dropped as a killed
 * process leaves them (log_drop: nothing more on disk, the hot files stay). */
static void lr_template_write(struct lr_template *t, const char *dir, bool killed)
{
	struct log *log = lr_open_template(dir);

	lr_fill(log, 0, 2, 1);
	FUZZ_CHECK(log->segs[0]->entry_capacity == log->segs[1]->base_offset,
		   "first index not full");
	if (killed) {
		log_close(log);
		log = lr_open_template(dir);
		lr_fill(log, 1000, atomic_load(&log->nsegs) + 1, 8);
		lr_bases_note(t, log);
		log_drop(log);
		return;
	}
	lr_fill(log, 1000, 3, 8);
	lr_bases_note(t, log);
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
	f->bytes = calloc(1, f->size ? f->size : 1);
	FUZZ_CHECK(f->bytes != NULL, "out of memory");
	n = pread(fd, f->bytes, f->size, 0);
	FUZZ_CHECK(n == (ssize_t)f->size, "%s: short read", path);
	close(fd);
	for (f->used = f->size; f->used > 0 && f->bytes[f->used - 1] == 0; f->used--)
		;
}

/* Takes in the files of dir/sub (sub "" or "hot"), in name order. */
static void lr_template_load(struct lr_template *t, const char *dir, const char *sub)
{
	char path[700];
	struct dirent **names;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	n = scandir(path, &names, NULL, alphasort);
	FUZZ_CHECK(n >= 0 || errno == ENOENT, "scandir %s: %s", path, strerror(errno));
	if (n < 0)
		return;	/* no hot directory: a log closed cleanly removes it */
	for (int i = 0; i < n; i++) {
		struct lr_file *f = &t->files[t->nfiles];

		if (names[i]->d_type == DT_REG) {
			FUZZ_CHECK(t->nfiles < LR_TEMPLATE_FILES_MAX, "too many template files");
			snprintf(f->name, sizeof(f->name), "%s%s%s", sub, sub[0] ? "/" : "",
				 names[i]->d_name);
			lr_file_load(f, dir);
			t->nfiles++;
		}
		free(names[i]);
	}
	free(names);
}

static void lr_templates_make(void)
{
	static char root[512], tdir[560];

	fuzz_tmpdir(root, sizeof(root), "log");
	snprintf(lr_dir, sizeof(lr_dir), "%s/log", root);
	for (int k = 0; k < 2; k++) {
		snprintf(tdir, sizeof(tdir), "%s/template%d", root, k);
		lr_template_write(&lr_templates[k], tdir, k == 1);
		lr_template_load(&lr_templates[k], tdir, "");
		lr_template_load(&lr_templates[k], tdir, "hot");
		FUZZ_CHECK(lr_templates[k].nfiles == 6 + 2 * (uint32_t)k,
			   "template %d has %u files", k, lr_templates[k].nfiles);
		FUZZ_CHECK(fuzz_rmtree(tdir) == 0, "rm %s", tdir);
	}
}

/* ---- one input's directory ---------------------------------------------------------- */

static int lr_open_file(uint32_t i, int flags)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", lr_dir, lr_files[i].name);
	return open(path, flags | O_CLOEXEC, 0644);
}

/* The template's files, as written, and an empty hot directory beside them. */
static void lr_dir_reset(const struct lr_template *t)
{
	char hot[700];

	snprintf(hot, sizeof(hot), "%s/hot", lr_dir);
	FUZZ_CHECK(fuzz_rmtree(lr_dir) == 0 && mkdir(lr_dir, 0755) == 0 && mkdir(hot, 0755) == 0,
		   "reset %s: %s", lr_dir, strerror(errno));
	lr_t = t;
	memcpy(lr_files, t->files, sizeof(t->files));
	for (uint32_t i = 0; i < t->nfiles; i++) {
		int fd = lr_open_file(i, O_RDWR | O_CREAT | O_EXCL);

		FUZZ_CHECK(fd >= 0 && pwrite(fd, lr_files[i].bytes, lr_files[i].used, 0) ==
			   (ssize_t)lr_files[i].used && ftruncate(fd, (off_t)lr_files[i].size) == 0,
			   "writing %s: %s", lr_files[i].name, strerror(errno));
		close(fd);
	}
}

/* A name for an added file: a segment's near a real base or far off, or a hot one. */
static void lr_extra_name(struct fuzz_in *in, char *name, size_t cap)
{
	uint8_t sel = fuzz_u8(in);
	const char *ext = sel & 0x80 ? "idx" : "log";
	uint64_t base;

	if (sel & 0x20) {
		snprintf(name, cap, "hot/hot-%010u.%s", sel & 0x1fu, ext);
		return;
	}
	base = sel & 0x40 ? fuzz_u64(in) : lr_t->bases[(sel >> 2) % lr_t->nbases] + sel % 4 - 1;
	snprintf(name, cap, "%020" PRIu64 ".%s", base, ext);
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

/* With FANOUT_FUZZ_VERBOSE: what an input left in the directory (sub "" or "hot"). */
static void lr_dir_show(const char *sub)
{
	struct dirent **names;
	char dir[700];
	int n;

	snprintf(dir, sizeof(dir), "%s/%s", lr_dir, sub);
	if (!getenv("FANOUT_FUZZ_VERBOSE") || (n = scandir(dir, &names, NULL, alphasort)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		char path[800];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			fprintf(stderr, "log_recovery: %s%s%s %lld bytes\n", sub, sub[0] ? "/" : "",
				names[i]->d_name, (long long)st.st_size);
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

/* The cut tail of the last disk segment, the one before the writer's new hot segment:
 * zero bytes past its frames, zero entries past them. Not when recovery dropped an empty
 * last disk segment (then the one before the hot segment is an earlier, sealed one). */
static void lr_check_tail(const struct log *log)
{
	uint32_t n = atomic_load(&log->nsegs);
	const struct log_segment *seg;
	uint64_t kept, bytes;

	if (n < 2 || log->recovery.segments != n - 1)
		return;
	seg = log->segs[n - 2];
	kept = log->segs[n - 1]->base_offset - seg->base_offset;
	bytes = kept ? seg->entries[kept - 1].pos + seg->entries[kept - 1].len : 0;
	FUZZ_CHECK(lr_zero(seg->data + bytes, seg->log_bytes - bytes),
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	struct log_config cfg = { .segment_bytes = flags & 1 ? 2 * LR_SEGMENT_BYTES
							     : LR_SEGMENT_BYTES };
	uint32_t nfiles;
	struct lr_state st;
	struct log *log = NULL;
	int fds, r;

	if (!lr_templates[0].nfiles)
		lr_templates_make();
	lr_dir_reset(&lr_templates[flags >> 2 & 1]);
	nfiles = lr_t->nfiles;
	for (uint32_t e = 0; e < LR_EDITS_MAX && in.n; e++)
		lr_edit(&in, &nfiles);
	lr_dir_show("");
	lr_dir_show("hot");
	fds = fuzz_open_fds();
	fuzz_quiet_begin();
	r = log_open(&log, lr_dir, &cfg);
	fuzz_quiet_end();
	/* -EPROTONOSUPPORT: an index whose header says format 2 (unkeyed hashes), which a
	 * byte flip in the version makes; the server refuses such a data dir with a sentence. */
	FUZZ_CHECK(r == 0 || r == -EUCLEAN || r == -EPROTONOSUPPORT, "log_open returned %d (%s)",
		   r, strerror(-r));
	if (r == 0) {
		lr_check(log, &st);
		if (flags & 2)
			lr_check_append(log, &cfg, &st);
		else
			log_close(log);
	}
	FUZZ_CHECK(fuzz_open_fds() == fds, "log_open leaked %d file descriptors",
		   fuzz_open_fds() - fds);
	return 0;
}
