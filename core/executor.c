/* core/executor.c — the executor thread (see executor.h). */
#include "core/executor.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

void executor_dirty(struct executor *x, struct log *log)
{
	struct log *head;

	/* The caller's tail (or segment) store, then the flag: the pass clears the flag,
	 * then reads the tail; with both fences one of the two sees the other's store
	 * (otherwise both could read the old value, and the publish would be neither
	 * copied nor queued). */
	atomic_thread_fence(memory_order_seq_cst);
	/* Already queued: the next pass reads the new tail too. */
	if (atomic_load_explicit(&log->dirty, memory_order_relaxed) ||
	    atomic_exchange_explicit(&log->dirty, true, memory_order_acq_rel))
		return;
	head = atomic_load_explicit(&x->dirty, memory_order_relaxed);
	do
		log->dirty_next = head;
	while (!atomic_compare_exchange_weak_explicit(&x->dirty, &head, log, memory_order_release,
						      memory_order_relaxed));
	/* The thread sets sleeping, then looks at the stack: either it sees this log, or
	 * this load sees it sleeping (seq_cst on both sides). */
	atomic_thread_fence(memory_order_seq_cst);
	if (head == NULL && atomic_load_explicit(&x->sleeping, memory_order_relaxed)) {
		uint64_t one = 1;

		if (write(x->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			perror("fanoutd: executor wake-up");
	}
}

/* A log whose disk write failed goes on the retry list (linked through the log: no
 * bound on how many; a refused writer never marks its log dirty again). */
static void executor_retry_add(struct executor *x, struct log *log)
{
	if (log->in_retry)
		return;
	log->in_retry = true;
	log->retry_next = x->retry;
	x->retry = log;
	x->nretry++;
}

static void executor_note(struct executor *x, struct log *log, int rc)
{
	atomic_fetch_add(&x->errors, 1);
	if (rc != x->last_error)	/* once per kind of failure, not once per pass */
		fprintf(stderr, "fanoutd: cannot write %s to disk: %s; appends to it are refused "
			"(LOG_FULL) until it can, what it holds is kept in %s\n", log->dir,
			strerror(-rc), log->hot_dir);
	x->last_error = rc;
}

/* One pass over the logs marked dirty. Returns how many there were. */
static uint32_t executor_pass(struct executor *x)
{
	struct log *log = atomic_exchange_explicit(&x->dirty, NULL, memory_order_acquire);
	uint32_t n = 0;

	while (log) {
		struct log *next = log->dirty_next;
		int rc;

		/* Unmarked before its pass: a publish from now on queues it again (the
		 * fence pairs with executor_dirty's: see there). */
		atomic_store_explicit(&log->dirty, false, memory_order_seq_cst);
		atomic_thread_fence(memory_order_seq_cst);
		rc = log_persist(log);
		if (rc < 0) {
			executor_note(x, log, rc);
			executor_retry_add(x, log);
		}
		log = next;
		n++;
	}
	atomic_fetch_add(&x->persisted_logs, n);
	atomic_fetch_add(&x->passes, 1);
	return n;
}

static void executor_retry(struct executor *x)
{
	struct log **link = &x->retry;
	uint32_t recovered = 0;

	while (*link) {
		struct log *log = *link;

		if (log_persist(log) < 0) {
			link = &log->retry_next;
			continue;
		}
		*link = log->retry_next;
		log->in_retry = false;
		x->nretry--;
		recovered++;
	}
	if (recovered && x->last_error)	/* once per retry pass, not once per log */
		fprintf(stderr, "fanoutd: %u logs are written to disk again (%u still wait)\n",
			recovered, x->nretry);
	if (x->nretry == 0)
		x->last_error = 0;
}

static void executor_sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleeps until a push wakes it (or a retry is due). */
static void executor_wait(struct executor *x, int timeout_ms)
{
	struct pollfd p = { .fd = x->efd, .events = POLLIN };
	uint64_t v;

	atomic_store_explicit(&x->sleeping, true, memory_order_seq_cst);
	if (atomic_load_explicit(&x->dirty, memory_order_seq_cst) == NULL &&
	    !atomic_load(&x->stop))
		(void)poll(&p, 1, timeout_ms);
	atomic_store_explicit(&x->sleeping, false, memory_order_relaxed);
	if (read(x->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("fanoutd: executor eventfd");
}

/* A release asked for: a pass now (what was queued before the request), the logs out of
 * the retry list, then the answer. */
static void executor_release_check(struct executor *x)
{
	uint64_t req = atomic_load_explicit(&x->release_req, memory_order_acquire);

	if (req == atomic_load_explicit(&x->release_done, memory_order_relaxed))
		return;
	executor_pass(x);
	for (uint32_t j = 0; j < x->release_n; j++) {
		struct log *gone = x->release_logs[j];

		if (!gone->in_retry)
			continue;
		for (struct log **link = &x->retry; *link; link = &(*link)->retry_next) {
			if (*link != gone)
				continue;
			*link = gone->retry_next;
			gone->in_retry = false;
			x->nretry--;
			break;
		}
	}
	atomic_store_explicit(&x->release_done, req, memory_order_release);
}

int executor_release(struct executor *x, struct log *const *logs, uint32_t n, int timeout_ms)
{
	int64_t deadline = clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	uint64_t req, one = 1;

	if (!x || !x->started)
		return 0;
	req = atomic_load(&x->release_done) + 1;
	if (atomic_load(&x->release_req) < req) {	/* not a retry of a timed-out call */
		x->release_logs = logs;
		x->release_n = n;
		atomic_store_explicit(&x->release_req, req, memory_order_release);
		if (write(x->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			perror("fanoutd: executor wake-up");
	}
	while (atomic_load_explicit(&x->release_done, memory_order_acquire) < req) {
		if (clock_monotonic_ns() >= deadline)
			return -ETIMEDOUT;
		executor_sleep_ns(1000 * 1000);
	}
	return 0;
}

static void *executor_main(void *arg)
{
	struct executor *x = arg;
	int64_t retry_at = 0;

	while (!atomic_load(&x->stop)) {
		uint32_t n = executor_pass(x);
		int64_t now = clock_monotonic_ns();

		if (x->nretry && now >= retry_at) {
			executor_retry(x);
			retry_at = now + EXECUTOR_RETRY_NS;
		}
		executor_release_check(x);	/* the admin plane's (a deleted topic) */
		if (n)
			executor_sleep_ns(EXECUTOR_PASS_NS);	/* more comes: batch it */
		else
			executor_wait(x, x->nretry ? (int)(EXECUTOR_RETRY_NS / 1000000) : -1);
	}
	executor_pass(x);	/* what the writers published last */
	return NULL;
}

int executor_start(struct executor *x)
{
	int r;

	memset(x, 0, sizeof(*x));
	x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->efd < 0)
		return -errno;
	r = pthread_create(&x->thread, NULL, executor_main, x);
	if (r != 0) {
		close(x->efd);
		x->efd = -1;
		return -r;
	}
	pthread_setname_np(x->thread, "fanout-exec");
	x->started = true;
	return 0;
}

void executor_stop(struct executor *x)
{
	uint64_t one = 1;

	if (!x->started)
		return;
	atomic_store(&x->stop, true);
	if (write(x->efd, &one, sizeof(one)) < 0)
		perror("fanoutd: executor stop");
	pthread_join(x->thread, NULL);
	close(x->efd);
	x->started = false;
}
