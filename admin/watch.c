/* admin/watch.c — see watch.h. */
#include "admin/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/live.h"
#include "admin/log.h"
#include "admin/retention.h"
#include "admin/sampler.h"

#define WATCH_PAGES_MAX 1024u	/* topics read per look: STORE_LIST_MAX a page */

typedef char watch_name[TOPIC_NAME_MAX + 1];

static int watch_name_cmp(const void *x, const void *y)
{
	return strcmp(x, y);
}

static bool watch_has(watch_name *names, uint32_t n, const char *name)
{
	return names && bsearch(name, names, n, sizeof(*names), watch_name_cmp);
}

void watch_store_up(struct admin *a)
{
	struct admin_watch *w = &a->watch;
	struct store_changes c;

	w->topics_seen = w->rules_seen = false;
	w->next_ns = 0;
	if (a->store.kind != STORE_PG || store_changes_read(&a->store, &c) != STORE_OK)
		return;	/* the next look applies the rules again */
	w->seen.rules = c.rules;
	w->rules_seen = true;
}

/* Every stored topic (paged; bounded), *out malloc'd. Returns 0, or -1 (store or
 * memory: the next look tries again). */
static int watch_read_topics(struct admin *a, struct store_topic **out, uint32_t *n)
{
	char after[TOPIC_NAME_MAX + 1] = "";
	struct store_topic *all = NULL, *rows, *grown;
	uint32_t got, pages = 0;

	*n = 0;
	do {
		if (store_topics_list(&a->store, after, STORE_LIST_MAX, &rows, &got) != STORE_OK)
			return free(all), -1;
		grown = got ? realloc(all, (size_t)(*n + got) * sizeof(*all)) : all;
		if (!grown)
			return free(rows), free(all), -1;
		all = grown;
		if (got) {
			memcpy(all + *n, rows, (size_t)got * sizeof(*rows));
			snprintf(after, sizeof(after), "%s", rows[got - 1].name);
		}
		*n += got;
		free(rows);
	} while (got == STORE_LIST_MAX && ++pages < WATCH_PAGES_MAX);
	*out = all;
	return 0;
}

/* A topic gone from the store since the last look: deleted here too, the way REST
 * DELETE does it. Returns 0, or -1 when it must be tried again. */
static int watch_topic_gone(struct admin *a, const char *name)
{
	struct topic *tp = admin_topic_find(a, name);
	uint32_t ended = 0;
	int rc;

	if (!tp)
		return 0;	/* deleted here as well, or never made here */
	if (a->ndrops == TOPIC_REMOVING_MAX)
		return -1;	/* deletions still completing */
	sampler_topic_stored(a, tp, false);
	rc = live_topic_delete(a, tp, &ended);
	if (rc < 0 && rc != -ETIMEDOUT) {
		admin_log(ADMIN_LOG_ERROR, "store: topic %s was deleted on another node but "
			  "cannot be removed here: %s", name, strerror(-rc));
		return 0;	/* out of the table or not: not retried every second */
	}
	a->watch.topics_deleted++;
	admin_log(ADMIN_LOG_INFO, "store: topic %s was deleted on another node; deleted here "
		  "(%u subscriptions ended)", name, ended);
	return 0;
}

/* What a topic has in force, to tell whether applying the store changed anything. */
struct watch_settings {
	bool disabled;
	uint8_t priority;
	int64_t retention_ns;
	uint64_t retention_bytes;
};

static struct watch_settings watch_settings_of(const struct topic *tp)
{
	return (struct watch_settings){ .disabled = topic_disabled(tp),
					.priority = topic_priority(tp),
					.retention_ns = atomic_load(&tp->retention_ns),
					.retention_bytes = atomic_load(&tp->retention_bytes) };
}

/* A stored topic: made here when missing, its settings put in force. Returns 0, or -1
 * when it must be tried again. */
static int watch_topic(struct admin *a, const struct store_topic *t)
{
	struct topic *tp = admin_topic_find(a, t->name);
	struct watch_settings was, now;
	bool made = false;
	int rc;

	if (!tp) {
		rc = topic_create(a->topics, t->name, strlen(t->name), t->partitions, &tp);
		if (rc == -EBUSY)
			return -1;	/* a topic of that name is being deleted here */
		if (rc < 0 && !(rc == -EEXIST && (tp = admin_topic_find(a, t->name)))) {
			admin_log(ADMIN_LOG_ERROR, "store: topic %s (made on another node) cannot "
				  "be made here: %s", t->name, strerror(-rc));
			return 0;
		}
		made = rc == 0;
	}
	was = watch_settings_of(tp);
	/* The same three settings REST PUT applies; the partition count stays the one on
	 * disk (a live topic's cannot change). */
	atomic_store(&tp->disabled, !t->enabled);
	atomic_store(&tp->priority, t->priority);
	retention_apply(tp, t->retention_policy);
	sampler_topic_stored(a, tp, true);
	now = watch_settings_of(tp);
	if (made) {
		a->watch.topics_created++;
		admin_log(ADMIN_LOG_INFO, "store: topic %s was made on another node; made here "
			  "(%u partitions)", t->name, tp->partitions);
	} else if (was.disabled != now.disabled || was.priority != now.priority ||
		   was.retention_ns != now.retention_ns ||
		   was.retention_bytes != now.retention_bytes) {
		a->watch.topics_updated++;
		admin_log(ADMIN_LOG_INFO, "store: topic %s was changed on another node: enabled "
			  "%d, priority %u, retention %s", t->name, !now.disabled, now.priority,
			  t->retention_policy);
	}
	return 0;
}

/* Applies the store's topics. Returns 0 when all of it is in force, -1 when something
 * is to be tried again. */
static int watch_topics(struct admin *a)
{
	struct admin_watch *w = &a->watch;
	struct store_topic *rows = NULL;
	watch_name *next;
	uint32_t n, nnext = 0;
	int rc = 0;

	if (watch_read_topics(a, &rows, &n) < 0)
		return -1;
	next = calloc((size_t)n + w->nknown + 1, sizeof(*next));
	if (!next)
		return free(rows), -1;
	for (uint32_t i = 0; i < n; i++)
		memcpy(next[nnext++], rows[i].name, sizeof(*next));
	/* strcmp's order, not the database collation's. */
	qsort(next, nnext, sizeof(*next), watch_name_cmp);
	for (uint32_t i = 0; i < w->nknown; i++) {	/* deletions first: a name may return */
		if (watch_has(next, n, w->known[i]) || watch_topic_gone(a, w->known[i]) == 0)
			continue;
		memcpy(next[nnext++], w->known[i], sizeof(*next));	/* still known */
		rc = -1;
	}
	for (uint32_t i = 0; i < n; i++)
		if (watch_topic(a, &rows[i]) < 0)
			rc = -1;
	free(rows);
	qsort(next, nnext, sizeof(*next), watch_name_cmp);
	free(w->known);
	w->known = next;
	w->nknown = nnext;
	return rc;
}

/* Rebuilds the rules. Returns 0 when in force or when they do not compile (logged: the
 * ones in force stay until the next change), -1 when the store failed. */
static int watch_rules(struct admin *a)
{
	char err[RULES_ERROR_BYTES + 512];

	if (live_rules_reload(a, err, sizeof(err)) == 0) {
		a->watch.rules_reloads++;
		if (!a->cfg->quiet)
			admin_log(ADMIN_LOG_INFO, "store: routing rules changed; %u in force (%u "
				  "enabled)", a->rules_n, a->rules_enabled);
		return 0;
	}
	if (!a->store.up)
		return -1;
	admin_log(ADMIN_LOG_ERROR, "store: the changed routing rules are not put in force: %s; "
		  "the previous ones stay", err);
	return 0;
}

void watch_poll(struct admin *a, int64_t now_ns)
{
	struct admin_watch *w = &a->watch;
	struct store_changes c;

	if (a->store.kind != STORE_PG || !a->store.up || !a->synced_once || now_ns < w->next_ns)
		return;
	w->next_ns = now_ns + WATCH_LOOK_NS;
	if (store_changes_read(&a->store, &c) != STORE_OK) {
		if (!w->failed_logged)
			admin_log(ADMIN_LOG_WARN, "store: other nodes' changes cannot be read: %s; "
				  "trying again", a->store.err);
		w->failed_logged = true;
		return;
	}
	w->failed_logged = false;
	/* Topics before rules: a new rule may route to a new topic. */
	if ((!w->topics_seen || c.topics != w->seen.topics) && watch_topics(a) == 0) {
		w->seen.topics = c.topics;
		w->topics_seen = true;
	}
	if ((!w->rules_seen || c.rules != w->seen.rules) && watch_rules(a) == 0) {
		w->seen.rules = c.rules;
		w->rules_seen = true;
	}
}

void watch_forget(struct admin *a, const char *name)
{
	struct admin_watch *w = &a->watch;
	watch_name *at = w->known ? bsearch(name, w->known, w->nknown, sizeof(*w->known),
					    watch_name_cmp) : NULL;

	if (!at)
		return;
	memmove(at, at + 1, (size_t)(w->known + w->nknown - (at + 1)) * sizeof(*at));
	w->nknown--;
}

bool watch_knows(const struct admin *a, const char *name)
{
	return watch_has(a->watch.known, a->watch.nknown, name);
}

void watch_free(struct admin *a)
{
	free(a->watch.known);
	a->watch.known = NULL;
	a->watch.nknown = 0;
}
