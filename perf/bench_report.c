/* perf/bench_report.c — fanout-bench's results: one JSON object per run, medians per
 * system and fanout's ratios to each peer (JSON, and a table on stderr), and the
 * percentile-distribution files. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/bench.h"

static const char *const p_names[6] = { "p50", "p90", "p99", "p99_9", "p99_99", "max" };

/* What med() takes the median of: a latency percentile (index into p_ns) or these. */
enum { F_P50 = 0, F_P99 = 2, F_P99_9 = 3, F_MAX = 5, F_IN = -1, F_OUT = -2, F_LOST = -3,
       F_CUT = -4 };

static const struct bench_driver *driver(enum bench_system s)
{
	static const struct bench_driver *const d[BENCH_SYSTEMS] = {
		&bench_fanout_driver, &bench_nats_driver, &bench_redis_driver, &bench_zmq_driver,
	};
	return d[s];
}

/* A number, or null where it is not one (a ratio to a failed system's 0). */
static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *bench_run_json(const struct bench_cfg *c, const struct bench_result *r, unsigned run)
{
	json_t *lat = json_object();

	for (unsigned i = 0; i < 6; i++)
		json_object_set_new(lat, p_names[i], json_real((double)r->p_ns[i] / 1e3));
	json_object_set_new(lat, "mean", num(r->mean_us));
	json_object_set_new(lat, "stddev", num(r->stddev_us));
	return json_pack("{s:s, s:s, s:i, s:s, s:s?, s:I, s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:I,"
			 " s:I, s:{s:I, s:I}, s:o, s:o, s:o}",
		"system", bench_system_names[r->sys], "scenario", c->scenario, "run", (json_int_t)run,
		"topology", driver(r->sys)->topology,
		"error", r->error ? strerror(-r->error) : NULL,
		"published", (json_int_t)r->published, "seconds", num(r->seconds),
		"events_per_s_in", num(r->in_per_s), "expected_deliveries", (json_int_t)r->expected,
		"deliveries", (json_int_t)r->delivered, "deliveries_per_s_out", num(r->out_per_s),
		"lost", (json_int_t)r->lost, "gaps", (json_int_t)r->gaps,
		"out_of_order", (json_int_t)r->out_of_order,
		"disconnected_subscribers", (json_int_t)r->dead_subs,
		"stalled", "count", (json_int_t)r->stalled, "disconnected", (json_int_t)r->stalled_cut,
		"bytes_per_delivery", num(r->bytes_per_delivery),
		"publish_bytes_per_event", num(r->pub_bytes_per_event), "latency_us", lat);
}

json_t *bench_cfg_json(const struct bench_cfg *c)
{
	return json_pack("{s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:i}",
		"rate", num(c->rate), "duration_s", num(c->duration_s),
		"subscribers", (json_int_t)c->subscribers, "symbols", (json_int_t)c->symbols,
		"sub_symbols", (json_int_t)c->sub_symbols, "payload_bytes", (json_int_t)c->payload_bytes,
		"threads", (json_int_t)c->threads, "batch", (json_int_t)c->batch,
		"repeat", (json_int_t)c->repeat, "stalled", (json_int_t)c->stalled,
		"fanout_max_lag_bytes", c->fanout_max_lag_bytes < 0 ? json_null() :
		json_integer((json_int_t)c->fanout_max_lag_bytes),
		"fanout_reactors", (json_int_t)c->fanout_reactors);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of field f over the runs of system s that completed; NAN when none did. */
static double med(const struct bench_result *res, unsigned n, unsigned s, int f)
{
	double v[BENCH_RUNS_MAX];
	unsigned k = 0;

	for (unsigned i = 0; i < n && k < BENCH_RUNS_MAX; i++) {
		if (res[i].sys != s || res[i].error)
			continue;
		v[k++] = f == F_IN ? res[i].in_per_s : f == F_OUT ? res[i].out_per_s :
			 f == F_LOST ? (double)res[i].lost : f == F_CUT ? (double)res[i].stalled_cut :
			 (double)res[i].p_ns[f] / 1e3;
	}
	if (k == 0)
		return NAN;
	qsort(v, k, sizeof(*v), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static json_t *medians_json(const struct bench_result *res, unsigned n, unsigned s)
{
	json_t *m = json_pack("{s:o, s:o, s:o}", "events_per_s_in", num(med(res, n, s, F_IN)),
			      "deliveries_per_s_out", num(med(res, n, s, F_OUT)),
			      "lost", num(med(res, n, s, F_LOST)));

	json_object_set_new(m, "stalled_disconnected", num(med(res, n, s, F_CUT)));

	for (int p = 0; p < 6; p++)
		json_object_set_new(m, p_names[p], num(med(res, n, s, p)));
	return m;
}

json_t *bench_summary_json(const struct bench_cfg *c, const struct bench_result *res,
			   unsigned n)
{
	json_t *meds = json_object(), *ratios = json_object();

	fprintf(stderr, "\n%-8s %14s %16s %10s %10s %10s %10s %10s %12s   (medians of %u; latency µs)\n",
		"system", "events/s in", "deliveries/s", "lost", "p50", "p99", "p99.9", "max",
		"stalled cut", c->repeat);
	for (unsigned s = 0; s < BENCH_SYSTEMS; s++) {
		double tput, p50, p99;

		if (!(c->systems_mask & (1u << s)))
			continue;
		json_object_set_new(meds, bench_system_names[s], medians_json(res, n, s));
		fprintf(stderr, "%-8s %14.0f %16.0f %10.0f %10.1f %10.1f %10.1f %10.1f %7.0f of %u\n",
			bench_system_names[s], med(res, n, s, F_IN), med(res, n, s, F_OUT),
			med(res, n, s, F_LOST), med(res, n, s, F_P50), med(res, n, s, F_P99),
			med(res, n, s, F_P99_9), med(res, n, s, F_MAX), med(res, n, s, F_CUT),
			c->stalled);
		if (s == BENCH_FANOUT || !(c->systems_mask & (1u << BENCH_FANOUT)))
			continue;
		/* fanout/peer for throughput, peer/fanout for latency: > 1 favours fanout. */
		tput = med(res, n, BENCH_FANOUT, F_OUT) / med(res, n, s, F_OUT);
		p50 = med(res, n, s, F_P50) / med(res, n, BENCH_FANOUT, F_P50);
		p99 = med(res, n, s, F_P99) / med(res, n, BENCH_FANOUT, F_P99);
		json_object_set_new(ratios, bench_system_names[s], json_pack("{s:o, s:o, s:o}",
			"deliveries_per_s", num(tput), "p50", num(p50), "p99", num(p99)));
		fprintf(stderr, "  fanout vs %-6s deliveries/s x%.2f, p50 x%.2f, p99 x%.2f "
			"(>1: fanout better)\n", bench_system_names[s], tput, p50, p99);
	}
	return json_pack("{s:o, s:o}", "medians", meds, "ratios", ratios);
}

/* Merges the completed runs of system s into one result (mean and stddev approximate:
 * averaged over runs). Returns -ENOMEM, -ENOENT when none completed, or 0. */
static int merged(const struct bench_result *res, unsigned n, unsigned s,
		  struct bench_result *all)
{
	unsigned k = 0;

	*all = (struct bench_result){ .sys = s, .hist = calloc(1, sizeof(*all->hist)) };
	if (!all->hist)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		if (res[i].sys != s || res[i].error)
			continue;
		latency_hist_merge(all->hist, res[i].hist);
		all->mean_us += res[i].mean_us;
		all->stddev_us += res[i].stddev_us;
		k++;
	}
	if (k == 0)
		return -ENOENT;
	all->mean_us /= k;
	all->stddev_us /= k;
	return 0;
}

int bench_write_hdrs(const struct bench_cfg *c, const struct bench_result *res, unsigned n)
{
	unsigned nsys = (unsigned)__builtin_popcount(c->systems_mask);
	int first = 0;

	for (unsigned s = 0; c->hdr_out && s < BENCH_SYSTEMS; s++) {
		struct bench_result all;
		char path[PATH_MAX];
		int rc;

		if (!(c->systems_mask & (1u << s)))
			continue;
		if (nsys == 1)
			snprintf(path, sizeof(path), "%s", c->hdr_out);
		else
			snprintf(path, sizeof(path), "%s.%s.hdr", c->hdr_out, bench_system_names[s]);
		rc = merged(res, n, s, &all);
		if (rc == 0)
			rc = bench_hdr_write(&all, path);
		free(all.hist);
		if (rc == -ENOENT)
			fprintf(stderr, "fanout-bench: no %s: no %s run completed\n", path,
				bench_system_names[s]);
		else if (rc)
			fprintf(stderr, "fanout-bench: cannot write %s: %s\n", path, strerror(-rc));
		if (rc && !first)
			first = rc;
	}
	return first;
}
