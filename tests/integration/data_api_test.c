/* tests/integration/data_api_test.c — the REST data API against events published through
 * a real fanoutd: latest and raw history by symbol (windows, paging), OHLCV bars checked
 * against bars computed here from the published trades (1m, 5m, 1h; paging; the same
 * after a restart, and from the store once the log that held the trades is gone),
 * decisions newest first, an order's status, a fill, a portfolio's report; 404s and
 * 400s naming the parameter; the API off. Runs on the embedded store, or with argument
 * "pg" on a fresh database of the real PostgreSQL tools/test starts.
 * argv[1] is fanoutd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "tests/integration/admin_util.h"

static struct admin_mode g_mode;

/* 2025-12-05T09:00:00Z: the events' times, well in the past (bars are by event time). */
#define T0 1764925200000000000ll
#define MIN 60000000000ll

static void start(struct server *s, bool setup, const char *const *extra)
{
	const char *args[16];
	int n = 0;

	if (setup)
		server_setup(s, g_mode.argc, g_mode.argv);
	if (g_mode.pg) {
		args[n++] = "--pg-url";
		args[n++] = g_mode.pg_url;
	}
	for (int i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	server_start(s, args);
}

/* ---- events ------------------------------------------------------------------------- */

/* One event and the storage its fields point into. */
struct ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__CoordinationDecision cd;
	Fanout__V1__ExecutionData ex;
	char id[32], key[64], sym[32], a[32], b[32], c[32], venue[16];
};

static void ev_base(struct ev *v, const char *topic, const char *id, int64_t t)
{
	memset(v, 0, sizeof(*v));
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	snprintf(v->id, sizeof(v->id), "%s", id);
	v->e.event_id = v->id;
	v->e.timestamp_ns = t;
	v->d.topic = (char *)topic;
	v->d.routing_key = v->key;
	v->e.distribution = &v->d;
}

static void ev_trade(struct ev *v, const char *topic, const char *id, const char *sym,
		     int64_t t, double price, int64_t volume, const char *kind)
{
	ev_base(v, topic, id, t);
	fanout__v1__market_data__init(&v->md);
	snprintf(v->sym, sizeof(v->sym), "%s", sym);
	snprintf(v->key, sizeof(v->key), "%s.X.%s", sym, kind);
	snprintf(v->a, sizeof(v->a), "%s", kind);
	v->md.symbol = v->sym;
	v->md.price = price;
	v->md.volume = volume;
	v->md.kind = v->a;
	v->e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e.market_data = &v->md;
}

static void ev_decision(struct ev *v, const char *id, const char *instrument, int64_t t,
			const char *decision_id)
{
	ev_base(v, "decisions", id, t);
	fanout__v1__coordination_decision__init(&v->cd);
	snprintf(v->sym, sizeof(v->sym), "%s", instrument);
	snprintf(v->a, sizeof(v->a), "%s", decision_id);
	snprintf(v->key, sizeof(v->key), "%s.buy", instrument);
	v->cd.decision_id = v->a;
	v->cd.instrument_id = v->sym;
	v->cd.action = (char *)"buy";
	v->e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
	v->e.coordination_decision = &v->cd;
}

static void ev_exec(struct ev *v, const char *id, int64_t t, const char *order,
		    const char *fill, const char *portfolio, double qty, double price,
		    const char *venue, int type)
{
	ev_base(v, "execution/fills", id, t);
	fanout__v1__execution_data__init(&v->ex);
	snprintf(v->a, sizeof(v->a), "%s", order);
	snprintf(v->b, sizeof(v->b), "%s", fill);
	snprintf(v->c, sizeof(v->c), "%s", portfolio);
	snprintf(v->venue, sizeof(v->venue), "%s", venue);
	snprintf(v->key, sizeof(v->key), "AAPL.%s", order);
	v->ex.order_id = v->a;
	v->ex.fill_id = v->b;
	v->ex.portfolio_id = v->c;
	v->ex.instrument_id = (char *)"AAPL";
	v->ex.quantity = qty;
	v->ex.price = price;
	v->ex.venue = v->venue;
	v->ex.commission = 0.25 * qty;
	v->ex.execution_data_type = (Fanout__V1__ExecutionDataType)type;
	v->e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	v->e.execution = &v->ex;
}

/* Publishes n of them (harness publish_events). */
static void publish(struct client *c, struct ev *v, size_t n)
{
	publish_events(c, &v->e, sizeof(*v), n);
}

static json_t *get(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *get(struct server *s, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return api_expect(s, "GET", path, NULL, 200);
}

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_number(v));
	return json_number_value(v);
}

/* An integer field exactly (times in ns are past a double's 2^53). */
static int64_t i64(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "(absent)";
}

/* ---- market data: latest, raw history ---------------------------------------------- */

#define RAW_N 300

static void latest_and_raw_history(void **state)
{
	static struct ev v[RAW_N + 3];
	struct server s;
	struct client c;
	int64_t want[RAW_N];
	uint32_t nwant = 0, got = 0;
	char cursor[64] = "";
	json_t *j;

	(void)state;
	start(&s, true, NULL);
	server_connect(&s, &c);
	/* S0..S2 in turn, a minute apart per symbol; every tenth S1 event late (its time a
	 * minute and a half before its neighbours'). */
	for (int i = 0; i < RAW_N; i++) {
		char id[16], sym[8];
		int64_t t = T0 + (int64_t)(i / 3) * MIN + (i % 3);

		if (i % 3 == 1 && i % 10 == 7)
			t -= 90 * 1000000000ll;
		snprintf(id, sizeof(id), "r%d", i);
		snprintf(sym, sizeof(sym), "S%d", i % 3);
		ev_trade(&v[i], "md", id, sym, t, 100 + i, i + 1, i % 2 ? "trade" : "quote");
	}
	publish(&c, v, RAW_N);

	/* Latest: the newest by event time (S1's last event is not late). */
	j = get(&s, "/api/v1/market-data/S1/latest");
	assert_string_equal(str(j, "symbol"), "S1");
	assert_string_equal(str(json_object_get(j, "data"), "event_id"), "r298");
	assert_int_equal(num(json_object_get(j, "data"), "price"), 398);
	assert_string_equal(str(j, "timestamp"), str(json_object_get(j, "data"), "timestamp"));
	json_decref(j);

	/* Raw history of S1 in [T0 + 10 min, T0 + 60 min), 7 a page, in event-time order. */
	for (int i = 1; i < RAW_N; i += 3) {
		int64_t t = v[i].e.timestamp_ns;

		if (t >= T0 + 10 * MIN && t < T0 + 60 * MIN)
			want[nwant++] = t;
	}
	for (uint32_t a = 1; a < nwant; a++)	/* insertion sort: few are out of place */
		for (uint32_t b = a; b > 0 && want[b - 1] > want[b]; b--) {
			int64_t x = want[b];

			want[b] = want[b - 1];
			want[b - 1] = x;
		}
	for (int page = 0; page < 100; page++) {
		json_t *data, *more;

		j = get(&s, "/api/v1/market-data/S1/history?start_time=%lld&end_time=%s&limit=7%s%s",
			(long long)(T0 + 10 * MIN), "2025-12-05T10:00:00Z", cursor[0] ? "&cursor=" : "",
			cursor);
		data = json_object_get(j, "data");
		assert_string_equal(str(j, "interval"), "raw");
		assert_int_equal(json_array_size(data), num(j, "count"));
		for (size_t i = 0; i < json_array_size(data); i++) {
			const json_t *e = json_array_get(data, i);

			assert_true(got < nwant);
			assert_int_equal(i64(e, "timestamp_ns"), want[got]);
			assert_string_equal(str(e, "symbol"), "S1");
			assert_string_equal(str(e, "topic"), "md");
			got++;
		}
		more = json_object_get(j, "has_more");
		if (!json_is_true(more)) {
			assert_true(json_is_null(json_object_get(j, "next_cursor")));
			json_decref(j);
			break;
		}
		assert_int_equal(json_array_size(data), 7);
		snprintf(cursor, sizeof(cursor), "%s", str(j, "next_cursor"));
		json_decref(j);
	}
	assert_int_equal(got, nwant);
	assert_true(nwant > 40);

	/* Unknown symbol, bad parameters: named. */
	api_error(&s, "GET", "/api/v1/market-data/NOPE/latest", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/market-data/NOPE/history", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/market-data/S1/history?start_time=yesterday", NULL, 400,
		  "BAD_PARAMETER", "start_time");
	api_error(&s, "GET", "/api/v1/market-data/S1/history?end_time=2025-13-01T00:00:00Z",
		  NULL, 400, "BAD_PARAMETER", "end_time");
	api_error(&s, "GET", "/api/v1/market-data/S1/history?start_time=2&end_time=1", NULL,
		  400, "BAD_PARAMETER", "end_time");
	api_error(&s, "GET", "/api/v1/market-data/S1/history?interval=2m", NULL, 400,
		  "BAD_PARAMETER", "interval");
	api_error(&s, "GET", "/api/v1/market-data/S1/history?limit=0", NULL, 400,
		  "BAD_PARAMETER", "limit");
	api_error(&s, "GET", "/api/v1/market-data/S1/history?limit=10001", NULL, 400,
		  "BAD_PARAMETER", "limit");
	api_error(&s, "GET", "/api/v1/market-data/S1/history?cursor=abc", NULL, 400,
		  "BAD_PARAMETER", "cursor");
	api_error(&s, "POST", "/api/v1/market-data/S1/latest", "{}", 405, "METHOD_NOT_ALLOWED",
		  NULL);
	client_close(&c);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* ---- bars ----------------------------------------------------------------------------- */

#define BAR_MINUTES 130
#define BAR_N (BAR_MINUTES * 3)

struct want_bar {
	int64_t start, open_t, close_t;
	double open, high, low, close, volume, notional;
	uint64_t trades;
};

/* The bars of interval iv computed from the trades in v (arrival order), sorted. */
static uint32_t want_bars(const struct ev *v, size_t n, int64_t iv, struct want_bar *out)
{
	uint32_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t t = v[i].e.timestamp_ns, start = t - t % iv;
		double p = v[i].md.price, q = (double)v[i].md.volume;
		uint32_t b;

		if (strcmp(v[i].md.kind, "trade") != 0)
			continue;
		for (b = 0; b < k && out[b].start != start; b++)
			;
		if (b == k) {
			out[k++] = (struct want_bar){ start, t, t, p, p, p, p, 0, 0, 0 };
		} else {
			if (t < out[b].open_t) {
				out[b].open = p;
				out[b].open_t = t;
			}
			if (t >= out[b].close_t) {
				out[b].close = p;
				out[b].close_t = t;
			}
			out[b].high = fmax(out[b].high, p);
			out[b].low = fmin(out[b].low, p);
		}
		out[b].volume += q;
		out[b].notional += p * q;
		out[b].trades++;
	}
	for (uint32_t a = 1; a < k; a++)
		for (uint32_t b = a; b > 0 && out[b - 1].start > out[b].start; b--) {
			struct want_bar x = out[b];

			out[b] = out[b - 1];
			out[b - 1] = x;
		}
	return k;
}

/* Reads every bar of interval ivs for BARS (pages of limit) and compares with want. */
static void check_bars(struct server *s, const char *ivs, int64_t iv, const struct ev *v,
		       uint32_t limit, const char *source)
{
	static struct want_bar want[BAR_N];
	uint32_t n = want_bars(v, BAR_N, iv, want), got = 0;
	char cursor[64] = "";

	for (int page = 0; page < 200; page++) {
		json_t *j = get(s, "/api/v1/market-data/BARS/history?interval=%s&limit=%u"
				"&start_time=2025-12-05T00:00:00Z%s%s", ivs, limit,
				cursor[0] ? "&cursor=" : "", cursor);
		json_t *data = json_object_get(j, "data");

		assert_string_equal(str(j, "interval"), ivs);
		assert_string_equal(str(j, "source"), source);
		for (size_t i = 0; i < json_array_size(data); i++) {
			const json_t *b = json_array_get(data, i);
			const struct want_bar *w = &want[got];

			assert_true(got < n);
			assert_int_equal(i64(b, "start_ns"), w->start);
			assert_true(num(b, "open") == w->open && num(b, "close") == w->close);
			assert_true(num(b, "high") == w->high && num(b, "low") == w->low);
			assert_true(num(b, "volume") == w->volume);
			assert_int_equal((uint64_t)num(b, "trades"), w->trades);
			assert_true(fabs(num(b, "vwap") - w->notional / w->volume) < 1e-9);
			got++;
		}
		if (!json_is_true(json_object_get(j, "has_more"))) {
			json_decref(j);
			break;
		}
		assert_int_equal(json_array_size(data), limit);
		snprintf(cursor, sizeof(cursor), "%s", str(j, "next_cursor"));
		json_decref(j);
	}
	assert_int_equal(got, n);
}

static void bars_match_the_trades_and_persist(void **state)
{
	static struct ev v[BAR_N];
	struct server s;
	struct client c;
	json_t *j;

	(void)state;
	start(&s, true, NULL);
	server_connect(&s, &c);
	/* Three events a minute over 130 minutes: two trades and a quote (the quote's price
	 * is far out: a bar that counted it would show it). Prices are multiples of 1/4
	 * and volumes integers, so every sum is exact in either order. Every 7th minute's
	 * trades arrive in reverse time order. */
	for (int m = 0; m < BAR_MINUTES; m++) {
		int64_t t = T0 + m * MIN;
		bool rev = m % 7 == 3;

		for (int k = 0; k < 3; k++) {
			struct ev *e = &v[m * 3 + k];
			char id[16];
			int64_t at = t + (rev ? (2 - k) : k) * 15 * 1000000000ll;

			snprintf(id, sizeof(id), "b%d", m * 3 + k);
			if (k == 2)
				ev_trade(e, "bars-md", id, "BARS", at, 9999, 1, "quote");
			else
				ev_trade(e, "bars-md", id, "BARS", at, 50 + ((m * 7 + k * 3) % 40) * 0.25,
					 1 + (m + k) % 9, "trade");
		}
	}
	publish(&c, v, BAR_N);
	client_close(&c);
	check_bars(&s, "1m", MIN, v, 50, "log");
	check_bars(&s, "5m", 5 * MIN, v, 7, "log");
	check_bars(&s, "1h", 60 * MIN, v, 2, "log");
	j = get(&s, "/api/v1/market-data/BARS/history?interval=1d");
	assert_int_equal(num(j, "count"), 1);
	assert_int_equal((uint64_t)num(json_array_get(json_object_get(j, "data"), 0), "trades"),
			 BAR_MINUTES * 2);
	json_decref(j);

	/* A restart rebuilds them from the log. */
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	start(&s, false, NULL);
	check_bars(&s, "1m", MIN, v, 1000, "log");

	/* With the log gone (the topic deleted) and another restart, the store answers. */
	json_decref(api_expect(&s, "DELETE", "/api/v1/topics/bars-md", NULL, 200));
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	start(&s, false, NULL);
	api_error(&s, "GET", "/api/v1/market-data/BARS/latest", NULL, 404, "NOT_FOUND", NULL);
	check_bars(&s, "1m", MIN, v, 60, "store");
	check_bars(&s, "1h", 60 * MIN, v, 1, "store");
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* ---- decisions and executions ------------------------------------------------------- */

static void decisions_newest_first(void **state)
{
	static struct ev v[12];
	struct server s;
	struct client c;
	json_t *j, *d;

	(void)state;
	start(&s, true, NULL);
	server_connect(&s, &c);
	for (int i = 0; i < 10; i++) {
		char id[16], did[16];

		snprintf(id, sizeof(id), "d%d", i);
		snprintf(did, sizeof(did), "DEC-%d", i);
		ev_decision(&v[i], id, "MSFT", T0 + i * MIN, did);
	}
	ev_decision(&v[10], "d10", "AAPL", T0 + 5 * MIN, "DEC-A");
	publish(&c, v, 11);
	j = get(&s, "/api/v1/coordination/decisions/MSFT?limit=3");
	assert_string_equal(str(j, "symbol"), "MSFT");
	d = json_object_get(j, "decisions");
	assert_int_equal(json_array_size(d), 3);
	assert_string_equal(str(json_array_get(d, 0), "decision_id"), "DEC-9");
	assert_string_equal(str(json_array_get(d, 1), "decision_id"), "DEC-8");
	assert_string_equal(str(json_array_get(d, 2), "decision_id"), "DEC-7");
	json_decref(j);
	j = get(&s, "/api/v1/coordination/decisions/MSFT?since=%lld", (long long)(T0 + 6 * MIN));
	assert_int_equal(num(j, "count"), 4);	/* 6..9 */
	assert_string_equal(str(json_array_get(json_object_get(j, "decisions"), 3), "decision_id"),
			    "DEC-6");
	json_decref(j);
	j = get(&s, "/api/v1/coordination/decisions/AAPL");
	assert_int_equal(num(j, "count"), 1);
	json_decref(j);
	api_error(&s, "GET", "/api/v1/coordination/decisions/TSLA", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/coordination/decisions/MSFT?since=x", NULL, 400,
		  "BAD_PARAMETER", "since");
	client_close(&c);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

#define UPDATE FANOUT__V1__EXECUTION_DATA_TYPE__EXECUTION_DATA_TYPE_ORDER_UPDATE
#define FILL   FANOUT__V1__EXECUTION_DATA_TYPE__EXECUTION_DATA_TYPE_FILL_NOTIFICATION

static void executions_status_fill_report(void **state)
{
	static struct ev v[8];
	struct server s;
	struct client c;
	json_t *j, *t, *venues;

	(void)state;
	start(&s, true, NULL);
	server_connect(&s, &c);
	ev_exec(&v[0], "x0", T0, "O1", "", "P1", 0, 0, "NYSE", UPDATE);
	ev_exec(&v[1], "x1", T0 + MIN, "O1", "F1", "P1", 10, 100, "NYSE", FILL);
	ev_exec(&v[2], "x2", T0 + 2 * MIN, "O1", "F2", "P1", 6, 101.5, "ARCA", FILL);
	/* F1 again (a publisher's retry under another event id): counted once. */
	ev_exec(&v[3], "x3", T0 + 3 * MIN, "O1", "F1", "P1", 10, 100, "NYSE", FILL);
	ev_exec(&v[4], "x4", T0 + 86400 * 1000000000ll, "O2", "F3", "P1", 4, 50, "NYSE", FILL);
	ev_exec(&v[5], "x5", T0 + MIN, "O3", "F4", "P2", 1, 10, "BATS", FILL);
	publish(&c, v, 6);

	j = get(&s, "/api/v1/execution/O1/status");
	assert_string_equal(str(j, "order_id"), "O1");
	assert_true(num(j, "filled_quantity") == 16);
	assert_true(fabs(num(j, "average_price") - (1000 + 6 * 101.5) / 16) < 1e-9);
	assert_int_equal(num(j, "fills"), 2);
	assert_int_equal(num(j, "events"), 4);
	assert_string_equal(str(j, "status"), "EXECUTION_DATA_TYPE_FILL_NOTIFICATION");
	assert_string_equal(str(j, "venue"), "NYSE");	/* the last event's */
	assert_string_equal(str(j, "last_event_id"), "x3");
	json_decref(j);

	j = get(&s, "/api/v1/execution/fills/F2");
	assert_string_equal(str(j, "fill_id"), "F2");
	assert_string_equal(str(j, "order_id"), "O1");
	assert_string_equal(str(j, "venue"), "ARCA");
	assert_string_equal(str(j, "portfolio_id"), "P1");
	assert_true(num(j, "quantity") == 6 && num(j, "price") == 101.5);
	json_decref(j);

	/* P1 on 2025-12-05 (a date: the whole day): O1's events, not O2's next-day fill. */
	j = get(&s, "/api/v1/execution/reports/P1?start_date=2025-12-05&end_date=2025-12-05");
	t = json_object_get(j, "totals");
	assert_int_equal(num(t, "executions"), 4);
	assert_int_equal(num(t, "fills"), 2);
	assert_true(num(t, "quantity") == 16);
	assert_true(num(t, "notional") == 1000 + 6 * 101.5);
	assert_true(num(t, "commission") == 0.25 * 16);
	venues = json_object_get(t, "venues");
	assert_true(num(json_object_get(venues, "NYSE"), "quantity") == 10);
	assert_true(num(json_object_get(venues, "ARCA"), "quantity") == 6);
	assert_int_equal(json_array_size(json_object_get(j, "executions")), 4);
	json_decref(j);
	j = get(&s, "/api/v1/execution/reports/P1");
	assert_true(num(json_object_get(j, "totals"), "quantity") == 20);
	json_decref(j);
	j = get(&s, "/api/v1/execution/reports/P1?limit=2");
	assert_int_equal(json_array_size(json_object_get(j, "executions")), 2);
	assert_true(json_is_true(json_object_get(j, "has_more")));
	json_decref(j);

	api_error(&s, "GET", "/api/v1/execution/O9/status", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/execution/fills/F9", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/execution/reports/P9", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/execution/reports/P1?start_date=2025-12-06&"
		  "end_date=2025-12-05", NULL, 400, "BAD_PARAMETER", "end_date");
	api_error(&s, "GET", "/api/v1/execution/reports/P1?start_date=12/05/2025", NULL, 400,
		  "BAD_PARAMETER", "start_date");
	client_close(&c);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* Waits (at most 20 s) until the data index has read every event appended: a query
 * catches up by itself only for 50 ms, which a sanitizer build spends well before
 * 200,000 events. */
static void index_caught_up(struct server *s)
{
	for (int i = 0; i < 400; i++) {
		if (api_metric(s, "fanout_data_index_behind_events") == 0)
			return;
		admin_sleep_ms(50);
	}
	fail_msg("the data index never caught up");
}

/* A 1 MiB index (the least --data-index-bytes takes) with 200,000 events of one symbol:
 * the oldest postings give way, the newest answer exactly, and the metrics say so. */
static void small_budget_keeps_the_newest(void **state)
{
	static struct ev v[1000];
	struct server s;
	struct client c;
	json_t *j, *data;
	int64_t oldest;

	(void)state;
	start(&s, true, (const char *const[]){ "--data-index-bytes", "1048576", NULL });
	server_connect(&s, &c);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 1000; i++) {
			char id[24];
			int n = round * 1000 + i;

			snprintf(id, sizeof(id), "m%d", n);
			ev_trade(&v[i], "many", id, "ONE", T0 + (int64_t)n * 1000, 10 + n % 7, 1,
				 "trade");
		}
		publish(&c, v, 1000);
	}
	index_caught_up(&s);
	j = get(&s, "/api/v1/market-data/ONE/history?start_time=%lld&limit=100",
		(long long)(T0 + 199900ll * 1000));
	data = json_object_get(j, "data");
	assert_int_equal(json_array_size(data), 100);	/* the newest 100, exactly */
	for (int i = 0; i < 100; i++)
		assert_int_equal(i64(json_array_get(data, (size_t)i), "timestamp_ns"),
				 T0 + (199900ll + i) * 1000);
	assert_true(json_is_false(json_object_get(j, "has_more")));
	json_decref(j);
	j = get(&s, "/api/v1/market-data/ONE/history?limit=1");
	oldest = i64(json_array_get(json_object_get(j, "data"), 0), "timestamp_ns");
	assert_true(oldest > T0);	/* the first ones gave way */
	json_decref(j);
	/* The bars saw every trade all the same. */
	j = get(&s, "/api/v1/market-data/ONE/history?interval=1d");
	assert_int_equal((int64_t)num(json_array_get(json_object_get(j, "data"), 0), "trades"),
			 200000);
	json_decref(j);
	assert_true(api_metric(&s, "fanout_data_index_postings_dropped_total") > 100000);
	assert_true(api_metric(&s, "fanout_data_index_bytes") >= 0);
	assert_true(api_metric(&s, "fanout_data_index_bytes") <= 1048576);
	client_close(&c);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* One integer from the store under test (SQLite in the data dir, or PostgreSQL). */
static long long store_scalar(struct server *s, const char *sql)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	if (g_mode.pg)
		return pgtest_scalar(g_mode.pg_url, sql);
	snprintf(path, sizeof(path), "%s/data/fanout.db", s->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Quiet symbols' bars reach the store while 2,100 busy ones change every 200 ms (more
 * than one second's flush takes): none waits behind the busy ones for ever. */
static void every_symbols_bars_reach_the_store(void **state)
{
	static struct ev v[2500];
	struct server s;
	struct client c;
	long long n = 0;

	(void)state;
	start(&s, true, NULL);
	server_connect(&s, &c);
	for (int i = 0; i < 2500; i++) {
		char id[16], sym[16];

		snprintf(id, sizeof(id), "q%d", i);
		snprintf(sym, sizeof(sym), "Q%d", i);
		ev_trade(&v[i], "quiet", id, sym, T0 + i, 10, 1, "trade");
	}
	publish(&c, v, 2500);
	for (int round = 0; round < 40 && n < 2500; round++) {
		for (int i = 0; i < 2100; i++) {
			char id[24], sym[16];

			snprintf(id, sizeof(id), "h%d-%d", round, i);
			snprintf(sym, sizeof(sym), "H%d", i);
			ev_trade(&v[i], "busy", id, sym, T0 + round * MIN + i, 10 + round, 1,
				 "trade");
		}
		publish(&c, v, 2100);
		admin_sleep_ms(200);
		n = store_scalar(&s, "SELECT COUNT(*) FROM market_bars WHERE symbol LIKE 'Q%'");
	}
	assert_int_equal(n, 2500);
	client_close(&c);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* New keys past the budget take the place of the least recently updated ones: the
 * newest orders answer, the oldest are gone, and the metrics count it. */
static void new_keys_evict_the_oldest(void **state)
{
	static struct ev v[500];
	struct server s;
	struct client c;
	json_t *j;

	(void)state;
	start(&s, true, (const char *const[]){ "--data-index-bytes", "1048576", NULL });
	server_connect(&s, &c);
	for (int round = 0; round < 12; round++) {	/* 6,000 orders, each its own fill */
		for (int i = 0; i < 500; i++) {
			char id[24], order[24], fill[24];
			int n = round * 500 + i;

			snprintf(id, sizeof(id), "e%d", n);
			snprintf(order, sizeof(order), "ORD%d", n);
			snprintf(fill, sizeof(fill), "FL%d", n);
			ev_exec(&v[i], id, T0 + n, order, fill, "PX", 1, 10, "NYSE", FILL);
		}
		publish(&c, v, 500);
	}
	index_caught_up(&s);
	j = get(&s, "/api/v1/execution/ORD5999/status");
	assert_true(num(j, "filled_quantity") == 1);
	json_decref(j);
	j = get(&s, "/api/v1/execution/fills/FL5999");
	assert_string_equal(str(j, "order_id"), "ORD5999");
	json_decref(j);
	api_error(&s, "GET", "/api/v1/execution/ORD0/status", NULL, 404, "NOT_FOUND", NULL);
	assert_true(api_metric(&s, "fanout_data_index_keys_evicted_total") > 1000);
	client_close(&c);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

static void data_api_off(void **state)
{
	struct server s;

	(void)state;
	start(&s, true, (const char *const[]){ "--data-index-bytes", "0", NULL });
	api_error(&s, "GET", "/api/v1/market-data/S1/latest", NULL, 503, "DATA_INDEX_OFF", NULL);
	api_error(&s, "GET", "/api/v1/execution/O1/status", NULL, 503, "DATA_INDEX_OFF", NULL);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(latest_and_raw_history),
		cmocka_unit_test(bars_match_the_trades_and_persist),
		cmocka_unit_test(decisions_newest_first),
		cmocka_unit_test(executions_status_fill_report),
		cmocka_unit_test(small_budget_keeps_the_newest),
		cmocka_unit_test(new_keys_evict_the_oldest),
		cmocka_unit_test(every_symbols_bars_reach_the_store),
		cmocka_unit_test(data_api_off),
	};

	return admin_test_main(&g_mode, argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
