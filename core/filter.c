/* core/filter.c — compiles a fanout.v1.Filter into sorted hash sets, a data-type mask and
 * bounds, and evaluates it on sidecar index entries (struct log_entry) without decoding
 * the event. Compiling allocates and runs on the control plane; filter_match is the hot
 * path (once per event per subscriber): no allocation, no writes, few branches. */
#include "core/filter.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/keyhash.h"

#define FILTER_VALUE_BYTES_MAX 255u	/* longest string a list may hold */

/* Fields whose presence depends on the event's data type. Symbols and exchanges every
 * type can carry; whether one event has them is told by a nonzero hash instead. */
enum {
	FILTER_F_CURRENCY = 1u << 0,	/* aux_hash is a currency */
	FILTER_F_ACTION = 1u << 1,	/* aux_hash is an action */
	FILTER_F_ORDER = 1u << 2,	/* order_hash is an order or decision id */
	FILTER_F_PRICE = 1u << 3,	/* price is a price */
	FILTER_F_CONFIDENCE = 1u << 4,	/* price is a confidence */
	FILTER_F_VOLUME = 1u << 5,	/* volume is a volume or quantity */
	FILTER_F_PORTFOLIO = 1u << 6,	/* portfolio_hash is a portfolio id */
};

/* What each stored data type puts in its index entry (see publish_fields). Other values
 * (UNSPECIFIED, COORDINATION_COMPLETED, unknown) are never stored; they have none. */
#define FILTER_TYPES 4u
static const uint8_t filter_fields_of[FILTER_TYPES] = {
	[FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA] =
		FILTER_F_CURRENCY | FILTER_F_PRICE | FILTER_F_VOLUME,
	[FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION] =
		FILTER_F_ACTION | FILTER_F_ORDER | FILTER_F_CONFIDENCE | FILTER_F_VOLUME,
	[FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION] =
		FILTER_F_ORDER | FILTER_F_PRICE | FILTER_F_VOLUME | FILTER_F_PORTFOLIO,
};

/* Reasons for one list; static because *why must outlive the call (see filter.h). */
struct filter_list_why {
	const char *empty, *too_long, *too_many;
};

#define FILTER_LIST_WHY(name) {							\
	name ": a value is empty",						\
	name ": a value is longer than 255 bytes",				\
	name " has more than 4096 values",					\
}

static const struct filter_list_why filter_why_symbols = FILTER_LIST_WHY("symbols");
static const struct filter_list_why filter_why_exchanges = FILTER_LIST_WHY("exchanges");
static const struct filter_list_why filter_why_currencies = FILTER_LIST_WHY("currencies");
static const struct filter_list_why filter_why_actions = FILTER_LIST_WHY("actions");
static const struct filter_list_why filter_why_order_ids = FILTER_LIST_WHY("order_ids");
static const struct filter_list_why filter_why_portfolio_ids =
	FILTER_LIST_WHY("portfolio_ids");

_Static_assert(FILTER_VALUES_MAX == 4096u, "the reasons above spell out the limit");
_Static_assert(FILTER_VALUE_BYTES_MAX == 255u, "the reasons above spell out the limit");

static int filter_fail(const char **why, const char *reason, int rc)
{
	if (why)
		*why = reason;
	return rc;
}

static int filter_hash_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);	/* not x - y: the difference overflows int */
}

/* Fills s with the sorted, unique hashes of v[0..n). Returns 0, -EINVAL or -ENOMEM;
 * on error s holds nothing. */
static int filter_set_build(struct filter_set *s, char *const *v, size_t n,
			    const struct filter_list_why *lw, const char **why)
{
	uint64_t *h;
	uint32_t out = 0;

	s->hashes = NULL;
	s->n = 0;
	if (n == 0)
		return 0;
	if (n > FILTER_VALUES_MAX)
		return filter_fail(why, lw->too_many, -EINVAL);
	h = malloc(n * sizeof(*h));
	if (!h)
		return filter_fail(why, "out of memory", -ENOMEM);
	for (size_t i = 0; i < n; i++) {
		/* strlen, as publish_fields hashes: the index holds hashes of C strings. */
		size_t len = v && v[i] ? strnlen(v[i], FILTER_VALUE_BYTES_MAX + 1) : 0;

		if (len == 0 || len > FILTER_VALUE_BYTES_MAX) {
			free(h);
			return filter_fail(why, len ? lw->too_long : lw->empty, -EINVAL);
		}
		h[i] = keyhash_bytes(v[i], len);
	}
	qsort(h, n, sizeof(*h), filter_hash_cmp);
	for (size_t i = 0; i < n; i++)	/* duplicates would only cost search steps */
		if (out == 0 || h[out - 1] != h[i])
			h[out++] = h[i];
	s->hashes = h;
	s->n = out;
	return 0;
}

/* Sets f->data_types from the message: only types the log can hold are accepted, so a
 * typo cannot silently make a subscription match nothing. */
static int filter_types(struct filter *f, const Fanout__V1__Filter *msg, const char **why)
{
	if (msg->n_data_types > FILTER_VALUES_MAX)
		return filter_fail(why, "data_types has more than 4096 values", -EINVAL);
	for (size_t i = 0; i < msg->n_data_types; i++) {
		switch (msg->data_types[i]) {
		case FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA:
		case FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION:
		case FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION:
			f->data_types |= 1u << msg->data_types[i];
			break;
		default:
			return filter_fail(why, "data_types: unknown or unstorable data type",
					   -EINVAL);
		}
	}
	return 0;
}

/* One optional bound: present = condition. NaN would make every compare false and
 * infinity is no real bound, so both are refused rather than guessed at. */
static int filter_bound(const Fanout__V1__Bound *b, bool *has, double *value,
			const char *nan_why, const char *inf_why, const char **why)
{
	if (!b)
		return 0;
	if (isnan(b->value))
		return filter_fail(why, nan_why, -EINVAL);
	if (isinf(b->value))
		return filter_fail(why, inf_why, -EINVAL);
	*has = true;
	*value = b->value;
	return 0;
}

static int filter_bounds(struct filter *f, const Fanout__V1__Filter *msg, const char **why)
{
	int rc;

	rc = filter_bound(msg->min_price, &f->has_min_price, &f->min_price,
			  "min_price is not a number", "min_price is infinite", why);
	if (rc == 0)
		rc = filter_bound(msg->max_price, &f->has_max_price, &f->max_price,
				  "max_price is not a number", "max_price is infinite", why);
	if (rc == 0)
		rc = filter_bound(msg->min_volume, &f->has_min_volume, &f->min_volume,
				  "min_volume is not a number", "min_volume is infinite", why);
	if (rc == 0)
		rc = filter_bound(msg->min_confidence, &f->has_min_confidence,
				  &f->min_confidence, "min_confidence is not a number",
				  "min_confidence is infinite", why);
	if (rc < 0)
		return rc;
	/* An empty price range matches nothing: almost certainly a mistake, so say so. */
	if (f->has_min_price && f->has_max_price && f->min_price > f->max_price)
		return filter_fail(why, "min_price is greater than max_price", -EINVAL);
	return 0;
}

/* Builds the six string lists; on error the lists built so far stay for the caller's
 * cleanup to free. */
static int filter_lists(struct filter *f, const Fanout__V1__Filter *msg, const char **why)
{
	const struct {
		char *const *v;
		size_t n;
		struct filter_set *set;
		const struct filter_list_why *why;
	} lists[] = {
		{ msg->symbols, msg->n_symbols, &f->symbols, &filter_why_symbols },
		{ msg->exchanges, msg->n_exchanges, &f->exchanges, &filter_why_exchanges },
		{ msg->currencies, msg->n_currencies, &f->currencies, &filter_why_currencies },
		{ msg->actions, msg->n_actions, &f->actions, &filter_why_actions },
		{ msg->order_ids, msg->n_order_ids, &f->order_ids, &filter_why_order_ids },
		{ msg->portfolio_ids, msg->n_portfolio_ids, &f->portfolio_ids,
		  &filter_why_portfolio_ids },
	};
	int rc;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		rc = filter_set_build(lists[i].set, lists[i].v, lists[i].n, lists[i].why, why);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int filter_compile(struct filter *f, const Fanout__V1__Filter *msg, const char **why)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->empty = true;
	if (!msg)
		return 0;
	rc = filter_lists(f, msg, why);
	if (rc < 0)
		goto err;
	rc = filter_types(f, msg, why);
	if (rc < 0)
		goto err;
	rc = filter_bounds(f, msg, why);
	if (rc < 0)
		goto err;
	f->empty = !(f->symbols.n || f->exchanges.n || f->currencies.n || f->actions.n ||
		     f->order_ids.n || f->portfolio_ids.n || f->data_types || f->has_min_price ||
		     f->has_max_price || f->has_min_volume || f->has_min_confidence);
	return 0;
err:
	filter_free(f);	/* frees the lists built before the failure */
	return rc;
}

void filter_free(struct filter *f)
{
	free(f->symbols.hashes);
	free(f->exchanges.hashes);
	free(f->currencies.hashes);
	free(f->actions.hashes);
	free(f->order_ids.hashes);
	free(f->portfolio_ids.hashes);
	memset(f, 0, sizeof(*f));	/* no conditions left: matches everything */
}

/* Whether h is in s; an empty set is no condition. Branch-free binary search (the
 * compare becomes a conditional move): base only moves onto an element <= h, and
 * everything past base + n is > h, so h, if present, ends up at *base. */
static inline bool filter_in(const struct filter_set *s, uint64_t h)
{
	const uint64_t *base = s->hashes;
	uint32_t n = s->n;

	if (n == 0)
		return true;
	if (h == 0)
		return false;	/* the event has no such string */
	while (n > 1) {
		uint32_t half = n / 2;

		base = base[half] <= h ? base + half : base;
		n -= half;
	}
	return *base == h;
}

/* The fields f's conditions read whose presence depends on the data type. */
static inline uint32_t filter_needs(const struct filter *f)
{
	return (f->currencies.n ? FILTER_F_CURRENCY : 0) |
	       (f->actions.n ? FILTER_F_ACTION : 0) |
	       (f->order_ids.n ? FILTER_F_ORDER : 0) |
	       (f->portfolio_ids.n ? FILTER_F_PORTFOLIO : 0) |
	       (f->has_min_price || f->has_max_price ? FILTER_F_PRICE : 0) |
	       (f->has_min_confidence ? FILTER_F_CONFIDENCE : 0) |
	       (f->has_min_volume ? FILTER_F_VOLUME : 0);
}

bool filter_match(const struct filter *f, const struct log_entry *e)
{
	uint32_t dt = e->data_type;
	uint32_t has = dt < FILTER_TYPES ? filter_fields_of[dt] : 0;

	if (f->empty)
		return true;
	/* Bit tests first, then compares, then binary searches: cheapest first. The
	 * data_types bit test is guarded because the entry's byte could exceed 31. */
	if (f->data_types && !(dt < 32 && (f->data_types >> dt & 1u)))
		return false;
	if (filter_needs(f) & ~has)
		return false;	/* a condition on a field this type does not have */
	/* Written as !(x >= bound) so an entry holding NaN fails rather than passes. */
	if (f->has_min_price && !(e->price >= f->min_price))
		return false;
	if (f->has_max_price && !(e->price <= f->max_price))
		return false;
	if (f->has_min_confidence && !(e->price >= f->min_confidence))
		return false;	/* a decision's price slot holds its confidence */
	if (f->has_min_volume && !(e->volume >= f->min_volume))
		return false;
	return filter_in(&f->symbols, e->symbol_hash) &&
	       filter_in(&f->exchanges, e->venue_hash) &&
	       filter_in(&f->currencies, e->aux_hash) &&
	       filter_in(&f->actions, e->aux_hash) &&
	       filter_in(&f->order_ids, e->order_hash) &&
	       filter_in(&f->portfolio_ids, e->portfolio_hash);
}
