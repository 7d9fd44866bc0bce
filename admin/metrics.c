/* admin/metrics.c — see metrics.h. */
#include "admin/metrics.h"

#include "core/executor.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/latency.h"
#include "admin/ws.h"
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
	REACTOR_FAMILY("fanout_reactor_tls_handshakes_total", "counter",
		       "TLS handshakes finished on the TCP port (--tls-cert).",
		       num(v, net_stat_get(&st->tls_handshakes)));
	REACTOR_FAMILY("fanout_reactor_tls_failures_total", "counter",
		       "TLS connections failed: a refused handshake, a bad record, or none "
		       "within 10 s.", num(v, net_stat_get(&st->tls_failures)));
	mb_family(b, "fanout_reactor_busy_ratio", "gauge",
		  "Share of the last second the reactor spent working (not waiting).");
	for (uint32_t r = 0; a->cur.reactors && r < a->eng->n; r++)
		mb_printf(b, "fanout_reactor_busy_ratio{reactor=\"%u\"} %.4f\n", r,
			  a->cur.reactors[r].busy);
}

/* Decimal bucket bounds, 1 µs to 10 s (1, 2.5, 5 a decade): the histogram's slots are
 * within 6.25 %, so a bound between slot edges counts its slot only when wholly below. */
static const uint64_t metrics_latency_le_ns[] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
	500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

/* One delivery latency class (admin/latency.h) as histogram family `name`, summed over
 * the reactors, since start. */
static void metrics_latency_class(struct mbuf *b, const struct admin *a,
				  enum admin_latency_class cls, const char *name,
				  const char *help)
{
	struct net_latency_snap *s = malloc(sizeof(*s));

	if (!s) {
		b->failed = true;
		return;
	}
	admin_latency_read(a, cls, s);
	mb_family(b, name, "histogram", help);
	for (size_t i = 0; i < sizeof(metrics_latency_le_ns) / sizeof(*metrics_latency_le_ns); i++)
		mb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
			  (double)metrics_latency_le_ns[i] / 1e9,
			  (unsigned long long)net_latency_at_most(s, metrics_latency_le_ns[i]));
	mb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)s->count);
	mb_printf(b, "%s_sum %.9f\n", name, (double)s->sum_ns / 1e9);
	mb_printf(b, "%s_count %llu\n", name, (unsigned long long)s->count);
	free(s);
}

static void metrics_latency(struct mbuf *b, const struct admin *a)
{
	metrics_latency_class(b, a, ADMIN_LATENCY_ALL, "fanout_delivery_latency_seconds",
		"Server receive to send of event frames to subscribers (sockets and rings), "
		"sampled: one frame in " NET_LATENCY_EVERY_S " each reactor gathers.");
	metrics_latency_class(b, a, ADMIN_LATENCY_PRIORITY,
		"fanout_priority_delivery_latency_seconds",
		"The same for frames of topics with a priority above 0 only, sampled apart: one "
		"in " NET_LATENCY_EVERY_S " of those.");
}

/* Each reactor's memory budget (core/budget.h, --reactor-memory-bytes) and the last-value
 * tables (--latest-keys-max): what clients make the server hold, against its bounds. */
static void metrics_memory(struct mbuf *b, const struct admin *a)
{
	struct latest_totals lt;

	mb_family(b, "fanout_reactor_memory_limit_bytes", "gauge",
		  "The reactor's budget for client-caused memory (--reactor-memory-bytes).");
	for (uint32_t r = 0; r < a->eng->n; r++)
		mb_printf(b, "fanout_reactor_memory_limit_bytes{reactor=\"%u\"} %llu\n", r,
			  (unsigned long long)net_server_budget(a->eng->servers[r])->limit);
	mb_family(b, "fanout_reactor_memory_used_bytes", "gauge",
		  "Budgeted memory in use, by what it holds.");
	for (uint32_t r = 0; r < a->eng->n; r++) {
		const struct budget *bg = net_server_budget(a->eng->servers[r]);

		for (int k = 0; k < BUDGET_KINDS; k++)
			mb_printf(b, "fanout_reactor_memory_used_bytes{reactor=\"%u\",kind=\"%s\"} "
				  "%llu\n", r, budget_kind_name((enum budget_kind)k),
				  (unsigned long long)budget_read(&bg->used_by[k]));
	}
	mb_family(b, "fanout_reactor_memory_peak_bytes", "gauge",
		  "Highest budgeted memory in use since start.");
	for (uint32_t r = 0; r < a->eng->n; r++)
		mb_printf(b, "fanout_reactor_memory_peak_bytes{reactor=\"%u\"} %llu\n", r,
			  (unsigned long long)budget_read(&net_server_budget(a->eng->servers[r])->peak));
	mb_family(b, "fanout_reactor_memory_refused_total", "counter",
		  "Growths the budget refused (RESOURCE_EXHAUSTED, or a ring left to scan).");
	for (uint32_t r = 0; r < a->eng->n; r++)
		mb_printf(b, "fanout_reactor_memory_refused_total{reactor=\"%u\"} %llu\n", r,
			  (unsigned long long)budget_read(
				  &net_server_budget(a->eng->servers[r])->refused));
	mb_family(b, "fanout_reactor_connections_cut_total", "counter",
		  "Connections cut for memory: an input or answer growth refused (budget), or a "
		  "partial frame past --frame-deadline-ms (deadline).");
	for (uint32_t r = 0; r < a->eng->n; r++) {
		const struct budget *bg = net_server_budget(a->eng->servers[r]);

		mb_printf(b, "fanout_reactor_connections_cut_total{reactor=\"%u\",reason=\"budget\"} "
			  "%llu\n", r, (unsigned long long)budget_read(&bg->budget_cuts));
		mb_printf(b, "fanout_reactor_connections_cut_total{reactor=\"%u\","
			  "reason=\"deadline\"} %llu\n", r,
			  (unsigned long long)budget_read(&bg->deadline_cuts));
	}
	topic_table_latest_totals(a->topics, UINT32_MAX, &lt);
	mb_family(b, "fanout_latest_keys", "gauge",
		  "Keys in the last-value tables (snapshots), over every partition.");
	mb_printf(b, "fanout_latest_keys %llu\n", (unsigned long long)lt.keys);
	mb_family(b, "fanout_latest_bytes", "gauge", "Memory of the last-value tables.");
	mb_printf(b, "fanout_latest_bytes %llu\n", (unsigned long long)lt.bytes);
	mb_family(b, "fanout_latest_evictions_total", "counter",
		  "Keys evicted from a last-value table at --latest-keys-max.");
	mb_printf(b, "fanout_latest_evictions_total %llu\n", (unsigned long long)lt.evictions);
	mb_family(b, "fanout_latest_collisions_total", "counter",
		  "Updates whose keyed hash matched another key's (told apart by bytes).");
	mb_printf(b, "fanout_latest_collisions_total %llu\n", (unsigned long long)lt.collisions);
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

/* The executor's syncs (--fsync). */
static void metrics_sync(struct mbuf *b, const struct executor *x)
{
	static const char *const modes[] = { "never", "interval", "batch" };

	if (!x)
		return;
	mb_family(b, "fanout_log_fsync_mode", "gauge", "1 for the --fsync mode in force.");
	for (int m = 0; m < 3; m++)
		mb_printf(b, "fanout_log_fsync_mode{mode=\"%s\"} %d\n", modes[m], x->fsync == m);
	mb_family(b, "fanout_log_syncs_total", "counter",
		  "fdatasync calls in the executor's group syncs (two per log; sealed segments' own not counted).");
	mb_printf(b, "fanout_log_syncs_total %llu\n",
		  (unsigned long long)atomic_load_explicit(&x->syncs, memory_order_relaxed));
	mb_family(b, "fanout_log_sync_failures_total", "counter",
		  "Log syncs the disk refused (the log is written again from memory).");
	mb_printf(b, "fanout_log_sync_failures_total %llu\n",
		  (unsigned long long)atomic_load_explicit(&x->sync_failures, memory_order_relaxed));
	mb_family(b, "fanout_log_sync_seconds_total", "counter",
		  "Time the executor spent waiting for syncs.");
	mb_printf(b, "fanout_log_sync_seconds_total %.6f\n",
		  (double)atomic_load_explicit(&x->sync_ns, memory_order_relaxed) / 1e9);
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
	metrics_sync(b, a->topics->log_config.executor);
	mb_family(b, "fanout_topics_deleted_total", "counter", "Topics deleted over the API.");
	mb_printf(b, "fanout_topics_deleted_total %llu\n", (unsigned long long)a->topics_deleted);
	mb_family(b, "fanout_rules", "gauge", "Routing rules in force.");
	mb_printf(b, "fanout_rules{state=\"enabled\"} %u\nfanout_rules{state=\"all\"} %u\n",
		  a->rules_enabled, a->rules_n);
	mb_family(b, "fanout_rules_swaps_total", "counter", "Rule sets put in force.");
	mb_printf(b, "fanout_rules_swaps_total %llu\n", (unsigned long long)a->rules_swaps);
	mb_family(b, "fanout_node_info", "gauge", "This server's --node-id (label), always 1.");
	mb_printf(b, "fanout_node_info{node=\"%s\"} 1\n", a->node_id);	/* no '"' or '\\' */
	mb_family(b, "fanout_store_changes_applied_total", "counter",
		  "Other nodes' changes put in force here (PostgreSQL store).");
	mb_printf(b, "fanout_store_changes_applied_total{change=\"topic_created\"} %llu\n"
		  "fanout_store_changes_applied_total{change=\"topic_updated\"} %llu\n"
		  "fanout_store_changes_applied_total{change=\"topic_deleted\"} %llu\n"
		  "fanout_store_changes_applied_total{change=\"rules_reloaded\"} %llu\n",
		  (unsigned long long)a->watch.topics_created,
		  (unsigned long long)a->watch.topics_updated,
		  (unsigned long long)a->watch.topics_deleted,
		  (unsigned long long)a->watch.rules_reloads);
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

static uint64_t metrics_audit_lost(const struct admin *a)
{
	uint64_t n = 0;

	for (uint32_t r = 0; r < a->eng->n; r++)
		n += net_stat_get(&a->eng->audit[r].lost);
	return n;
}

/* The data API's index (admin/dataidx.h), the Redis cache and the audit trail. */
static void metrics_data(struct mbuf *b, const struct admin *a)
{
	static const char *const kinds[DIDX_KINDS] = { "symbol", "instrument", "order", "fill",
						       "portfolio" };
	const struct dataidx *d = &a->data;
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} rows[] = {
		{ "fanout_data_index_events_total", "counter", "Events the data index has read.",
		  d->c.events },
		{ "fanout_data_index_behind_events", "gauge",
		  "Events appended that the data index has not read yet.", d->behind },
		{ "fanout_data_index_bytes", "gauge",
		  "Memory the data index holds (keys, postings, bars).", d->bytes },
		{ "fanout_data_index_budget_bytes", "gauge", "Its bound (--data-index-bytes).",
		  d->budget },
		{ "fanout_data_index_postings_dropped_total", "counter",
		  "Oldest postings given way (a key's cap, or the budget).", d->c.postings_dropped },
		{ "fanout_data_index_keys_refused_total", "counter",
		  "New keys not indexed: the budget was spent and no key could give way.",
		  d->c.keys_refused },
		{ "fanout_data_index_keys_evicted_total", "counter",
		  "Least recently updated keys dropped to make room for new ones.",
		  d->c.keys_evicted },
		{ "fanout_data_index_collisions_total", "counter",
		  "Names met under another name's keyed hash (not indexed).", d->c.collisions },
		{ "fanout_data_bars_written_total", "counter",
		  "1-minute bars written to the store (market_bars).", d->c.bars_written },
		{ "fanout_data_bars_dropped_total", "counter",
		  "Trades older than every bucket a full series keeps.", d->c.bars_dropped },
		{ "fanout_data_bars_unsaved_total", "counter",
		  "Changed bars pushed out of memory before the store had them.", d->c.bars_unsaved },
		{ "fanout_data_bars_store_errors_total", "counter",
		  "Bar writes the store refused (retried).", a->data_flush_errors },
		{ "fanout_data_index_decode_errors_total", "counter",
		  "Stored frames the data index could not decode (a defect).", d->c.decode_errors },
		{ "fanout_cache_up", "gauge", "1 when the Redis cache is connected (--redis-url).",
		  cache_up(&a->cache) },
		{ "fanout_cache_sets_total", "counter", "Cache writes sent to Redis.", a->cache.sets },
		{ "fanout_cache_dropped_total", "counter",
		  "Cache writes dropped: Redis down, or too much unsent.", a->cache.dropped },
		{ "fanout_cache_errors_total", "counter", "Error replies from Redis.",
		  a->cache.errors },
		{ "fanout_cache_outages_total", "counter", "Times the Redis connection broke.",
		  a->cache.outages },
		{ "fanout_audit_records_total", "counter",
		  "Audit records (deliveries, failures, acks) taken from the reactors.",
		  a->audit.records },
		{ "fanout_audit_rows_written_total", "counter",
		  "distribution_audit rows committed to the store.", a->audit.rows_written },
		{ "fanout_audit_acks_written_total", "counter",
		  "Acks applied to distribution_audit rows.", a->audit.acks_written },
		{ "fanout_audit_pending_rows", "gauge",
		  "Audit rows held in memory, not yet in the store.", a->audit.n },
		{ "fanout_audit_spill_bytes", "gauge",
		  "Bytes of the spill file (rows kept while the store was down).",
		  a->audit.spill_bytes - a->audit.spill_done },
		{ "fanout_audit_rows_spilled_total", "counter",
		  "Audit rows written to the spill file.", a->audit.rows_spilled },
		{ "fanout_audit_dropped_rows_total", "counter",
		  "Audit rows dropped: the store down and the spill full (--audit-spill-bytes).",
		  a->audit.rows_dropped },
		{ "fanout_audit_lost_records_total", "counter",
		  "Audit failures or acks a reactor could not queue (the admin thread behind).",
		  metrics_audit_lost(a) },
		{ "fanout_audit_unreadable_total", "counter",
		  "Audit records whose event had left the log (or spill lines unreadable).",
		  a->audit.unreadable },
		{ "fanout_audit_store_errors_total", "counter",
		  "Audit batches the store refused (then written row by row).",
		  a->audit.store_errors },
		{ "fanout_audit_rows_rejected_total", "counter",
		  "Audit rows the store refused on their own (left out, logged).",
		  a->audit.rows_rejected },
		{ "fanout_admin_audit_rows_written_total", "counter",
		  "admin_audit rows (REST changes, refusals) committed to the store.",
		  a->opaudit.written },
		{ "fanout_admin_audit_pending_rows", "gauge",
		  "admin_audit rows held in memory, not yet in the store.", a->opaudit.n },
		{ "fanout_admin_audit_dropped_rows_total", "counter",
		  "admin_audit rows dropped: the store away and the queue full.",
		  a->opaudit.dropped },
		{ "fanout_admin_audit_rows_rejected_total", "counter",
		  "admin_audit rows the store refused (left out, logged).", a->opaudit.rejected },
		{ "fanout_auth_tokens_in_force", "gauge",
		  "Tokens in the set in force (the bootstrap token included).",
		  a->tokens.in_force },
		{ "fanout_auth_token_swaps_total", "counter",
		  "Token sets put in force (start, store up, every token change).",
		  a->tokens.swaps },
		{ "fanout_auth_failures_total", "counter",
		  "Presented tokens that were not valid (TCP and REST).",
		  a->eng && a->eng->auth ? atomic_load(&a->eng->auth->failures) : 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mb_family(b, rows[i].name, rows[i].type, rows[i].help);
		mb_printf(b, "%s %llu\n", rows[i].name, (unsigned long long)rows[i].v);
	}
	mb_family(b, "fanout_data_index_keys", "gauge", "Keys the data index holds, by kind.");
	for (int k = 0; k < DIDX_KINDS; k++)
		mb_printf(b, "fanout_data_index_keys{kind=\"%s\"} %llu\n", kinds[k],
			  (unsigned long long)d->nkeys[k]);
}

/* WebSocket streams (admin/ws.h). */
static void metrics_ws(struct mbuf *b, const struct admin *a)
{
	struct ws_stats st = ws_stats(a);
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} rows[] = {
		{ "fanout_ws_connections", "gauge", "Open WebSocket connections.", st.open },
		{ "fanout_ws_subscriptions", "gauge", "WebSocket subscriptions.", st.subs },
		{ "fanout_ws_connections_accepted_total", "counter",
		  "WebSocket connections upgraded.", st.accepted },
		{ "fanout_ws_connections_refused_total", "counter",
		  "WebSocket handshakes refused at the connection bound (503).", st.refused },
		{ "fanout_ws_connections_closed_total", "counter",
		  "WebSocket connections closed, for any reason.", st.closed },
		{ "fanout_ws_slow_consumers_total", "counter",
		  "WebSocket connections cut for lagging past --max-lag-bytes/--max-lag-events.",
		  st.slow_cut },
		{ "fanout_ws_idle_closed_total", "counter",
		  "WebSocket connections closed after silence (no pong).", st.idle_cut },
		{ "fanout_ws_messages_in_total", "counter",
		  "WebSocket messages received (text and binary).", st.msgs_in },
		{ "fanout_ws_messages_refused_total", "counter",
		  "WebSocket client messages answered with an error (malformed, oversize).",
		  st.bad_in },
		{ "fanout_ws_messages_out_total", "counter",
		  "WebSocket messages queued to clients (data, answers, errors, pings).",
		  st.msgs_out },
		{ "fanout_ws_data_messages_total", "counter",
		  "WebSocket data messages (one event each).", st.data_out },
		{ "fanout_ws_errors_sent_total", "counter", "WebSocket error messages sent.",
		  st.errors_out },
		{ "fanout_ws_wakeups_total", "counter",
		  "Times a reactor woke the admin thread for the streams: a log grew while it "
		  "slept.", st.wakeups },
		{ "fanout_ws_bytes_out_total", "counter",
		  "Bytes written to WebSocket sockets (frames included).", st.bytes_out },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mb_family(b, rows[i].name, rows[i].type, rows[i].help);
		mb_printf(b, "%s %llu\n", rows[i].name, (unsigned long long)rows[i].v);
	}
}

/* What a part above admin/ adds (admin_extend): the Kafka sources. */
static void metrics_ext(struct mbuf *b, struct admin *a)
{
	const struct admin_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
	char *text;

	if (!ext || !ext->metrics)
		return;
	text = ext->metrics(ext->arg);
	if (!text) {
		b->failed = true;
		return;
	}
	mb_printf(b, "%s", text);
	free(text);
}

/* --kafka-egress (net/egress_gate.h): what the egress thread counts, and per egress
 * topic the events stored and not yet in Kafka. */
static void metrics_egress(struct mbuf *b, const struct admin *a)
{
	const struct egress_gate *g = &a->eng->egress;
	const struct config *cfg = a->eng->cfg;
	static const struct { const char *name, *type, *help; } fam[] = {
		{ "fanout_kafka_egress_produced_total", "counter",
		  "Events handed to the Kafka producer (--kafka-egress)." },
		{ "fanout_kafka_egress_delivered_total", "counter",
		  "Events Kafka confirmed (acks=all delivery reports)." },
		{ "fanout_kafka_egress_failed_total", "counter",
		  "Delivery reports that failed (the events are produced again)." },
		{ "fanout_kafka_egress_restarts_total", "counter",
		  "Times the egress read its topics again from their acks." },
		{ "fanout_kafka_egress_pending", "gauge",
		  "Events produced and not yet confirmed by Kafka." },
		{ "fanout_kafka_egress_down", "gauge",
		  "1 when librdkafka last said the brokers are unreachable." },
		{ "fanout_kafka_egress_refused_total", "counter",
		  "kafka-ack publishes refused at --kafka-egress-lag-max (LOG_FULL)." },
	};
	uint64_t v[] = { atomic_load(&g->produced), atomic_load(&g->delivered),
			 atomic_load(&g->failed), atomic_load(&g->restarts),
			 atomic_load(&g->pending), atomic_load(&g->kafka_down),
			 atomic_load(&g->refused) };
	char esc[420];

	if (!cfg || cfg->nkafka_egress == 0)
		return;
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		mb_family(b, fam[i].name, fam[i].type, fam[i].help);
		mb_printf(b, "%s %llu\n", fam[i].name, (unsigned long long)v[i]);
	}
	mb_family(b, "fanout_kafka_egress_lag_events", "gauge",
		  "Events of an egress topic stored and not yet in Kafka (the watermark lag).");
	for (uint32_t i = 0; i < cfg->nkafka_egress; i++) {
		const struct config_kafka_egress *e = &cfg->kafka_egress[i];
		struct topic *tp = topic_find(a->eng->topics, e->topic, strlen(e->topic));

		if (!tp)
			continue;
		metrics_escape(e->topic, esc, sizeof(esc));
		mb_printf(b, "fanout_kafka_egress_lag_events{topic=\"%s\"} %llu\n", esc,
			  (unsigned long long)egress_gate_lag(tp));
	}
}

char *metrics_render(struct admin *a, size_t *len)
{
	struct mbuf b = { .cap = 64 << 10 };

	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	metrics_process(&b, a);
	metrics_reactors(&b, a);
	metrics_latency(&b, a);
	metrics_memory(&b, a);
	metrics_partitions(&b, a);
	metrics_subs(&b, a);
	metrics_admin(&b, a);
	metrics_data(&b, a);
	metrics_ws(&b, a);
	metrics_ext(&b, a);
	metrics_egress(&b, a);
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
