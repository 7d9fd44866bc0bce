/* perf/bench_probe.c — see bench_probe.h. */
#include "perf/bench_probe.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"

static void *probe_main(void *arg)
{
	struct bench_probe *p = arg;

	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		struct timespec ts = { 0, BENCH_PROBE_SLEEP_NS };
		int64_t t0 = clock_monotonic_ns();

		nanosleep(&ts, NULL);
		latency_hist_record(p->late, clock_monotonic_ns() - t0 - BENCH_PROBE_SLEEP_NS);
	}
	return NULL;
}

int bench_probe_start(struct bench_probe *p)
{
	int rc;

	*p = (struct bench_probe){ .late = calloc(1, sizeof(*p->late)) };
	if (!p->late)
		return -ENOMEM;
	rc = pthread_create(&p->tid, NULL, probe_main, p);
	if (rc) {
		free(p->late);
		p->late = NULL;
		return -rc;
	}
	(void)pthread_setname_np(p->tid, "bench-probe");
	p->started = true;
	return 0;
}

void bench_probe_stop(struct bench_probe *p, int64_t out[4])
{
	static const double ps[3] = { 50, 99, 99.9 };

	for (int i = 0; i < 4; i++)
		out[i] = -1;
	if (!p->started)
		return;
	atomic_store_explicit(&p->stop, true, memory_order_relaxed);
	pthread_join(p->tid, NULL);
	p->started = false;
	if (latency_hist_count(p->late)) {
		for (int i = 0; i < 3; i++)
			out[i] = (int64_t)latency_hist_percentile(p->late, ps[i]);
		out[3] = (int64_t)latency_hist_max(p->late);
	}
	free(p->late);
	p->late = NULL;
}
