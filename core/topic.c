/* core/topic.c — the topic table and the topics' directories:
 * data_dir/topics/<name, '/' written as "%2F">/<partition>/ holds each partition's log. */
#include "core/topic.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/epoch.h"
#include "core/keyhash.h"


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

static void topic_free(struct topic *tp)
{
	for (uint32_t i = 0; i < tp->partitions; i++) {
		if (tp->part[i].latest_ready)
			latest_free(&tp->part[i].latest);
		if (tp->part[i].log)
			log_close(tp->part[i].log);
	}
	free(tp);
}

/* Opens the partition logs of a new topic struct. */
static int topic_open_logs(struct topic_table *t, struct topic *tp)
{
	char dir[1024];
	int rc;

	for (uint32_t i = 0; i < tp->partitions; i++) {
		/* Partitions of one topic go round the reactors from a place its name picks,
		 * so many one-partition topics spread too. */
		tp->part[i].owner = (uint32_t)((keyhash_bytes(tp->name, tp->name_len) + i) %
					       t->reactors);
		rc = topic_dir(t, tp->name, tp->name_len, (int)i, dir, sizeof(dir));
		if (rc < 0)
			return rc;
		rc = log_open(&tp->part[i].log, dir, &t->log_config);
		if (rc < 0) {
			fprintf(stderr, "fanoutd: topic %s partition %u: log_open %s: %s\n",
				tp->name, i, dir, strerror(-rc));
			return rc;
		}
		rc = latest_init(&tp->part[i].latest, tp->part[i].log, t->latest_keys_max);
		if (rc < 0)
			return rc;
		tp->part[i].latest_ready = true;
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
	if (t->max && t->count >= t->max)
		return -ENOSPC;
	tp = calloc(1, sizeof(*tp) + partitions * sizeof(tp->part[0]));
	if (!tp)
		return -ENOMEM;
	memcpy(tp->name, name, len);
	tp->name_len = (uint32_t)len;
	tp->partitions = partitions;
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
