/* core/log_retain.h — retention: whole sealed segments leave a partition log from its
 * front (core/log_retain.c). Caller: one retaining thread per log (the admin plane's),
 * beside the log's writer, readers and executor. */
#ifndef FANOUT_CORE_LOG_RETAIN_H
#define FANOUT_CORE_LOG_RETAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"

/* The offset below which whole segments are out of retention: each one whose newest
 * event was received before cutoff_ns (CLOCK_REALTIME; <= 0: no time bound), and the
 * oldest ones while the rest still take max_bytes or more (frames and their 96-byte
 * index entries, as the topic stats count storage; 0: no size bound).
 * Only segments that may go count: sealed and wholly moved to their disk files; never
 * the writer's. log_first when none may go. */
uint64_t log_retain_plan(const struct log *log, int64_t cutoff_ns, uint64_t max_bytes);

/* Deletes the whole segments below before that may go: log_first moves past them (at a
 * segment's base), their files are unlinked, their memory stays mapped until
 * log_reclaim after grace generation grace_gen. Returns segments retired. */
int log_retire(struct log *log, uint64_t before, uint64_t grace_gen);

/* Once grace generation grace_done has passed (no send queued before the last retire
 * can still read its memory), the retired segments' memory becomes zero pages: their
 * page cache and disk blocks go. Returns segments reclaimed. */
uint32_t log_reclaim(struct log *log, uint64_t grace_done);

/* Whether retired segments wait for log_reclaim. */
bool log_reclaim_pending(const struct log *log);

#endif
