/* core/executor.h — the executor: one thread for the slow work reactors must never wait
 * for. Today that is the logs' (core/log.h): copying appended frames to disk, making the
 * next hot segment ready, moving sealed segments to their disk files, and syncing them
 * (--fsync). A writer marks a log dirty when it publishes (executor_dirty: lock-free,
 * one atomic load when already marked); the executor takes every dirty log in a pass
 * (log_persist), at most one pass per EXECUTOR_PASS_NS while work keeps coming, and
 * sleeps on an eventfd when none does. Logs whose disk writes fail are retried every
 * EXECUTOR_RETRY_NS.
 *
 * Syncing: logs the executor copied bytes to join its sync list; their descriptors are
 * fdatasync'ed together through the executor's io_uring (one submission for all of
 * them: a group commit). LOG_FSYNC_INTERVAL syncs the list every interval.
 * LOG_FSYNC_BATCH syncs it at the end of every pass and passes run back to back while
 * work comes (the time a sync takes is what gathers the next group); a reactor holding
 * publishes asks for a pass (executor_sync_ask), waits for it (executor_sync_reached)
 * and is woken when it ends (executor_sync_wait, executor_set_reactors). */
#ifndef FANOUT_CORE_EXECUTOR_H
#define FANOUT_CORE_EXECUTOR_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#include "core/log.h"

struct reactor;	/* core/reactor.h */

#define EXECUTOR_PASS_NS  (10 * 1000 * 1000ll)	/* 10 ms between passes, at most */
#define EXECUTOR_RETRY_NS (100 * 1000 * 1000ll)	/* failed logs: again after 100 ms */

struct executor {
	pthread_t thread;
	bool started;
	int efd;			/* eventfd the thread sleeps on */
	struct log *_Atomic dirty;	/* Treiber stack through log->dirty_next */
	_Atomic bool sleeping;		/* the thread waits on efd: a push writes it */
	_Atomic bool stop;
	struct log *retry;		/* the thread's: logs whose writes failed, linked
					 * through log->retry_next */
	uint32_t nretry;
	_Atomic uint64_t passes, persisted_logs, errors;	/* counters */
	int last_error;			/* the thread's: the error it last logged */
	/* executor_release's request (one caller at a time). */
	struct log *const *release_logs;
	uint32_t release_n;
	_Atomic uint64_t release_req, release_done;
	/* Syncing (executor_start_fsync). */
	int fsync;			/* enum log_fsync */
	int64_t fsync_interval_ns;	/* LOG_FSYNC_INTERVAL's */
	int64_t test_sync_delay_ns;	/* EXECUTOR_TEST_SYNC_DELAY_ENV: tests see acks wait */
	struct io_uring ring;		/* the thread's fdatasyncs */
	struct io_uring wake_ring;	/* the thread's reactor wake-ups */
	bool have_ring, have_wake_ring;
	int test_sync_fail;		/* EXECUTOR_TEST_SYNC_FAIL_ENV: group syncs to fail */
	struct log *sync_list;		/* logs copied to, not synced since */
	uint32_t nsync;
	int64_t sync_at;		/* LOG_FSYNC_INTERVAL: when the list is synced next */
	_Atomic uint64_t pass_started;	/* passes begun (LOG_FSYNC_BATCH's sequence) */
	_Atomic uint64_t pass_synced;	/* the last pass whose copies were all synced */
	_Atomic uint64_t pass_failed;	/* the last pass that could not sync everything */
	_Atomic int sync_error;		/* its -errno */
	_Atomic uint64_t kicks;		/* executor_sync_ask's: a pass is wanted */
	uint64_t kicks_seen;
	_Atomic uint64_t sync_waiters;	/* reactors (bits) to wake after the next pass */
	struct reactor *const *reactors;
	_Atomic uint32_t nreactors;
	_Atomic uint64_t syncs, sync_failures, sync_ns;	/* counters: fdatasyncs issued,
							 * failed; ns spent waiting */
};

/* Tests only: each group sync waits this many ms first (a test sees acks wait for it);
 * the first N group syncs fail with EIO as a failing disk's would. */
#define EXECUTOR_TEST_SYNC_DELAY_ENV "FANOUT_TEST_SYNC_DELAY_MS"
#define EXECUTOR_TEST_SYNC_FAIL_ENV "FANOUT_TEST_SYNC_FAIL"

/* Starts the thread. Returns 0 or -errno. Main thread, at start-up. Syncs nothing but
 * what log_close and sealed segments of logs configured to do (log_config.fsync). */
int executor_start(struct executor *x);

/* executor_start with the sync policy fsync (enum log_fsync) and, for
 * LOG_FSYNC_INTERVAL, its interval. */
int executor_start_fsync(struct executor *x, int fsync, int64_t interval_ns);

/* The reactors executor_sync_wait's bits name (r[i] for bit i), once they exist; the
 * array must outlive the executor. Main thread. */
void executor_set_reactors(struct executor *x, struct reactor *const *r, uint32_t n);

/* LOG_FSYNC_BATCH, for a writer holding publishes whose logs it has published (tails
 * stored, executor_dirty called): the pass to wait for. Once executor_sync_reached says
 * that pass ended, every offset published before the call is synced. Wakes the
 * executor if it sleeps. Any thread. */
uint64_t executor_sync_ask(struct executor *x);

/* True once pass has ended with everything it copied synced. Any thread. */
static inline bool executor_sync_reached(const struct executor *x, uint64_t pass)
{
	return atomic_load_explicit(&x->pass_synced, memory_order_acquire) >= pass;
}

/* -errno when pass, or a later one, ended without everything it copied synced (a
 * publish waiting for pass should be told: its events may not be durable), else 0.
 * Check executor_sync_reached first: a later pass that synced covers it after all. */
static inline int executor_sync_failed(const struct executor *x, uint64_t pass)
{
	if (atomic_load_explicit(&x->pass_failed, memory_order_seq_cst) < pass)
		return 0;
	return atomic_load_explicit(&x->sync_error, memory_order_relaxed) ?: -EIO;
}

/* Reactor r wants a wake-up when the next pass ends. Call before executor_sync_reached:
 * a pass ending after that check wakes r. Reactor r's thread. */
static inline void executor_sync_wait(struct executor *x, uint32_t r)
{
	atomic_fetch_or_explicit(&x->sync_waiters, 1ull << r, memory_order_seq_cst);
}

/* Stops the thread after a last pass over what is dirty, and joins it. Safe if never
 * started. Main thread, after the writers stopped. */
void executor_stop(struct executor *x);

/* Queues log for the next pass unless it is queued already. Any thread (the log's writer
 * in practice); never blocks; a write to the eventfd only when the thread sleeps. */
void executor_dirty(struct executor *x, struct log *log);

/* For logs about to be closed while the executor runs (a deleted topic's, by the admin
 * plane): once their writers have stopped for good (nothing marks them dirty again),
 * waits until the executor has made a pass after the call — so it holds none of them in
 * its queue or in the middle of log_persist — and drops them from its retry list.
 * Afterwards the executor never touches them. One caller at a time, not the executor's
 * thread; NULL x (no executor) returns at once. Returns 0 or -ETIMEDOUT (the request
 * stays: call again). */
int executor_release(struct executor *x, struct log *const *logs, uint32_t n, int timeout_ms);

#endif
