/* core/headroom.h — the descriptors and memory mappings partition logs hold, counted
 * against what the process may have: RLIMIT_NOFILE and vm.max_map_count.
 *
 * A log segment is 2 mappings (.log, .idx) for as long as its log is open. While it is
 * hot it also holds its 2 files on the memory file system, and while the executor copies
 * it to disk the 2 disk files; a sealed segment on disk holds no descriptor. So an open
 * partition holds 2-4 descriptors and 2 mappings, plus 2 of each for the next segment
 * once its active one is half full, plus 2 mappings per sealed segment.
 *
 * Every descriptor a log opens and every mapping it makes is checked here first and
 * counted (core/log_segment.c, core/log_hot.c): past the room headroom_init left for
 * logs, the open or mmap is refused with -HEADROOM_FDS or -HEADROOM_MAPS before the
 * kernel would fail it (a failed mmap deep in a roll, or a failed accept, is what this
 * avoids). Topics clients create are also admitted only while HEADROOM_PARTITION_* more
 * fit per partition (core/topic.c). Until headroom_init nothing is refused (tools, tests).
 *
 * Counters are process-wide relaxed atomics: any thread may open, map, close or check.
 * Two threads checking at once can both pass and overshoot by what they open; the room
 * kept for the rest of the process (headroom_init's reserves) absorbs that. */
#ifndef FANOUT_CORE_HEADROOM_H
#define FANOUT_CORE_HEADROOM_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#define HEADROOM_FDS  EMFILE	/* -HEADROOM_FDS: the open-file limit has no room */
/* -HEADROOM_MAPS: vm.max_map_count has no room (the kernel would say ENOMEM, which
 * cannot be told from a failed malloc) */
#define HEADROOM_MAPS EMLINK
/* What a partition may hold in steady state: hot and disk files of its active segment
 * and the hot files of the next; the two segments' mappings. */
#define HEADROOM_PARTITION_FDS  6u
#define HEADROOM_PARTITION_MAPS 4u
/* Mappings kept for everything but logs beyond what headroom_init finds: reactors'
 * buffers and rings, thread stacks, malloc arenas, shared-memory rings. */
#define HEADROOM_MAPS_SPARE 1024u
#define HEADROOM_MAPS_PER_CONNECTION 2u	/* input and answer buffers grown past malloc's
					 * mmap threshold are mappings of their own */

/* What the limits are and what logs hold: headroom_get. */
struct headroom_view {
	uint64_t nofile;		/* RLIMIT_NOFILE (soft) */
	uint64_t max_map_count;		/* vm.max_map_count (or FANOUTD_MAX_MAP_COUNT) */
	uint64_t other_fds, other_maps;	/* held by the rest of the process at init */
	uint64_t reserved_fds, reserved_maps;	/* kept for connections and the rest */
	int64_t fds, maps;		/* held by logs now */
	int64_t fd_room, map_room;	/* logs may hold at most this many */
	int on;				/* headroom_init ran */
};

/* Reads the limits (vm.max_map_count from /proc, or the environment variable
 * FANOUTD_MAX_MAP_COUNT when set: tests use a small one without changing the system's)
 * and what the process holds besides logs now, and from then on refuses what would pass
 * limit - reserved - held elsewhere. Returns 0, or -errno when /proc cannot be read
 * (nothing is refused then). Main thread, at start-up, after the open-file limit is set. */
int headroom_init(uint64_t reserved_fds, uint64_t reserved_maps);

/* Whether fds more descriptors and maps more mappings fit. Returns 0, -HEADROOM_FDS or
 * -HEADROOM_MAPS. Any thread. */
int headroom_check(uint64_t fds, uint64_t maps);

/* Counts descriptors and mappings logs opened (n > 0) or closed (n < 0). Any thread. */
void headroom_fds_add(int64_t n);
void headroom_maps_add(int64_t n);

/* Whether rc is one of headroom_check's refusals. */
static inline int headroom_refused(int rc)
{
	return rc == -HEADROOM_FDS || rc == -HEADROOM_MAPS;
}

/* A snapshot of the limits and counters. Any thread. */
void headroom_get(struct headroom_view *v);

/* A sentence saying which limit refused, for -HEADROOM_FDS and -HEADROOM_MAPS (naming the
 * limit and how to raise it); strerror(-rc) for anything else. Any thread. */
const char *headroom_strerror(int rc);

/* Logs (to f) what the limits allow logs: held, room left, in segments and partitions. */
void headroom_report(FILE *f);

#endif
