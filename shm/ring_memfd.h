/* shm/ring_memfd.h — a ring as two sealed memfds instead of a file (shm/FORMAT.md:
 * "Rings as sealed memfds"): the ring itself (header, journal, data) and its reader area.
 * The writer maps both into one view laid out exactly as the file would be; readers get
 * the descriptors over fanoutd's Unix socket (SCM_RIGHTS). The seals are what a reader
 * cannot undo: neither object can shrink or grow (no ftruncate, no SIGBUS in the server),
 * the ring cannot be written, hole-punched or mapped writable by anyone but the writer's
 * existing mapping, and no further seal can be added or removed.
 *
 * Control plane, any thread. Functions return 0 or -errno. */
#ifndef FANOUT_SHM_RING_MEMFD_H
#define FANOUT_SHM_RING_MEMFD_H

#include <stdint.h>

/* The seals each object carries (F_SEAL_* from fcntl.h). Readers check the ones that keep
 * them safe (shm/shm_reader.c): size fixed on both. */
#define SHM_MEMFD_RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)
#define SHM_MEMFD_AREA_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define SHM_MEMFD_SIZE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* Creates the ring memfd (file_bytes, every page allocated now: a ring that does not fit
 * in memory fails here, never later) and the reader-area memfd, maps the ring read-write
 * (prefaulted) with the reader area mapped over its place (SHM_SLOTS_OFFSET), then seals
 * both. name shows in /proc/PID/maps as memfd:NAME (and NAME-readers). On success *map is
 * the view (file_bytes long; munmap it whole) and fds[0], fds[1] the ring and the reader
 * area, close-on-exec; on failure nothing is left. */
int shm_memfd_ring_create(const char *name, uint64_t file_bytes, void **map, int fds[2]);

#endif
