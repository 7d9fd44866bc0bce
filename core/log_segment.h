/* core/log_segment.h — one segment of a partition log: the <base>.log / <base>.idx file
 * pair described in core/log.h. Private to the log (core/log.c); the writer, or log_open
 * before the log is shared, is the only caller. Functions return 0 or -errno unless
 * they say otherwise. */
#ifndef FANOUT_CORE_LOG_SEGMENT_H
#define FANOUT_CORE_LOG_SEGMENT_H

#include "core/log.h"

#define LOG_NAME_DIGITS 20	/* %020llu: UINT64_MAX has 20 digits */
#define LOG_PATH_BYTES  (sizeof(((struct log *)0)->dir) + LOG_NAME_DIGITS + 8)

/* One base offset found in a log directory and which of its two files exist. */
struct log_segment_name {
	uint64_t base;
	bool has_log, has_idx;
};

/* Writes "<dir>/<base, 20 digits>.<ext>" into buf (LOG_PATH_BYTES of room). */
void log_segment_path(char *buf, const char *dir, uint64_t base, const char *ext);

/* Logs "log: <path>: <what>" to stderr, remembers path and what for this thread's
 * log_segment_last_fault, and returns -EUCLEAN. */
int log_segment_corrupt(const char *path, const char *what);

/* The file and reason of this thread's last log_segment_corrupt (recovery runs on one
 * thread per log_open: the thread's last is the log's). */
void log_segment_last_fault(struct log_fault *fault);

/* Logs that path holds an index of format LOG_INDEX_VERSION_FNV (what to do about it)
 * and returns -EPROTONOSUPPORT. */
int log_segment_old_format(const char *path);

/* Creates and maps a new empty segment at base in log->dir, sized by log->config. Fails
 * with -EEXIST rather than reuse a file; on failure removes what it created. */
int log_segment_create(const struct log *log, uint64_t base, struct log_segment **out);

/* Opens, validates (-EUCLEAN, logged) and maps an existing segment. When last, a segment
 * whose creation never finished (a file missing, or an all-zero header) is replaced by
 * a new empty one; elsewhere that is -EUCLEAN. */
int log_segment_load(const struct log *log, const struct log_segment_name *name, bool last,
		     struct log_segment **out);

/* Unmaps and closes what seg holds and frees it. NULL is fine. */
void log_segment_free(struct log_segment *seg);

/* The size of a segment's .idx file and mapping. */
uint64_t log_segment_idx_bytes(const struct log_segment *seg);

/* Closes the segment's disk and hot descriptors (its mappings stay). */
void log_segment_close_fds(struct log_segment *seg);

/* mkdir -p: creates every missing component of dir. */
int log_mkdir_p(const char *dir);

/* Sizes a segment's two files (log_bytes, and the index for entry_capacity). */
int log_segment_size_files(const struct log_segment *seg, int log_fd, int idx_fd);

/* Maps a segment's two files (sizes set in seg) at addresses the kernel picks. */
int log_segment_map(struct log_segment *seg, int log_fd, int idx_fd, bool writable);

/* Opens (creating, sizing and heading them as needed) the disk files of seg's base in
 * log->dir into seg->log_fd / idx_fd. With direct (the persister's), O_DIRECT where the
 * file system has it: whole blocks straight from seg's memory, what follows the last
 * entry in its last block included (recovery cuts it if it is still there after a
 * crash). Without (hot recovery's), exactly the bytes entries claim, through the page
 * cache. */
int log_segment_disk_open(const struct log *log, struct log_segment *seg, bool direct);

/* fsync of a directory (its entries durable); log_sync_dirs: of a log's directory and
 * the two above it (topic, topics). Return 0 or -errno. */
int log_sync_dir(const char *dir);
int log_sync_dirs(const char *dir);

/* Writes entries [seg->disk_entries, count) and the frame bytes they claim from seg's
 * memory to its disk files (open), and advances disk_entries / disk_bytes. */
int log_segment_disk_write(struct log_segment *seg, uint64_t count);

/* Returns how many entries from 0 are kept frames: a non-zero len, pos where the previous
 * frame ended, inside the .log, matching crc, and a varint prefix that says exactly len.
 * *pos receives the bytes they take. Reads only. */
uint64_t log_segment_scan(const struct log_segment *seg, uint64_t *pos);

/* Cuts a torn tail: zeroes every index entry from i on (adding to *torn_entries those
 * with len != 0) and every .log byte from pos to the last non-zero byte of the file
 * (adding that distance to *torn_bytes). The end of the cut bytes comes from the data,
 * not from the entries, because a reservation never committed has no entry. */
int log_segment_cut(struct log_segment *seg, uint64_t i, uint64_t pos,
		    uint64_t *torn_entries, uint64_t *torn_bytes);

#endif
