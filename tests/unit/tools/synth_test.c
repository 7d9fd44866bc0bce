/* tests/unit/tools/synth_test.c — synthetic slots: wired once, refilled in place, and what
 * fanoutd requires of an event (key, symbol, payload) is there after a round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tools/synth.h"

static void fill_and_round_trip(void **state)
{
	struct synth_slot s;
	uint8_t buf[512];
	Fanout__V1__Event *e;
	size_t n;

	(void)state;
	synth_init(&s, "md", "unit-test");
	synth_fill(&s, 1234565, 1000);	/* symbol 565: 565 % 4 = 1, NYSE */
	strcpy(s.event_id, "ev-1");
	assert_string_equal(s.symbol, "S00565");
	assert_string_equal(s.routing_key, "S00565.NYSE.trade");
	assert_string_equal(synth_exchange(565), "NYSE");
	assert_true(s.md.bid < s.md.price && s.md.price < s.md.ask);
	assert_true(s.md.volume > 0);
	n = fanout__v1__event__get_packed_size(&s.ev);
	assert_true(n < sizeof(buf));
	fanout__v1__event__pack(&s.ev, buf);
	e = fanout__v1__event__unpack(NULL, n, buf);
	assert_non_null(e);
	assert_int_equal(e->payload_case, FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA);
	assert_string_equal(e->distribution->topic, "md");
	assert_string_equal(e->distribution->routing_key, "S00565.NYSE.trade");
	assert_string_equal(e->market_data->symbol, "S00565");
	assert_string_equal(e->market_data->currency, "USD");
	assert_string_equal(e->metadata->source_service, "unit-test");
	fanout__v1__event__free_unpacked(e, NULL);
	synth_fill(&s, 3, 1000);	/* refilled in place: same storage */
	assert_ptr_equal(s.ev.distribution->routing_key, s.routing_key);
	assert_string_equal(s.routing_key, "S00003.BATS.trade");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fill_and_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
