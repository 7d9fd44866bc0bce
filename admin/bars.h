/* admin/bars.h — OHLCV bars: one symbol's trades aggregated into 1-minute buckets by
 * event time (Event.timestamp_ns), kept sorted, and rolled up into 5m, 1h or 1d bars
 * when asked. A bucket is what the store persists (market_bars), so a day of 1m bars
 * comes back without touching a single event, and survives the log that held the trades.
 *
 * Open is the trade with the earliest event time in the bucket (the first to arrive
 * among equals), close the one with the latest (the last to arrive among equals): a
 * trade that arrives late lands in its own minute and order, not at the end.
 * Pure data structures; one thread (the admin thread's data index). */
#ifndef FANOUT_ADMIN_BARS_H
#define FANOUT_ADMIN_BARS_H

#include <stdbool.h>
#include <stdint.h>

#define BAR_MINUTE_NS 60000000000ll

struct bar {
	int64_t start_ns;		/* the bucket's first nanosecond (a multiple of its
					 * interval, since the epoch) */
	double open, high, low, close;
	double volume;			/* sum of the trades' volumes */
	double notional;		/* sum of price x volume: VWAP = notional / volume */
	uint64_t trades;
	int64_t open_ns, close_ns;	/* event times of the open and close trades */
	bool dirty;			/* changed since the store last had it */
};

/* A symbol's 1-minute buckets, sorted by start_ns, at most cap of them (the oldest give
 * way to newer ones). */
struct bar_series {
	struct bar *v;
	uint32_t n, cap;
	uint32_t ndirty;		/* buckets with dirty set */
	uint64_t evicted_dirty;		/* dirty buckets that gave way before the store had
					 * them */
};

/* The start of the interval_ns bucket holding t_ns (floor, negative times too). */
int64_t bar_bucket(int64_t t_ns, int64_t interval_ns);

/* Adds one trade at event time t_ns to b (a bucket with trades == 0 starts with it). */
void bar_add(struct bar *b, int64_t t_ns, double price, double volume);

/* Merges bucket m into b (both of one interval, or m inside b's): the open of the
 * earlier, the close of the later, extremes, sums. */
void bar_merge(struct bar *b, const struct bar *m);

/* Parses "1m", "5m", "1h" or "1d" into nanoseconds. Returns 0 or -EINVAL. */
int bar_interval_parse(const char *s, int64_t *interval_ns);

/* Adds a trade to the series, in its minute's bucket (made when missing; then the
 * oldest bucket gives way when the series holds cap, and a trade older than every
 * bucket of a full series is dropped). Returns 1 when a bucket was made, 0 when one was
 * updated, -ERANGE when the trade was dropped, -ENOMEM (nothing changed). */
int bar_series_add(struct bar_series *s, int64_t t_ns, double price, double volume,
		   uint32_t cap);

/* Index of the first bucket with start_ns >= t (s->n when none). */
uint32_t bar_series_find(const struct bar_series *s, int64_t t);

void bar_series_free(struct bar_series *s);

/* Rolls the sorted minute buckets in[0..n) up into interval_ns bars: out receives at
 * most max bars (the first ones); returns how many it wrote, and sets *used to how
 * many of in they took (n when all). */
uint32_t bar_rollup(const struct bar *in, uint32_t n, int64_t interval_ns, struct bar *out,
		    uint32_t max, uint32_t *used);

#endif
