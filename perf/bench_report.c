/* perf/bench_report.c — fanout-bench's results: one JSON object per run (fanout's shm
 * readers in it apart from its TCP subscribers; the CPU of the server, publisher and
 * subscribers), medians per report line (each system, then fanout-shm) and fanout's
 * ratios to each peer (JSON, and a table on stderr), and the percentile-distribution
 * files. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/bench.h"
#include "perf/bench_probe.h"
#include "tools/synth.h"

static const char *const p_names[6] = { "p50", "p90", "p99", "p99_9", "p99_99", "max" };

/* What med() takes the median of: a latency percentile (index into p_ns) or these. */
enum { F_P50 = 0, F_P99 = 2, F_P99_9 = 3, F_MAX = 5, F_IN = -1, F_OUT = -2, F_LOST = -3,
       F_CUT = -4, F_FILTERED = -5, F_SRV_EV = -6, F_SRV_DLV = -7, F_PUB_EV = -8,
       F_SUB_DLV = -9, F_BULK_IN = -10, F_BULK_OUT = -11, F_IN_P50 = -12, F_IN_P99 = -13,
       F_OUT_P50 = -14, F_OUT_P99 = -15, F_LATE_P50 = -16, F_LATE_P99 = -17,
       F_SENT_P50 = -18, F_SENT_P99 = -19, F_PROBE_P99 = -20, F_PROBE_P999 = -21,
       F_PROBE_MAX = -22 };

/* A split percentile (ns, -1 for none) in µs, NAN for none. */
static double split_us(int64_t v)
{
	return v < 0 ? NAN : (double)v / 1e3;
}

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

/* A CPU total in ns, or null where there is none (-1). */
static json_t *ns(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

/* A run's CPU over its measured interval (bench_run.c): totals, and per event in and per
 * delivery. Null server figures: no server (ZeroMQ). */
static json_t *cpu_json(const struct bench_result *r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"interval_s", num(r->cpu_seconds), "server_ns", ns(r->server_cpu_ns),
		"server_stat_ns", ns(r->server_cpu_stat_ns), "publisher_ns", ns(r->pub_cpu_ns),
		"subscribers_ns", ns(r->sub_cpu_ns), "bench_process_ns", ns(r->bench_cpu_ns),
		"server_ns_per_event", num(r->server_ns_per_event),
		"server_ns_per_delivery", num(r->server_ns_per_delivery),
		"publisher_ns_per_event", num(r->pub_ns_per_event),
		"subscriber_ns_per_delivery", num(r->sub_ns_per_delivery));
}

static json_t *latency_json(const struct bench_result *r)
{
	json_t *lat = json_object();

	for (unsigned i = 0; i < 6; i++)
		json_object_set_new(lat, p_names[i], json_real((double)r->p_ns[i] / 1e3));
	json_object_set_new(lat, "mean", num(r->mean_us));
	json_object_set_new(lat, "stddev", num(r->stddev_us));
	return lat;
}

/* The shm readers of a fanout run; null for a run without them (a peer's). */
static json_t *shm_json(const struct bench_cfg *c, const struct bench_result *s)
{
	if (!s)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:o, s:o, s:o, s:o}",
		"readers", (json_int_t)c->shm_readers, "expected_deliveries", (json_int_t)s->expected,
		"deliveries", (json_int_t)s->delivered, "deliveries_per_s_out", num(s->out_per_s),
		"lost", (json_int_t)s->lost, "gaps", (json_int_t)s->gaps,
		"out_of_order", (json_int_t)s->out_of_order,
		"filtered_by_subscriber", (json_int_t)s->filtered,
		"disconnected_readers", (json_int_t)s->dead_subs,
		"gap_records", (json_int_t)s->gap_records, "lost_reported", (json_int_t)s->lost_reported,
		"recovered", (json_int_t)s->recovered, "laps", (json_int_t)s->laps,
		"torn", (json_int_t)s->torn, "bytes_per_delivery", num(s->bytes_per_delivery),
		"latency_us", latency_json(s), "readers_cpu_ns", ns(s->sub_cpu_ns),
		"reader_cpu_ns_per_delivery", num(s->sub_ns_per_delivery));
}

json_t *bench_run_json(const struct bench_cfg *c, const struct bench_result *r, unsigned run)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s?, s:I, s:o, s:o, s:I, s:I, s:o, s:I, s:I,"
			      " s:I, s:I, s:I, s:{s:I, s:I}, s:o, s:o, s:o}",
		"system", bench_system_names[r->sys], "scenario", c->scenario, "run", (json_int_t)run,
		"topology", driver(r->sys)->topology,
		"error", r->error ? strerror(-r->error) : NULL,
		"published", (json_int_t)r->published, "seconds", num(r->seconds),
		"events_per_s_in", num(r->in_per_s), "expected_deliveries", (json_int_t)r->expected,
		"deliveries", (json_int_t)r->delivered, "deliveries_per_s_out", num(r->out_per_s),
		"lost", (json_int_t)r->lost, "gaps", (json_int_t)r->gaps,
		"out_of_order", (json_int_t)r->out_of_order,
		"filtered_by_subscriber", (json_int_t)r->filtered,
		"disconnected_subscribers", (json_int_t)r->dead_subs,
		"stalled", "count", (json_int_t)r->stalled, "disconnected", (json_int_t)r->stalled_cut,
		"bytes_per_delivery", num(r->bytes_per_delivery),
		"publish_bytes_per_event", num(r->pub_bytes_per_event), "latency_us", latency_json(r));

	json_object_set_new(o, "shm", shm_json(c, r->shm));
	json_object_set_new(o, "cpu", cpu_json(r));
	if (c->bulk_subscribers)
		json_object_set_new(o, "bulk", json_pack("{s:o, s:o}", "events_per_s_in",
							 num(r->bulk_in_per_s),
							 "deliveries_per_s_out",
							 num(r->bulk_out_per_s)));
	if (c->latency_split && r->split_in_ns[0] >= 0)
		json_object_set_new(o, "latency_split_us", json_pack("{s:o, s:o, s:o, s:o, s:o, s:o,"
								      " s:o, s:o, s:o, s:o, s:o, s:o}",
			"probe_late_p50", num(split_us(r->probe_late_ns[0])),
			"probe_late_p99", num(split_us(r->probe_late_ns[1])),
			"probe_late_p99_9", num(split_us(r->probe_late_ns[2])),
			"probe_late_max", num(split_us(r->probe_late_ns[3])),
			"from_actual_send_p50", num(split_us(r->split_sent_ns[0])),
			"from_actual_send_p99", num(split_us(r->split_sent_ns[1])),
			"publisher_late_p50", num(split_us(r->split_late_ns[0])),
			"publisher_late_p99", num(split_us(r->split_late_ns[1])),
			"send_to_server_p50", num(split_us(r->split_in_ns[0])),
			"send_to_server_p99", num(split_us(r->split_in_ns[1])),
			"from_server_p50", num(split_us(r->split_out_ns[0])),
			"from_server_p99", num(split_us(r->split_out_ns[1]))));
	return o;
}

/* null when c has no content filter. */
static json_t *filter_json(const struct bench_filter *f)
{
	json_t *ex = json_array();

	if (bench_filter_empty(f)) {
		json_decref(ex);
		return json_null();
	}
	for (unsigned e = 0; e < BENCH_EXCHANGES; e++)
		if (f->exchanges >> e & 1u)
			json_array_append_new(ex, json_string(synth_exchange(e)));
	return json_pack("{s:o, s:o}", "exchanges", ex,
			 "min_price", f->has_min_price ? num(f->min_price) : json_null());
}

json_t *bench_cfg_json(const struct bench_cfg *c)
{
	json_t *o = json_pack("{s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:i}",
		"rate", num(c->rate), "duration_s", num(c->duration_s),
		"subscribers", (json_int_t)c->subscribers, "symbols", (json_int_t)c->symbols,
		"sub_symbols", (json_int_t)c->sub_symbols, "payload_bytes", (json_int_t)c->payload_bytes,
		"threads", (json_int_t)c->threads, "batch", (json_int_t)c->batch,
		"repeat", (json_int_t)c->repeat, "stalled", (json_int_t)c->stalled,
		"fanout_max_lag_bytes", c->fanout_max_lag_bytes < 0 ? json_null() :
		json_integer((json_int_t)c->fanout_max_lag_bytes),
		"fanout_reactors", (json_int_t)c->fanout_reactors);

	json_object_set_new(o, "fanout_data_index_bytes",
			    json_integer((json_int_t)c->fanout_data_index_bytes));
	json_object_set_new(o, "fanout_named", json_boolean(c->fanout_named));
	json_object_set_new(o, "fanout_shared", c->fanout_shared == 2 ? json_string("shared") :
			    c->fanout_shared == 4 ? json_string("key_shared") : json_null());
	json_object_set_new(o, "fanout_idempotent", json_boolean(c->fanout_idempotent));
	json_object_set_new(o, "fanout_priority", c->fanout_priority < 0 ? json_null() :
			    json_integer(c->fanout_priority));
	json_object_set_new(o, "bulk_subscribers", json_integer(c->bulk_subscribers));
	json_object_set_new(o, "bulk_rate", num(c->bulk_rate));
	json_object_set_new(o, "fanout_auth", json_boolean(c->fanout_auth));
	json_object_set_new(o, "fanout_tls", json_boolean(c->fanout_tls));
	json_object_set_new(o, "fanout_fsync", json_string(c->fanout_fsync[0] ? c->fanout_fsync :
							   "default"));

	json_object_set_new(o, "shm_readers", json_integer(c->shm_readers));
	json_object_set_new(o, "shm_spin", json_integer(c->shm_spin));
	json_object_set_new(o, "shm_ring_bytes", json_integer((json_int_t)c->shm_ring_bytes));
	json_object_set_new(o, "filter", filter_json(&c->filter));
	return o;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* What report line l takes from run r: the run itself on its system's line, its shm
 * readers' result on the fanout-shm line; NULL when it has none there or failed. */
static const struct bench_result *line_result(const struct bench_result *r, unsigned l)
{
	if (r->error)
		return NULL;
	if (l == BENCH_SHM_LINE)
		return r->shm;
	return (unsigned)r->sys == l ? r : NULL;
}

/* Whether the report has line l: a system that ran (fanout's TCP line only with TCP
 * subscribers), and fanout-shm when fanout ran with shm readers. */
static bool line_shown(const struct bench_cfg *c, unsigned l)
{
	bool fanout = c->systems_mask & (1u << BENCH_FANOUT);

	if (l == BENCH_SHM_LINE)
		return fanout && c->shm_readers > 0;
	if (l == BENCH_FANOUT && !c->subscribers)
		return false;
	return c->systems_mask & (1u << l);
}

/* Field f of r. */
static double field(const struct bench_result *r, int f)
{
	switch (f) {
	case F_IN: return r->in_per_s;
	case F_OUT: return r->out_per_s;
	case F_LOST: return (double)r->lost;
	case F_CUT: return (double)r->stalled_cut;
	case F_FILTERED: return (double)r->filtered;
	case F_SRV_EV: return r->server_ns_per_event;
	case F_SRV_DLV: return r->server_ns_per_delivery;
	case F_PUB_EV: return r->pub_ns_per_event;
	case F_SUB_DLV: return r->sub_ns_per_delivery;
	case F_BULK_IN: return r->bulk_in_per_s;
	case F_BULK_OUT: return r->bulk_out_per_s;
	case F_IN_P50: return split_us(r->split_in_ns[0]);
	case F_IN_P99: return split_us(r->split_in_ns[1]);
	case F_OUT_P50: return split_us(r->split_out_ns[0]);
	case F_OUT_P99: return split_us(r->split_out_ns[1]);
	case F_LATE_P50: return split_us(r->split_late_ns[0]);
	case F_LATE_P99: return split_us(r->split_late_ns[1]);
	case F_SENT_P50: return split_us(r->split_sent_ns[0]);
	case F_SENT_P99: return split_us(r->split_sent_ns[1]);
	case F_PROBE_P99: return split_us(r->probe_late_ns[1]);
	case F_PROBE_P999: return split_us(r->probe_late_ns[2]);
	case F_PROBE_MAX: return split_us(r->probe_late_ns[3]);
	default: return (double)r->p_ns[f] / 1e3;
	}
}

/* Median of field f over the completed runs' results on line l, those that have it (a
 * CPU figure may not be there); NAN when none has. */
static double med(const struct bench_result *res, unsigned n, unsigned l, int f)
{
	double v[BENCH_RUNS_MAX];
	unsigned k = 0;

	for (unsigned i = 0; i < n && k < BENCH_RUNS_MAX; i++) {
		const struct bench_result *r = line_result(&res[i], l);

		if (r && isfinite(field(r, f)))
			v[k++] = field(r, f);
	}
	if (k == 0)
		return NAN;
	qsort(v, k, sizeof(*v), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static json_t *medians_json(const struct bench_result *res, unsigned n, unsigned l)
{
	json_t *m = json_pack("{s:o, s:o, s:o}", "events_per_s_in", num(med(res, n, l, F_IN)),
			      "deliveries_per_s_out", num(med(res, n, l, F_OUT)),
			      "lost", num(med(res, n, l, F_LOST)));

	/* Stalled subscribers are TCP ones: none on the shm line. */
	json_object_set_new(m, "stalled_disconnected",
			    l == BENCH_SHM_LINE ? json_null() : num(med(res, n, l, F_CUT)));
	json_object_set_new(m, "filtered_by_subscriber", num(med(res, n, l, F_FILTERED)));
	for (int p = 0; p < 6; p++)
		json_object_set_new(m, p_names[p], num(med(res, n, l, p)));
	json_object_set_new(m, "server_cpu_ns_per_event", num(med(res, n, l, F_SRV_EV)));
	json_object_set_new(m, "server_cpu_ns_per_delivery", num(med(res, n, l, F_SRV_DLV)));
	json_object_set_new(m, "publisher_cpu_ns_per_event", num(med(res, n, l, F_PUB_EV)));
	json_object_set_new(m, "subscriber_cpu_ns_per_delivery", num(med(res, n, l, F_SUB_DLV)));
	if (l == BENCH_FANOUT && med(res, n, l, F_BULK_IN) > 0) {	/* --bulk-subscribers */
		json_object_set_new(m, "bulk_events_per_s_in", num(med(res, n, l, F_BULK_IN)));
		json_object_set_new(m, "bulk_deliveries_per_s_out", num(med(res, n, l, F_BULK_OUT)));
	}
	return m;
}

/* The table's order: fanout's shm readers beside its TCP subscribers. */
static const unsigned line_order[BENCH_LINES] = { BENCH_FANOUT, BENCH_SHM_LINE, BENCH_NATS,
						  BENCH_REDIS, BENCH_ZMQ };

/* A CPU column: ns, right-aligned in width 10, or "—" where there is none (ZeroMQ's
 * server): padded by hand, as printf counts the dash's 3 bytes as 3 columns. */
static void cpu_cell(double v)
{
	if (isfinite(v))
		fprintf(stderr, " %10.0f", v);
	else
		fprintf(stderr, " %9s—", "");
}

/* One line of the table. */
static void table_line(const struct bench_cfg *c, const struct bench_result *res, unsigned n,
		       unsigned l)
{
	static const int cpu_fields[4] = { F_SRV_EV, F_SRV_DLV, F_PUB_EV, F_SUB_DLV };
	char cut[24] = "-";

	if (l != BENCH_SHM_LINE)	/* stalled subscribers are TCP ones */
		snprintf(cut, sizeof(cut), "%.0f of %u", med(res, n, l, F_CUT), c->stalled);
	fprintf(stderr, "%-10s %14.0f %16.0f %10.0f %10.1f %10.1f %10.1f %10.1f %12s",
		bench_line_names[l], med(res, n, l, F_IN), med(res, n, l, F_OUT),
		med(res, n, l, F_LOST), med(res, n, l, F_P50), med(res, n, l, F_P99),
		med(res, n, l, F_P99_9), med(res, n, l, F_MAX), cut);
	for (unsigned i = 0; i < 4; i++)
		cpu_cell(med(res, n, l, cpu_fields[i]));
	fputc('\n', stderr);
}

/* With a content filter: who filtered, and what the peers' subscribers dropped. */
static void filter_note(const struct bench_cfg *c, const struct bench_result *res, unsigned n)
{
	if (bench_filter_empty(&c->filter))
		return;
	fprintf(stderr, "content filter: fanoutd filters for its subscribers");
	for (unsigned s = BENCH_FANOUT + 1; s < BENCH_SYSTEMS; s++)
		if (line_shown(c, s))
			fprintf(stderr, "; %s subscribers dropped %.0f events themselves (median)",
				bench_system_names[s], med(res, n, s, F_FILTERED));
	fputc('\n', stderr);
}

/* fanout's ratios to peer line l, as JSON and a line on stderr: fanout/peer for
 * throughput, peer/fanout for latency and server CPU, so > 1 favours fanout; the CPU
 * ratios are null against ZeroMQ, which has no server. */
static json_t *ratios_line(const struct bench_result *res, unsigned n, unsigned l)
{
	double tput = med(res, n, BENCH_FANOUT, F_OUT) / med(res, n, l, F_OUT);
	double p50 = med(res, n, l, F_P50) / med(res, n, BENCH_FANOUT, F_P50);
	double p99 = med(res, n, l, F_P99) / med(res, n, BENCH_FANOUT, F_P99);
	double ev = med(res, n, l, F_SRV_EV) / med(res, n, BENCH_FANOUT, F_SRV_EV);
	double dlv = med(res, n, l, F_SRV_DLV) / med(res, n, BENCH_FANOUT, F_SRV_DLV);

	fprintf(stderr, "  fanout vs %-6s deliveries/s x%.2f, p50 x%.2f, p99 x%.2f, ",
		bench_system_names[l], tput, p50, p99);
	if (isfinite(ev) || isfinite(dlv))
		fprintf(stderr, "server CPU per event x%.2f, per delivery x%.2f", ev, dlv);
	else
		fprintf(stderr, "server CPU — (no server)");
	fprintf(stderr, " (>1: fanout better)\n");
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "deliveries_per_s", num(tput), "p50",
			 num(p50), "p99", num(p99), "server_cpu_ns_per_event", num(ev),
			 "server_cpu_ns_per_delivery", num(dlv));
}

json_t *bench_summary_json(const struct bench_cfg *c, const struct bench_result *res,
			   unsigned n)
{
	json_t *meds = json_object(), *ratios = json_object();
	bool fanout = line_shown(c, BENCH_FANOUT);

	fprintf(stderr, "\n%-10s %14s %16s %10s %10s %10s %10s %10s %12s %10s %10s %10s %10s"
		"   (medians of %u; latency µs; CPU ns)\n", "system", "events/s in",
		"deliveries/s", "lost", "p50", "p99", "p99.9", "max", "stalled cut", "srv/event",
		"srv/deliv", "pub/event", "sub/deliv", c->repeat);
	for (unsigned i = 0; i < BENCH_LINES; i++) {
		unsigned l = line_order[i];

		if (!line_shown(c, l))
			continue;
		json_object_set_new(meds, bench_line_names[l], medians_json(res, n, l));
		table_line(c, res, n, l);
		if (l == BENCH_FANOUT || l == BENCH_SHM_LINE || !fanout)
			continue;
		json_object_set_new(ratios, bench_system_names[l], ratios_line(res, n, l));
	}
	filter_note(c, res, n);
	if (c->bulk_subscribers)
		fprintf(stderr, "bulk load beside it (topic %s, %u subscribers, not counted above): "
			"in %.0f events/s, out %.0f deliveries/s (medians)\n", BENCH_BULK_TOPIC,
			c->bulk_subscribers, med(res, n, BENCH_FANOUT, F_BULK_IN),
			med(res, n, BENCH_FANOUT, F_BULK_OUT));
	if (c->latency_split && isfinite(med(res, n, BENCH_FANOUT, F_IN_P50)))
		fprintf(stderr, "fanout latency split at the server's receive time (medians, µs): "
			"publisher late p50 %.1f p99 %.1f; actual send -> server p50 %.1f p99 %.1f; "
			"server -> subscriber p50 %.1f p99 %.1f; actual send -> subscriber p50 %.1f "
			"p99 %.1f\n",
			med(res, n, BENCH_FANOUT, F_LATE_P50), med(res, n, BENCH_FANOUT, F_LATE_P99),
			med(res, n, BENCH_FANOUT, F_IN_P50),
			med(res, n, BENCH_FANOUT, F_IN_P99), med(res, n, BENCH_FANOUT, F_OUT_P50),
			med(res, n, BENCH_FANOUT, F_OUT_P99), med(res, n, BENCH_FANOUT, F_SENT_P50),
			med(res, n, BENCH_FANOUT, F_SENT_P99));
	if (c->latency_split && isfinite(med(res, n, BENCH_FANOUT, F_PROBE_P99)))
		fprintf(stderr, "the machine meanwhile: a bench thread's %d µs sleeps ended late by "
			"p99 %.1f p99.9 %.1f max %.1f µs (medians)\n", BENCH_PROBE_SLEEP_NS / 1000,
			med(res, n, BENCH_FANOUT, F_PROBE_P99), med(res, n, BENCH_FANOUT, F_PROBE_P999),
			med(res, n, BENCH_FANOUT, F_PROBE_MAX));
	return json_pack("{s:o, s:o}", "medians", meds, "ratios", ratios);
}

void bench_peer_notes(const struct bench_cfg *c)
{
	char peers[64] = "";

	for (unsigned s = BENCH_FANOUT + 1; s < BENCH_SYSTEMS; s++)
		if (c->systems_mask & (1u << s))
			snprintf(peers + strlen(peers), sizeof(peers) - strlen(peers), "%s%s",
				 *peers ? ", " : "", bench_system_names[s]);
	if (!*peers)
		return;
	if (c->shm_readers)
		fprintf(stderr, "fanout-bench: note: %s run with the %u TCP subscriber%s only: "
			"shared-memory readers are fanout's (%s)\n", peers, c->subscribers,
			c->subscribers == 1 ? "" : "s",
			c->systems_mask & (1u << BENCH_FANOUT) ? "its fanout-shm line" :
			"and fanout does not run here");
	if (!bench_filter_empty(&c->filter))
		fprintf(stderr, "fanout-bench: note: %s cannot filter by content: their subscribers "
			"receive every event of their keys and drop what the filter rejects "
			"(filtered_by_subscriber, not deliveries); fanoutd filters for its own\n", peers);
}

/* Merges the completed runs' results on line l into one (mean and stddev approximate:
 * averaged over runs). Returns -ENOMEM, -ENOENT when none completed, or 0. */
static int merged(const struct bench_result *res, unsigned n, unsigned l,
		  struct bench_result *all)
{
	unsigned k = 0;

	*all = (struct bench_result){ .hist = calloc(1, sizeof(*all->hist)) };
	if (!all->hist)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		const struct bench_result *r = line_result(&res[i], l);

		if (!r)
			continue;
		latency_hist_merge(all->hist, r->hist);
		all->mean_us += r->mean_us;
		all->stddev_us += r->stddev_us;
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
	unsigned nlines = 0;
	int first = 0;

	for (unsigned l = 0; l < BENCH_LINES; l++)
		nlines += line_shown(c, l);
	for (unsigned l = 0; c->hdr_out && l < BENCH_LINES; l++) {
		struct bench_result all;
		char path[PATH_MAX];
		int rc;

		if (!line_shown(c, l))
			continue;
		if (nlines == 1)
			snprintf(path, sizeof(path), "%s", c->hdr_out);
		else
			snprintf(path, sizeof(path), "%s.%s.hdr", c->hdr_out, bench_line_names[l]);
		rc = merged(res, n, l, &all);
		if (rc == 0)
			rc = bench_hdr_write(&all, path);
		free(all.hist);
		if (rc == -ENOENT)
			fprintf(stderr, "fanout-bench: no %s: no %s run completed\n", path,
				bench_line_names[l]);
		else if (rc)
			fprintf(stderr, "fanout-bench: cannot write %s: %s\n", path, strerror(-rc));
		if (rc && !first)
			first = rc;
	}
	return first;
}
