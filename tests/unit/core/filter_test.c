/* tests/unit/core/filter_test.c — content filters compiled from fanout.v1.Filter and
 * matched on index entries built as ingest/publish.c builds them, table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/filter.h"
#include "core/keyhash.h"

#define MD   FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA
#define DEC  FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION
#define EXEC FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION

/* As publish_hash_str: the empty string is "no such string", hash 0. */
static uint64_t hs(const char *s)
{
	return s[0] ? keyhash_bytes(s, strlen(s)) : 0;
}

/* Index entries exactly as publish_fields fills them, per payload. */
static struct log_entry market(const char *symbol, const char *exchange, const char *currency,
			       double price, double volume)
{
	struct log_entry e = {
		.len = 1, .data_type = MD, .symbol_hash = hs(symbol), .venue_hash = hs(exchange),
		.aux_hash = hs(currency), .price = price, .volume = volume,
	};
	return e;
}

static struct log_entry decision(const char *instrument, const char *venue, const char *action,
				 const char *decision_id, double confidence, int64_t quantity)
{
	struct log_entry e = {
		.len = 1, .data_type = DEC, .symbol_hash = hs(instrument),
		.venue_hash = hs(venue), .aux_hash = hs(action), .order_hash = hs(decision_id),
		.price = confidence, .volume = quantity,
	};
	return e;
}

static struct log_entry execution(const char *instrument, const char *venue,
				  const char *order_id, double price, double quantity)
{
	struct log_entry e = {
		.len = 1, .data_type = EXEC, .symbol_hash = hs(instrument),
		.venue_hash = hs(venue), .order_hash = hs(order_id), .price = price,
		.volume = quantity,
	};
	return e;
}

/* The events every table case is matched against; "odd" ones carry strings or numbers
 * that would pass a condition if the filter read a slot meant for another type. */
enum {
	MD_AAPL, MD_MSFT, MD_VOD, MD_ODD, DEC_AAPL, DEC_MSFT, DEC_ODD, EX_AAPL, EX_ARCA, N_EVENTS
};

static struct log_entry events[N_EVENTS];

static void events_init(void)
{
	events[MD_AAPL] = market("AAPL", "NASDAQ", "USD", 150.0, 100);
	events[MD_MSFT] = market("MSFT", "NYSE", "EUR", 300.0, 5);
	events[MD_VOD] = market("VOD", "LSE", "", 10.0, 1000);		/* no currency */
	events[MD_ODD] = market("BUYCO", "NYSE", "buy", 0.95, 50);	/* action-like currency */
	events[DEC_AAPL] = decision("AAPL", "NASDAQ", "buy", "D1", 0.9, 50);
	events[DEC_MSFT] = decision("MSFT", "", "sell", "D2", 0.4, 500);	/* no venue */
	/* currency-like action, order-like decision id, confidence above price bounds */
	events[DEC_ODD] = decision("TSLA", "NYSE", "USD", "O1", 200.0, 1);
	events[EX_AAPL] = execution("AAPL", "NASDAQ", "O1", 151.0, 100.0);
	events[EX_ARCA] = execution("", "ARCA", "O2", 299.5, 7.9);	/* no instrument */
	events[EX_AAPL].portfolio_hash = hs("P1");
	events[EX_ARCA].portfolio_hash = hs("P2");
	/* Not executions: a portfolio in their slot must not pass portfolio_ids. */
	events[MD_ODD].portfolio_hash = hs("P1");
	events[DEC_ODD].portfolio_hash = hs("P1");
}

#define BIT(x) (1u << (x))
#define ALL ((1u << N_EVENTS) - 1)
#define ALL_MD (BIT(MD_AAPL) | BIT(MD_MSFT) | BIT(MD_VOD) | BIT(MD_ODD))
#define ALL_DEC (BIT(DEC_AAPL) | BIT(DEC_MSFT) | BIT(DEC_ODD))
#define ALL_EX (BIT(EX_AAPL) | BIT(EX_ARCA))

#define SPEC_VALUES 6
struct bound_spec {
	bool on;
	double v;
};
#define B(x) { true, (x) }

/* A Filter message, declaratively: lists end at the first NULL. */
struct spec {
	const char *name;
	const char *symbols[SPEC_VALUES + 1], *exchanges[SPEC_VALUES + 1];
	const char *currencies[SPEC_VALUES + 1], *actions[SPEC_VALUES + 1];
	const char *order_ids[SPEC_VALUES + 1], *portfolio_ids[SPEC_VALUES + 1];
	int types[SPEC_VALUES];
	size_t ntypes;
	struct bound_spec min_price, max_price, min_volume, min_confidence;
	uint32_t want;		/* match cases: bit per event that passes */
	const char *why;	/* refusal cases: a word the reason must contain */
};

/* Storage for one Filter built from a spec, with the generated protobuf-c structs. */
struct built {
	Fanout__V1__Filter msg;
	Fanout__V1__Bound bounds[4];
	char *lists[6][SPEC_VALUES];
	Fanout__V1__DataType types[SPEC_VALUES];
};

static size_t list_fill(char **dst, const char *const *src)
{
	size_t n = 0;

	while (n < SPEC_VALUES && src[n]) {
		dst[n] = (char *)src[n];
		n++;
	}
	return n;
}

static Fanout__V1__Bound *bound_fill(Fanout__V1__Bound *b, const struct bound_spec *s)
{
	if (!s->on)
		return NULL;
	fanout__v1__bound__init(b);
	b->value = s->v;
	return b;
}

static const Fanout__V1__Filter *build(struct built *b, const struct spec *s)
{
	fanout__v1__filter__init(&b->msg);
	b->msg.n_symbols = list_fill(b->lists[0], s->symbols);
	b->msg.symbols = b->lists[0];
	b->msg.n_exchanges = list_fill(b->lists[1], s->exchanges);
	b->msg.exchanges = b->lists[1];
	b->msg.n_currencies = list_fill(b->lists[2], s->currencies);
	b->msg.currencies = b->lists[2];
	b->msg.n_actions = list_fill(b->lists[3], s->actions);
	b->msg.actions = b->lists[3];
	b->msg.n_order_ids = list_fill(b->lists[4], s->order_ids);
	b->msg.order_ids = b->lists[4];
	b->msg.n_portfolio_ids = list_fill(b->lists[5], s->portfolio_ids);
	b->msg.portfolio_ids = b->lists[5];
	for (size_t i = 0; i < s->ntypes; i++)
		b->types[i] = (Fanout__V1__DataType)s->types[i];
	b->msg.n_data_types = s->ntypes;
	b->msg.data_types = b->types;
	b->msg.min_price = bound_fill(&b->bounds[0], &s->min_price);
	b->msg.max_price = bound_fill(&b->bounds[1], &s->max_price);
	b->msg.min_volume = bound_fill(&b->bounds[2], &s->min_volume);
	b->msg.min_confidence = bound_fill(&b->bounds[3], &s->min_confidence);
	return &b->msg;
}

static const struct spec match_cases[] = {
	{ "no condition", .want = ALL },
	{ "symbols one", .symbols = { "AAPL" },
	  .want = BIT(MD_AAPL) | BIT(DEC_AAPL) | BIT(EX_AAPL) },
	{ "symbols two", .symbols = { "MSFT", "AAPL" },
	  .want = BIT(MD_AAPL) | BIT(DEC_AAPL) | BIT(EX_AAPL) | BIT(MD_MSFT) | BIT(DEC_MSFT) },
	{ "symbols duplicated", .symbols = { "AAPL", "AAPL", "AAPL" },
	  .want = BIT(MD_AAPL) | BIT(DEC_AAPL) | BIT(EX_AAPL) },
	{ "symbols none known", .symbols = { "NOPE" }, .want = 0 },
	{ "symbols is case-sensitive", .symbols = { "aapl" }, .want = 0 },
	{ "exchanges one", .exchanges = { "NASDAQ" },
	  .want = BIT(MD_AAPL) | BIT(DEC_AAPL) | BIT(EX_AAPL) },
	{ "exchanges two", .exchanges = { "NYSE", "ARCA" },
	  .want = BIT(MD_MSFT) | BIT(MD_ODD) | BIT(DEC_ODD) | BIT(EX_ARCA) },
	{ "currencies skip a decision whose action is USD", .currencies = { "USD" },
	  .want = BIT(MD_AAPL) },
	{ "currencies skip a decision whose action is buy", .currencies = { "buy" },
	  .want = BIT(MD_ODD) },
	{ "currencies two", .currencies = { "EUR", "USD" },
	  .want = BIT(MD_AAPL) | BIT(MD_MSFT) },
	{ "actions skip market data whose currency is buy", .actions = { "buy" },
	  .want = BIT(DEC_AAPL) },
	{ "actions skip market data whose currency is USD", .actions = { "USD", "sell" },
	  .want = BIT(DEC_ODD) | BIT(DEC_MSFT) },
	{ "order_ids match executions and decisions", .order_ids = { "O1" },
	  .want = BIT(EX_AAPL) | BIT(DEC_ODD) },
	{ "order_ids several", .order_ids = { "D1", "D2", "O2" },
	  .want = BIT(DEC_AAPL) | BIT(DEC_MSFT) | BIT(EX_ARCA) },
	{ "portfolio_ids match executions only", .portfolio_ids = { "P1" },
	  .want = BIT(EX_AAPL) },
	{ "portfolio_ids several", .portfolio_ids = { "P2", "P1", "P9" }, .want = ALL_EX },
	{ "portfolio_ids none known", .portfolio_ids = { "P3" }, .want = 0 },
	{ "portfolio_ids is case-sensitive", .portfolio_ids = { "p1" }, .want = 0 },
	{ "min_price inclusive, never a decision", .min_price = B(150.0),
	  .want = BIT(MD_AAPL) | BIT(MD_MSFT) | BIT(EX_AAPL) | BIT(EX_ARCA) },
	{ "min_price just above an edge", .min_price = B(150.000001),
	  .want = BIT(MD_MSFT) | BIT(EX_AAPL) | BIT(EX_ARCA) },
	{ "max_price inclusive, never a decision", .max_price = B(150.0),
	  .want = BIT(MD_AAPL) | BIT(MD_VOD) | BIT(MD_ODD) },
	{ "max_price just below an edge", .max_price = B(149.999999),
	  .want = BIT(MD_VOD) | BIT(MD_ODD) },
	{ "min_price == max_price", .min_price = B(150.0), .max_price = B(150.0),
	  .want = BIT(MD_AAPL) },
	{ "price range", .min_price = B(10.0), .max_price = B(151.0),
	  .want = BIT(MD_AAPL) | BIT(MD_VOD) | BIT(EX_AAPL) },
	{ "min_price 0 still excludes decisions", .min_price = B(0.0),
	  .want = ALL_MD | ALL_EX },
	{ "min_volume covers all three types", .min_volume = B(100.0),
	  .want = BIT(MD_AAPL) | BIT(MD_VOD) | BIT(DEC_MSFT) | BIT(EX_AAPL) },
	{ "min_volume compares as a double (a 7.9 quantity passes 7.5)", .min_volume = B(7.5),
	  .want = BIT(MD_AAPL) | BIT(MD_VOD) | BIT(MD_ODD) | BIT(DEC_AAPL) | BIT(DEC_MSFT) |
		  BIT(EX_AAPL) | BIT(EX_ARCA) },
	{ "min_volume very low", .min_volume = B(-1e300), .want = ALL },
	{ "min_confidence only decisions", .min_confidence = B(0.5),
	  .want = BIT(DEC_AAPL) | BIT(DEC_ODD) },
	{ "min_confidence inclusive", .min_confidence = B(0.9),
	  .want = BIT(DEC_AAPL) | BIT(DEC_ODD) },
	{ "min_confidence just above an edge", .min_confidence = B(0.900001),
	  .want = BIT(DEC_ODD) },
	{ "data_types execution", .types = { EXEC }, .ntypes = 1, .want = ALL_EX },
	{ "data_types market data and decision", .types = { MD, DEC }, .ntypes = 2,
	  .want = ALL_MD | ALL_DEC },
	{ "data_types duplicated", .types = { DEC, DEC }, .ntypes = 2, .want = ALL_DEC },
	{ "data_types all stored", .types = { EXEC, MD, DEC }, .ntypes = 3, .want = ALL },
	{ "symbol, types and price", .symbols = { "AAPL" }, .types = { MD, EXEC }, .ntypes = 2,
	  .min_price = B(150.5), .want = BIT(EX_AAPL) },
	{ "symbols, exchange and currency", .symbols = { "AAPL", "MSFT" },
	  .exchanges = { "NYSE" }, .currencies = { "EUR" }, .want = BIT(MD_MSFT) },
	{ "exchange, volume and price", .exchanges = { "NASDAQ" }, .min_volume = B(60.0),
	  .max_price = B(150.5), .want = BIT(MD_AAPL) },
	{ "actions and confidence", .actions = { "buy", "USD" }, .min_confidence = B(1.0),
	  .want = BIT(DEC_ODD) },
	{ "order id and price", .order_ids = { "O1" }, .min_price = B(100.0),
	  .want = BIT(EX_AAPL) },
	{ "portfolio and order id", .portfolio_ids = { "P1", "P2" }, .order_ids = { "O2" },
	  .want = BIT(EX_ARCA) },
	{ "portfolio and another portfolio's order", .portfolio_ids = { "P1" },
	  .order_ids = { "O2" }, .want = 0 },
	{ "portfolio and decision type never both hold", .portfolio_ids = { "P1" },
	  .types = { DEC }, .ntypes = 1, .want = 0 },
	{ "currencies and actions never both hold", .currencies = { "USD" },
	  .actions = { "buy" }, .want = 0 },
	{ "execution type with a currency", .types = { EXEC }, .ntypes = 1,
	  .currencies = { "USD" }, .want = 0 },
	{ "price and confidence never both hold", .min_price = B(0.0),
	  .min_confidence = B(0.0), .want = 0 },
};

static void filters_match_as_tabled(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct spec *c = &match_cases[i];
		struct built b;
		struct filter f;
		const char *why = NULL;
		int rc = filter_compile(&f, build(&b, c), &why);

		if (rc != 0)
			fail_msg("case '%s': compile returned %d (%s)", c->name, rc,
				 why ? why : "no reason");
		if (f.empty != (i == 0))	/* only the first case has no condition */
			fail_msg("case '%s': empty is %d", c->name, f.empty);
		for (int e = 0; e < N_EVENTS; e++) {
			bool want = c->want & BIT(e);

			if (filter_match(&f, &events[e]) != want)
				fail_msg("case '%s', event %d: expected %s", c->name, e,
					 want ? "match" : "no match");
		}
		filter_free(&f);
	}
}

/* Odd entries the table's events don't cover: nothing typed, no strings, bytes that are
 * no DataType. */
static void empty_filter_and_null_message_match_everything(void **state)
{
	Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
	struct log_entry odd[] = {
		{ .len = 1 },
		{ .len = 1, .data_type = 4, .price = NAN },
		{ .len = 1, .data_type = 200, .volume = -1e308 },
	};
	const Fanout__V1__Filter *msgs[] = { NULL, &msg };
	const char *why = NULL;
	struct filter f;

	(void)state;
	for (size_t m = 0; m < 2; m++) {
		memset(&f, 0xa5, sizeof(f));	/* compile must not rely on a zeroed struct */
		assert_int_equal(filter_compile(&f, msgs[m], &why), 0);
		assert_true(f.empty);
		assert_null(f.symbols.hashes);
		for (int e = 0; e < N_EVENTS; e++)
			assert_true(filter_match(&f, &events[e]));
		for (size_t e = 0; e < sizeof(odd) / sizeof(odd[0]); e++)
			assert_true(filter_match(&f, &odd[e]));
		filter_free(&f);
	}
	/* Any one condition makes a filter non-empty. */
	{
		Fanout__V1__DataType t = MD;

		msg.n_data_types = 1;
		msg.data_types = &t;
		assert_int_equal(filter_compile(&f, &msg, &why), 0);
		assert_false(f.empty);
		assert_false(filter_match(&f, &events[DEC_AAPL]));
		filter_free(&f);
	}
}

/* A zero hash in the entry is "the event has no such string": it fails a list even if
 * the set somehow holds 0, which compiled strings cannot produce, so the set is built by
 * hand here. */
static void zero_hash_fails_a_list(void **state)
{
	uint64_t hashes[] = { 0, hs("AAPL") };
	struct filter_set set = { hashes, 2 };
	struct log_entry none = decision("", "", "", "", 0.5, 1);
	struct log_entry some = decision("AAPL", "AAPL", "AAPL", "AAPL", 0.5, 1);
	struct filter_set *lists[4];
	struct filter f;

	(void)state;
	if (hashes[1] < hashes[0])
		fail_msg("set must be sorted");
	memset(&f, 0, sizeof(f));
	lists[0] = &f.symbols;
	lists[1] = &f.exchanges;
	lists[2] = &f.actions;
	lists[3] = &f.order_ids;
	for (int i = 0; i < 4; i++) {
		memset(&f, 0, sizeof(f));
		*lists[i] = set;
		assert_false(filter_match(&f, &none));
		assert_true(filter_match(&f, &some));
	}
	memset(&f, 0, sizeof(f));
	f.currencies = set;
	none = market("AAPL", "X", "", 1.0, 1);
	some = market("AAPL", "X", "AAPL", 1.0, 1);
	assert_false(filter_match(&f, &none));
	assert_true(filter_match(&f, &some));
	/* And compiled: an execution without an instrument fails any symbols list. */
	{
		char *sym[] = { "AAPL" };
		Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
		const char *why = NULL;

		msg.n_symbols = 1;
		msg.symbols = sym;
		assert_int_equal(filter_compile(&f, &msg, &why), 0);
		assert_false(filter_match(&f, &events[EX_ARCA]));
		assert_true(filter_match(&f, &events[EX_AAPL]));
		filter_free(&f);
	}
	/* An execution without a portfolio fails any portfolio_ids list. */
	{
		char *pf[] = { "P1" };
		Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
		struct log_entry ex = execution("AAPL", "X", "O1", 1.0, 1.0);
		const char *why = NULL;

		msg.n_portfolio_ids = 1;
		msg.portfolio_ids = pf;
		assert_int_equal(filter_compile(&f, &msg, &why), 0);
		assert_false(f.empty);
		assert_false(filter_match(&f, &ex));
		ex.portfolio_hash = hs("P1");
		assert_true(filter_match(&f, &ex));
		filter_free(&f);
	}
}

/* A NaN in the entry's price slot passes no bound; an unknown type has no typed field;
 * a type's missing field fails even if its slot is somehow filled. */
static void odd_entries_fail_typed_conditions(void **state)
{
	static const struct spec specs[] = {
		{ "min_price", .min_price = B(-1e300) },
		{ "max_price", .max_price = B(1e300) },
		{ "min_confidence", .min_confidence = B(-1e300) },
	};
	struct log_entry nan_md = market("AAPL", "X", "USD", NAN, 1);
	struct log_entry nan_dec = decision("AAPL", "X", "buy", "D", NAN, 1);
	struct log_entry unknown = market("AAPL", "X", "USD", 1.0, 1);
	struct built b;
	struct filter f;
	const char *why = NULL;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(filter_compile(&f, build(&b, &specs[i]), &why), 0);
		assert_false(filter_match(&f, i == 2 ? &nan_dec : &nan_md));
		filter_free(&f);
	}
	unknown.data_type = 200;	/* past any bit of data_types */
	{
		static const struct spec all = { "all types", .types = { MD, DEC, EXEC }, .ntypes = 3 };
		static const struct spec vol = { "volume", .min_volume = B(-1e300) };
		static const struct spec sym = { "symbol", .symbols = { "AAPL" } };

		assert_int_equal(filter_compile(&f, build(&b, &all), &why), 0);
		assert_false(filter_match(&f, &unknown));
		filter_free(&f);
		assert_int_equal(filter_compile(&f, build(&b, &vol), &why), 0);
		assert_false(filter_match(&f, &unknown));
		filter_free(&f);
		/* Market data has no order id, whatever its entry's slot holds. */
		{
			static const struct spec ord = { "order", .order_ids = { "O1" } };
			struct log_entry md = market("AAPL", "X", "USD", 1.0, 1);

			md.order_hash = hs("O1");
			assert_int_equal(filter_compile(&f, build(&b, &ord), &why), 0);
			assert_false(filter_match(&f, &md));
			md.data_type = EXEC;
			assert_true(filter_match(&f, &md));
			filter_free(&f);
		}
		/* Symbols are untyped: the hash alone decides. */
		assert_int_equal(filter_compile(&f, build(&b, &sym), &why), 0);
		assert_true(filter_match(&f, &unknown));
		filter_free(&f);
	}
}

static void duplicates_behave_as_one(void **state)
{
	char *syms[] = { "B", "A", "B", "A", "A", "C", "B" };
	Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
	struct filter f;
	const char *why = NULL;

	(void)state;
	msg.n_symbols = 7;
	msg.symbols = syms;
	assert_int_equal(filter_compile(&f, &msg, &why), 0);
	assert_int_equal(f.symbols.n, 3);
	assert_true(f.symbols.hashes[0] < f.symbols.hashes[1]);
	assert_true(f.symbols.hashes[1] < f.symbols.hashes[2]);
	for (size_t i = 0; i < 7; i++) {
		struct log_entry e = market(syms[i], "X", "", 1, 1);

		assert_true(filter_match(&f, &e));
	}
	{
		struct log_entry e = market("D", "X", "", 1, 1);

		assert_false(filter_match(&f, &e));
	}
	filter_free(&f);
}

static char names[FILTER_VALUES_MAX + 1][8];
static char *name_ptrs[FILTER_VALUES_MAX + 1];

static void names_init(void)
{
	for (uint32_t i = 0; i <= FILTER_VALUES_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "S%05u", i);
		name_ptrs[i] = names[i];
	}
}

/* Every member of every set size is found and nothing else is: the binary search's
 * edges (first, last, between, outside) at each size. */
static void sets_of_every_size_find_exactly_their_members(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100,
					  1000, FILTER_VALUES_MAX };
	Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
	const char *why = NULL;
	struct filter f;

	(void)state;
	names_init();
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		uint32_t probe = n < 200 ? n + 50 : n + 1;

		msg.n_order_ids = n;
		msg.order_ids = name_ptrs;
		assert_int_equal(filter_compile(&f, &msg, &why), 0);
		assert_int_equal(f.order_ids.n, n);
		for (uint32_t i = 0; i < probe && i <= FILTER_VALUES_MAX; i++) {
			struct log_entry e = execution("AAPL", "X", names[i], 1.0, 1.0);

			if (filter_match(&f, &e) != (i < n))
				fail_msg("set of %u, value %u: expected %s", n, i,
					 i < n ? "match" : "no match");
		}
		filter_free(&f);
	}
}

static char long255[256], long256[257];

static const struct spec bad_cases[] = {
	{ "min_price NaN", .min_price = B(NAN), .why = "min_price" },
	{ "min_price -inf", .min_price = B(-INFINITY), .why = "min_price" },
	{ "max_price +inf", .max_price = B(INFINITY), .why = "max_price" },
	{ "max_price NaN", .max_price = B(NAN), .why = "max_price" },
	{ "min_volume NaN", .min_volume = B(NAN), .why = "min_volume" },
	{ "min_volume +inf", .min_volume = B(INFINITY), .why = "min_volume" },
	{ "min_confidence NaN", .min_confidence = B(NAN), .why = "min_confidence" },
	{ "min_confidence -inf", .min_confidence = B(-INFINITY), .why = "min_confidence" },
	{ "min_price > max_price", .min_price = B(10.0), .max_price = B(5.0), .why = "price" },
	{ "min_price > max_price after lists", .symbols = { "AAPL", "MSFT" },
	  .order_ids = { "O1" }, .min_price = B(10.0), .max_price = B(9.999), .why = "price" },
	{ "empty symbol", .symbols = { "" }, .why = "symbols" },
	{ "empty exchange after a good one", .exchanges = { "NYSE", "" }, .why = "exchanges" },
	{ "overlong currency", .currencies = { long256 }, .why = "currencies" },
	{ "overlong action after lists", .symbols = { "AAPL" }, .actions = { "buy", long256 },
	  .why = "actions" },
	{ "empty order id after lists", .symbols = { "AAPL" }, .exchanges = { "NYSE" },
	  .order_ids = { "" }, .why = "order_ids" },
	{ "empty portfolio id", .portfolio_ids = { "" }, .why = "portfolio_ids" },
	{ "empty portfolio id after lists", .order_ids = { "O1" }, .portfolio_ids = { "P1", "" },
	  .why = "portfolio_ids" },
	{ "overlong portfolio id", .portfolio_ids = { long256 }, .why = "portfolio_ids" },
	{ "data type unspecified", .types = { 0 }, .ntypes = 1, .why = "data_types" },
	{ "data type coordination completed", .types = { 4 }, .ntypes = 1, .why = "data_types" },
	{ "data type unknown", .types = { 99 }, .ntypes = 1, .why = "data_types" },
	{ "data type negative", .types = { -1 }, .ntypes = 1, .why = "data_types" },
	{ "bad data type after lists", .symbols = { "AAPL" }, .types = { MD, 4 }, .ntypes = 2,
	  .why = "data_types" },
};

static void filter_is_zeroed(const struct filter *f, const char *name)
{
	struct filter zero;

	memset(&zero, 0, sizeof(zero));
	if (memcmp(f, &zero, sizeof(zero)) != 0)
		fail_msg("case '%s': a failed compile left something in the filter", name);
}

/* Malformed filters are refused with a reason; ASan's leak check covers the lists built
 * before the failure. */
static void malformed_filters_are_refused(void **state)
{
	(void)state;
	memset(long256, 'x', 256);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct spec *c = &bad_cases[i];
		struct built b;
		struct filter f;
		const char *why = NULL;
		int rc = filter_compile(&f, build(&b, c), &why);

		if (rc != -EINVAL)
			fail_msg("case '%s': compile returned %d, expected -EINVAL", c->name, rc);
		if (!why || !why[0] || !strstr(why, c->why))
			fail_msg("case '%s': reason '%s' does not name '%s'", c->name,
				 why ? why : "(null)", c->why);
		filter_is_zeroed(&f, c->name);
		filter_free(&f);	/* nothing to free, and still safe */
	}
}

/* The edges just inside the limits are accepted. */
static void values_at_the_limits_are_accepted(void **state)
{
	static const struct spec edge = { "edge", .currencies = { long255 },
					  .min_price = B(-1e308), .max_price = B(-1e308),
					  .min_volume = B(-1e308) };
	struct log_entry e;
	struct built b;
	struct filter f;
	const char *why = NULL;

	(void)state;
	memset(long255, 'y', 255);
	e = market("AAPL", "X", long255, -1e308, 0);
	assert_int_equal(strlen(long255), 255);
	assert_int_equal(filter_compile(&f, build(&b, &edge), &why), 0);
	assert_int_equal(f.currencies.n, 1);
	assert_true(filter_match(&f, &e));
	e.price = -1e307;
	assert_false(filter_match(&f, &e));
	filter_free(&f);
}

/* FILTER_VALUES_MAX values are fine in each list; one more is refused. */
static void too_many_values_are_refused(void **state)
{
	static Fanout__V1__DataType types[FILTER_VALUES_MAX + 1];
	static const char *const fields[] = {
		"symbols", "exchanges", "currencies", "actions", "order_ids", "portfolio_ids",
		"data_types"
	};
	const char *why;
	struct filter f;

	(void)state;
	names_init();
	for (uint32_t i = 0; i <= FILTER_VALUES_MAX; i++)
		types[i] = (Fanout__V1__DataType)(1 + i % 3);
	for (int field = 0; field < 7; field++) {
		for (uint32_t n = FILTER_VALUES_MAX; n <= FILTER_VALUES_MAX + 1; n++) {
			Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
			size_t *counts[] = { &msg.n_symbols, &msg.n_exchanges, &msg.n_currencies,
					     &msg.n_actions, &msg.n_order_ids, &msg.n_portfolio_ids,
					     &msg.n_data_types };
			char ***lists[] = { &msg.symbols, &msg.exchanges, &msg.currencies,
					    &msg.actions, &msg.order_ids, &msg.portfolio_ids };
			int rc;

			*counts[field] = n;
			if (field < 6)
				*lists[field] = name_ptrs;
			else
				msg.data_types = types;
			why = NULL;
			rc = filter_compile(&f, &msg, &why);
			if (n == FILTER_VALUES_MAX) {
				if (rc != 0)
					fail_msg("%s: %u values refused (%s)", fields[field], n,
						 why ? why : "no reason");
				filter_free(&f);
				continue;
			}
			assert_int_equal(rc, -EINVAL);
			assert_non_null(why);
			assert_non_null(strstr(why, fields[field]));
			assert_non_null(strstr(why, "4096"));
			filter_is_zeroed(&f, fields[field]);
		}
	}
}

static void free_is_safe_on_zeroed_and_freed_filters(void **state)
{
	char *syms[] = { "AAPL" };
	Fanout__V1__Filter msg = FANOUT__V1__FILTER__INIT;
	const char *why = NULL;
	struct filter f;

	(void)state;
	memset(&f, 0, sizeof(f));
	filter_free(&f);
	filter_is_zeroed(&f, "zeroed");
	msg.n_symbols = 1;
	msg.symbols = syms;
	assert_int_equal(filter_compile(&f, &msg, &why), 0);
	assert_non_null(f.symbols.hashes);
	filter_free(&f);
	filter_is_zeroed(&f, "freed");
	filter_free(&f);	/* twice: ASan would report a double free */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filters_match_as_tabled),
		cmocka_unit_test(empty_filter_and_null_message_match_everything),
		cmocka_unit_test(zero_hash_fails_a_list),
		cmocka_unit_test(odd_entries_fail_typed_conditions),
		cmocka_unit_test(duplicates_behave_as_one),
		cmocka_unit_test(sets_of_every_size_find_exactly_their_members),
		cmocka_unit_test(malformed_filters_are_refused),
		cmocka_unit_test(values_at_the_limits_are_accepted),
		cmocka_unit_test(too_many_values_are_refused),
		cmocka_unit_test(free_is_safe_on_zeroed_and_freed_filters),
	};

	events_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
