/* core/budget.h — a reactor's memory budget: every allocation a client causes (input
 * held for a partial frame, answers queued, publish tickets, snapshots, subscription
 * rings, subscriptions and their index entries) is taken from it before the memory is,
 * and given back when freed. A growth the budget refuses is not made: the caller answers
 * the client with ERROR_CODE_RESOURCE_EXHAUSTED (or, for a ring, scans the log instead),
 * and every other client goes on. Bounded memory per reactor whatever clients do.
 *
 * The struct is also the reactor's memory report: its counters are _Atomic, written only
 * by the owning reactor (budget_take, budget_give and the counts below, relaxed stores)
 * and readable by any thread at any time (the admin plane's /metrics, fanoutd's periodic
 * log line). Read them with relaxed loads; they are consistent each, not with each other. */
#ifndef FANOUT_CORE_BUDGET_H
#define FANOUT_CORE_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUDGET_BYTES_DEFAULT (256ull << 20)	/* --reactor-memory-bytes */
#define BUDGET_BYTES_MIN     (4ull << 20)
/* The last bytes of a budget are kept for the Errors that tell clients they were cut for
 * their memory (budget_take_reserve): a full budget still explains itself. */
#define BUDGET_RESERVE_BYTES (256ull << 10)

/* What the memory is for (budget.used[kind]). */
enum budget_kind {
	BUDGET_INPUT,		/* held input: partial frames, input behind a waiting publish */
	BUDGET_ANSWERS,		/* queued control frames (acks, results, errors) */
	BUDGET_TICKETS,		/* publish batches in flight: their tickets and remote events */
	BUDGET_SNAPSHOTS,	/* snapshot offset lists until sent */
	BUDGET_RINGS,		/* routed subscriptions' offset rings past their first size */
	BUDGET_SUBSCRIPTIONS,	/* subscriptions: cursors, patterns, filters, caches, keys */
	BUDGET_KINDS,
};

struct budget {
	uint64_t limit;				/* bytes; set before the reactor starts */
	_Atomic uint64_t used;			/* sum of used_by[] */
	_Atomic uint64_t used_by[BUDGET_KINDS];
	_Atomic uint64_t peak;			/* highest used so far */
	_Atomic uint64_t refused;		/* growths refused */
	_Atomic uint64_t refused_bytes;		/* what they asked for */
	_Atomic uint64_t deadline_cuts;		/* connections cut for a stalled partial frame */
	_Atomic uint64_t budget_cuts;		/* connections cut for an input or answer growth
						 * refused */
};

/* Starts an empty budget of limit bytes. */
void budget_init(struct budget *b, uint64_t limit);

/* Takes bytes for kind when they fit under the limit less BUDGET_RESERVE_BYTES. Returns
 * true (taken) or false (refused: counted; nothing taken). Owner reactor only. */
bool budget_take(struct budget *b, enum budget_kind kind, uint64_t bytes);

/* As budget_take, up to the whole limit: for the answer to a client being cut. */
bool budget_take_reserve(struct budget *b, enum budget_kind kind, uint64_t bytes);

/* Gives back bytes taken for kind. Owner reactor (or its thread's successor at shutdown). */
void budget_give(struct budget *b, enum budget_kind kind, uint64_t bytes);

/* Counts one event of a counter (deadline_cuts, budget_cuts). Owner reactor only. */
static inline void budget_count(_Atomic uint64_t *counter)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* A relaxed read of one counter, for any thread. */
static inline uint64_t budget_read(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* The kind's name ("input", "answers", ...), for logs and metrics labels. */
const char *budget_kind_name(enum budget_kind kind);

#endif
