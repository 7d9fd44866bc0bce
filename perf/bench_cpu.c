/* perf/bench_cpu.c — the CPU clocks and /proc/PID/stat of bench_cpu.h, and a run's marks
 * and spans. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "perf/bench_cpu.h"

#define STAT_LINE_MAX 1024	/* /proc/PID/stat is one line of ~52 fields */
#define STAT_UTIME_FIELD 14	/* 1-based, proc(5); stime is the next */

/* Reads all of /proc/PID/stat into buf (NUL-terminated). Returns 0 or -errno. */
static int read_stat(int pid, char *buf, size_t cap)
{
	char path[48];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		n = read(fd, buf, cap - 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	buf[n] = '\0';
	return 0;
}

int bench_cpu_stat_ns(int pid, int64_t *ns)
{
	char buf[STAT_LINE_MAX], *p, *end;
	unsigned long long ticks[2];
	long hz = sysconf(_SC_CLK_TCK);
	int rc = read_stat(pid, buf, sizeof(buf));

	if (rc)
		return rc;
	/* The command name (field 2) is in parentheses and may hold spaces or ')': fields
	 * are counted from the last ')', after which field 3 starts. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0)
		return -EBADMSG;
	p++;
	for (int f = 3; f < STAT_UTIME_FIELD; f++) {
		p += strspn(p, " ");
		p += strcspn(p, " ");
	}
	for (int i = 0; i < 2; i++) {
		errno = 0;
		ticks[i] = strtoull(p, &end, 10);
		if (end == p || errno)
			return -EBADMSG;
		p = end;
	}
	*ns = (int64_t)((ticks[0] + ticks[1]) * (1000000000ull / (unsigned long long)hz));
	return 0;
}

int bench_cpu_proc_clock(int pid, clockid_t *clock)
{
	return -clock_getcpuclockid(pid, clock);
}

int64_t bench_cpu_clock_ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts))
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double per(int64_t ns, uint64_t n)
{
	return ns >= 0 && n ? (double)ns / (double)n : NAN;
}

void bench_cpu_finish(struct bench_result *res, uint64_t deliveries)
{
	res->server_ns_per_event = per(res->server_cpu_ns, res->published);
	res->server_ns_per_delivery = per(res->server_cpu_ns, deliveries);
	res->pub_ns_per_event = per(res->pub_cpu_ns, res->published);
	res->sub_ns_per_delivery = per(res->sub_cpu_ns, res->delivered);
}

/* Every receive thread's CPU so far, or -1 when one cannot be read. */
static int64_t rx_cpu_ns(struct bench_run *r)
{
	int64_t sum = 0;

	for (unsigned i = 0; i < r->cfg->threads; i++) {
		int64_t ns = r->threads[i].has_cpu_clock ?
			     bench_cpu_clock_ns(r->threads[i].cpu_clock) : -1;

		if (ns < 0)
			return -1;
		sum += ns;
	}
	return sum;
}

void bench_cpu_mark(struct bench_run *r, struct bench_cpu_mark *m)
{
	m->mono_ns = clock_monotonic_ns();
	m->server_ns = r->has_server_clock ? bench_cpu_clock_ns(r->server_clock) : -1;
	if (r->server_pid <= 0 || bench_cpu_stat_ns(r->server_pid, &m->server_stat_ns))
		m->server_stat_ns = -1;
	m->rx_ns = rx_cpu_ns(r);
	m->shm_ns = bench_shm_cpu_ns(r);
	m->process_ns = bench_cpu_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	m->pub_ns = bench_cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static int64_t diff(int64_t from, int64_t to)
{
	return from >= 0 && to >= 0 ? to - from : -1;
}

void bench_cpu_span(const struct bench_cpu_mark *a, const struct bench_cpu_mark *b,
		    int64_t pub_end_ns, struct bench_cpu_span *s)
{
	s->server_ns = diff(a->server_ns, b->server_ns);
	s->server_stat_ns = diff(a->server_stat_ns, b->server_stat_ns);
	s->rx_ns = diff(a->rx_ns, b->rx_ns);
	s->shm_ns = diff(a->shm_ns, b->shm_ns);
	s->process_ns = diff(a->process_ns, b->process_ns);
	s->pub_ns = diff(a->pub_ns, pub_end_ns);
	s->seconds = (double)(b->mono_ns - a->mono_ns) / 1e9;
}

void bench_cpu_account(struct bench_result *res, const struct bench_cpu_span *c)
{
	struct bench_result *lines[2] = { res, res->shm };
	uint64_t deliveries = res->delivered + (res->shm ? res->shm->delivered : 0);

	for (unsigned i = 0; i < 2 && lines[i]; i++) {
		struct bench_result *l = lines[i];

		l->server_cpu_ns = c->server_ns;
		l->server_cpu_stat_ns = c->server_stat_ns;
		l->pub_cpu_ns = c->pub_ns;
		l->sub_cpu_ns = i == 0 ? c->rx_ns : c->shm_ns;
		l->bench_cpu_ns = c->process_ns;
		l->cpu_seconds = c->seconds;
		bench_cpu_finish(l, deliveries);
	}
}
