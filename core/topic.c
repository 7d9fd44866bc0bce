/* core/topic.c — the topic table and the topics' directories:
 * data_dir/topics/<name, '/' written as "%2F">/<partition>/ holds each partition's log. */
#include "core/topic.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/epoch.h"
#include "core/keyhash.h"
#include "core/headroom.h"


int topic_name_check(const char *name, size_t len, const char **why)
{
	if (len == 0 || len > TOPIC_NAME_MAX) {
		*why = "topic name must be 1..200 bytes";
		return -EINVAL;
	}
	if (name[0] == '/' || name[0] == '.') {
		*why = "topic name must not start with '/' or '.'";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';

		if (!ok) {
			*why = "topic name may only hold letters, digits and . _ - /";
			return -EINVAL;
		}
		if (c == '.' && i + 1 < len && name[i + 1] == '.') {
			*why = "topic name must not contain '..'";
			return -EINVAL;
		}
	}
	return 0;
}

int topic_table_init(struct topic_table *t, const char *data_dir, const struct log_config *lc)
{
	memset(t, 0, sizeof(*t));
	if (strlen(data_dir) >= sizeof(t->data_dir))
		return -ENAMETOOLONG;
	strcpy(t->data_dir, data_dir);
	t->log_config = *lc;
	t->reactors = 1;
	t->latest_keys_max = LATEST_KEYS_DEFAULT;
	pthread_mutex_init(&t->create_lock, NULL);
	/* Seeded from the hash key: topic names clients pick cannot be aimed at one
	 * probe sequence of ck_ht's (public) hash function. */
	if (!ck_ht_init(&t->ht, CK_HT_MODE_BYTESTRING, NULL, &epoch_allocator, 64,
			keyhash_bytes("topics", 6)))
		return -ENOMEM;
	return 0;
}

/* Writes the directory of a topic's partition into buf. */
static int topic_dir(const struct topic_table *t, const char *name, size_t len,
		     int partition, char *buf, size_t cap)
{
	char enc[TOPIC_NAME_MAX * 3 + 1];
	size_t j = 0;
	int n;

	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/') {
			memcpy(enc + j, "%2F", 3);
			j += 3;
		} else {
			enc[j++] = name[i];
		}
	}
	enc[j] = '\0';
	if (partition < 0)
		n = snprintf(buf, cap, "%s/topics/%s", t->data_dir, enc);
	else
		n = snprintf(buf, cap, "%s/topics/%s/%d", t->data_dir, enc, partition);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int topic_path(const struct topic_table *t, const struct topic *tp, char *buf, size_t cap)
{
	return topic_dir(t, tp->name, tp->name_len, -1, buf, cap);
}

struct topic *topic_find(struct topic_table *t, const char *name, size_t len)
{
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	if (len == 0 || len > TOPIC_NAME_MAX)
		return NULL;
	ck_ht_hash(&h, &t->ht, name, (uint16_t)len);
	ck_ht_entry_key_set(&e, name, (uint16_t)len);
	if (!ck_ht_get_spmc(&t->ht, h, &e))
		return NULL;
	return ck_ht_entry_value(&e);
}

/* Frees what a topic's partitions hold (tp itself stays). */
static void topic_free_logs(struct topic *tp)
{
	for (uint32_t i = 0; i < tp->partitions; i++) {
		free((void *)tp->part[i].quarantine);
		if (tp->part[i].latest_ready)
			latest_free(&tp->part[i].latest);
		if (tp->part[i].log)
			log_close(tp->part[i].log);
		free(tp->part[i].out);
		tp->part[i] = (struct topic_partition){ 0 };
	}
}

static void topic_free(struct topic *tp)
{
	topic_free_logs(tp);
	free(tp);
}

/* Says loudly that a partition is quarantined, and what an operator can do. */
static void topic_say_quarantine(const struct topic *tp, uint32_t p, const char *dir,
				 const struct log_fault *f)
{
	fprintf(stderr, "fanoutd: QUARANTINED topic '%s' partition %u: %s: %s; offsets from "
		"%llu on cannot be read. The partition is not served (publishing to it and "
		"subscribing to its topic get PARTITION_QUARANTINED); its files are kept as "
		"found in %s. To repair it see README.md, \"Quarantined partitions\" "
		"(tools/fanout-repair).\n", tp->name, p, f->file, f->what,
		(unsigned long long)f->offset, dir);
}

/* Opens partition i's log. Returns 0, 1 when the log is corrupt (the partition is then
 * quarantined: its fault kept, its files untouched), or -errno. */
static int topic_open_log(struct topic_table *t, struct topic *tp, uint32_t i,
			  const char *dir)
{
	struct log_fault *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	rc = log_open_report(&tp->part[i].log, dir, &t->log_config, f);
	if (rc != -EUCLEAN) {
		free(f);
		return rc;
	}
	tp->part[i].log = NULL;
	tp->part[i].quarantine = f;
	tp->quarantined++;
	topic_say_quarantine(tp, i, dir, f);
	return 1;
}

/* Opens the partition logs of a new topic struct. */
static int topic_open_logs(struct topic_table *t, struct topic *tp)
{
	char dir[1024];
	int rc;

	tp->reactors = t->reactors;
	for (uint32_t i = 0; i < tp->partitions; i++) {
		tp->part[i].out = aligned_alloc(sizeof(struct topic_out),
						t->reactors * sizeof(struct topic_out));
		if (!tp->part[i].out)
			return -ENOMEM;
		memset(tp->part[i].out, 0, t->reactors * sizeof(struct topic_out));
		/* Partitions of one topic go round the reactors from a place its name picks,
		 * so many one-partition topics spread too. */
		tp->part[i].owner = (uint32_t)((keyhash_bytes(tp->name, tp->name_len) + i) %
					       t->reactors);
		rc = topic_dir(t, tp->name, tp->name_len, (int)i, dir, sizeof(dir));
		if (rc < 0)
			return rc;
		rc = topic_open_log(t, tp, i, dir);
		if (rc == 1)
			continue;	/* quarantined: no log, no last-value table */
		if (rc < 0) {
			fprintf(stderr, "fanoutd: topic %s partition %u: log_open %s: %s\n",
				tp->name, i, dir, strerror(-rc));
			return rc;
		}
		rc = latest_init(&tp->part[i].latest, tp->part[i].log, t->latest_keys_max);
		if (rc < 0)
			return rc;
		tp->part[i].latest_ready = true;
		atomic_store_explicit(&tp->part[i].audit_next, log_tail(tp->part[i].log),
				      memory_order_relaxed);
		rc = latest_rebuild(&tp->part[i].latest);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int topic_create_locked(struct topic_table *t, const char *name, size_t len,
			       uint32_t partitions, struct topic **out)
{
	const char *why;
	struct topic *tp;
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	int rc;

	*out = topic_find(t, name, len);
	if (*out)
		return (*out)->partitions == partitions ? 0 : -EEXIST;
	if (topic_name_check(name, len, &why) < 0 || partitions == 0 ||
	    partitions > TOPIC_PARTITIONS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < t->nremoving; i++)
		if (strlen(t->removing[i]) == len && memcmp(t->removing[i], name, len) == 0)
			return -EBUSY;	/* its files are still mapped by the removed one */
	if (t->max && t->count >= t->max)
		return -ENOSPC;
	/* Clients' topics (max is set once recovered and declared ones are open) only while
	 * each partition's steady state fits the process's limits: refused here, clearly,
	 * rather than by a failed open or mmap once it is in use. */
	if (t->max && (rc = headroom_check((uint64_t)partitions * HEADROOM_PARTITION_FDS,
					   (uint64_t)partitions * HEADROOM_PARTITION_MAPS)) < 0)
		return rc;
	tp = calloc(1, sizeof(*tp) + partitions * sizeof(tp->part[0]));
	if (!tp)
		return -ENOMEM;
	memcpy(tp->name, name, len);
	tp->name_len = (uint32_t)len;
	tp->partitions = partitions;
	atomic_store_explicit(&tp->retention_ns, TOPIC_RETENTION_DEFAULT_NS, memory_order_relaxed);
	rc = topic_open_logs(t, tp);
	if (rc < 0)
		goto err;
	ck_ht_hash(&h, &t->ht, tp->name, (uint16_t)len);
	ck_ht_entry_set(&e, h, tp->name, (uint16_t)len, tp);
	if (!ck_ht_put_spmc(&t->ht, h, &e)) {
		rc = -ENOMEM;
		goto err;
	}
	t->count++;
	t->quarantined += tp->quarantined;
	*out = tp;
	return 0;
err:
	topic_free(tp);
	return rc;
}

int topic_create(struct topic_table *t, const char *name, size_t len, uint32_t partitions,
		 struct topic **out)
{
	int rc;

	*out = topic_find(t, name, len);	/* the common case takes no lock */
	if (*out)
		return (*out)->partitions == partitions ? 0 : -EEXIST;
	pthread_mutex_lock(&t->create_lock);
	rc = topic_create_locked(t, name, len, partitions, out);
	pthread_mutex_unlock(&t->create_lock);
	return rc;
}

/* Counts a topic directory's partitions: subdirectories named 0..N-1. */
static uint32_t topic_count_partitions(const char *dir)
{
	char path[1300];
	struct stat st;
	uint32_t n = 0;

	while (n < TOPIC_PARTITIONS_MAX) {
		snprintf(path, sizeof(path), "%s/%u", dir, n);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			break;
		n++;
	}
	return n;
}

/* Decodes a directory name back into a topic name ("%2F" -> '/'). Returns its length. */
static size_t topic_unescape(const char *enc, char *name, size_t cap)
{
	size_t j = 0;

	for (size_t i = 0; enc[i] && j < cap; i++) {
		if (strncmp(enc + i, "%2F", 3) == 0) {
			name[j++] = '/';
			i += 2;
		} else {
			name[j++] = enc[i];
		}
	}
	return j;
}

/* A topic directory's counterpart under the hot root (core/log.h: a log in data_root/X
 * has its hot files in hot_root/X), or "" when hot files live inside the log directory. */
static void topic_hot_of(const struct topic_table *t, const char *dir, char *buf, size_t cap)
{
	const char *hot = t->log_config.hot_root;
	size_t dl = strlen(t->data_dir);

	buf[0] = '\0';
	if (hot && hot[0] && strncmp(dir, t->data_dir, dl) == 0 && dir[dl] == '/')
		snprintf(buf, cap, "%s%s", hot, dir + dl);
}

static bool topic_marked_deleted(const char *dir)
{
	char path[1300];

	snprintf(path, sizeof(path), "%s/%s", dir, TOPIC_DELETED_MARK);
	return access(path, F_OK) == 0;
}

static int topic_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Deletes a directory tree (not following links). Returns 0 or -1 with errno. */
static int topic_rmtree(const char *dir)
{
	return nftw(dir, topic_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int topic_table_recover(struct topic_table *t)
{
	char root[600], dir[1200], name[TOPIC_NAME_MAX + 1];
	struct dirent *de;
	struct topic *tp;
	int rc = 0, opened = 0;
	DIR *d;

	snprintf(root, sizeof(root), "%s/topics", t->data_dir);
	d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t len;
		uint32_t parts;

		if (de->d_name[0] == '.')
			continue;
		len = topic_unescape(de->d_name, name, TOPIC_NAME_MAX);
		snprintf(dir, sizeof(dir), "%s/%s", root, de->d_name);
		if (topic_marked_deleted(dir)) {	/* removed; the process stopped before
							 * deleting the files */
			char hot[1300];

			topic_hot_of(t, dir, hot, sizeof(hot));
			if (hot[0] && topic_rmtree(hot) < 0 && errno != ENOENT)
				fprintf(stderr, "fanoutd: %s: cannot delete a removed topic's hot "
					"files: %s\n", hot, strerror(errno));
			if (topic_rmtree(dir) < 0)
				fprintf(stderr, "fanoutd: %s: cannot delete a removed topic's "
					"files: %s\n", dir, strerror(errno));
			continue;
		}
		parts = topic_count_partitions(dir);
		if (parts == 0)
			continue;
		rc = topic_create(t, name, len, parts, &tp);
		if (rc < 0)
			break;
		opened++;
	}
	closedir(d);
	return rc < 0 ? rc : opened;
}

void topic_table_close(struct topic_table *t)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	while (ck_ht_next(&t->ht, &it, &e))
		topic_free(ck_ht_entry_value(e));
	ck_ht_destroy(&t->ht);
	pthread_mutex_destroy(&t->create_lock);
}

void topic_table_latest_totals(struct topic_table *t, uint32_t owner, struct latest_totals *out)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->create_lock);	/* ck_ht_next wants no writer meanwhile */
	while (ck_ht_next(&t->ht, &it, &e)) {
		const struct topic *tp = ck_ht_entry_value(e);

		for (uint32_t p = 0; p < tp->partitions; p++)
			if (tp->part[p].latest_ready &&
			    (owner >= t->reactors || tp->part[p].owner == owner))
				latest_add_totals(&tp->part[p].latest, out);
	}
	pthread_mutex_unlock(&t->create_lock);
}

/* Writes the .deleted marker into tp's directory. */
static int topic_mark_deleted(const struct topic_table *t, const struct topic *tp)
{
	char dir[1024], path[1100];
	int fd, rc = topic_dir(t, tp->name, tp->name_len, -1, dir, sizeof(dir));

	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, TOPIC_DELETED_MARK);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	/* Durable before the caller reports the deletion: a crash must not resurrect it. */
	rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int topic_remove_locked(struct topic_table *t, struct topic *tp)
{
	ck_ht_entry_t e;
	ck_ht_hash_t h;
	int rc;

	if (tp->removed || topic_find(t, tp->name, tp->name_len) != tp)
		return -ENOENT;
	if (t->nremoving == TOPIC_REMOVING_MAX)
		return -EBUSY;
	rc = topic_mark_deleted(t, tp);
	if (rc < 0)
		return rc;
	ck_ht_hash(&h, &t->ht, tp->name, (uint16_t)tp->name_len);
	ck_ht_entry_key_set(&e, tp->name, (uint16_t)tp->name_len);
	/* Readers probing meanwhile may still compare tp->name: it lives until
	 * topic_destroy, after a grace period. */
	if (!ck_ht_remove_spmc(&t->ht, h, &e))
		return -ENOENT;
	memcpy(t->removing[t->nremoving++], tp->name, tp->name_len + 1);
	tp->removed = true;
	t->count--;
	return 0;
}

int topic_remove(struct topic_table *t, struct topic *tp)
{
	int rc;

	pthread_mutex_lock(&t->create_lock);
	rc = topic_remove_locked(t, tp);
	pthread_mutex_unlock(&t->create_lock);
	return rc;
}

int topic_destroy(struct topic_table *t, struct topic *tp)
{
	char dir[1024], hot[1300];
	int rc;

	assert(tp->removed);
	rc = topic_dir(t, tp->name, tp->name_len, -1, dir, sizeof(dir));
	topic_hot_of(t, dir, hot, sizeof(hot));
	topic_free_logs(tp);	/* unmapped (hot files gone) before the directories go */
	if (rc == 0 && topic_rmtree(dir) < 0)
		rc = -errno;
	if (rc == 0 && hot[0] && topic_rmtree(hot) < 0 && errno != ENOENT)
		rc = -errno;
	pthread_mutex_lock(&t->create_lock);
	for (uint32_t i = 0; i < t->nremoving; i++) {
		if (strcmp(t->removing[i], tp->name) != 0)
			continue;
		memmove(t->removing[i], t->removing[t->nremoving - 1], sizeof(t->removing[i]));
		t->nremoving--;
		break;
	}
	pthread_mutex_unlock(&t->create_lock);
	free(tp);
	return rc;
}

static int topic_name_cmp(const void *a, const void *b)
{
	const struct topic *x = *(struct topic *const *)a, *y = *(struct topic *const *)b;

	return strcmp(x->name, y->name);
}

uint32_t topic_table_list(struct topic_table *t, struct topic **out, uint32_t cap)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;
	uint32_t n = 0;

	pthread_mutex_lock(&t->create_lock);	/* no writer resizes the map under the walk */
	while (ck_ht_next(&t->ht, &it, &e)) {
		if (n < cap)
			out[n] = ck_ht_entry_value(e);
		n++;
	}
	pthread_mutex_unlock(&t->create_lock);
	qsort(out, n < cap ? n : cap, sizeof(*out), topic_name_cmp);
	return n;
}
