/* tests/soak/soak_proc.c — see soak_proc.h. */
#include "tests/soak/soak_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t soak_interrupted;

uint64_t soak_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void soak_rng_seed(struct soak_rng *r, uint64_t seed, uint64_t stream)
{
	/* Streams of one seed must not overlap: mixing the stream in gives each its own
	 * starting point on the splitmix sequence. */
	r->s = soak_mix(seed ^ soak_mix(stream + 1));
}

uint64_t soak_rng_next(struct soak_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return soak_mix(r->s);
}

uint64_t soak_rng_range(struct soak_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	/* The modulo bias over a 64-bit draw is far below anything a soak can notice. */
	return lo + soak_rng_next(r) % (hi - lo + 1);
}

bool soak_rng_chance(struct soak_rng *r, unsigned pct)
{
	return soak_rng_next(r) % 100 < pct;
}

int64_t soak_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void soak_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	if (ms <= 0)
		return;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

pid_t soak_fork(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	/* A killed driver must not leave clients behind on a shared machine. The check
	 * after prctl closes the race with a driver that died before it ran. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	_exit(fn(arg));
}

int soak_kill_wait(pid_t pid)
{
	int status = -1;

	if (pid <= 0)
		return -1;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}
