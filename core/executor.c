/* core/executor.c — the executor thread (see executor.h). */
#include "core/executor.h"

#include "core/headroom.h"
#include "core/reactor.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
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
			headroom_strerror(rc), log->hot_dir);
	x->last_error = rc;
}

#define EXECUTOR_SYNC_GROUP 128u	/* logs synced per submission (two descriptors each) */

/* A log the executor copied bytes to joins the sync list (once). */
static void executor_sync_add(struct executor *x, struct log *log)
{
	if (x->fsync == LOG_FSYNC_NEVER || log->in_sync || log_persisted(log) <= log_synced(log))
		return;
	if (x->nsync == 0)
		x->sync_at = clock_monotonic_ns() + x->fsync_interval_ns;
	log->in_sync = true;
	log->sync_next = x->sync_list;
	x->sync_list = log;
	x->nsync++;
}

static void executor_sleep_ns(int64_t ns);

/* fdatasyncs nsqe descriptors through the ring, res[i] getting the first failure of
 * logs[i]'s. A ring that cannot take them all is given up for direct calls (its queue may
 * hold what it did not submit: never submitted again). */
static void executor_sync_ring(struct executor *x, int (*fds)[2], const int *has, int *res,
			       uint32_t n, uint32_t nsqe)
{
	uint32_t got = 0;
	int sub;

	for (uint32_t i = 0; i < n; i++)
		for (int k = 0; k < has[i]; k++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);

			assert(sqe);	/* the ring holds 2 * EXECUTOR_SYNC_GROUP, all reaped */
			io_uring_prep_fsync(sqe, fds[i][k], IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, i);
		}
	sub = io_uring_submit(&x->ring);
	while (sub > 0 && got < (uint32_t)sub) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&x->ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		if (cqe->res < 0 && res[io_uring_cqe_get_data64(cqe)] == 0)
			res[io_uring_cqe_get_data64(cqe)] = cqe->res;
		io_uring_cqe_seen(&x->ring, cqe);
		got++;
	}
	if (sub == (int)nsqe && got == nsqe)
		return;
	fprintf(stderr, "fanoutd: the executor's ring failed syncing (%s); it syncs with "
		"fdatasync(2) from now on\n", strerror(sub < 0 ? -sub : EIO));
	io_uring_queue_exit(&x->ring);	/* nothing it still holds is ever reaped */
	x->have_ring = false;
	for (uint32_t i = 0; i < n; i++)
		for (int k = 0; k < has[i]; k++)
			if (fdatasync(fds[i][k]) < 0 && res[i] == 0)
				res[i] = -errno;
}

/* fdatasyncs up to EXECUTOR_SYNC_GROUP logs of the list at once, the .log and .idx of
 * each. A log whose sync failed goes back on the list and on the retry list: its segment
 * is copied again whole (log_sync_done) before it is synced again, and until then no
 * pass counts as synced. Returns 0 or the first -errno. */
static int executor_sync_group(struct executor *x, struct log **logs, uint32_t n)
{
	int fds[EXECUTOR_SYNC_GROUP][2], res[EXECUTOR_SYNC_GROUP], has[EXECUTOR_SYNC_GROUP];
	uint32_t nsqe = 0;
	int rc = 0;

	for (uint32_t i = 0; i < n; i++) {
		res[i] = 0;
		has[i] = log_sync_fds(logs[i], fds[i]);
		nsqe += has[i] > 0 ? (uint32_t)has[i] : 0;
	}
	if (nsqe && x->test_sync_fail > 0) {	/* tests: the disk refuses this sync */
		x->test_sync_fail--;
		for (uint32_t i = 0; i < n; i++)
			res[i] = has[i] > 0 ? -EIO : 0;
	} else if (nsqe && x->have_ring) {
		executor_sync_ring(x, fds, has, res, n, nsqe);
	} else {
		for (uint32_t i = 0; i < n; i++)
			for (int k = 0; k < has[i]; k++)
				if (fdatasync(fds[i][k]) < 0 && res[i] == 0)
					res[i] = -errno;
	}
	atomic_fetch_add(&x->syncs, nsqe);
	for (uint32_t i = 0; i < n; i++) {
		struct log *log = logs[i];

		if (has[i] >= 0)
			log_sync_done(log, res[i]);
		if (res[i] == 0) {
			log->in_sync = false;
			continue;
		}
		atomic_fetch_add(&x->sync_failures, 1);
		if (rc == 0)
			rc = res[i];
		if (res[i] != x->last_error)
			fprintf(stderr, "fanoutd: cannot sync %s to disk: %s; it is written again "
				"from memory and synced again\n", log->dir, strerror(-res[i]));
		x->last_error = res[i];
		log->sync_next = x->sync_list;
		x->sync_list = log;
		x->nsync++;
		executor_retry_add(x, log);	/* copied again whole, then synced */
	}
	return rc;
}

/* Syncs every log on the list. Returns 0 or the first -errno (those logs stay). */
static int executor_sync(struct executor *x)
{
	struct log *logs[EXECUTOR_SYNC_GROUP], *list = x->sync_list;
	int64_t t0 = clock_monotonic_ns();
	int rc = 0, r;

	if (!list)
		return 0;
	if (x->test_sync_delay_ns)
		executor_sleep_ns(x->test_sync_delay_ns);
	x->sync_list = NULL;
	x->nsync = 0;
	while (list) {
		uint32_t n = 0;

		while (list && n < EXECUTOR_SYNC_GROUP) {
			logs[n++] = list;
			list = list->sync_next;
		}
		if ((r = executor_sync_group(x, logs, n)) < 0 && rc == 0)
			rc = r;
	}
	atomic_fetch_add(&x->sync_ns, (uint64_t)(clock_monotonic_ns() - t0));
	return rc;
}

/* LOG_FSYNC_BATCH, after pass: what it copied synced, its end published, and the
 * reactors waiting for it woken. A pass that could not write or sync everything ends
 * nothing: the waiting reactors are woken to see sync_error. */
static void executor_sync_pass(struct executor *x, uint64_t pass, int persist_rc)
{
	int rc = executor_sync(x);
	struct reactor *const *r;
	uint32_t nr;
	uint64_t m;

	if (rc == 0)
		rc = persist_rc ? persist_rc : (x->nretry ? -EIO : 0);
	if (rc == 0) {
		atomic_store_explicit(&x->pass_synced, pass, memory_order_seq_cst);
	} else {	/* the error first: a reader that sees the pass sees it */
		atomic_store_explicit(&x->sync_error, rc, memory_order_relaxed);
		atomic_store_explicit(&x->pass_failed, pass, memory_order_seq_cst);
	}
	m = atomic_exchange_explicit(&x->sync_waiters, 0, memory_order_seq_cst);
	nr = atomic_load_explicit(&x->nreactors, memory_order_acquire);
	r = x->reactors;
	while (m) {
		uint32_t b = (uint32_t)__builtin_ctzll(m);

		m &= m - 1;
		if (b < nr)
			reactor_wake_from(x->have_wake_ring ? &x->wake_ring : NULL, r[b]);
	}
}

/* One pass over the logs marked dirty. Returns how many there were. */
static uint32_t executor_pass(struct executor *x)
{
	/* Begun before the stack is taken: a publish asked about (executor_sync_ask) before
	 * this is in this pass or an earlier one. */
	uint64_t pass = atomic_fetch_add_explicit(&x->pass_started, 1, memory_order_seq_cst) + 1;
	struct log *log = atomic_exchange_explicit(&x->dirty, NULL, memory_order_seq_cst);
	uint32_t n = 0;
	int persist_rc = 0;

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
			persist_rc = persist_rc ? persist_rc : rc;
		}
		executor_sync_add(x, log);
		log = next;
		n++;
	}
	atomic_fetch_add(&x->persisted_logs, n);
	atomic_fetch_add(&x->passes, 1);
	if (x->fsync == LOG_FSYNC_BATCH)
		executor_sync_pass(x, pass, persist_rc);
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
		executor_sync_add(x, log);
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

	uint64_t kicks;

	atomic_store_explicit(&x->sleeping, true, memory_order_seq_cst);
	kicks = atomic_load_explicit(&x->kicks, memory_order_seq_cst);
	if (atomic_load_explicit(&x->dirty, memory_order_seq_cst) == NULL &&
	    kicks == x->kicks_seen && !atomic_load(&x->stop))
		(void)poll(&p, 1, timeout_ms);
	x->kicks_seen = kicks;
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

		if (gone->in_sync) {	/* a deleted topic's: nothing to keep */
			for (struct log **link = &x->sync_list; *link; link = &(*link)->sync_next) {
				if (*link != gone)
					continue;
				*link = gone->sync_next;
				gone->in_sync = false;
				x->nsync--;
				break;
			}
		}
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

/* How long the thread may sleep: until a retry or an interval sync is due (ms, -1 =
 * until woken). */
static int executor_timeout_ms(const struct executor *x, int64_t now)
{
	int64_t ns = x->nretry ? EXECUTOR_RETRY_NS : -1;

	if (x->fsync == LOG_FSYNC_INTERVAL && x->nsync) {
		int64_t due = x->sync_at > now ? x->sync_at - now : 0;

		if (ns < 0 || due < ns)
			ns = due;
	}
	return ns < 0 ? -1 : (int)((ns + 999999) / 1000000);
}

static void *executor_main(void *arg)
{
	struct executor *x = arg;
	int64_t retry_at = 0;
	sigset_t all;

	/* Signals are the main thread's: none interrupts a wait for syncs here. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&x->stop)) {
		uint32_t n = executor_pass(x);
		int64_t now = clock_monotonic_ns();

		if (x->nretry && now >= retry_at) {
			executor_retry(x);
			retry_at = now + EXECUTOR_RETRY_NS;
		}
		executor_release_check(x);	/* the admin plane's (a deleted topic) */
		if (x->fsync == LOG_FSYNC_INTERVAL && x->nsync && now >= x->sync_at) {
			(void)executor_sync(x);	/* failures are logged and stay listed */
			if (x->nsync)
				x->sync_at = now + x->fsync_interval_ns;
		}
		if (n && x->fsync == LOG_FSYNC_BATCH)
			continue;	/* back to back: the sync gathered the next group */
		if (n) {	/* more comes: batch it */
			int ms = executor_timeout_ms(x, now);

			executor_sleep_ns(ms >= 0 && (int64_t)ms * 1000000 < EXECUTOR_PASS_NS ?
					  (int64_t)ms * 1000000 : EXECUTOR_PASS_NS);
		} else {
			executor_wait(x, executor_timeout_ms(x, now));
		}
	}
	executor_pass(x);	/* what the writers published last */
	if (x->fsync != LOG_FSYNC_NEVER)
		(void)executor_sync(x);
	return NULL;
}

int executor_start(struct executor *x)
{
	return executor_start_fsync(x, LOG_FSYNC_NEVER, 0);
}

static void executor_rings_exit(struct executor *x)
{
	if (x->have_ring)
		io_uring_queue_exit(&x->ring);
	if (x->have_wake_ring)
		io_uring_queue_exit(&x->wake_ring);
	x->have_ring = x->have_wake_ring = false;
}

int executor_start_fsync(struct executor *x, int fsync, int64_t interval_ns)
{
	const char *delay = getenv(EXECUTOR_TEST_SYNC_DELAY_ENV);
	int r;

	memset(x, 0, sizeof(*x));
	x->fsync = fsync;
	x->fsync_interval_ns = interval_ns;
	const char *fail = getenv(EXECUTOR_TEST_SYNC_FAIL_ENV);

	if (delay && fsync != LOG_FSYNC_NEVER)
		x->test_sync_delay_ns = strtoll(delay, NULL, 10) * 1000000;
	if (fail && fsync != LOG_FSYNC_NEVER)
		x->test_sync_fail = (int)strtol(fail, NULL, 10);
	/* Two descriptors per log of a group; the fallback syncs one by one. Wake-ups have
	 * a ring of their own: never a sync's completion taken for one. */
	x->have_ring = io_uring_queue_init(2 * EXECUTOR_SYNC_GROUP, &x->ring, 0) == 0;
	x->have_wake_ring = io_uring_queue_init(4, &x->wake_ring, 0) == 0;
	x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->efd < 0) {
		r = -errno;
		executor_rings_exit(x);
		return r;
	}
	r = pthread_create(&x->thread, NULL, executor_main, x);
	if (r != 0) {
		close(x->efd);
		x->efd = -1;
		executor_rings_exit(x);
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
	executor_rings_exit(x);
	x->started = false;
}

void executor_set_reactors(struct executor *x, struct reactor *const *r, uint32_t n)
{
	x->reactors = r;
	atomic_store_explicit(&x->nreactors, n, memory_order_release);
}

uint64_t executor_sync_ask(struct executor *x)
{
	uint64_t pass;

	/* The caller's tails and dirty marks, then the pass count (executor_pass takes
	 * the dirty stack after counting). */
	atomic_thread_fence(memory_order_seq_cst);
	pass = atomic_load_explicit(&x->pass_started, memory_order_seq_cst) + 1;
	atomic_fetch_add_explicit(&x->kicks, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&x->sleeping, memory_order_seq_cst)) {
		uint64_t one = 1;

		if (write(x->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			perror("fanoutd: executor wake-up");
	}
	return pass;
}
