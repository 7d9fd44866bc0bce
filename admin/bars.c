/* admin/bars.c — see bars.h. */
#include "admin/bars.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int64_t bar_bucket(int64_t t_ns, int64_t interval_ns)
{
	int64_t q = t_ns / interval_ns;

	if (t_ns % interval_ns < 0 && q > INT64_MIN / interval_ns)
		q--;	/* floor, not truncation, before the epoch (the first bucket
			 * representable holds what lies before it) */
	return q * interval_ns;
}

void bar_add(struct bar *b, int64_t t_ns, double price, double volume)
{
	if (b->trades == 0) {
		b->open = b->high = b->low = b->close = price;
		b->open_ns = b->close_ns = t_ns;
	} else {
		if (t_ns < b->open_ns) {
			b->open = price;
			b->open_ns = t_ns;
		}
		if (t_ns >= b->close_ns) {
			b->close = price;
			b->close_ns = t_ns;
		}
		if (price > b->high)
			b->high = price;
		if (price < b->low)
			b->low = price;
	}
	b->volume += volume;
	b->notional += price * volume;
	b->trades++;
}

void bar_merge(struct bar *b, const struct bar *m)
{
	if (m->trades == 0)
		return;
	if (b->trades == 0) {
		int64_t start = b->start_ns;

		*b = *m;
		b->start_ns = start;
		b->dirty = false;
		return;
	}
	if (m->open_ns < b->open_ns) {
		b->open = m->open;
		b->open_ns = m->open_ns;
	}
	if (m->close_ns >= b->close_ns) {
		b->close = m->close;
		b->close_ns = m->close_ns;
	}
	if (m->high > b->high)
		b->high = m->high;
	if (m->low < b->low)
		b->low = m->low;
	b->volume += m->volume;
	b->notional += m->notional;
	b->trades += m->trades;
}

int bar_interval_parse(const char *s, int64_t *interval_ns)
{
	static const struct {
		const char *name;
		int64_t minutes;
	} known[] = { { "1m", 1 }, { "5m", 5 }, { "1h", 60 }, { "1d", 1440 } };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(s, known[i].name) == 0) {
			*interval_ns = known[i].minutes * BAR_MINUTE_NS;
			return 0;
		}
	}
	return -EINVAL;
}

uint32_t bar_series_find(const struct bar_series *s, int64_t t)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].start_ns < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Drops the oldest bucket of s. */
static void bar_series_pop(struct bar_series *s)
{
	if (s->v[0].dirty) {
		s->ndirty--;
		s->evicted_dirty++;
	}
	memmove(&s->v[0], &s->v[1], (s->n - 1) * sizeof(s->v[0]));
	s->n--;
}

int bar_series_add(struct bar_series *s, int64_t t_ns, double price, double volume,
		   uint32_t cap)
{
	int64_t start = bar_bucket(t_ns, BAR_MINUTE_NS);
	uint32_t i;
	struct bar *b;
	int made = 0;

	/* Trades mostly arrive in time order: the newest bucket first. */
	if (s->n && s->v[s->n - 1].start_ns == start)
		i = s->n - 1;
	else
		i = bar_series_find(s, start);
	if (i == s->n || s->v[i].start_ns != start) {
		if (s->n == cap) {
			if (i == 0)
				return -ERANGE;	/* older than all a full series keeps */
			bar_series_pop(s);
			i--;
		}
		if (s->n == s->cap) {
			uint32_t ncap = s->cap ? s->cap * 2 : 16;
			struct bar *v;

			if (ncap > cap)
				ncap = cap;
			v = realloc(s->v, ncap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			s->v = v;
			s->cap = ncap;
		}
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
		memset(&s->v[i], 0, sizeof(s->v[i]));
		s->v[i].start_ns = start;
		s->n++;
		made = 1;
	}
	b = &s->v[i];
	bar_add(b, t_ns, price, volume);
	if (!b->dirty) {
		b->dirty = true;
		s->ndirty++;
	}
	return made;
}

void bar_series_free(struct bar_series *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

uint32_t bar_rollup(const struct bar *in, uint32_t n, int64_t interval_ns, struct bar *out,
		    uint32_t max, uint32_t *used)
{
	uint32_t k = 0, i = 0;

	while (i < n) {
		int64_t start = bar_bucket(in[i].start_ns, interval_ns);

		if (k == max)
			break;
		memset(&out[k], 0, sizeof(out[k]));
		out[k].start_ns = start;
		while (i < n && bar_bucket(in[i].start_ns, interval_ns) == start)
			bar_merge(&out[k], &in[i++]);
		k++;
	}
	*used = i;
	return k;
}
