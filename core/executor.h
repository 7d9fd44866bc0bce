/* core/executor.h — the executor: one thread for the slow work reactors must never wait
 * for. Today that is the logs' (core/log.h): copying appended frames to disk, making the
 * next hot segment ready, moving sealed segments to their disk files. A writer marks a
 * log dirty when it publishes (executor_dirty: lock-free, one atomic load when already
 * marked); the executor takes every dirty log in a pass (log_persist), at most one pass
 * per EXECUTOR_PASS_NS while work keeps coming, and sleeps on an eventfd when none
 * does. Logs whose disk writes fail are retried every EXECUTOR_RETRY_NS. */
#ifndef FANOUT_CORE_EXECUTOR_H
#define FANOUT_CORE_EXECUTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"

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
};

/* Starts the thread. Returns 0 or -errno. Main thread, at start-up. */
int executor_start(struct executor *x);

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
