/* core/filter.h — a subscription's content filter, compiled once from a fanout.v1.Filter
 * and evaluated on sidecar index entries (struct log_entry), so deciding whether an event
 * matches never decodes it. Strings are compared by keyhash_bytes(), keyed with the data
 * directory's secret so that no client can make two strings agree; a filter over a list
 * keeps the hashes sorted for binary search.
 * Compiling allocates (control plane); matching never does and is read-only, so one
 * compiled filter may be evaluated from any thread. */
#ifndef FANOUT_CORE_FILTER_H
#define FANOUT_CORE_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "fanout.pb-c.h"

#define FILTER_VALUES_MAX 4096u		/* entries in any one list of a filter */

/* One list condition: the event's hash must be one of hashes[0..n). */
struct filter_set {
	uint64_t *hashes;		/* sorted, unique */
	uint32_t n;			/* 0 = no condition */
};

struct filter {
	struct filter_set symbols;	/* entry.symbol_hash */
	struct filter_set exchanges;	/* entry.venue_hash */
	struct filter_set currencies;	/* entry.aux_hash, market data events only */
	struct filter_set actions;	/* entry.aux_hash, decision events only */
	struct filter_set order_ids;	/* entry.order_hash */
	struct filter_set portfolio_ids;/* entry.portfolio_hash, execution events only */
	uint32_t data_types;		/* bit (1 << DataType); 0 = no condition */
	bool has_min_price, has_max_price, has_min_volume, has_min_confidence;
	double min_price, max_price, min_volume, min_confidence;
	bool empty;			/* no condition at all: everything matches */
};

/* Compiles msg (NULL = no filter) into *f. Returns 0, or -EINVAL with *why set to a
 * static reason naming the field ("min_price is greater than max_price", "symbols[2] is
 * empty", "symbols has more than 4096 values", "min_price is not a number"), or -ENOMEM.
 * On error *f holds nothing to free. */
int filter_compile(struct filter *f, const Fanout__V1__Filter *msg, const char **why);

/* Frees what filter_compile allocated; safe on a zeroed filter. */
void filter_free(struct filter *f);

/* True when the event described by e passes every condition of f. A condition on a
 * field the event's data type does not have fails: min_price or currencies never pass a
 * decision (whose price slot holds its confidence), min_confidence or actions never pass
 * market data or executions, portfolio_ids pass executions only. */
bool filter_match(const struct filter *f, const struct log_entry *e);

#endif
