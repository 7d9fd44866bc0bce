/* tests/unit/ingest/event_view_test.c — ingest/event_view.c: the sidecar index fields an
 * event's view gives, for what the admin plane reads without decoding frames: an
 * execution's portfolio_hash (the keyed hash of its portfolio_id, 0 when it has none,
 * never set for another payload) and the TRADE flag (market data whose kind is exactly
 * "trade"), beside the fields they share the entry with. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/keyhash.h"
#include "small_event.h"
#include "view_util.h"

/* The fields ingest stores for e: scanned, checked (data_type filled), then
 * event_view_fields. */
static struct log_fields fields_of(const struct ev *e)
{
	struct publish_error err;
	struct event_view v;
	struct log_fields f;
	uint8_t *keep;

	if (view_of(&e->e, &v, &keep, 0, &err) < 0 || wire_check_event(&v, 0, &err) < 0)
		fail_msg("refused: %s", err.message);
	event_view_fields(&v, 1000, &f);
	free(keep);
	return f;
}

static uint64_t hs(const char *s)
{
	return keyhash_bytes(s, strlen(s));
}

static void portfolio_hash_is_the_portfolio_ids_hash(void **state)
{
	struct log_fields f;
	struct ev e;

	(void)state;
	ev_execution(&e, "P1");
	f = fields_of(&e);
	assert_true(f.portfolio_hash == hs("P1"));
	assert_true(f.portfolio_hash != 0);
	assert_true(f.order_hash == hs("O1"));	/* its neighbours as before */
	assert_true(f.symbol_hash == hs("AAPL"));
	assert_int_equal(f.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION);
	assert_int_equal(f.flags & LOG_ENTRY_TRADE, 0);
	ev_execution(&e, "P2");
	assert_true(fields_of(&e).portfolio_hash == hs("P2"));
	/* Absent or empty: 0, "no portfolio" (what version 3 entries always held there). */
	ev_execution(&e, NULL);
	assert_true(fields_of(&e).portfolio_hash == 0);
	ev_execution(&e, "");
	assert_true(fields_of(&e).portfolio_hash == 0);
	/* Market data has no portfolio. */
	ev_market(&e, "trade");
	assert_true(fields_of(&e).portfolio_hash == 0);
}

static void trade_flag_is_for_kind_trade_exactly(void **state)
{
	static const struct { const char *kind; bool trade; } cases[] = {
		{ "trade", true }, { "quote", false }, { "", false }, { NULL, false },
		{ "Trade", false }, { "TRADE", false }, { "trades", false }, { "trad", false },
		{ "trade ", false }, { "bar", false },
	};
	struct log_fields f;
	struct ev e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev_market(&e, cases[i].kind);
		f = fields_of(&e);
		if (!!(f.flags & LOG_ENTRY_TRADE) != cases[i].trade)
			fail_msg("kind '%s': TRADE flag %s", cases[i].kind ? cases[i].kind : "(none)",
				 cases[i].trade ? "missing" : "set");
		assert_true(f.symbol_hash == hs("AAPL"));
		assert_int_equal(f.portfolio_hash, 0);
	}
	/* Beside the metadata's flags, not instead of them. */
	ev_market(&e, "trade");
	e.e.metadata = &e.m;
	e.m.latency_sensitive = true;
	f = fields_of(&e);
	assert_int_equal(f.flags, LOG_ENTRY_TRADE | LOG_ENTRY_LATENCY_SENSITIVE);
	/* Only market data is a trade. */
	ev_execution(&e, "P1");
	assert_int_equal(fields_of(&e).flags & LOG_ENTRY_TRADE, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(portfolio_hash_is_the_portfolio_ids_hash),
		cmocka_unit_test(trade_flag_is_for_kind_trade_exactly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
