/* shm/proc_ident.c — process identity from /proc/<pid>/stat. */
#include "shm/proc_ident.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /proc/<pid>/stat is well under this; the command name is at most 64 bytes. */
#define STAT_BYTES 1024
/* starttime is field 22; after the ")" that ends field 2, field 3 is the first. */
#define STARTTIME_FIELD_AFTER_COMM 20

static int read_stat(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	buf[n] = '\0';
	return 0;
}

int shm_proc_start_ticks(pid_t pid, uint64_t *ticks, char *state)
{
	char buf[STAT_BYTES], *p, *end;
	int r;

	if (pid <= 0)
		return -ENOENT;
	if ((r = read_stat(pid, buf, sizeof(buf))) < 0)
		return r;
	/* The command name may hold spaces and ')': the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EPROTO;
	p += 2;
	if (state)
		*state = *p;
	for (int i = 0; i < STARTTIME_FIELD_AFTER_COMM - 1; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -EPROTO;
		p++;
	}
	errno = 0;
	*ticks = strtoull(p, &end, 10);
	if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EPROTO;
	return 0;
}

bool shm_proc_alive(pid_t pid, uint64_t start_ticks)
{
	uint64_t t;
	char state = 0;
	int r = shm_proc_start_ticks(pid, &t, &state);

	if (r == -ENOENT)
		return false;
	if (r < 0)
		return true;
	return t == start_ticks && state != 'Z' && state != 'X';
}

bool shm_owner_alive(uint64_t owner)
{
	uint64_t t;
	char state = 0;
	int r = shm_proc_start_ticks((pid_t)(owner >> 32), &t, &state);

	if (r == -ENOENT)
		return false;
	if (r < 0)
		return true;
	return (uint32_t)t == (uint32_t)owner && state != 'Z' && state != 'X';
}
