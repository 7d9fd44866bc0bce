/* core/hotdir.c — the hot directory of a data directory (see hotdir.h). */
#define _XOPEN_SOURCE 700
#include "core/hotdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOTDIR_ID_CHARS 32

/* Reads a small file into buf (NUL-terminated, trailing newline kept). */
static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Writes a small file whole (temp file + rename). */
static int write_small(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* The data directory's id: read from DIR/ID, or made and written there. */
static int hotdir_id(const char *data_dir, char id[HOTDIR_ID_CHARS + 1])
{
	char path[PATH_MAX], buf[64];
	unsigned char raw[HOTDIR_ID_CHARS / 2];

	snprintf(path, sizeof(path), "%s/ID", data_dir);
	if (read_small(path, buf, sizeof(buf)) == 0 &&
	    strspn(buf, "0123456789abcdef") == HOTDIR_ID_CHARS) {
		memcpy(id, buf, HOTDIR_ID_CHARS);
		id[HOTDIR_ID_CHARS] = '\0';
		return 0;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	snprintf(buf, sizeof(buf), "%s\n", id);
	return write_small(path, buf);
}

static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

bool hotdir_huge(const char *path)
{
	char real[PATH_MAX], line[4096], best_opts[1100] = "";
	size_t best = 0;
	FILE *f;

	if (!realpath(path, real) || !(f = fopen("/proc/self/mountinfo", "r")))
		return false;
	/* The mount point that is the longest prefix of the path decides. */
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], fstype[64], opts[1024];
		const char *dash = strstr(line, " - ");
		size_t n;

		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		n = strlen(mnt);
		if (strncmp(real, mnt, n) != 0 || (real[n] != '/' && real[n] != '\0' &&
						    strcmp(mnt, "/") != 0) || n < best)
			continue;
		best = n;
		snprintf(best_opts, sizeof(best_opts), "%s %s", fstype, opts);
	}
	fclose(f);
	return strncmp(best_opts, "tmpfs ", 6) == 0 &&
	       (strstr(best_opts, "huge=always") || strstr(best_opts, "huge=within_size"));
}

const char *hotdir_parent(const char *flag)
{
	if (flag && flag[0])
		return flag;
	return hotdir_huge(HOTDIR_HUGE) ? HOTDIR_HUGE : HOTDIR_PARENT;
}

int hotdir_resolve(const char *data_dir, const char *parent, char *out, size_t cap)
{
	char id[HOTDIR_ID_CHARS + 1], real[PATH_MAX], owner[PATH_MAX + 64], have[PATH_MAX + 64];
	char path[PATH_MAX + 8];
	int r, n;

	if ((r = hotdir_id(data_dir, id)) < 0)
		return r;
	if (!realpath(data_dir, real))
		return -errno;
	n = snprintf(out, cap, "%s/" HOTDIR_PREFIX "%s", parent, id);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	if ((r = mkdir_p(out)) < 0)
		return r;
	/* The data dir says where its hot segments are: a lapped shared-memory reader
	 * recovers from them too (shm/shm_log.c). */
	if (snprintf(path, sizeof(path), "%s/HOT", data_dir) >= (int)sizeof(path) ||
	    snprintf(have, sizeof(have), "%s\n", out) >= (int)sizeof(have))
		return -ENAMETOOLONG;
	if ((r = write_small(path, have)) < 0)
		return r;
	snprintf(owner, sizeof(owner), "%s\n%s\n", id, real);
	if (snprintf(path, sizeof(path), "%s/OWNER", out) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (read_small(path, have, sizeof(have)) == 0) {
		if (strncmp(have, owner, HOTDIR_ID_CHARS + 1) != 0) {
			fprintf(stderr, "fanoutd: hot dir %s serves another data dir (%.*s); "
				"give this one its own --hot-dir\n", out,
				(int)strcspn(have + HOTDIR_ID_CHARS + 1, "\n"),
				have + HOTDIR_ID_CHARS + 1);
			return -EEXIST;
		}
		if (strcmp(have, owner) == 0)
			return 0;
	}
	return write_small(path, owner);	/* new, or its data dir moved */
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* True when the hot directory at dir serves a data directory that still exists with the
 * same id. */
static int hotdir_live(const char *dir)
{
	char path[PATH_MAX + 16], owner[PATH_MAX + 64], id[64];
	char *nl;

	if (snprintf(path, sizeof(path), "%s/OWNER", dir) >= (int)sizeof(path) ||
	    read_small(path, owner, sizeof(owner)) < 0)
		return 1;	/* not ours to judge: keep */
	nl = strchr(owner, '\n');
	if (!nl)
		return 1;
	*nl = '\0';
	nl[1 + strcspn(nl + 1, "\n")] = '\0';
	if (snprintf(path, sizeof(path), "%s/ID", nl + 1) >= (int)sizeof(path))
		return 1;
	int r = read_small(path, id, sizeof(id));

	if (r < 0)
		return r == -ENOENT || r == -ENOTDIR ? 0 : 1;
	return strncmp(id, owner, HOTDIR_ID_CHARS) == 0;
}

static int hotdir_files;

static int count_segments(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t n = strlen(path);

	(void)st;
	(void)ftw;
	if (flag == FTW_F && n > 4 && (strcmp(path + n - 4, ".log") == 0 ||
				       strcmp(path + n - 4, ".idx") == 0))
		hotdir_files++;
	return 0;
}

int hotdir_release(const char *root)
{
	hotdir_files = 0;
	nftw(root, count_segments, 16, FTW_PHYS);
	if (hotdir_files)
		return hotdir_files;
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int hotdir_sweep(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *de;
	int removed = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (strncmp(de->d_name, HOTDIR_PREFIX, strlen(HOTDIR_PREFIX)) != 0 ||
		    strlen(de->d_name) != strlen(HOTDIR_PREFIX) + HOTDIR_ID_CHARS)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, de->d_name) >= (int)sizeof(path))
			continue;
		if (hotdir_live(path))
			continue;
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		removed++;
	}
	closedir(d);
	return removed;
}
