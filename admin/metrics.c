/* admin/metrics.c — see metrics.h. */
#include "admin/metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/admin.h"
#include "net/server.h"
#include "core/log.h"
#include "fanout_version.h"

struct mbuf {
	char *p;
	size_t len, cap;
	bool failed;
	bool truncated;
};

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		char *grown = realloc(b->p, b->cap * 2 + (size_t)n);

		if (!grown) {
			b->failed = true;
			return;
		}
		b->p = grown;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

size_t metrics_escape(const char *v, char *buf, size_t cap)
{
	size_t o = 0;

	for (; *v && o + 3 < cap; v++) {
		if (*v == '\\' || *v == '"') {
			buf[o++] = '\\';
			buf[o++] = *v;
		} else if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
	return o;
}

static void mb_family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_process(struct mbuf *b, const struct admin *a)
{
	long page = sysconf(_SC_PAGESIZE), size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	struct rusage ru;
	unsigned fds = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	while (d && (de = readdir(d)))
		fds += de->d_name[0] != '.';
	if (d)
		closedir(d);
	getrusage(RUSAGE_SELF, &ru);
	mb_family(b, "process_resident_memory_bytes", "gauge", "Resident memory.");
	mb_printf(b, "process_resident_memory_bytes %ld\n", rss * page);
	mb_family(b, "process_open_fds", "gauge", "Open file descriptors.");
	mb_printf(b, "process_open_fds %u\n", fds ? fds - 1 : 0);	/* less the walk's own */
	mb_family(b, "process_cpu_seconds_total", "counter", "User and system CPU time.");
	mb_printf(b, "process_cpu_seconds_total %.6f\n",
		  (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	mb_family(b, "process_start_time_seconds", "gauge", "Start time, Unix seconds.");
	mb_printf(b, "process_start_time_seconds %.3f\n", (double)a->start_real_ns / 1e9);
	mb_family(b, "fanout_build_info", "gauge", "The server's version (always 1).");
	mb_printf(b, "fanout_build_info{version=\"%s\"} 1\n", FANOUT_VERSION);
}

/* One per-reactor family: the value of field f of each reactor's stats. */
#define REACTOR_FAMILY(name, type, help, expr)                                         \
	do {                                                                            \
		mb_family(b, name, type, help);                                         \
		for (uint32_t r = 0; r < a->eng->n; r++) {                              \
			const struct net_stats *st = &a->eng->servers[r]->stats;        \
			mb_printf(b, name "{reactor=\"%u\"} %s\n", r, expr);            \
		}                                                                       \
	} while (0)

static const char *num(char *buf, uint64_t v)
{
	snprintf(buf, 24, "%llu", (unsigned long long)v);
	return buf;
}

static const char *secs(char *buf, uint64_t ns)
{
	snprintf(buf, 24, "%.6f", (double)ns / 1e9);
	return buf;
}

static void metrics_reactors(struct mbuf *b, const struct admin *a)
{
	char v[24];

	mb_family(b, "fanout_reactors", "gauge", "Reactor threads.");
	mb_printf(b, "fanout_reactors %u\n", a->eng->n);
	REACTOR_FAMILY("fanout_reactor_events_in_total", "counter",
		       "Events appended to the partitions the reactor owns.",
		       num(v, net_stat_get(&st->events_in)));
	REACTOR_FAMILY("fanout_reactor_batches_accepted_total", "counter",
		       "Publish batches accepted from the reactor's connections.",
		       num(v, net_stat_get(&st->batches_in)));
	REACTOR_FAMILY("fanout_reactor_batches_rejected_total", "counter",
		       "Publish batches refused for bad input.",
		       num(v, net_stat_get(&st->batches_rejected)));
	REACTOR_FAMILY("fanout_reactor_deliveries_total", "counter",
		       "Event frames gathered for subscribers (sockets and rings).",
		       num(v, net_stat_get(&st->deliveries)));
	REACTOR_FAMILY("fanout_reactor_sent_bytes_total", "counter",
		       "Bytes the kernel took from the reactor's sends.",
		       num(v, net_stat_get(&st->bytes_sent)));
	REACTOR_FAMILY("fanout_reactor_sends_total", "counter", "sendmsg submissions.",
		       num(v, net_stat_get(&st->sends)));
	REACTOR_FAMILY("fanout_reactor_wakeups_total", "counter",
		       "Wake-ups received from other reactors and the admin thread.",
		       num(v, net_stat_get(&st->wakeups)));
	REACTOR_FAMILY("fanout_reactor_turns_total", "counter", "Loop turns.",
		       num(v, net_stat_get(&st->turns)));
	REACTOR_FAMILY("fanout_reactor_wait_seconds_total", "counter",
		       "Time inside io_uring_enter (submitting and sleeping); the rest of the "
		       "loop's time is work.", secs(v, net_stat_get(&st->wait_ns)));
	REACTOR_FAMILY("fanout_reactor_connections", "gauge", "Open connections.",
		       num(v, net_stat_get(&st->connections)));
	mb_family(b, "fanout_reactor_busy_ratio", "gauge",
		  "Share of the last second the reactor spent working (not waiting).");
	for (uint32_t r = 0; a->cur.reactors && r < a->eng->n; r++)
		mb_printf(b, "fanout_reactor_busy_ratio{reactor=\"%u\"} %.4f\n", r,
			  a->cur.reactors[r].busy);
}

/* Partition families from the latest sample; lab holds each series' labels. */
static void metrics_partitions(struct mbuf *b, const struct admin *a)
{
	static const struct { const char *name, *type, *help; } fam[] = {
		{ "fanout_partition_events_in_total", "counter", "Events appended since start." },
		{ "fanout_partition_bytes_in_total", "counter", "Frame bytes appended since start." },
		{ "fanout_partition_events_out_total", "counter", "Event frames delivered since start." },
		{ "fanout_partition_bytes_out_total", "counter", "Frame bytes delivered since start." },
		{ "fanout_partition_stored_bytes", "gauge", "Frame and index bytes in the log." },
		{ "fanout_partition_next_offset", "gauge", "The offset the next event gets." },
		{ "fanout_partition_segments", "gauge", "Log segments." },
	};
	char topic[TOPIC_NAME_MAX * 2 + 1];

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		uint32_t series = 0;

		mb_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (uint32_t i = 0; i < a->cur.ntopics; i++) {
			const struct admin_topic_sample *ts = &a->cur.topics[i];

			metrics_escape(ts->tp->name, topic, sizeof(topic));
			for (uint32_t p = 0; p < ts->tp->partitions; p++) {
				const struct admin_part_sample *ps = &ts->parts[p];
				uint64_t v[] = { ps->in_events, ps->in_bytes, ps->out_events,
						 ps->out_bytes, ps->bytes + (ps->next - ps->first) *
						 sizeof(struct log_entry), ps->next, ps->segments };

				if (series++ == METRICS_SERIES_MAX) {
					b->truncated = true;
					break;
				}
				mb_printf(b, "%s{topic=\"%s\",partition=\"%u\"} %llu\n", fam[f].name,
					  topic, p, (unsigned long long)v[f]);
			}
		}
	}
}

static void metrics_subs(struct mbuf *b, const struct admin *a)
{
	static const struct { const char *name, *type, *help; } fam[] = {
		{ "fanout_subscription_lag_events", "gauge",
		  "Events between what the subscription was sent and the tail (worst partition)." },
		{ "fanout_subscription_lag_bytes", "gauge", "The same in frame bytes." },
		{ "fanout_subscription_events_out_total", "counter", "Event frames delivered." },
		{ "fanout_subscription_bytes_out_total", "counter", "Frame bytes delivered." },
	};
	char topic[TOPIC_NAME_MAX * 2 + 1];

	mb_family(b, "fanout_subscriptions", "gauge", "Live subscriptions.");
	mb_printf(b, "fanout_subscriptions %u\n", a->cur.nsubs);
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		mb_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (uint32_t i = 0; i < a->cur.nsubs && i < METRICS_SERIES_MAX; i++) {
			const struct admin_sub_sample *s = &a->cur.subs[i];
			uint64_t v[] = { s->info.lag_events, s->info.lag_bytes, s->info.delivered,
					 s->info.stats.bytes_out };

			metrics_escape(s->info.topic->name, topic, sizeof(topic));
			mb_printf(b, "%s{topic=\"%s\",subscription=\"%s\"} %llu\n", fam[f].name,
				  topic, s->id, (unsigned long long)v[f]);
		}
	}
	b->truncated = b->truncated || a->cur.nsubs > METRICS_SERIES_MAX || a->cur.subs_truncated;
}

static void metrics_admin(struct mbuf *b, const struct admin *a)
{
	static const char *const classes[] = { "", "1xx", "2xx", "3xx", "4xx", "5xx" };
	uint64_t segs = 0;

	for (uint32_t i = 0; i < a->cur.ntopics; i++)
		segs += a->cur.topics[i].total.segments;
	mb_family(b, "fanout_topics", "gauge", "Topics in the server.");
	mb_printf(b, "fanout_topics %u\n", a->cur.ntopics);
	mb_family(b, "fanout_log_segments", "gauge", "Log segments over every partition.");
	mb_printf(b, "fanout_log_segments %llu\n", (unsigned long long)segs);
	mb_family(b, "fanout_topics_deleted_total", "counter", "Topics deleted over the API.");
	mb_printf(b, "fanout_topics_deleted_total %llu\n", (unsigned long long)a->topics_deleted);
	mb_family(b, "fanout_rules", "gauge", "Routing rules in force.");
	mb_printf(b, "fanout_rules{state=\"enabled\"} %u\nfanout_rules{state=\"all\"} %u\n",
		  a->rules_enabled, a->rules_n);
	mb_family(b, "fanout_rules_swaps_total", "counter", "Rule sets put in force.");
	mb_printf(b, "fanout_rules_swaps_total %llu\n", (unsigned long long)a->rules_swaps);
	mb_family(b, "fanout_store_up", "gauge", "1 when the command-side store answers.");
	mb_printf(b, "fanout_store_up{backend=\"%s\"} %d\n",
		  a->store.kind == STORE_PG ? "postgresql" : "sqlite", a->store.up);
	mb_family(b, "fanout_store_outages_total", "counter", "Times the store went away.");
	mb_printf(b, "fanout_store_outages_total %llu\n", (unsigned long long)a->store.outages);
	mb_family(b, "fanout_stats_rows_queued", "gauge",
		  "distribution_stats rows waiting for the store.");
	mb_printf(b, "fanout_stats_rows_queued %u\n", a->statq.n);
	mb_family(b, "fanout_stats_rows_written_total", "counter", "distribution_stats rows stored.");
	mb_printf(b, "fanout_stats_rows_written_total %llu\n", (unsigned long long)a->statq.written);
	mb_family(b, "fanout_stats_rows_dropped_total", "counter",
		  "Rows dropped because the queue was full while the store was down.");
	mb_printf(b, "fanout_stats_rows_dropped_total %llu\n", (unsigned long long)a->statq.dropped);
	mb_family(b, "fanout_http_responses_total", "counter", "Admin API answers by status class.");
	for (int c = 1; c <= 5; c++)
		mb_printf(b, "fanout_http_responses_total{code=\"%s\"} %llu\n", classes[c],
			  (unsigned long long)a->http_requests[c]);
}

char *metrics_render(struct admin *a, size_t *len)
{
	struct mbuf b = { .cap = 64 << 10 };

	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	metrics_process(&b, a);
	metrics_reactors(&b, a);
	metrics_partitions(&b, a);
	metrics_subs(&b, a);
	metrics_admin(&b, a);
	mb_family(&b, "fanout_metrics_truncated", "gauge",
		  "1 when series were left out (more than the bound).");
	mb_printf(&b, "fanout_metrics_truncated %d\n", b.truncated);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
