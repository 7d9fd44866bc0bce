/* admin/store_bars.c — the market_bars table (store_tables.h). Rows are written by the
 * data index (admin/dataidx.c, dataidx_flush_bars) and read here. */
#include "admin/store_tables.h"

#include <stdlib.h>
#include <string.h>

#include "admin/bars.h"

int store_bars_range(struct store *st, const char *symbol, int64_t from_ns, int64_t to_ns,
		     uint32_t max, struct bar **out, uint32_t *n)
{
	struct store_args a = { 0 };
	struct store_result r;
	struct bar *v;
	int rc;

	*out = NULL;
	*n = 0;
	store_arg_str(&a, symbol);
	store_arg_i64(&a, from_ns);
	store_arg_i64(&a, to_ns);
	store_arg_u64(&a, max);
	rc = store_exec(st, "SELECT minute_ns, open, high, low, close, volume, notional, trades,"
			" open_ns, close_ns FROM market_bars WHERE symbol = $1 AND minute_ns >= $2"
			" AND minute_ns < $3 ORDER BY minute_ns LIMIT $4", a.n, a.v, &r);
	if (rc != STORE_OK || r.nrows == 0) {
		store_result_free(&r);
		return rc;
	}
	v = calloc(r.nrows, sizeof(*v));
	if (!v) {
		store_result_free(&r);
		return store_fail(st, STORE_ERR, "out of memory for %u bars", r.nrows);
	}
	for (uint32_t i = 0; i < r.nrows; i++) {
		const char *c[10];

		for (uint32_t j = 0; j < 10; j++)
			c[j] = store_cell(&r, i, j) ? store_cell(&r, i, j) : "0";
		v[i].start_ns = strtoll(c[0], NULL, 10);
		v[i].open = strtod(c[1], NULL);
		v[i].high = strtod(c[2], NULL);
		v[i].low = strtod(c[3], NULL);
		v[i].close = strtod(c[4], NULL);
		v[i].volume = strtod(c[5], NULL);
		v[i].notional = strtod(c[6], NULL);
		v[i].trades = strtoull(c[7], NULL, 10);
		v[i].open_ns = strtoll(c[8], NULL, 10);
		v[i].close_ns = strtoll(c[9], NULL, 10);
	}
	*out = v;
	*n = r.nrows;
	store_result_free(&r);
	return STORE_OK;
}
