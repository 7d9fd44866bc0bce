/* shm/ring_sweep.c — at server start-up, removes ring files whose writer is gone: the
 * server that made them died without unlinking them. A ring is judged by its own header
 * (writer pid + start time), never by its name alone, so a live server's rings and files
 * that are not rings are kept. */
#include "shm/ring_writer.h"

#include "shm/proc_ident.h"
#include "shm/ring_format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of the header the sweep needs: magic through create_ns. */
#define SWEEP_HEADER_BYTES 128u

/* Decides about one file: 1 remove, 0 keep; *why says which and why. */
static int sweep_judge(int dirfd, const char *name, const char **why)
{
	struct shm_ring_header h;
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		*why = "cannot be opened (kept)";
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file (kept)";
		goto out;
	}
	n = pread(fd, &h, SWEEP_HEADER_BYTES, 0);
	if (n != (ssize_t)SWEEP_HEADER_BYTES) {
		*why = "too short to be a ring (kept)";
		goto out;
	}
	/* A magic of 0 is a ring whose creation did not finish; its identity is written
	 * before the magic, so its writer is known whenever writer_pid is set. */
	if ((h.magic != SHM_RING_MAGIC && h.magic != 0) || h.writer_pid == 0) {
		*why = "not a ring file, or its writer is unknown (kept)";
		goto out;
	}
	if (h.magic == SHM_RING_MAGIC && h.version != SHM_RING_VERSION) {
		*why = "a ring of another format version (kept)";
		goto out;
	}
	if (shm_proc_alive((pid_t)h.writer_pid, h.writer_start_ticks)) {
		*why = "its writer is alive (kept)";
		goto out;
	}
	*why = "its writer (pid and start time) is gone";
	r = 1;
out:
	close(fd);
	return r;
}

int shm_ring_sweep(const char *dir, const char *prefix, shm_sweep_report_fn *report,
		   void *ctx)
{
	DIR *d;
	struct dirent *de;
	size_t plen = strlen(prefix);
	char path[PATH_MAX];
	int removed = 0;

	if (!dir)
		dir = SHM_RING_DIR_DEFAULT;
	if (!(d = opendir(dir)))
		return -errno;
	while ((de = readdir(d))) {
		const char *why;
		bool gone;

		if (strncmp(de->d_name, prefix, plen) != 0 || de->d_name[0] == '.')
			continue;
		gone = sweep_judge(dirfd(d), de->d_name, &why) == 1;
		if (gone && unlinkat(dirfd(d), de->d_name, 0) < 0) {
			why = "stale, but unlink failed (kept)";
			gone = false;
		}
		removed += gone;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (report)
			report(ctx, path, gone, why);
	}
	closedir(d);
	return removed;
}
