/* tests/unit/ingest/wire_scan_test.c — ingest/wire_scan.c on the fields the sidecar index
 * takes beyond routing: execution.portfolio_id and market_data.kind are extracted into
 * the view byte for byte (absent: empty); a portfolio_id is held to the identifier limit
 * and the string rules (NUL, invalid UTF-8, given twice), refused naming the field; and
 * an event put in field order keeps it. The rest of the scan is checked against
 * protobuf-c by tests/fuzz/publish_scan_fuzz.c and through publishing by publish_test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "small_event.h"
#include "view_util.h"

#define BAD FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT

/* Scans e as ingest would and checks its content rules; both must accept it. */
static void scan_ok(const struct ev *e, struct event_view *v, uint8_t **keep)
{
	struct publish_error err;

	if (view_of(&e->e, v, keep, 0, &err) < 0)
		fail_msg("scan refused: %s", err.message);
	if (wire_check_event(v, 0, &err) < 0)
		fail_msg("content rules refused: %s", err.message);
}

static void portfolio_id_is_extracted(void **state)
{
	struct event_view v;
	struct ev e;
	uint8_t *keep;

	(void)state;
	ev_execution(&e, "PF-ütf8/1");
	scan_ok(&e, &v, &keep);
	assert_string_equal(vstr(v.portfolio_id), "PF-ütf8/1");
	assert_string_equal(vstr(v.order_id), "O1");
	free(keep);
	ev_execution(&e, NULL);	/* absent: empty, never NULL */
	scan_ok(&e, &v, &keep);
	assert_int_equal(v.portfolio_id.len, 0);
	assert_non_null(v.portfolio_id.p);
	free(keep);
}

static void kind_is_extracted(void **state)
{
	static const char *const kinds[] = { "trade", "quote", "bar" };
	struct event_view v;
	struct ev e;
	uint8_t *keep;

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		ev_market(&e, kinds[i]);
		scan_ok(&e, &v, &keep);
		assert_string_equal(vstr(v.kind), kinds[i]);
		assert_string_equal(vstr(v.symbol), "AAPL");
		free(keep);
	}
	ev_market(&e, NULL);
	scan_ok(&e, &v, &keep);
	assert_int_equal(v.kind.len, 0);
	assert_non_null(v.kind.p);
	free(keep);
	/* An execution has no kind. */
	ev_execution(&e, "P1");
	scan_ok(&e, &v, &keep);
	assert_int_equal(v.kind.len, 0);
	free(keep);
}

/* 128 bytes are fine; 129 are refused by the content rules, naming field and limit. */
static void long_portfolio_id_names_the_limit(void **state)
{
	struct publish_error err;
	struct event_view v;
	char id[130];
	struct ev e;
	uint8_t *keep;

	(void)state;
	memset(id, 'P', 128);
	id[128] = '\0';
	ev_execution(&e, id);
	scan_ok(&e, &v, &keep);
	assert_int_equal(v.portfolio_id.len, 128);
	free(keep);
	id[128] = 'P';
	id[129] = '\0';
	assert_int_equal(view_of(&e.e, &v, &keep, 3, &err), 0);
	assert_int_equal(wire_check_event(&v, 3, &err), -1);
	assert_int_equal(err.code, BAD);
	assert_string_equal(err.message, "events[3].execution.portfolio_id: 129 bytes, over the "
			    "limit of 128");
	free(keep);
}

/* Scans event_id "e1", distribution{topic "t", key "A.b"}, execution{order_id "O1",
 * portfolio_id <the n bytes of id>}, written by hand: protobuf-c packs strings by strlen,
 * so it cannot write a NUL into one. */
static int scan_portfolio_bytes(const char *id, size_t n, struct event_view *v,
				struct publish_error *err)
{
	uint8_t ev[64] = { 0x0a, 2, 'e', '1', 0x22, 8, 0x0a, 1, 't', 0x22, 3, 'A', '.', 'b',
			   0x62 };
	size_t len = 15;

	assert_true(n <= 32);
	ev[len++] = (uint8_t)(4 + 2 + n);
	ev[len++] = 0x0a;	/* order_id */
	ev[len++] = 2;
	ev[len++] = 'O';
	ev[len++] = '1';
	ev[len++] = 0x52;	/* portfolio_id */
	ev[len++] = (uint8_t)n;
	memcpy(ev + len, id, n);
	len += n;
	return wire_scan_event(ev, len, v, 0, err);
}

static void bad_portfolio_id_strings_are_refused_by_name(void **state)
{
	static const struct { const char *s; size_t n; const char *msg; } cases[] = {
		{ "\0", 1, "events[0].execution.portfolio_id: contains a NUL byte" },
		{ "A\0B", 3, "events[0].execution.portfolio_id: contains a NUL byte" },
		{ "\xc3", 1, "events[0].execution.portfolio_id: is not valid UTF-8" },
		{ "\xed\xa0\x80", 3, "events[0].execution.portfolio_id: is not valid UTF-8" },
		{ "\xc0\xaf", 2, "events[0].execution.portfolio_id: is not valid UTF-8" },
	};
	struct publish_error err;
	struct event_view v;

	(void)state;
	assert_int_equal(scan_portfolio_bytes("P1", 2, &v, &err), 0);	/* the frame is right */
	assert_string_equal(vstr(v.portfolio_id), "P1");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(scan_portfolio_bytes(cases[c].s, cases[c].n, &v, &err), -1);
		assert_int_equal(err.code, BAD);
		assert_string_equal(err.message, cases[c].msg);
	}
}

/* Given twice (legal protobuf; readers disagree on which wins): refused, naming it. */
static void portfolio_id_twice_is_refused_by_name(void **state)
{
	/* event_id "e1", distribution{topic "t", key "A.b"},
	 * execution{order_id "O1", portfolio_id "P1", portfolio_id "P2"} */
	static const uint8_t ev[] = { 0x0a, 2, 'e', '1', 0x22, 8, 0x0a, 1, 't', 0x22, 3, 'A',
				      '.', 'b', 0x62, 12, 0x0a, 2, 'O', '1', 0x52, 2, 'P', '1',
				      0x52, 2, 'P', '2' };
	struct publish_error err;
	struct event_view v;

	(void)state;
	assert_int_equal(wire_scan_event(ev, sizeof(ev), &v, 0, &err), -1);
	assert_int_equal(err.code, BAD);
	assert_string_equal(err.message, "events[0].execution.portfolio_id: given twice; send "
			    "each field once");
}

/* An event out of field order is put in order (wire_reorder_event, as publish does) with
 * its payload's bytes unchanged: the portfolio_id survives, and scans again. */
static void reordered_event_keeps_portfolio_id(void **state)
{
	/* execution{order_id "O1", portfolio_id "P1"} first, then distribution{key, topic},
	 * then event_id "e1" */
	static const uint8_t ev[] = { 0x62, 8, 0x0a, 2, 'O', '1', 0x52, 2, 'P', '1',
				      0x22, 8, 0x22, 3, 'A', '.', 'b', 0x0a, 1, 't',
				      0x0a, 2, 'e', '1' };
	struct publish_error err;
	struct event_view v;
	uint8_t out[sizeof(ev)];
	size_t n;

	(void)state;
	assert_int_equal(wire_scan_event(ev, sizeof(ev), &v, 0, &err), 0);
	assert_true(v.reorder);
	assert_string_equal(vstr(v.portfolio_id), "P1");
	assert_int_equal(wire_reorder_event(ev, sizeof(ev), out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(ev));
	assert_int_equal(wire_scan_event(out, n, &v, 0, &err), 0);
	assert_false(v.reorder);
	assert_int_equal(wire_check_event(&v, 0, &err), 0);
	assert_string_equal(vstr(v.portfolio_id), "P1");
	assert_string_equal(vstr(v.order_id), "O1");
	assert_string_equal(vstr(v.event_id), "e1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(portfolio_id_is_extracted),
		cmocka_unit_test(kind_is_extracted),
		cmocka_unit_test(long_portfolio_id_names_the_limit),
		cmocka_unit_test(bad_portfolio_id_strings_are_refused_by_name),
		cmocka_unit_test(portfolio_id_twice_is_refused_by_name),
		cmocka_unit_test(reordered_event_keeps_portfolio_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
