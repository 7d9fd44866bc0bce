/* perf/bench_cpu.h — CPU time (user + system) of a run's processes and threads, in ns.
 * A server is another process: its CPU comes from the kernel's CPU clock of that process
 * (clock_getcpuclockid: every thread's run time, exited threads too, to the ns), with
 * utime + stime of /proc/PID/stat (the same total, in clock ticks of 10 ms) read beside
 * it as a cross-check. The publisher and each receive thread are threads of fanout-bench:
 * their own CPU clocks (pthread_getcpuclockid); the whole bench process, libraries'
 * threads included (libzmq's I/O thread), from CLOCK_PROCESS_CPUTIME_ID.
 * A run marks every clock at the start and at the end of its measured interval
 * (bench_run.c says which) and accounts the difference. */
#ifndef FANOUT_PERF_BENCH_CPU_H
#define FANOUT_PERF_BENCH_CPU_H

#include <stdint.h>
#include <time.h>

#include "perf/bench.h"

/* utime + stime of process pid from /proc/PID/stat, as ns. Returns 0, -errno when it
 * cannot be read (-ENOENT: gone), or -EBADMSG when the line does not parse. */
int bench_cpu_stat_ns(int pid, int64_t *ns);

/* The CPU clock of process pid (Linux lets any process read another's). 0 or -errno. */
int bench_cpu_proc_clock(int pid, clockid_t *clock);

/* CPU time so far on clock c in ns, or -1 when it cannot be read (the process or thread
 * is gone). */
int64_t bench_cpu_clock_ns(clockid_t c);

/* Every clock of a run, read at one moment (mono_ns); -1 where one cannot be read. */
struct bench_cpu_mark {
	int64_t mono_ns, server_ns, server_stat_ns, rx_ns, shm_ns, process_ns, pub_ns;
};

/* The CPU spent between two marks, per clock, and the seconds between them. */
struct bench_cpu_span {
	int64_t server_ns, server_stat_ns, rx_ns, shm_ns, process_ns, pub_ns;
	double seconds;
};

/* Reads every clock of r into *m: the server's (r->server_clock, and its stat), the
 * receive threads' and shm readers' (summed), the process's, and the calling thread's as
 * the publisher's. Main thread (the publisher's), while every thread of r runs: a
 * thread's clock cannot be read once it has exited. */
void bench_cpu_mark(struct bench_run *r, struct bench_cpu_mark *m);

/* The span from a to b, the publisher's ending at pub_end_ns (its clock then) instead. */
void bench_cpu_span(const struct bench_cpu_mark *a, const struct bench_cpu_mark *b,
		    int64_t pub_end_ns, struct bench_cpu_span *s);

/* The span into res (the TCP line) and res->shm (the readers' line, when there is one:
 * the same server, publisher and process, its readers for subscribers), then each one's
 * figures per event and per delivery, the server's over both lines' deliveries. */
void bench_cpu_account(struct bench_result *res, const struct bench_cpu_span *c);

/* Fills res's per-event and per-delivery figures from its CPU totals (-1: none, giving
 * NAN), res->published and `deliveries`: every delivery the server made in the run
 * (fanout's TCP subscribers' and shm readers' together) for the server's share, res's own
 * for the subscribers'. Pure. */
void bench_cpu_finish(struct bench_result *res, uint64_t deliveries);

#endif
