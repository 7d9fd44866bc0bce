/* perf/bench_probe.h — fanout-bench's wake-up probe (--latency-split): a thread of the
 * bench's, scheduled as its subscribers and publisher are, that sleeps 1 ms again and
 * again through the measured interval and records how late each sleep ends. It measures
 * the machine, not the system under test: what any thread waiting for an event is owed
 * on top when the CPUs are shared with the load (a late wake-up of the publisher delays
 * its send; of a subscriber, its read). */
#ifndef FANOUT_PERF_BENCH_PROBE_H
#define FANOUT_PERF_BENCH_PROBE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tools/latency_hist.h"

#define BENCH_PROBE_SLEEP_NS 1000000	/* each sleep asked for: 1 ms, cheap to wake */

struct bench_probe {
	pthread_t tid;
	bool started;
	_Atomic bool stop;
	struct latency_hist *late;	/* how late each sleep ended, ns */
};

/* Starts the probe's thread ("bench-probe"). Returns 0 or -errno. */
int bench_probe_start(struct bench_probe *p);

/* Stops and joins it; out gets the lateness p50, p99, p99.9 and max in ns (-1 each when
 * it never started or recorded nothing). Frees its histogram. */
void bench_probe_stop(struct bench_probe *p, int64_t out[4]);

#endif
