/* core/log_hot.h — hot segments (core/log.h): the writer's segments, kept as files in the
 * log's hot directory on a memory file system, faulted in ahead of the writer. Private to
 * the log (core/log.c, core/log_persist.c). Functions return 0 or -errno. */
#ifndef FANOUT_CORE_LOG_HOT_H
#define FANOUT_CORE_LOG_HOT_H

#include "core/log.h"

/* Sets log->hot_dir from the log's directory and its config. */
int log_hot_dir(struct log *log);

/* Makes a new hot segment (hot-<n> in the hot directory, created there if missing),
 * mapped, with its header's base offset LOG_BASE_UNSET and its first bytes faulted in.
 * The executor's, or the writer's when none is ready. */
int log_hot_create(struct log *log, struct log_segment **out);

/* The writer takes a prepared segment at base: the header says so from now on, so a
 * recovery copies what it holds. */
void log_hot_activate(struct log_segment *seg, uint64_t base);

/* Makes [0, bytes) of the segment's .log and [0, entries) of its index writable without
 * a fault (reserving the memory: a full hot file system is -ENOSPC here, never a
 * SIGBUS later), and raises ready_bytes/ready_entries. Any thread. */
int log_hot_ready(struct log_segment *seg, uint64_t bytes, uint64_t entries);

/* Removes a hot segment's files and closes them (the mapping stays). */
void log_hot_remove(const struct log *log, struct log_segment *seg);

/* At open, before the disk segments are read: copies every hot segment a killed process
 * left (in base-offset order) into the disk files of its base and removes it; prepared
 * segments the writer never took are removed. Sets hot_seq_next past the names seen. */
int log_hot_recover(struct log *log);

/* log_persist, with ahead: also the next segment made and the active one faulted in
 * (not at close). */
int log_persist_run(struct log *log, bool ahead);

#endif
