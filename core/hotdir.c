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
#include <sys/file.h>
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

/* The roots this process holds OWNER locks on (a flock, for the process's life: another
 * fanoutd cannot take a hot directory in use). Resolving one again in this process is
 * fine (a restart within tests). */
#define HOTDIR_LOCKS_MAX 64
static struct {
	char root[PATH_MAX];
	int fd;
} hotdir_locks[HOTDIR_LOCKS_MAX];
static int hotdir_nlocks;

/* Takes root's OWNER lock for this process. Returns 0, or -EBUSY when another process
 * holds it. */
static int hotdir_lock(const char *root, const char *owner_path)
{
	int fd;

	for (int i = 0; i < hotdir_nlocks; i++)
		if (strcmp(hotdir_locks[i].root, root) == 0)
			return 0;
	fd = open(owner_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return r;
	}
	if (hotdir_nlocks < HOTDIR_LOCKS_MAX) {
		snprintf(hotdir_locks[hotdir_nlocks].root, PATH_MAX, "%s", root);
		hotdir_locks[hotdir_nlocks++].fd = fd;
	}	/* else held without being remembered: still held */
	return 0;
}

/* True when dir (a hot root) holds segment files (hot-*.idx below it): the only copy of
 * frames a killed server accepted may be there. */
static int hotdir_segments;

static int count_idx(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *name = path + ftw->base;

	(void)st;
	if (flag == FTW_F && strncmp(name, "hot-", 4) == 0 && strstr(name, ".idx"))
		hotdir_segments++;
	return 0;
}

static bool hotdir_has_segments(const char *dir)
{
	hotdir_segments = 0;
	nftw(dir, count_idx, 16, FTW_PHYS);
	return hotdir_segments > 0;
}

/* Reads root's OWNER into id (32 chars) and path. Returns 0 or -errno. */
static int owner_read(const char *root, char *id, char *path, size_t cap)
{
	char file[PATH_MAX + 16], buf[PATH_MAX + 64], *nl;
	int r;

	if (snprintf(file, sizeof(file), "%s/OWNER", root) >= (int)sizeof(file))
		return -ENAMETOOLONG;
	if ((r = read_small(file, buf, sizeof(buf))) < 0)
		return r;
	nl = strchr(buf, '\n');
	if (!nl || nl - buf != HOTDIR_ID_CHARS)
		return -EUCLEAN;
	memcpy(id, buf, HOTDIR_ID_CHARS);
	id[HOTDIR_ID_CHARS] = '\0';
	nl[1 + strcspn(nl + 1, "\n")] = '\0';
	snprintf(path, cap, "%s", nl + 1);
	return 0;
}

/* The id in a data dir's ID file, or "" when it has none. */
static void id_of(const char *data_dir, char id[HOTDIR_ID_CHARS + 1])
{
	char file[PATH_MAX + 8], buf[64];

	id[0] = '\0';
	if (snprintf(file, sizeof(file), "%s/ID", data_dir) < (int)sizeof(file) &&
	    read_small(file, buf, sizeof(buf)) == 0 &&
	    strspn(buf, "0123456789abcdef") == HOTDIR_ID_CHARS) {
		memcpy(id, buf, HOTDIR_ID_CHARS);
		id[HOTDIR_ID_CHARS] = '\0';
	}
}

/* The root the data dir's HOT file names, when it is another of this data dir's (OWNER
 * says id) and still holds segments: a start after a kill with another parent must
 * recover from there, not start afresh beside it. Copies it into out and returns true. */
static bool hotdir_previous(const char *data_dir, const char *id, const char *chosen,
			    char *out, size_t cap)
{
	char file[PATH_MAX + 8], root[PATH_MAX], oid[HOTDIR_ID_CHARS + 1], opath[PATH_MAX];

	if (snprintf(file, sizeof(file), "%s/HOT", data_dir) >= (int)sizeof(file) ||
	    read_small(file, root, sizeof(root)) < 0)
		return false;
	root[strcspn(root, "\n")] = '\0';
	if (!root[0] || strcmp(root, chosen) == 0 ||
	    owner_read(root, oid, opath, sizeof(opath)) < 0 || strcmp(oid, id) != 0 ||
	    !hotdir_has_segments(root))
		return false;
	fprintf(stderr, "fanoutd: hot segments of the last run are in %s, not under the hot "
		"dir chosen now: using %s\n", root, root);
	snprintf(out, cap, "%s", root);
	return true;
}

/* Whether OWNER (id, path) lets this data dir (id, real path) use the root: its own, or
 * its own moved (the old path gone or no longer this id). A data dir with the same id
 * at another path that still exists is a copy: refused. */
static int owner_check(const char *root, const char *id, const char *real)
{
	char oid[HOTDIR_ID_CHARS + 1], opath[PATH_MAX], there[HOTDIR_ID_CHARS + 1];

	if (owner_read(root, oid, opath, sizeof(opath)) < 0)
		return 0;	/* new (or unreadable: rewritten below) */
	if (strcmp(oid, id) != 0) {
		fprintf(stderr, "fanoutd: hot dir %s serves another data dir (%s); give this one "
			"its own --hot-dir\n", root, opath);
		return -EEXIST;
	}
	if (strcmp(opath, real) == 0)
		return 0;
	id_of(opath, there);
	if (strcmp(there, id) == 0) {
		fprintf(stderr, "fanoutd: data dir %s has the same id as %s (a copy?): remove "
			"%s/ID to give it an id, and a hot dir, of its own\n", real, opath, real);
		return -EEXIST;
	}
	return 0;	/* moved: the old path is gone or someone else's now */
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
	hotdir_previous(data_dir, id, out, out, cap);
	if ((r = mkdir_p(out)) < 0 || (r = owner_check(out, id, real)) < 0)
		return r;
	snprintf(owner, sizeof(owner), "%s\n%s\n", id, real);
	if (snprintf(path, sizeof(path), "%s/OWNER", out) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((read_small(path, have, sizeof(have)) < 0 || strcmp(have, owner) != 0) &&
	    (r = write_small(path, owner)) < 0)	/* new, or its data dir moved */
		return r;
	if ((r = hotdir_lock(out, path)) < 0) {
		if (r == -EBUSY)
			fprintf(stderr, "fanoutd: hot dir %s is in use by another fanoutd\n", out);
		return r;
	}
	/* The data dir says where its hot segments are: a lapped shared-memory reader
	 * recovers from them too (shm/shm_log.c), and the next start looks there first. */
	if (snprintf(path, sizeof(path), "%s/HOT", data_dir) >= (int)sizeof(path) ||
	    snprintf(have, sizeof(have), "%s\n", out) >= (int)sizeof(have))
		return -ENAMETOOLONG;
	return write_small(path, have);
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

/* Drops this process's OWNER lock on root: its file is gone with it, and a lock on a
 * removed file guards nothing (resolving root again would find it held and lock nothing). */
static void hotdir_unlock(const char *root)
{
	for (int i = 0; i < hotdir_nlocks; i++)
		if (strcmp(hotdir_locks[i].root, root) == 0) {
			close(hotdir_locks[i].fd);
			hotdir_locks[i] = hotdir_locks[--hotdir_nlocks];
			return;
		}
}

int hotdir_release(const char *root)
{
	hotdir_files = 0;
	nftw(root, count_segments, 16, FTW_PHYS);
	if (hotdir_files)
		return hotdir_files;
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	hotdir_unlock(root);
	return 0;
}

/* True when another process holds dir's OWNER lock (a running fanoutd). */
static bool hotdir_locked(const char *dir)
{
	char path[PATH_MAX + 16];
	int fd;
	bool held;

	for (int i = 0; i < hotdir_nlocks; i++)
		if (strcmp(hotdir_locks[i].root, dir) == 0)
			return true;
	if (snprintf(path, sizeof(path), "%s/OWNER", dir) >= (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);	/* drops the lock if it was ours to take */
	return held;
}

int hotdir_sweep(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *de;
	int removed = 0, kept = 0;
	char first[PATH_MAX] = "";

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (strncmp(de->d_name, HOTDIR_PREFIX, strlen(HOTDIR_PREFIX)) != 0 ||
		    strlen(de->d_name) != strlen(HOTDIR_PREFIX) + HOTDIR_ID_CHARS)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, de->d_name) >= (int)sizeof(path))
			continue;
		if (hotdir_live(path) || hotdir_locked(path))
			continue;
		if (hotdir_has_segments(path)) {	/* maybe a moved data dir's only copy */
			if (kept++ == 0)
				snprintf(first, sizeof(first), "%s", path);
			continue;
		}
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		removed++;
	}
	closedir(d);
	if (kept)	/* one line, however many */
		fprintf(stderr, "fanoutd: %d hot dirs under %s hold segments of data dirs that are "
			"not where they were (%s%s); kept: a data dir recovers its own when it "
			"starts; remove them if their data dirs are gone for good\n", kept, parent,
			first, kept > 1 ? ", ..." : "");
	return removed;
}
