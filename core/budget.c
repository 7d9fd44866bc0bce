/* core/budget.c — a reactor's memory budget (see budget.h). One writer per budget, so
 * the counters are plain loads and stores made atomic only for their readers. */
#include "core/budget.h"

#include <assert.h>
#include <string.h>

static void budget_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static void budget_sub(_Atomic uint64_t *c, uint64_t v)
{
	uint64_t have = atomic_load_explicit(c, memory_order_relaxed);

	assert(have >= v);	/* given back more than was taken: a bookkeeping bug */
	atomic_store_explicit(c, have - v, memory_order_relaxed);
}

void budget_init(struct budget *b, uint64_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

static bool budget_take_under(struct budget *b, enum budget_kind kind, uint64_t bytes,
			      uint64_t limit)
{
	uint64_t used = atomic_load_explicit(&b->used, memory_order_relaxed);

	assert(kind < BUDGET_KINDS);
	if (used > limit || bytes > limit - used) {
		budget_count(&b->refused);
		budget_add(&b->refused_bytes, bytes);
		return false;
	}
	budget_add(&b->used_by[kind], bytes);
	atomic_store_explicit(&b->used, used + bytes, memory_order_relaxed);
	if (used + bytes > atomic_load_explicit(&b->peak, memory_order_relaxed))
		atomic_store_explicit(&b->peak, used + bytes, memory_order_relaxed);
	return true;
}

bool budget_take(struct budget *b, enum budget_kind kind, uint64_t bytes)
{
	return budget_take_under(b, kind, bytes, b->limit - BUDGET_RESERVE_BYTES);
}

bool budget_take_reserve(struct budget *b, enum budget_kind kind, uint64_t bytes)
{
	return budget_take_under(b, kind, bytes, b->limit);
}

void budget_give(struct budget *b, enum budget_kind kind, uint64_t bytes)
{
	assert(kind < BUDGET_KINDS);
	budget_sub(&b->used_by[kind], bytes);
	budget_sub(&b->used, bytes);
}

const char *budget_kind_name(enum budget_kind kind)
{
	static const char *const names[BUDGET_KINDS] = {
		[BUDGET_INPUT] = "input", [BUDGET_ANSWERS] = "answers",
		[BUDGET_TICKETS] = "tickets", [BUDGET_SNAPSHOTS] = "snapshots",
		[BUDGET_RINGS] = "rings", [BUDGET_SUBSCRIPTIONS] = "subscriptions",
	};

	return kind < BUDGET_KINDS ? names[kind] : "?";
}
