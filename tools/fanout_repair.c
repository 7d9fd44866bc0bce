/* tools/fanout_repair.c — repairs a quarantined partition (README, "Quarantined
 * partitions"): fanoutd found its log corrupt before the tail at start-up and does not
 * serve it. With the server stopped:
 *
 *   fanout-repair --data-dir DIR --topic T --partition P           # says what it would do
 *   fanout-repair --data-dir DIR --topic T --partition P --apply   # does it
 *
 * The repair cuts the log where the corruption starts: the segment holding the first bad
 * offset and every later one are copied to DIR/quarantine/<topic>/<P>/<time>/ (nothing is
 * deleted), the later ones leave the log, and the bad segment stays as its last segment,
 * which the next open cuts at its first bad entry as it does a torn tail (a segment whose
 * header is bad leaves whole). The partition then holds the offsets before the
 * corruption and the next event appended gets the first bad offset again: consumers that
 * had read past it must be told (their offsets now name other events). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/topic.h"

#define REPAIR_PATH_MAX 1024
#define REPAIR_SEG_DIGITS 20
#define REPAIR_TRIES 2	/* cut at the bad entry; failing that, the bad segment goes whole */

struct repair {
	const char *data_dir, *topic;
	unsigned partition;
	bool apply;
	char dir[REPAIR_PATH_MAX];	/* the partition's log directory */
	char aside[REPAIR_PATH_MAX];	/* where its cut segments go */
	char hot_root[REPAIR_PATH_MAX];	/* DIR/HOT, or "" */
	struct log_config lc;
};

/* DIR/topics/<topic, '/' as %2F>/<partition>. */
static int repair_paths(struct repair *r)
{
	char enc[TOPIC_NAME_MAX * 3 + 1];
	const char *why;
	size_t j = 0;
	int n;

	if (topic_name_check(r->topic, strlen(r->topic), &why) < 0) {
		fprintf(stderr, "fanout-repair: --topic '%s': %s\n", r->topic, why);
		return -1;
	}
	for (const char *p = r->topic; *p; p++) {
		if (*p == '/') {
			memcpy(enc + j, "%2F", 3);
			j += 3;
		} else {
			enc[j++] = *p;
		}
	}
	enc[j] = '\0';
	n = snprintf(r->dir, sizeof(r->dir), "%s/topics/%s/%u", r->data_dir, enc, r->partition);
	if (n < 0 || (size_t)n >= sizeof(r->dir))
		return -1;
	n = snprintf(r->aside, sizeof(r->aside), "%s/quarantine/%s/%u/%lld", r->data_dir, enc,
		     r->partition, (long long)time(NULL));
	return n < 0 || (size_t)n >= sizeof(r->aside) ? -1 : 0;
}

/* The hot root the server used (DIR/HOT), so hot files a killed server left are found. */
static void repair_hot_root(struct repair *r)
{
	char path[REPAIR_PATH_MAX];
	struct stat st;
	FILE *f;

	r->hot_root[0] = '\0';
	snprintf(path, sizeof(path), "%s/HOT", r->data_dir);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(r->hot_root, sizeof(r->hot_root), f))
		r->hot_root[0] = '\0';
	r->hot_root[strcspn(r->hot_root, "\n")] = '\0';
	fclose(f);
	if (stat(r->hot_root, &st) < 0 || !S_ISDIR(st.st_mode))
		r->hot_root[0] = '\0';	/* gone with a clean exit: nothing left in it */
}

/* Refuses to touch a data directory a running fanoutd holds (its DIR/LOCK). */
static int repair_lock(const struct repair *r)
{
	char path[REPAIR_PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/LOCK", r->data_dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "fanout-repair: %s is in use by a running fanoutd: stop it first\n",
			r->data_dir);
		close(fd);
		return -1;
	}
	return 0;	/* held until exit: no server starts meanwhile */
}

/* The base offset in a segment file's name, or -1 when path is not one of dir's. */
static int repair_base(const struct repair *r, const char *path, uint64_t *base)
{
	size_t dl = strlen(r->dir);
	const char *name = path + dl + 1;

	if (strncmp(path, r->dir, dl) != 0 || path[dl] != '/' ||
	    strlen(name) != REPAIR_SEG_DIGITS + 4 ||
	    strspn(name, "0123456789") != REPAIR_SEG_DIGITS)
		return -1;
	*base = strtoull(name, NULL, 10);
	return 0;
}

/* Opens the partition's log: 0 (healthy, closed again), 1 with *fault, or -errno. */
static int repair_check(struct repair *r, struct log_fault *fault)
{
	struct log *log;
	int rc = log_open_report(&log, r->dir, &r->lc, fault);

	if (rc == -EUCLEAN)
		return 1;
	if (rc < 0)
		return rc;
	printf("fanout-repair: %s: healthy, offsets %" PRIu64 "..%" PRIu64 "\n", r->dir,
	       log_first(log), log_tail(log));
	log_close(log);
	return 0;
}

/* Copies a (sparse) segment file: its data extents, then its size. */
static int repair_copy(const char *src, const char *dst)
{
	static char buf[1 << 16];
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
	struct stat st;
	off_t at, end;

	if (in < 0 || fstat(in, &st) < 0)
		goto done;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0 || ftruncate(out, st.st_size) < 0)
		goto done;
	for (at = lseek(in, 0, SEEK_DATA); at >= 0 && at < st.st_size;
	     at = lseek(in, end, SEEK_DATA)) {
		end = lseek(in, at, SEEK_HOLE);
		for (off_t o = at; o < end;) {
			ssize_t n = pread(in, buf, sizeof(buf) < (size_t)(end - o) ?
					  sizeof(buf) : (size_t)(end - o), o);

			if (n <= 0 || pwrite(out, buf, (size_t)n, o) != n)
				goto done;
			o += n;
		}
	}
	rc = fsync(out);
done:
	if (rc < 0)
		fprintf(stderr, "fanout-repair: copying %s: %s\n", src, strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int repair_mkdir_p(const char *dir)
{
	char path[REPAIR_PATH_MAX];

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0750) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* One segment file from base on: moved aside (later segments, or the bad one whole), or
 * copied aside and left to be cut. */
static int repair_file(const struct repair *r, const char *name, uint64_t seg, uint64_t base,
		       bool whole)
{
	char from[REPAIR_PATH_MAX + 300], to[REPAIR_PATH_MAX + 300];
	bool move = seg > base || whole;

	snprintf(from, sizeof(from), "%s/%s", r->dir, name);
	snprintf(to, sizeof(to), "%s/%s", r->aside, name);
	printf("fanout-repair: %s %s to %s%s\n", r->apply ? (move ? "moved" : "copied") :
	       (move ? "would move" : "would copy"), from, r->aside,
	       move ? "" : " (and cut it at the first bad offset)");
	if (!r->apply)
		return 0;
	if (move ? rename(from, to) : repair_copy(from, to)) {
		fprintf(stderr, "fanout-repair: %s: %s\n", from, strerror(errno));
		return -1;
	}
	return 0;
}

/* Takes the segments from base on out of the log (the one at base only when whole). */
static int repair_cut(struct repair *r, uint64_t base, bool whole)
{
	DIR *d = opendir(r->dir);
	struct dirent *de;
	int rc = 0;

	if (!d || (r->apply && repair_mkdir_p(r->aside) < 0)) {
		fprintf(stderr, "fanout-repair: %s: %s\n", d ? r->aside : r->dir,
			strerror(errno));
		if (d)
			closedir(d);
		return -1;
	}
	while (rc == 0 && (de = readdir(d))) {
		char path[REPAIR_PATH_MAX + 300];
		uint64_t seg;

		snprintf(path, sizeof(path), "%s/%s", r->dir, de->d_name);
		if (repair_base(r, path, &seg) == 0 && seg >= base)
			rc = repair_file(r, de->d_name, seg, base, whole);
	}
	closedir(d);
	if (rc == 0 && !r->apply)
		printf("fanout-repair: nothing changed; run again with --apply to do this\n");
	return rc;
}

static int repair_run(struct repair *r)
{
	struct log_fault f;
	uint64_t base;
	int rc = 0;

	for (int attempt = 0; attempt <= REPAIR_TRIES; attempt++) {
		rc = repair_check(r, &f);
		if (rc <= 0)
			break;
		printf("fanout-repair: %s: %s (offsets from %" PRIu64 " on cannot be read)\n",
		       f.file, f.what, f.offset);
		if (repair_base(r, f.file, &base) < 0) {
			fprintf(stderr, "fanout-repair: the fault is not in one segment's files; "
				"repair by hand (README)\n");
			return 1;
		}
		if (attempt == REPAIR_TRIES) {
			fprintf(stderr, "fanout-repair: still corrupt after cutting; repair by "
				"hand (README)\n");
			break;
		}
		if ((rc = repair_cut(r, base, attempt > 0)) != 0)
			break;
		if (!r->apply)
			return 0;
	}
	return rc < 0 ? 1 : rc;
}

static void repair_usage(FILE *f)
{
	fputs("usage: fanout-repair --data-dir DIR --topic T --partition P [--apply]\n"
	      "Checks a partition's log; if it is corrupt (fanoutd quarantined it), says how it\n"
	      "would cut it at the first bad offset, and with --apply does so, keeping every\n"
	      "segment it cuts under DIR/quarantine/. Stop fanoutd first.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "topic", required_argument, NULL, 't' },
		{ "partition", required_argument, NULL, 'p' },
		{ "apply", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct repair r = { .lc = { .segment_bytes = LOG_SEGMENT_BYTES_DEFAULT } };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			r.data_dir = optarg;
		else if (c == 't')
			r.topic = optarg;
		else if (c == 'p')
			r.partition = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'a')
			r.apply = true;
		else {
			repair_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (!r.data_dir || !r.topic || optind != argc || repair_paths(&r) < 0) {
		repair_usage(stderr);
		return 2;
	}
	if (repair_lock(&r) < 0)
		return 1;
	repair_hot_root(&r);
	r.lc.hot_root = r.hot_root[0] ? r.hot_root : NULL;
	r.lc.data_root = r.data_dir;
	return repair_run(&r);
}
