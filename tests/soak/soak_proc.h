/* tests/soak/soak_proc.h — the small things every soak process needs: seeded randomness
 * that a run can repeat, monotonic time, bounded sleeps, and forking a child that dies
 * with the driver. One thread per process; nothing here is shared between processes. */
#ifndef FANOUT_TESTS_SOAK_PROC_H
#define FANOUT_TESTS_SOAK_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* splitmix64: tiny, good enough for choosing what to break next, and the same stream for
 * the same seed on every machine. */
struct soak_rng {
	uint64_t s;
};

void soak_rng_seed(struct soak_rng *r, uint64_t seed, uint64_t stream);
uint64_t soak_rng_next(struct soak_rng *r);
/* Uniform in [lo, hi] (hi >= lo). */
uint64_t soak_rng_range(struct soak_rng *r, uint64_t lo, uint64_t hi);
/* True with probability pct / 100. */
bool soak_rng_chance(struct soak_rng *r, unsigned pct);

/* Random streams of one seed: the driver's, and each client's per incarnation. */
enum { SOAK_STREAM_DRIVER, SOAK_STREAM_PUB, SOAK_STREAM_SUB, SOAK_STREAM_RING,
       SOAK_STREAM_HOSTILE };

static inline uint64_t soak_stream(unsigned role, unsigned idx, unsigned incarnation)
{
	return (uint64_t)role << 48 | (uint64_t)idx << 32 | incarnation;
}

/* A 64-bit mix (the splitmix64 finaliser): keys and fingerprints derive from it. */
uint64_t soak_mix(uint64_t x);

/* Set by the driver's SIGINT/SIGTERM/SIGHUP handler: every waiting loop of the driver
 * gives up, and whatever it started is killed on the way out. */
extern volatile sig_atomic_t soak_interrupted;

int64_t soak_now_ns(void);
void soak_sleep_ms(int64_t ms);

/* Forks a child that runs fn(arg) and _exits with its return value. The child is
 * SIGKILLed if the driver dies (PR_SET_PDEATHSIG) and starts with default signal
 * handling. Returns the pid, or -errno. Driver only. */
pid_t soak_fork(int (*fn)(void *), void *arg);

/* SIGKILLs pid (> 0) and reaps it; returns its wait status. Driver only. */
int soak_kill_wait(pid_t pid);

#endif
