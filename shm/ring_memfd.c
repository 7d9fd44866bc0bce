/* shm/ring_memfd.c — making a ring's two sealed memfds and the writer's view of them. */
#include "shm/ring_memfd.h"

#include "shm/ring_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* A memfd of exactly bytes, every page allocated (posix_fallocate: no SIGBUS later when
 * memory runs short; the failure is here, as ENOSPC or ENOMEM). */
static int memfd_sized(const char *name, uint64_t bytes)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), r;

	if (fd < 0)
		return -errno;
	do
		r = posix_fallocate(fd, 0, (off_t)bytes);
	while (r == EINTR);
	if (r) {
		close(fd);
		return -r;
	}
	return fd;
}

/* Maps the ring read-write and the reader area over its place in the same view. Both
 * before the seals: F_SEAL_FUTURE_WRITE refuses writable mappings made after it, and the
 * writer's own must exist by then. */
static int view_map(int ring, int area, uint64_t file_bytes, void **map)
{
	uint8_t *base = mmap(NULL, file_bytes, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_POPULATE, ring, 0);
	void *a;

	if (base == MAP_FAILED)
		return -errno;
	a = mmap(base + SHM_SLOTS_OFFSET, SHM_READER_AREA_BYTES, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, area, 0);
	if (a == MAP_FAILED) {
		int r = -errno;

		munmap(base, file_bytes);
		return r;
	}
	*map = base;
	return 0;
}

int shm_memfd_ring_create(const char *name, uint64_t file_bytes, void **map, int fds[2])
{
	char area_name[256];
	int ring, area = -1, r;

	if (file_bytes < SHM_JOURNAL_OFFSET || file_bytes % SHM_PAGE_BYTES)
		return -EINVAL;
	if ((size_t)snprintf(area_name, sizeof(area_name), "%s-readers", name) >=
	    sizeof(area_name))
		return -ENAMETOOLONG;
	if ((ring = memfd_sized(name, file_bytes)) < 0)
		return ring;
	if ((area = r = memfd_sized(area_name, SHM_READER_AREA_BYTES)) < 0)
		goto err;
	if ((r = view_map(ring, area, file_bytes, map)) < 0)
		goto err;
	if (fcntl(ring, F_ADD_SEALS, SHM_MEMFD_RING_SEALS) < 0 ||
	    fcntl(area, F_ADD_SEALS, SHM_MEMFD_AREA_SEALS) < 0) {
		r = -errno;
		munmap(*map, file_bytes);
		goto err;
	}
	fds[0] = ring;
	fds[1] = area;
	return 0;
err:
	close(ring);
	if (area >= 0)
		close(area);
	return r;
}
