/* perf/bench_run.c — one run of one system: start the server, open the publisher and
 * the subscribers (and for fanout the shm readers, bench_shm.c), receive on cfg->threads
 * threads (epoll, or zmq_poll for ZeroMQ), publish at intended times for the duration,
 * drain, ask whether the server cut the stalled subscribers (opened, never read),
 * account, stop everything.
 * CPU (bench_cpu.h) is measured over the interval in which the events that events/s and
 * deliveries/s count are handled, and nothing else: from just before the first publish
 * to the end of the drain (every owed delivery made, or given up as lost), for the
 * server, the receive threads (and shm readers) and the whole bench process; for the
 * publisher, from the same start to the end of its flush (the drain after it is the
 * harness waiting). Set-up (start, connect, subscribe, ZeroMQ's warm-up) and what comes
 * after the drain (the stalled subscribers' check, teardown) are outside it. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "perf/bench_probe.h"
#include "perf/bench_cpu.h"
#include "perf/bench_event.h"

#define RX_WAIT_MS 50
#define BATCH_MAX 8192u
#define SENT_AT_MAX (16u << 20)	/* --latency-split: sends timed, 8 bytes each */
#define WARMUP_TIMEOUT_NS (60 * 1000000000LL)
#define DRAIN_IDLE_NS 2000000000LL	/* nothing delivered for this long: the rest is lost */

/* Set from signal handlers: only a lock-free atomic is async-signal-safe. */
static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "atomic_bool must be lock-free");
static atomic_bool stop_requested;

void bench_request_stop(void)
{
	atomic_store(&stop_requested, true);
}

bool bench_stopped(void)
{
	return atomic_load(&stop_requested);
}

static const struct bench_driver *const drivers[BENCH_SYSTEMS] = {
	&bench_fanout_driver, &bench_nats_driver, &bench_redis_driver, &bench_zmq_driver,
};

static void maybe_stall(struct bench_thread *t)
{
	struct bench_run *r = t->run;
	/* Relaxed: a time, not a hand-over of other data; a late view only delays the stall. */
	int64_t at = atomic_load_explicit(&r->stall_at_mono_ns, memory_order_relaxed);

	if (t->idx == 0 && r->cfg->stall_ms && !t->stalled && at && clock_monotonic_ns() >= at) {
		t->stalled = true;
		usleep(r->cfg->stall_ms * 1000u);
	}
}

static void sub_failed(struct bench_thread *t, struct bench_sub *s, int rc)
{
	if (!atomic_load(&t->run->stop_rx))
		fprintf(stderr, "fanout-bench: %s subscriber %u lost its connection (%s)\n",
			t->run->drv->name, s->id, strerror(-rc));
	s->dead = true;
}

static void *rx_epoll(void *arg)
{
	struct bench_thread *t = arg;
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (unsigned i = 0; i < t->nsubs; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = t->subs[i] };

		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, t->subs[i]->fd, &e))
			sub_failed(t, t->subs[i], -errno);	/* counted as lost and disconnected */
	}
	if (ep < 0)
		return NULL;
	while (!atomic_load_explicit(&t->run->stop_rx, memory_order_acquire)) {
		int n = epoll_wait(ep, evs, 256, RX_WAIT_MS);

		maybe_stall(t);
		for (int i = 0; i < n; i++) {
			struct bench_sub *s = evs[i].data.ptr;
			int rc = t->run->drv->sub_read(t, s);

			if (rc < 0) {
				sub_failed(t, s, rc);
				epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
			}
		}
	}
	close(ep);
	return NULL;
}

static void *rx_zmq(void *arg)
{
	struct bench_thread *t = arg;
	zmq_pollitem_t *items = calloc(t->nsubs, sizeof(*items));

	if (!items) {
		for (unsigned i = 0; i < t->nsubs; i++)
			sub_failed(t, t->subs[i], -ENOMEM);
		return NULL;
	}
	for (unsigned i = 0; i < t->nsubs; i++)
		items[i] = (zmq_pollitem_t){ .socket = t->subs[i]->zsock, .events = ZMQ_POLLIN };
	while (!atomic_load_explicit(&t->run->stop_rx, memory_order_acquire)) {
		int n = zmq_poll(items, (int)t->nsubs, RX_WAIT_MS);

		maybe_stall(t);
		for (unsigned i = 0; n > 0 && i < t->nsubs; i++) {
			int rc;

			if (!(items[i].revents & ZMQ_POLLIN) || t->subs[i]->dead)
				continue;
			rc = t->run->drv->sub_read(t, t->subs[i]);
			if (rc < 0)
				sub_failed(t, t->subs[i], rc);
		}
	}
	free(items);
	return NULL;
}

/* Deliveries so far, TCP subscribers' and shm readers' together. */
static uint64_t total_received(struct bench_run *r)
{
	uint64_t n = bench_shm_received(r);

	for (unsigned i = 0; i < r->cfg->threads; i++)
		n += atomic_load_explicit(&r->threads[i].received, memory_order_relaxed);
	return n;
}

/* What the progress line said last. */
struct progress_mark {
	int64_t ns;
	uint64_t in, out, shm;
};

static void progress(struct bench_run *r, struct progress_mark *m)
{
	int64_t now = clock_monotonic_ns();
	uint64_t in = atomic_load_explicit(&r->published, memory_order_relaxed);
	uint64_t shm = bench_shm_received(r), out = total_received(r);
	double dt = (double)(now - m->ns) / 1e9;
	char shm_part[48] = "";

	if (r->shm)
		snprintf(shm_part, sizeof(shm_part), " (shm %.0f/s)", (double)(shm - m->shm) / dt);
	if (!r->cfg->quiet)
		fprintf(stderr, "[%s] t=%5.1fs in %10.0f ev/s out %10.0f deliveries/s%s  total in %"
			PRIu64 " out %" PRIu64 "\n", r->drv->name,
			(double)(now - r->start_mono_ns) / 1e9, (double)(in - m->in) / dt,
			(double)(out - m->out) / dt, shm_part, in, out);
	*m = (struct progress_mark){ now, in, out, shm };
}

/* Test hook: the publisher is descheduled once, mid-run, for pub_stall_ms. Events due
 * meanwhile are then sent late but keep their intended times, so the stall shows as their
 * latency (no coordinated omission). */
static void maybe_pub_stall(struct bench_run *r, int64_t now, bool *stalled)
{
	if (r->cfg->pub_stall_ms && !*stalled &&
	    now >= atomic_load_explicit(&r->stall_at_mono_ns, memory_order_relaxed)) {
		*stalled = true;
		usleep(r->cfg->pub_stall_ms * 1000u);
	}
}

/* Publishes for the duration, then flushes; the progress line is printed from here once
 * a second. *cpu0 is marked just before the first event goes out; *pub_end_ns is the
 * publisher's CPU clock once its flush returned. */
static int publish(struct bench_run *r, struct bench_pub *p, double *seconds,
		   struct bench_cpu_mark *cpu0, int64_t *pub_end_ns)
{
	const struct bench_cfg *c = r->cfg;
	static int64_t intended[BATCH_MAX];
	int64_t start_real = clock_realtime_ns(), start = clock_monotonic_ns();
	int64_t end = start + (int64_t)(c->duration_s * 1e9);
	struct progress_mark mark = { .ns = start };
	uint64_t seq = 0;
	unsigned batch = c->batch < BATCH_MAX ? c->batch : BATCH_MAX;
	bool stalled = false;
	int rc = 0;

	r->start_mono_ns = start;
	atomic_store_explicit(&r->stall_at_mono_ns, start + (end - start) / 2, memory_order_relaxed);
	bench_cpu_mark(r, cpu0);
	for (int64_t now = start; now < end && rc == 0; now = clock_monotonic_ns()) {
		uint64_t n = batch;

		if (bench_stopped()) {
			rc = -EINTR;
			break;
		}
		maybe_pub_stall(r, now, &stalled);
		if (now - mark.ns >= 1000000000)
			progress(r, &mark);
		if (c->rate > 0) {
			uint64_t due = bench_pace_due(start, c->rate, now);

			n = due > seq ? due - seq : 0;
			if (n > batch)
				n = batch;
			if (n == 0) {
				int64_t next = bench_pace_intended(start, c->rate, seq) - now;
				struct timespec ts = { 0, next > 1000000 ? 1000000 : (next > 0 ? next : 0) };

				nanosleep(&ts, NULL);
				continue;
			}
		}
		for (uint64_t k = 0; k < n; k++)
			intended[k] = c->rate > 0 ? bench_pace_intended(start_real, c->rate, seq + k)
						  : clock_realtime_ns();
		if (r->pub_late && c->rate > 0) {	/* flat out: sent when intended */
			int64_t sent = clock_realtime_ns();

			for (uint64_t k = 0; k < n; k++) {
				latency_hist_record(r->pub_late, sent - intended[k]);
				if (seq + k < r->sent_cap)
					atomic_store_explicit(&r->sent_at[seq + k], sent,
							      memory_order_release);
			}
		}
		rc = r->drv->pub_send(r, p, seq, (unsigned)n, intended);
		seq += n;
		atomic_store_explicit(&r->published, seq, memory_order_relaxed);
	}
	*seconds = (double)(clock_monotonic_ns() - start) / 1e9;
	if (rc == 0)
		rc = r->drv->pub_flush(r, p);
	*pub_end_ns = bench_cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	return rc;
}

/* ZeroMQ subscriptions propagate asynchronously: send warm-up messages until every
 * subscriber has seen one, so no event is lost to a slow joiner. */
static int warm_up(struct bench_run *r, struct bench_pub *p)
{
	int64_t deadline = clock_monotonic_ns() + WARMUP_TIMEOUT_NS;

	while (atomic_load(&r->warm) < r->cfg->subscribers) {
		if (bench_stopped())
			return -EINTR;
		if (clock_monotonic_ns() > deadline) {
			fprintf(stderr, "fanout-bench: zmq: %u of %u subscribers joined\n",
				atomic_load(&r->warm), r->cfg->subscribers);
			return -ETIMEDOUT;
		}
		/* Every 50 ms, not faster: each goes to every subscriber not yet warm, on the
		 * I/O thread that is also completing the others' connections. */
		zmq_send(p->zsock, "W", 1, ZMQ_DONTWAIT);
		usleep(50000);
	}
	return 0;
}

/* Waits until every delivery owed has arrived, or drain_s has passed, or nothing has
 * arrived for DRAIN_IDLE_NS (then the rest is lost, and account() says so). */
static void drain(struct bench_run *r, uint64_t expected)
{
	int64_t deadline = clock_monotonic_ns() + (int64_t)(r->cfg->drain_s * 1e9);
	uint64_t last = total_received(r);
	int64_t last_change = clock_monotonic_ns();

	while (clock_monotonic_ns() < deadline && !bench_stopped()) {
		uint64_t n = total_received(r);

		if (n >= expected)
			return;
		if (n != last) {
			last = n;
			last_change = clock_monotonic_ns();
		} else if (clock_monotonic_ns() - last_change > DRAIN_IDLE_NS) {
			return;
		}
		usleep(5000);
	}
}

static void account(struct bench_run *r, struct bench_result *res)
{
	const struct bench_cfg *c = r->cfg;
	double sum = 0, sumsq = 0;

	res->published = atomic_load(&r->published);
	for (unsigned i = 0; i < c->subscribers; i++) {
		struct bench_sub *s = &r->subs[i];

		bench_account_sub(res, s, c->fanout_shared ? 0 :
				  bench_owed(c, res->published, s->key_base, c->sub_symbols));
	}
	if (c->fanout_shared) {	/* owed once per event, by the group */
		res->expected = res->published;
		res->lost = res->published > res->delivered ? res->published - res->delivered : 0;
	}
	for (unsigned i = 0; i < c->threads; i++)
		bench_account_thread(res, &r->threads[i], &sum, &sumsq);
	bench_account_finish(res, sum, sumsq);
	if (bench_account_split(res, r->threads, c->threads))
		fprintf(stderr, "fanout-bench: no memory for the latency split\n");
	bench_p50_p99(r->pub_late, res->split_late_ns);
}

/* The shm readers' result beside the TCP one: same run, same clock. */
static int account_shm(struct bench_run *r, struct bench_result *res)
{
	struct bench_result *shm = calloc(1, sizeof(*shm));

	if (!shm || !(shm->hist = calloc(1, sizeof(*shm->hist)))) {
		free(shm);
		return -ENOMEM;
	}
	shm->sys = res->sys;
	shm->published = res->published;
	shm->seconds = res->seconds;
	bench_shm_account(r, shm);
	res->shm = shm;
	return 0;
}

/* The live subscribers (0 .. subscribers-1), each given to a receive thread, then the
 * stalled ones (cfg->stalled, every key each), given to none: nobody reads them. */
static int open_subs(struct bench_run *r)
{
	const struct bench_cfg *c = r->cfg;

	for (unsigned i = 0; i < c->subscribers + c->stalled; i++) {
		struct bench_sub *s = &r->subs[i];
		int rc;

		s->id = i;
		s->fd = -1;
		s->stalled = i >= c->subscribers;
		s->nkeys = s->stalled ? c->symbols : c->sub_symbols;
		s->key_base = s->stalled ? 0 : (unsigned)(((uint64_t)i * c->sub_symbols) % c->symbols);
		s->buf = malloc(BENCH_SUB_BUF_BYTES);
		s->key_next = calloc(c->sub_symbols, sizeof(*s->key_next));
		if (!s->buf || !s->key_next)
			return -ENOMEM;
		for (unsigned k = 0; k < c->sub_symbols; k++)	/* first seq owed of each key */
			s->key_next[k] = bench_next_owed(c, (s->key_base + k) % c->symbols);
		rc = r->drv->sub_open(r, s);
		if (rc) {
			fprintf(stderr, "fanout-bench: %s %ssubscriber %u: %s\n", r->drv->name,
				s->stalled ? "stalled " : "", i, strerror(-rc));
			return rc;
		}
		if (!s->stalled) {
			struct bench_thread *t = &r->threads[i % c->threads];

			t->subs[t->nsubs++] = s;
		}
	}
	return 0;
}

/* After the drain: which stalled subscribers the server cut. An undecidable one (the
 * check failed) is said on stderr and counted as not cut. */
static void check_stalled(struct bench_run *r, struct bench_result *res)
{
	const struct bench_cfg *c = r->cfg;

	res->stalled = c->stalled;
	for (unsigned i = c->subscribers; i < c->subscribers + c->stalled && !bench_stopped(); i++) {
		int rc = r->drv->sub_cut(r, &r->subs[i]);

		if (rc < 0)
			fprintf(stderr, "fanout-bench: %s stalled subscriber %u: cannot tell whether "
				"it was cut (%s)\n", r->drv->name, i, strerror(-rc));
		else
			res->stalled_cut += (unsigned)rc;
	}
}

static void teardown(struct bench_run *r, struct bench_pub *p)
{
	bench_bulk_close(r);
	bench_shm_close(r);
	for (unsigned i = 0; r->subs && i < r->cfg->subscribers + r->cfg->stalled; i++) {
		if (r->subs[i].buf)
			r->drv->sub_close(&r->subs[i]);
		free(r->subs[i].buf);
		free(r->subs[i].key_next);
	}
	r->drv->pub_close(p);
	for (unsigned i = 0; i < r->cfg->threads; i++) {
		free(r->threads[i].subs);
		free(r->threads[i].hist);
		free(r->threads[i].hist_in);
		free(r->threads[i].hist_out);
		free(r->threads[i].hist_sent);
	}
	free(r->subs);
	free(r->pub_late);
	free((void *)r->sent_at);
	free((void *)r->events);
	if (r->zctx)
		zmq_ctx_term(r->zctx);
	bench_stop_pid(r->server_pid);
	bench_rmtree(r->tmpdir);
}

/* Everything a run allocates before it starts anything, and the events it publishes.
 * Returns 0, -ENOMEM, or bench_events_init's error. */
static int run_alloc(struct bench_run *r, const struct bench_cfg *cfg, enum bench_system sys)
{
	struct bench_events *ev = malloc(sizeof(*ev));
	int rc;

	r->cfg = cfg;
	r->drv = drivers[sys];
	r->server_pid = -1;
	r->events = ev;
	r->subs = calloc(cfg->subscribers + cfg->stalled, sizeof(*r->subs));
	if (!r->subs || !ev)
		return -ENOMEM;
	rc = bench_events_init(ev, cfg->symbols, cfg->pub_bad_event, cfg->audit);
	if (rc)
		return rc;
	for (unsigned i = 0; i < cfg->subscribers + cfg->stalled; i++)
		r->subs[i].fd = -1;	/* not descriptor 0 until opened */
	for (unsigned i = 0; i < cfg->threads; i++) {
		r->threads[i] = (struct bench_thread){ .run = r, .idx = i };
		r->threads[i].subs = calloc(cfg->subscribers, sizeof(struct bench_sub *));
		r->threads[i].hist = calloc(1, sizeof(struct latency_hist));
		if (!r->threads[i].subs || !r->threads[i].hist)
			return -ENOMEM;
		if (sys == BENCH_FANOUT && cfg->latency_split) {	/* events carry receive_time_ns */
			r->threads[i].hist_in = calloc(1, sizeof(struct latency_hist));
			r->threads[i].hist_out = calloc(1, sizeof(struct latency_hist));
			r->threads[i].hist_sent = calloc(1, sizeof(struct latency_hist));
			if (!r->threads[i].hist_in || !r->threads[i].hist_out ||
			    !r->threads[i].hist_sent)
				return -ENOMEM;
		}
	}
	if (sys == BENCH_FANOUT && cfg->latency_split) {
		if (!(r->pub_late = calloc(1, sizeof(struct latency_hist))))
			return -ENOMEM;
		if (cfg->rate > 0) {
			/* All it can send and a margin, at most SENT_AT_MAX (128 MiB): past that,
			 * no latency from the actual send. Touched now, so the publisher takes no
			 * page fault on its timed path. */
			double want = cfg->rate * cfg->duration_s + BATCH_MAX;

			r->sent_cap = want < SENT_AT_MAX ? (uint64_t)want : SENT_AT_MAX;
			r->sent_at = malloc(r->sent_cap * sizeof(*r->sent_at));
			if (!r->sent_at)
				return -ENOMEM;
			for (uint64_t k = 0; k < r->sent_cap; k++)
				atomic_store_explicit(&r->sent_at[k], 0, memory_order_relaxed);
		}
	}
	if (sys == BENCH_ZMQ) {
		r->zctx = zmq_ctx_new();
		/* A stalled subscriber has two more: its monitor's PAIR and the one it feeds. */
		if (!r->zctx || zmq_ctx_set(r->zctx, ZMQ_MAX_SOCKETS,
					    (int)(cfg->subscribers + 3 * cfg->stalled) + 64))
			return -ENOMEM;
	}
	return 0;
}

/* The server's CPU clock, once it runs (none for ZeroMQ: no server). */
static void server_clock(struct bench_run *r)
{
	int rc;

	if (r->server_pid <= 0)
		return;
	rc = bench_cpu_proc_clock(r->server_pid, &r->server_clock);
	r->has_server_clock = rc == 0;
	if (rc)
		fprintf(stderr, "fanout-bench: %s: cannot read the server's CPU clock (%s)\n",
			r->drv->name, strerror(-rc));
}

/* Starts the receive threads, each with its CPU clock. */
static int start_rx(struct bench_run *r, pthread_t *tids, unsigned *started)
{
	void *(*fn)(void *) = r->drv == &bench_zmq_driver ? rx_zmq : rx_epoll;

	while (*started < r->cfg->threads) {
		struct bench_thread *t = &r->threads[*started];
		int rc = -pthread_create(&tids[*started], NULL, fn, t);

		if (rc)
			return rc;
		t->has_cpu_clock = pthread_getcpuclockid(tids[*started], &t->cpu_clock) == 0;
		(*started)++;
	}
	return 0;
}

/* Start-up to the end of the drain; receive threads are joined by the caller. *cpu gets
 * the measured interval's CPU. */
static int run_phases(struct bench_run *r, struct bench_pub *p, pthread_t *tids,
		      unsigned *started, struct bench_result *res, struct bench_cpu_span *cpu)
{
	const struct bench_cfg *cfg = r->cfg;
	/* Shared-memory rings are fanoutd's: peers run with their TCP subscribers only. */
	bool shm = r->drv == &bench_fanout_driver && cfg->shm_readers > 0;
	struct bench_cpu_mark m0, m1;
	uint64_t exp = 0, published;
	int64_t pub_end_ns = -1;
	struct bench_probe probe = { .started = false };
	int rc = r->drv->server_start(r);

	if (!rc) {
		server_clock(r);
		rc = r->drv->pub_open(r, p);
	}
	if (!rc)
		rc = open_subs(r);
	if (!rc && shm)
		rc = bench_shm_open(r);
	if (!rc)
		rc = start_rx(r, tids, started);
	if (!rc && shm)
		rc = bench_shm_start(r);
	if (!rc && r->drv == &bench_zmq_driver)
		rc = warm_up(r, p);
	if (!rc && cfg->bulk_subscribers)	/* fanout only (bench_cfg.c) */
		rc = bench_bulk_start(r);
	if (!rc && r->pub_late)
		rc = bench_probe_start(&probe);
	if (!rc)
		rc = publish(r, p, &res->seconds, &m0, &pub_end_ns);
	bench_probe_stop(&probe, res->probe_late_ns);
	if (rc)
		return rc;
	published = atomic_load(&r->published);
	for (unsigned i = 0; i < cfg->subscribers; i++)
		exp += bench_owed(cfg, published, r->subs[i].key_base, cfg->sub_symbols);
	if (cfg->fanout_shared)	/* each event once, to one of the consumers */
		exp = published;
	drain(r, exp + (shm ? bench_shm_owed(r, published) : 0));
	bench_cpu_mark(r, &m1);	/* before any thread is joined: their clocks go with them */
	bench_bulk_stop(r, res);
	bench_cpu_span(&m0, &m1, pub_end_ns, cpu);
	check_stalled(r, res);
	return bench_stopped() ? -EINTR : 0;
}

int bench_run_one(const struct bench_cfg *cfg, enum bench_system sys, struct bench_result *res)
{
	struct bench_run *r = calloc(1, sizeof(*r));
	struct bench_pub p = { .fd = -1 };
	pthread_t tids[BENCH_THREADS_MAX];
	struct bench_cpu_span cpu = { .server_ns = -1, .server_stat_ns = -1, .rx_ns = -1,
				      .shm_ns = -1, .process_ns = -1, .pub_ns = -1 };
	unsigned started = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	res->sys = sys;
	res->split_in_ns[0] = res->split_in_ns[1] = -1;
	res->split_out_ns[0] = res->split_out_ns[1] = -1;
	res->split_late_ns[0] = res->split_late_ns[1] = -1;
	res->split_sent_ns[0] = res->split_sent_ns[1] = -1;
	for (int i = 0; i < 4; i++)
		res->probe_late_ns[i] = -1;
	bench_cpu_account(res, &cpu);	/* unmeasured (-1) until the run completes */
	res->hist = calloc(1, sizeof(*res->hist));
	if (!r || !res->hist) {
		free(r);
		return res->error = -ENOMEM;
	}
	rc = run_alloc(r, cfg, sys);
	if (!rc)
		rc = run_phases(r, &p, tids, &started, res, &cpu);
	atomic_store_explicit(&r->stop_rx, true, memory_order_release);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (!rc) {
		account(r, res);
		if (r->shm)
			rc = account_shm(r, res);
	}
	if (!rc)
		bench_cpu_account(res, &cpu);
	if (!rc) {
		res->pub_bytes_per_event = res->published ? (double)p.bytes / (double)res->published : 0;
	} else {
		fprintf(stderr, "fanout-bench: %s run failed: %s\n", r->drv ? r->drv->name :
			drivers[sys]->name, strerror(-rc));
	}
	res->error = rc;
	if (r->drv)
		teardown(r, &p);
	free(r);
	return rc;
}
