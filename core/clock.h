/* core/clock.h — time. Event times on the wire are CLOCK_REALTIME ns so that processes on
 * one host can compare them; durations use CLOCK_MONOTONIC. Any thread. */
#ifndef FANOUT_CORE_CLOCK_H
#define FANOUT_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
