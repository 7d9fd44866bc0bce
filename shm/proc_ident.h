/* shm/proc_ident.h — a process's identity as the ring format records it: pid plus start
 * time (field 22 of /proc/<pid>/stat), so a reused pid is never taken for the process
 * that died. Used by the writer (its own identity, the sweep) and by readers (the writer's
 * liveness, reclaiming dead readers' slots). Any thread; reads /proc, so not for the
 * per-record path. */
#ifndef FANOUT_SHM_PROC_IDENT_H
#define FANOUT_SHM_PROC_IDENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads pid's start time (clock ticks after boot) and state letter ('R', 'S', 'Z', ...)
 * from /proc/<pid>/stat. Returns 0, -ENOENT when there is no such process, -EPROTO when
 * the file does not parse, or another -errno. state may be NULL. */
int shm_proc_start_ticks(pid_t pid, uint64_t *ticks, char *state);

/* True when pid is running with this start time: not gone, not reused, not a zombie.
 * An unreadable /proc entry (other than "gone") counts as alive: never reclaim on doubt. */
bool shm_proc_alive(pid_t pid, uint64_t start_ticks);

/* The slot owner word for a process: pid in the high half, the start time's low 32 bits
 * in the low half. Never 0 for a real pid. */
static inline uint64_t shm_owner_word(pid_t pid, uint64_t start_ticks)
{
	return (uint64_t)(uint32_t)pid << 32 | (uint32_t)start_ticks;
}

/* True when the process an owner word names is alive (start time compared mod 2^32). */
bool shm_owner_alive(uint64_t owner);

#endif
