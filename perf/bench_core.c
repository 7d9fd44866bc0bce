/* perf/bench_core.c — the pure parts of fanout-bench: pacing at intended times, which
 * events a subscriber should see (its keys, the content filter), delivery accounting,
 * percentiles and the .hdr file. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/bench.h"
#include "perf/bench_pb.h"

/* A synthetic event's price moves with seq mod 100 (tools/synth.c): along one key, whether
 * events pass a filter repeats every this many of the key's events. */
#define PRICE_PERIOD 100u

uint64_t bench_pace_due(int64_t start_ns, double rate, int64_t now_ns)
{
	if (now_ns < start_ns)
		return 0;
	return (uint64_t)((double)(now_ns - start_ns) * rate / 1e9) + 1;
}

int64_t bench_pace_intended(int64_t start_ns, double rate, uint64_t seq)
{
	return start_ns + (int64_t)((double)seq * 1e9 / rate);
}

uint64_t bench_expected(uint64_t published, unsigned key_base, unsigned k, unsigned m)
{
	uint64_t n = 0, full = published / k, rest = published % k;

	for (unsigned t = 0; t < m; t++)
		n += full + (((key_base + t) % k) < rest);
	return n;
}

double bench_event_price(uint64_t seq, unsigned symbols)
{
	unsigned sym = (unsigned)(seq % symbols);

	return 20.0 + (double)(sym % 480) + (double)(seq % PRICE_PERIOD) / 100.0;
}

unsigned bench_event_exchange(uint64_t seq, unsigned symbols)
{
	return (unsigned)(seq % symbols) % BENCH_EXCHANGES;
}

bool bench_filter_empty(const struct bench_filter *f)
{
	return !f->exchanges && !f->has_min_price;
}

bool bench_filter_match(const struct bench_filter *f, uint64_t seq, unsigned symbols)
{
	if (f->exchanges && !(f->exchanges >> bench_event_exchange(seq, symbols) & 1u))
		return false;
	/* As fanoutd's filter: a bound holds inclusively. */
	return !f->has_min_price || bench_event_price(seq, symbols) >= f->min_price;
}

uint64_t bench_next_owed(const struct bench_cfg *c, uint64_t seq)
{
	if (bench_filter_empty(&c->filter))
		return seq;
	for (unsigned j = 0; j < PRICE_PERIOD; j++, seq += c->symbols)
		if (bench_filter_match(&c->filter, seq, c->symbols))
			return seq;
	return UINT64_MAX;	/* a whole period of this key fails: every later one does */
}

/* Of the first n events of key, those that pass c->filter. */
static uint64_t key_owed(const struct bench_cfg *c, unsigned key, uint64_t n)
{
	uint64_t period = 0, head = 0;

	for (unsigned j = 0; j < PRICE_PERIOD; j++) {
		bool pass = bench_filter_match(&c->filter, key + (uint64_t)j * c->symbols,
					       c->symbols);

		period += pass;
		head += pass && j < n % PRICE_PERIOD;
	}
	return n / PRICE_PERIOD * period + head;
}

uint64_t bench_owed(const struct bench_cfg *c, uint64_t published, unsigned key_base,
		    unsigned m)
{
	uint64_t n = 0, full = published / c->symbols, rest = published % c->symbols;

	if (bench_filter_empty(&c->filter))
		return bench_expected(published, key_base, c->symbols, m);
	for (unsigned t = 0; t < m; t++) {
		unsigned key = (key_base + t) % c->symbols;

		n += key_owed(c, key, full + (key < rest));
	}
	return n;
}

bool bench_deliver(struct bench_thread *t, struct bench_sub *s, uint64_t seq,
		   int64_t intended_ns, int64_t now_ns)
{
	const struct bench_cfg *c = t->run->cfg;
	int64_t lat = now_ns - intended_ns;
	double us = (double)lat / 1e3;

	unsigned idx = (unsigned)((seq % c->symbols + c->symbols - s->key_base) % c->symbols);

	if (!bench_filter_match(&c->filter, seq, c->symbols)) {
		s->filtered++;	/* the subscriber's own filter drops it: not a delivery */
		return false;
	}
	if (c->fanout_shared) {
		;	/* one of a group's consumers: a share of each key, not all of it */
	} else if (idx >= c->sub_symbols) {
		s->out_of_order++;	/* a key it did not subscribe to: count it as wrong */
	} else if (seq < s->key_next[idx]) {
		s->out_of_order++;
	} else {
		if (seq != s->key_next[idx])
			s->gaps++;
		s->key_next[idx] = bench_next_owed(c, seq + c->symbols);
	}
	s->received++;
	latency_hist_record(t->hist, lat);
	t->sum_us += us;
	t->sumsq_us += us * us;
	atomic_fetch_add_explicit(&t->received, 1, memory_order_relaxed);
	return true;
}

void bench_deliver_split(struct bench_thread *t, uint64_t seq, int64_t intended_ns,
			 int64_t server_ns, int64_t now_ns)
{
	const struct bench_run *r = t->run;

	int64_t sent = 0;

	if (!t->hist_in || server_ns <= 0)
		return;
	/* Stored (release) before the send that carried it. */
	if (seq < r->sent_cap)
		sent = atomic_load_explicit(&r->sent_at[seq], memory_order_acquire);
	if (sent > 0)
		latency_hist_record(t->hist_sent, now_ns - sent);
	else if (r->cfg->rate > 0)
		return;	/* past the timed sends: none of the split, so all cover the same */
	else
		sent = intended_ns;	/* flat out: sent at its intended time */
	latency_hist_record(t->hist_in, server_ns - sent);
	latency_hist_record(t->hist_out, now_ns - server_ns);
}

void bench_p50_p99(const struct latency_hist *h, int64_t out[2])
{
	bool any = h && latency_hist_count(h);

	out[0] = any ? (int64_t)latency_hist_percentile(h, 50) : -1;
	out[1] = any ? (int64_t)latency_hist_percentile(h, 99) : -1;
}

int bench_account_split(struct bench_result *res, const struct bench_thread *t, unsigned n)
{
	struct latency_hist *in = calloc(1, sizeof(*in)), *out = calloc(1, sizeof(*out));
	struct latency_hist *sent = calloc(1, sizeof(*sent));

	if (!in || !out || !sent) {
		free(in);
		free(out);
		free(sent);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		if (t[i].hist_in) {
			latency_hist_merge(in, t[i].hist_in);
			latency_hist_merge(out, t[i].hist_out);
			latency_hist_merge(sent, t[i].hist_sent);
		}
	}
	bench_p50_p99(sent, res->split_sent_ns);
	bench_p50_p99(in, res->split_in_ns);
	bench_p50_p99(out, res->split_out_ns);
	free(in);
	free(out);
	free(sent);
	return 0;
}

int bench_deliver_event(struct bench_thread *t, struct bench_sub *s, const uint8_t *ev,
			size_t len, uint64_t wire_bytes, int64_t now_ns)
{
	uint64_t seq;
	int64_t ts;

	if (bench_pb_event_fields(ev, len, &seq, &ts))
		return -EBADMSG;
	s->bytes += wire_bytes;
	bench_deliver(t, s, seq, ts, now_ns);
	return 0;
}

void bench_account_sub(struct bench_result *res, const struct bench_sub *s, uint64_t owed)
{
	res->expected += owed;
	res->delivered += s->received;
	res->lost += owed > s->received ? owed - s->received : 0;
	res->gaps += s->gaps;
	res->out_of_order += s->out_of_order;
	res->dead_subs += s->dead;
	res->filtered += s->filtered;
	res->bytes_per_delivery += (double)s->bytes;	/* a total until bench_account_finish */
}

void bench_account_thread(struct bench_result *res, const struct bench_thread *t,
			  double *sum_us, double *sumsq_us)
{
	latency_hist_merge(res->hist, t->hist);
	*sum_us += t->sum_us;
	*sumsq_us += t->sumsq_us;
}

void bench_account_finish(struct bench_result *res, double sum_us, double sumsq_us)
{
	if (res->delivered) {
		double n = (double)res->delivered;

		res->bytes_per_delivery /= n;
		res->mean_us = sum_us / n;
		res->stddev_us = sqrt(fmax(0, sumsq_us / n - res->mean_us * res->mean_us));
	}
	res->in_per_s = (double)res->published / res->seconds;
	res->out_per_s = (double)res->delivered / res->seconds;
	bench_result_percentiles(res);
}

void bench_result_free(struct bench_result *res)
{
	if (res->shm)
		free(res->shm->hist);
	free(res->shm);
	free(res->hist);
	res->shm = NULL;
	res->hist = NULL;
}

int bench_key_name(char *dst, size_t cap, unsigned k)
{
	return snprintf(dst, cap, "S%05u", k);
}

void bench_result_percentiles(struct bench_result *res)
{
	static const double ps[5] = { 50, 90, 99, 99.9, 99.99 };

	for (unsigned i = 0; i < 5; i++)
		res->p_ns[i] = latency_hist_percentile(res->hist, ps[i]);
	res->p_ns[5] = latency_hist_max(res->hist);
}

/* Percentile steps as HdrHistogram's outputPercentileDistribution with 5 ticks per half
 * distance: finer as p approaches 100, until a step would be below one value. */
int bench_hdr_write(const struct bench_result *res, const char *path)
{
	const struct latency_hist *h = res->hist;
	uint64_t n = latency_hist_count(h);
	FILE *f = fopen(path, "w");
	double p = 0;

	if (!f)
		return -errno;
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
	for (unsigned i = 0; n && i < 10000; i++) {
		double frac = p / 100.0;
		uint64_t v = latency_hist_percentile(h, p);
		uint64_t cnt = (uint64_t)ceil(frac * (double)n);

		if (p >= 100.0 || 1.0 / (1.0 - frac) > (double)n) {
			fprintf(f, "%12.3f %1.12f %10" PRIu64 "\n", (double)latency_hist_max(h) / 1e3,
				1.0, n);
			break;
		}
		fprintf(f, "%12.3f %1.12f %10" PRIu64 " %14.2f\n", (double)v / 1e3, frac,
			cnt ? cnt : 1, 1.0 / (1.0 - frac));
		p += 100.0 / (pow(2, floor(log2(100.0 / (100.0 - p))) + 1) * 5);
	}
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", res->mean_us, res->stddev_us);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12" PRIu64 "]\n",
		(double)latency_hist_max(h) / 1e3, n);
	fprintf(f, "#[Buckets = %12u, SubBuckets     = %12u]\n", LATENCY_HIST_BUCKETS,
		LATENCY_HIST_SUB_COUNT);
	return fclose(f) ? -errno : 0;
}
