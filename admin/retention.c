/* admin/retention.c — topic retention: the policy, and the pass (see retention.h).
 *
 * Each pass, per partition: core/log_retain.h's plan says which whole sealed segments
 * are out of the topic's policy; with --retention-mode subscriptions_win, none that a
 * named subscription's cursor has not passed (its file's acked offset); by default
 * (retention_wins) they go anyway and such a subscription is told of the gap (a Gap
 * message) when it gets there. log_retire deletes their files at once; their memory goes
 * (log_reclaim) once every reactor's sends from before have finished: the pass asks the
 * reactors for a grace generation (core/reactor.h) and reclaims at a later pass. */
#include "admin/retention.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/log.h"
#include "core/clock.h"
#include "core/epoch.h"
#include "core/log_retain.h"
#include "net/named.h"
#include "net/server.h"


static int retention_item(const char *s, size_t n, int64_t *ns, uint64_t *bytes,
			  const char **why)
{
	static const struct {
		const char *unit;
		int64_t ns;
		uint64_t bytes;
	} units[] = {
		{ "s", 1000000000ll, 0 }, { "m", 60000000000ll, 0 }, { "h", 3600000000000ll, 0 },
		{ "d", 86400000000000ll, 0 }, { "w", 604800000000000ll, 0 },
		{ "KB", 0, 1ull << 10 }, { "MB", 0, 1ull << 20 }, { "GB", 0, 1ull << 30 },
		{ "TB", 0, 1ull << 40 },
	};
	size_t digits = 0;
	uint64_t v = 0;

	while (digits < n && isdigit((unsigned char)s[digits])) {
		if (v > UINT64_MAX / 10 / (1ull << 40)) {
			*why = "a retention bound is too large";
			return -EINVAL;
		}
		v = v * 10 + (uint64_t)(s[digits++] - '0');
	}
	if (digits == 0 || v == 0) {
		*why = "a retention bound is a positive number with a unit (s m h d w KB MB GB TB)";
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].unit) != n - digits ||
		    memcmp(units[i].unit, s + digits, n - digits) != 0)
			continue;
		if (units[i].bytes && v > UINT64_MAX / units[i].bytes) {
			*why = "a retention size is too large";
			return -EINVAL;
		}
		if (units[i].ns) {
			if (*ns || v > (uint64_t)INT64_MAX / (uint64_t)units[i].ns) {
				*why = *ns ? "at most one time bound" :
				       "a retention time is too long";
				return -EINVAL;
			}
			*ns = (int64_t)v * units[i].ns;
		} else {
			if (*bytes) {
				*why = "at most one size bound";
				return -EINVAL;
			}
			*bytes = v * units[i].bytes;
		}
		return 0;
	}
	*why = "a retention unit is s, m, h, d, w, KB, MB, GB or TB";
	return -EINVAL;
}

int retention_parse(const char *policy, int64_t *ns, uint64_t *bytes, const char **why)
{
	size_t n = strlen(policy);

	*ns = 0;
	*bytes = 0;
	if (strcmp(policy, "infinite") == 0)
		return 0;
	if (n == 0 || n > RETENTION_POLICY_MAX) {
		*why = "a retention policy is \"infinite\" or 1..50 bytes of bounds";
		return -EINVAL;
	}
	for (const char *p = policy; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (retention_item(p, len, ns, bytes, why) < 0)
			return -EINVAL;
		p += len + (comma ? 1 : 0);
		if (comma && !*p) {
			*why = "a retention policy does not end with a comma";
			return -EINVAL;
		}
	}
	return 0;
}

void retention_apply(struct topic *tp, const char *policy)
{
	int64_t ns;
	uint64_t bytes;
	const char *why;

	if (retention_parse(policy, &ns, &bytes, &why) < 0) {	/* an older server's */
		admin_log(ADMIN_LOG_WARN, "topic %s: retention policy '%s' is not valid (%s); "
			  "it keeps everything until the policy is set again", tp->name, policy,
			  why);
		ns = 0;
		bytes = 0;
	}
	atomic_store_explicit(&tp->retention_ns, ns, memory_order_relaxed);
	atomic_store_explicit(&tp->retention_bytes, bytes, memory_order_relaxed);
}

/* subscriptions_win: the oldest acked offset of partition p over tp's named
 * subscriptions (their files), UINT64_MAX when none. */
static uint64_t retention_cursors(struct admin *a, const struct topic *tp, uint32_t p)
{
	char dir[1100], path[1400];
	uint64_t oldest = UINT64_MAX;
	struct dirent *de;
	DIR *d;

	if (topic_path(a->topics, tp, dir, sizeof(dir)) < 0)
		return 0;	/* keep everything */
	strncat(dir, "/subscriptions", sizeof(dir) - strlen(dir) - 1);
	if (!(d = opendir(dir)))
		return UINT64_MAX;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		uint64_t acked;
		int fd;

		if (n <= 4 || strcmp(de->d_name + n - 4, ".cur") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		acked = named_file_acked(fd, tp->partitions, p);
		close(fd);
		oldest = acked < oldest ? acked : oldest;
	}
	closedir(d);
	return oldest;
}

/* The grace generation every reactor has passed. */
static uint64_t retention_grace_done(const struct admin *a)
{
	uint64_t done = UINT64_MAX;

	for (uint32_t r = 0; r < a->eng->n; r++) {
		uint64_t d = atomic_load_explicit(&a->eng->servers[r]->reactor.grace_done,
						  memory_order_acquire);

		done = d < done ? d : done;
	}
	return done;
}

static void retention_partition(struct admin *a, struct topic *tp, uint32_t p, int64_t now)
{
	struct log *log = tp->part[p].log;
	int64_t keep_ns = atomic_load_explicit(&tp->retention_ns, memory_order_relaxed);
	uint64_t keep_bytes = atomic_load_explicit(&tp->retention_bytes, memory_order_relaxed);
	uint64_t before, first;
	int n;

	if (!log || (!keep_ns && !keep_bytes))
		return;
	first = log_first(log);
	before = log_retain_plan(log, keep_ns ? now - keep_ns : 0, keep_bytes);
	if (before > first && a->cfg->retention_subscriptions_win) {
		uint64_t c = retention_cursors(a, tp, p);

		before = c < before ? c : before;
	}
	if (before <= first)
		return;
	n = log_retire(log, before, a->grace_want + 1);
	if (n > 0) {
		a->retention_pending = true;
		if (!a->cfg->quiet)
			admin_log(ADMIN_LOG_INFO, "topic %s partition %u: retention deleted %d "
				  "segments, offsets %llu..%llu", tp->name, p, n,
				  (unsigned long long)first,
				  (unsigned long long)log_first(log) - 1);
	}
}

/* Releases the memory of retired segments whose grace has passed; asks for the next
 * generation while some wait. */
static void retention_reclaim(struct admin *a, struct topic **list, uint32_t n)
{
	uint64_t done = retention_grace_done(a);
	bool pending = false, synced = false;

	for (uint32_t i = 0; i < n; i++) {
		struct topic *tp = list[i];

		for (uint32_t p = 0; !tp->removed && p < tp->partitions; p++) {
			struct log *log = tp->part[p].log;

			if (!log || !log_reclaim_pending(log))
				continue;
			if (log->reclaim_gen <= done && !synced) {
				epoch_synchronize();	/* turns that read the old first end */
				synced = true;
			}
			(void)log_reclaim(log, done);
			pending = pending || log_reclaim_pending(log);
		}
	}
	a->retention_pending = pending;
	if (pending && done >= a->grace_want) {	/* the next generation, on every reactor */
		a->grace_want++;
		for (uint32_t r = 0; r < a->eng->n; r++)
			atomic_store_explicit(&a->eng->servers[r]->reactor.grace_want,
					      a->grace_want, memory_order_release);
	}
}

void retention_poll(struct admin *a, int64_t now_ns)
{
	int64_t now = clock_realtime_ns();
	struct topic **list, *one;
	uint32_t n, cap;

	/* Not before the store's policies are in force: a topic's default would decide. */
	if (!a->retention_ready || (now_ns < a->retention_next_ns && !a->retention_pending))
		return;
	cap = topic_table_list(a->topics, &one, 0) + 16;	/* every topic, each pass */
	if (!(list = malloc(cap * sizeof(*list))))
		return;	/* the next pass */
	n = topic_table_list(a->topics, list, cap);
	n = n < cap ? n : cap;
	if (now_ns >= a->retention_next_ns) {
		a->retention_next_ns = now_ns + (int64_t)RETENTION_PASS_MS * 1000000;
		for (uint32_t i = 0; i < n; i++)
			for (uint32_t p = 0; !list[i]->removed && p < list[i]->partitions; p++)
				retention_partition(a, list[i], p, now);
	}
	if (a->retention_pending)
		retention_reclaim(a, list, n);
	free(list);
}
