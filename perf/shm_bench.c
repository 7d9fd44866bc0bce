/* perf/shm_bench.c — shm-bench: what one shared-memory ring delivers between two
 * processes on this machine.
 *   raw:  a bare single-producer single-consumer ring of fixed 128-byte slots in shared
 *         memory (head and tail on their own cache lines, backpressure when full): the
 *         physical bound, nothing fanout-specific.
 *   ring: shm/ring_writer.c -> libfanout-shm (zero-copy poll + validate), 100-byte
 *         payload frames, the reader busy-spinning.
 * Each is measured flat out (events/s, medians over --repeat runs) and at a fixed rate
 * (--rate, default 1M/s: latency from the intended send time to the reader seeing the
 * event, so a producer that falls behind is charged for it; p50/p99/p99.9/max, medians
 * over the runs). The producer is pinned to CPU 0 and the consumer to CPU 1 unless
 * --no-pin. Results: a table on stderr, one JSON object on stdout. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/fanout_shm.h"
#include "shm/ring_format.h"
#include "shm/ring_writer.h"
#include "tools/latency_hist.h"

#define PAYLOAD_BYTES 100u
#define RAW_SLOTS (1u << 16)		/* 8 MiB of 128-byte slots */
#define RAW_SLOT_BYTES 128u
#define REPEAT_MAX 21
#define RING_BYTES (64ull << 20)

/* Where consumers fold the bytes they touch, so the reads are not optimised away. */
static volatile uint64_t g_sink;

struct bench_opts {
	double seconds;
	uint64_t rate;
	int repeat;
	bool pin;
	const char *dir;
};

/* What the consumer reports back through shared memory. */
struct result {
	_Atomic uint64_t produced;	/* set by the producer when it stops */
	_Atomic int done;
	uint64_t consumed, lost;
	double secs;			/* first to last event seen */
	struct latency_hist hist;
};

/* The raw ring: producer and consumer counters on separate lines. */
struct raw_ring {
	_Alignas(64) _Atomic uint64_t head;	/* written by the producer */
	_Alignas(64) _Atomic uint64_t tail;	/* written by the consumer */
	_Alignas(64) uint8_t slots[RAW_SLOTS][RAW_SLOT_BYTES];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(const struct bench_opts *o, int cpu)
{
	cpu_set_t set;

	if (!o->pin)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);	/* best effort: fewer CPUs is fine */
}

static void *shared_alloc(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);

	if (p == MAP_FAILED) {
		perror("shm-bench: mmap");
		exit(1);
	}
	return p;
}

/* The intended send time of event i at rate (0 = flat out: now). */
static uint64_t pace(uint64_t start, uint64_t i, uint64_t rate)
{
	uint64_t t;

	if (!rate)
		return now_ns();
	t = start + i * 1000000000u / rate;
	while (now_ns() < t)
		;
	return t;
}

/* ---- raw SPSC ring ------------------------------------------------------------------ */

/* Paced runs read the clock per event for its latency; flat-out runs only at the first
 * and the last event (each clock read costs ~20 ns, a fifth of the budget at 10M/s). */
static void raw_consume(struct raw_ring *q, struct result *res, const struct bench_opts *o,
			bool paced)
{
	uint64_t tail = 0, first = 0, last = 0, sum = 0;

	pin(o, 1);
	for (;;) {
		uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);

		if (tail == head) {
			if (atomic_load_explicit(&res->done, memory_order_acquire) &&
			    tail == atomic_load_explicit(&q->head, memory_order_acquire))
				break;
			continue;
		}
		if (!first)
			first = now_ns();
		for (; tail < head; tail++) {
			const uint8_t *s = q->slots[tail % RAW_SLOTS];
			uint64_t sent;

			memcpy(&sent, s, sizeof(sent));
			sum += s[8] + s[8 + PAYLOAD_BYTES - 1];	/* touch the payload */
			if (paced)
				latency_hist_record(&res->hist, (int64_t)(now_ns() - sent));
			/* Free slots as it goes, so a full producer never waits a whole batch. */
			if ((tail & 255) == 255)
				atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
		}
		atomic_store_explicit(&q->tail, tail, memory_order_release);
		last = tail == atomic_load_explicit(&res->produced, memory_order_acquire) ? now_ns()
											 : last;
	}
	res->consumed = tail;
	res->secs = (double)((last ? last : now_ns()) - first) / 1e9;
	g_sink = sum;
}

static void raw_produce(struct raw_ring *q, struct result *res, const struct bench_opts *o,
			uint64_t rate)
{
	uint8_t payload[PAYLOAD_BYTES];
	uint64_t start = now_ns(), end = start + (uint64_t)(o->seconds * 1e9), i = 0;
	uint64_t tail = 0;

	memset(payload, 0x5a, sizeof(payload));
	pin(o, 0);
	for (; (i & 1023) || now_ns() < end; i++) {
		uint64_t t = rate ? pace(start, i, rate) : 0;
		uint8_t *s;

		while (i - tail >= RAW_SLOTS)	/* full: wait (the bound is lossless) */
			tail = atomic_load_explicit(&q->tail, memory_order_acquire);
		s = q->slots[i % RAW_SLOTS];
		memcpy(s, &t, sizeof(t));
		memcpy(s + 8, payload, sizeof(payload));
		atomic_store_explicit(&q->head, i + 1, memory_order_release);
	}
	atomic_store_explicit(&res->produced, i, memory_order_release);
	atomic_store_explicit(&res->done, 1, memory_order_release);
}

static void run_raw(const struct bench_opts *o, uint64_t rate, struct result *res)
{
	struct raw_ring *q = shared_alloc(sizeof(*q));
	pid_t pid;

	memset(res, 0, sizeof(*res));
	pid = fork();
	if (pid == 0) {
		raw_consume(q, res, o, rate != 0);
		_exit(0);
	}
	raw_produce(q, res, o, rate);
	waitpid(pid, NULL, 0);
	munmap(q, sizeof(*q));
}

/* ---- shm ring writer -> libfanout-shm ----------------------------------------------- */

/* A delimited frame of a 100-byte body (the reader does not decode: it reads in place). */
static uint32_t bench_frame(uint8_t *f)
{
	f[0] = PAYLOAD_BYTES;	/* varint: one byte below 128 */
	memset(f + 1, 0x5a, PAYLOAD_BYTES);
	return PAYLOAD_BYTES + 1;
}

static int ring_consume(const char *path, struct result *res, const struct bench_opts *o,
			int ready_fd, bool paced)
{
	struct fanout_shm_opts so;
	struct fanout_shm_record rec;
	struct fanout_shm *r;
	uint64_t first = 0, last = 0, sum = 0;
	char err[256], c = 1;

	pin(o, 1);
	fanout_shm_opts_init(&so);
	so.spin_iterations = FANOUT_SHM_SPIN_FOREVER;
	if (fanout_shm_open(&r, path, &so, err, sizeof(err)) < 0) {
		fprintf(stderr, "shm-bench: %s\n", err);
		return 1;
	}
	if (write(ready_fd, &c, 1) != 1)
		return 1;
	for (;;) {
		int rc = fanout_shm_poll(r, &rec);

		if (rc == FANOUT_SHM_EVENT) {
			uint64_t now = paced ? now_ns() : 0;

			sum += rec.body[0] + rec.body[rec.body_len - 1];	/* use it in place */
			if (fanout_shm_validate(r, &rec) < 0)
				continue;
			if (paced)
				latency_hist_record(&res->hist, (int64_t)(now - rec.recv_ns));
			if (res->consumed++ == 0)
				first = now_ns();
			if (rec.offset + 1 == atomic_load_explicit(&res->produced,
								  memory_order_relaxed))
				last = now_ns();
		} else if (rc == FANOUT_SHM_GAP) {
			res->lost += rec.lost;
		} else if (atomic_load_explicit(&res->done, memory_order_acquire) &&
			   res->consumed + res->lost >=
			   atomic_load_explicit(&res->produced, memory_order_acquire)) {
			break;
		}
	}
	res->secs = (double)((last ? last : now_ns()) - first) / 1e9;
	fanout_shm_close(r);
	g_sink = sum;
	return 0;
}

/* Flat out, the bench (not the writer, which never waits) holds back to half a ring ahead
 * of the reader, as the raw ring does when full: a lossless throughput, comparable. */
static void ring_backpressure(struct shm_ring_writer *w, uint64_t written, uint64_t *seen)
{
	const struct shm_reader_area *a =
		(const struct shm_reader_area *)((const uint8_t *)shm_ring_base(w) + SHM_SLOTS_OFFSET);
	uint64_t half = RING_BYTES / 2 / 192;	/* records: a 101-byte frame takes 192 bytes */

	while (written - *seen > half)
		*seen = atomic_load_explicit(&a->slots[0].seq, memory_order_relaxed);
}

static void run_ring(const struct bench_opts *o, uint64_t rate, struct result *res)
{
	struct shm_ring_opts ro = { .dir = o->dir, .bytes = RING_BYTES, .topic = "bench",
				    .partitions = 1 };
	struct shm_ring_writer *w;
	uint8_t frame[PAYLOAD_BYTES + 8];
	uint32_t len = bench_frame(frame);
	char name[64], path[4096], c;
	uint64_t start, end, i = 0, seen = 0;
	int fds[2];
	pid_t pid;

	memset(res, 0, sizeof(*res));
	snprintf(name, sizeof(name), "shm-bench-%d", (int)getpid());
	ro.name = name;
	if (shm_ring_create(&w, &ro, path, sizeof(path)) < 0 || pipe(fds) < 0) {
		fprintf(stderr, "shm-bench: cannot create the ring in %s\n", o->dir);
		exit(1);
	}
	pid = fork();
	if (pid == 0)
		_exit(ring_consume(path, res, o, fds[1], rate != 0));
	if (read(fds[0], &c, 1) != 1)
		exit(1);
	pin(o, 0);
	start = now_ns();
	end = start + (uint64_t)(o->seconds * 1e9);
	for (; (i & 1023) || now_ns() < end; i++) {
		uint64_t t = rate ? pace(start, i, rate) : 0;

		if (!rate)
			ring_backpressure(w, i, &seen);
		shm_ring_write(w, frame, len, 0, i, t);
		if ((i & 63) == 63)
			shm_ring_wake(w);
	}
	shm_ring_wake(w);
	atomic_store_explicit(&res->produced, i, memory_order_release);
	atomic_store_explicit(&res->done, 1, memory_order_release);
	waitpid(pid, NULL, 0);
	shm_ring_destroy(w);
	close(fds[0]);
	close(fds[1]);
}

/* ---- repeats and medians ------------------------------------------------------------- */

struct summary {
	double eps, p50_us, p99_us, p999_us, max_us, lost;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct summary measure(const struct bench_opts *o, bool raw, uint64_t rate)
{
	struct result *res = shared_alloc(sizeof(*res));
	double eps[REPEAT_MAX], p50[REPEAT_MAX], p99[REPEAT_MAX], p999[REPEAT_MAX],
	       max[REPEAT_MAX], lost[REPEAT_MAX];
	struct summary s;

	for (int k = 0; k < o->repeat; k++) {
		if (raw)
			run_raw(o, rate, res);
		else
			run_ring(o, rate, res);
		eps[k] = res->secs > 0 ? (double)res->consumed / res->secs : 0;
		p50[k] = (double)latency_hist_percentile(&res->hist, 50) / 1e3;
		p99[k] = (double)latency_hist_percentile(&res->hist, 99) / 1e3;
		p999[k] = (double)latency_hist_percentile(&res->hist, 99.9) / 1e3;
		max[k] = (double)latency_hist_max(&res->hist) / 1e3;
		lost[k] = (double)res->lost;
		fprintf(stderr, "  %s %s run %d: %.2fM events/s", raw ? "raw " : "ring",
			rate ? "paced" : "flat", k + 1, eps[k] / 1e6);
		if (rate)
			fprintf(stderr, ", p50 %.2f p99 %.2f p99.9 %.2f max %.1f us", p50[k], p99[k],
				p999[k], max[k]);
		fprintf(stderr, ", lost %.0f\n", lost[k]);
	}
	s = (struct summary){ median(eps, o->repeat), median(p50, o->repeat),
			      median(p99, o->repeat), median(p999, o->repeat),
			      median(max, o->repeat), median(lost, o->repeat) };
	munmap(res, sizeof(*res));
	return s;
}

static void print_json(const char *name, const struct summary *s, bool last)
{
	printf("\"%s\":{\"events_per_s\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,"
	       "\"max_us\":%.1f,\"lost\":%.0f}%s", name, s->eps, s->p50_us, s->p99_us, s->p999_us,
	       s->max_us, s->lost, last ? "" : ",");
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' }, { "rate", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' }, { "no-pin", no_argument, NULL, 'P' },
		{ "dir", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*o = (struct bench_opts){ .seconds = 1, .rate = 1000000, .repeat = 5, .pin = true,
				  .dir = "/dev/shm" };
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': o->seconds = atof(optarg); break;
		case 'r': o->rate = strtoull(optarg, NULL, 10); break;
		case 'n': o->repeat = atoi(optarg); break;
		case 'P': o->pin = false; break;
		case 'd': o->dir = optarg; break;
		case 'h':
			printf("usage: shm-bench [--seconds S (1)] [--rate N/s (1000000)] "
			       "[--repeat K (5)] [--no-pin] [--dir DIR (/dev/shm)]\n");
			exit(0);
		default:
			return -1;
		}
	}
	if (!(o->seconds > 0 && o->seconds <= 60) || o->repeat < 1 || o->repeat > REPEAT_MAX ||
	    o->rate == 0) {
		fprintf(stderr, "shm-bench: --seconds 0..60, --repeat 1..%d, --rate > 0\n",
			REPEAT_MAX);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct summary s[4];

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	fprintf(stderr, "shm-bench: %.1f s per run, %d runs, paced at %" PRIu64 "/s\n",
		o.seconds, o.repeat, o.rate);
	s[0] = measure(&o, true, 0);
	s[1] = measure(&o, true, o.rate);
	s[2] = measure(&o, false, 0);
	s[3] = measure(&o, false, o.rate);
	fprintf(stderr, "\n%-22s %12s %9s %9s %9s %9s %8s\n", "medians", "events/s", "p50 us",
		"p99 us", "p99.9 us", "max us", "lost");
	for (int i = 0; i < 4; i++) {
		static const char *names[] = { "raw SPSC, flat out", "raw SPSC, paced",
					       "fanout ring, flat out", "fanout ring, paced" };

		if (i % 2 == 0)	/* flat out: a throughput; no latency is measured */
			fprintf(stderr, "%-22s %12.0f %9s %9s %9s %9s %8.0f\n", names[i], s[i].eps,
				"-", "-", "-", "-", s[i].lost);
		else
			fprintf(stderr, "%-22s %12.0f %9.2f %9.2f %9.2f %9.1f %8.0f\n", names[i],
				s[i].eps, s[i].p50_us, s[i].p99_us, s[i].p999_us, s[i].max_us,
				s[i].lost);
	}
	printf("{");
	print_json("raw_flat", &s[0], false);
	print_json("raw_paced", &s[1], false);
	print_json("ring_flat", &s[2], false);
	print_json("ring_paced", &s[3], true);
	printf(",\"seconds\":%.1f,\"repeat\":%d,\"rate\":%" PRIu64 "}\n", o.seconds, o.repeat,
	       o.rate);
	return 0;
}
