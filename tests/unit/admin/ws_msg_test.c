/* tests/unit/admin/ws_msg_test.c — the WebSocket streams' messages (admin/ws_msg.c):
 * subscribes parsed with their filters compiled, presets, query parameters, errors that
 * name the field, and the server's messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ws_msg.h"
#include "core/keyhash.h"

static int parse(const char *text, const json_t *preset, struct ws_client_msg *m,
		 struct ws_msg_error *err)
{
	return ws_msg_parse(text, strlen(text), preset, m, err);
}

static void subscribe_full(void **state)
{
	struct ws_client_msg m;
	struct ws_msg_error err;
	struct log_entry e = { .data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA,
			       .price = 12 };

	(void)state;
	assert_int_equal(parse("{\"type\":\"subscribe\",\"payload\":{\"id\":7,\"topic\":\"md\","
			       "\"patterns\":[\"AAPL.>\",\"*.NYSE.trade\"],\"start\":{\"offset\":42},"
			       "\"filters\":{\"symbols\":[\"AAPL\"],\"min_price\":10,"
			       "\"data_types\":[\"market_data\",\"DATA_TYPE_EXECUTION\"]}}}",
			       NULL, &m, &err), 0);
	assert_int_equal(m.type, WS_MSG_SUBSCRIBE);
	assert_int_equal(m.sub.id, 7);
	assert_string_equal(m.sub.topic, "md");
	assert_int_equal(m.sub.npatterns, 2);
	assert_true(pattern_match(&m.sub.patterns[0], "AAPL.X.y", 8));
	assert_false(pattern_match(&m.sub.patterns[1], "AAPL.NASDAQ.trade", 17));
	assert_int_equal(m.sub.start, WS_START_OFFSET);
	assert_int_equal(m.sub.start_offset, 42);
	e.symbol_hash = keyhash_bytes("AAPL", 4);
	assert_true(filter_match(&m.sub.filter, &e));
	e.price = 9;
	assert_false(filter_match(&m.sub.filter, &e));
	e.price = 12;
	e.symbol_hash = keyhash_bytes("MSFT", 4);
	assert_false(filter_match(&m.sub.filter, &e));
	ws_sub_req_free(&m.sub);

	assert_int_equal(parse("{\"type\":\"unsubscribe\",\"payload\":{\"id\":7}}", NULL, &m, &err), 0);
	assert_int_equal(m.type, WS_MSG_UNSUBSCRIBE);
	assert_int_equal(m.unsub_id, 7);
}

/* The endpoint's preset fills in what the payload leaves out, and only that. */
static void preset(void **state)
{
	json_t *p = json_pack("{s:[s], s:[s]}", "data_types", "execution", "symbols", "AAPL");
	struct ws_client_msg m;
	struct ws_msg_error err;
	struct log_entry e = { .data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION,
			       .symbol_hash = keyhash_bytes("MSFT", 4) };

	(void)state;
	assert_int_equal(parse("{\"type\":\"subscribe\",\"payload\":{\"filters\":{\"symbols\":"
			       "[\"MSFT\"]}}}", p, &m, &err), 0);
	assert_true(filter_match(&m.sub.filter, &e));		/* MSFT: the payload's */
	e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	assert_false(filter_match(&m.sub.filter, &e));		/* execution: the preset's */
	assert_int_equal(m.sub.start, WS_START_LATEST);
	assert_int_equal(m.sub.topic[0], '\0');
	ws_sub_req_free(&m.sub);
	json_decref(p);
}

static void expect_field(const char *text, const char *field)
{
	struct ws_client_msg m;
	struct ws_msg_error err;

	if (parse(text, NULL, &m, &err) == 0) {
		ws_sub_req_free(&m.sub);
		fail_msg("accepted: %s", text);
	}
	if (strcmp(err.field, field) != 0)
		fail_msg("%s: field %s (%s), want %s", text, err.field, err.message, field);
	assert_true(strlen(err.message) > 0);
}

static void errors_name_fields(void **state)
{
	char big[8 * 4100 + 64];
	size_t o;

	(void)state;
	expect_field("nope", "message");
	expect_field("[1]", "message");
	expect_field("{\"payload\":{}}", "type");
	expect_field("{\"type\":\"publish\"}", "type");
	expect_field("{\"type\":\"subscribe\"}", "payload");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"id\":0}}", "payload.id");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"id\":2147483648}}", "payload.id");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"topic\":\"a b\"}}", "payload.topic");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"patterns\":\"x\"}}", "payload.patterns");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"patterns\":[\"a..b\"]}}",
		     "payload.patterns");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"start\":{\"offset\":-1}}}",
		     "payload.start");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"start\":{\"time\":\"soon\"}}}",
		     "payload.start");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"filters\":[]}}", "payload.filters");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"filters\":{\"order_ids\":[\"\"]}}}",
		     "payload.filters.order_ids");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"filters\":{\"max_price\":\"1\"}}}",
		     "payload.filters.max_price");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"filters\":{\"data_types\":[9]}}}",
		     "payload.filters.data_types");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"filters\":{\"min_price\":2,"
		     "\"max_price\":1}}}", "payload.filters.min_price");
	expect_field("{\"type\":\"unsubscribe\",\"payload\":{}}", "payload.id");
	expect_field("{\"type\":\"subscribe\",\"payload\":{\"snapshot\":1}}", "payload.snapshot");
	/* More values than a filter list takes. */
	o = (size_t)snprintf(big, sizeof(big), "{\"type\":\"subscribe\",\"payload\":{\"filters\":"
			     "{\"exchanges\":[");
	for (int i = 0; i < 4097; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"%x\"", i ? "," : "", i);
	snprintf(big + o, sizeof(big) - o, "]}}}");
	expect_field(big, "payload.filters.exchanges");
}

static void query(void **state)
{
	json_t *payload = json_object();
	struct ws_msg_error err;
	struct ws_sub_req req;

	(void)state;
	assert_int_equal(ws_query_set(payload, "topic", "exec", &err), 0);
	assert_int_equal(ws_query_set(payload, "order_ids", "o1,o2", &err), 0);
	assert_int_equal(ws_query_set(payload, "min_price", "1.5", &err), 0);
	assert_int_equal(ws_query_set(payload, "start", "offset:9", &err), 0);
	assert_int_equal(ws_query_set(payload, "snapshot", "true", &err), 0);
	assert_int_equal(ws_query_set(payload, "snapshot", "yes", &err), -1);
	assert_string_equal(err.field, "snapshot");
	assert_int_equal(ws_query_set(payload, "min_price", "x", &err), -1);
	assert_string_equal(err.field, "min_price");
	assert_int_equal(ws_query_set(payload, "colour", "red", &err), -1);
	assert_string_equal(err.field, "colour");
	assert_int_equal(ws_query_set(payload, "start", "tomorrow", &err), -1);
	assert_string_equal(err.field, "start");
	assert_int_equal(json_array_size(json_object_get(json_object_get(payload, "filters"),
							 "order_ids")), 2);
	assert_int_equal(ws_sub_parse(payload, NULL, "query", &req, &err), 0);
	assert_string_equal(req.topic, "exec");
	assert_int_equal(req.start, WS_START_OFFSET);
	assert_int_equal(req.start_offset, 9);
	assert_true(req.snapshot);
	ws_sub_req_free(&req);
	json_decref(payload);
}

static void server_messages(void **state)
{
	size_t len;
	char *t = ws_msg_error_text("BAD_MESSAGE", "payload.topic", "no \"such\" topic", &len);
	json_t *j;

	(void)state;
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	j = json_loads(t, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "payload"),
							      "field")), "payload.topic");
	assert_non_null(strstr(json_string_value(json_object_get(j, "timestamp")), "Z"));
	json_decref(j);
	free(t);
	/* Not a stored event frame: no data message. */
	assert_null(ws_msg_data_text(1, (const uint8_t *)"\x02\x08\x01", 3, &len));
}

/* A stored frame (varint-delimited ServerMessage{event}) into buf; returns its length. */
static size_t frame_of(const char *id, uint8_t *buf, size_t cap)
{
	Fanout__V1__Event ev = FANOUT__V1__EVENT__INIT;
	Fanout__V1__MarketData md = FANOUT__V1__MARKET_DATA__INIT;
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	size_t n, o = 0;

	ev.event_id = (char *)id;
	md.symbol = "AAPL";
	md.price = 1.5;
	ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	ev.market_data = &md;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &ev;
	n = fanout__v1__server_message__get_packed_size(&m);
	assert_true(n < 128 && n + 1 <= cap);
	buf[o++] = (uint8_t)n;
	fanout__v1__server_message__pack(&m, buf + o);
	return n + o;
}

/* The envelope around an event encoded once is the message encoded whole. */
static void data_wrap(void **state)
{
	uint8_t frame[256];
	size_t flen = frame_of("e-\"1\"", frame, sizeof(frame)), elen, wlen, dlen;
	char *ev = ws_msg_event_text(frame, (uint32_t)flen, &elen);
	char w[512], small[8];
	int rc = ws_msg_data_wrap(w, sizeof(w), 77, ev, elen, "2026-12-06T03:00:00.000000001Z",
				  &wlen);
	char *d = ws_msg_data_text(77, frame, (uint32_t)flen, &dlen);
	json_t *jw = json_loadb(w, wlen, 0, NULL), *jd = json_loadb(d, dlen, 0, NULL);

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(strlen(w), wlen);
	assert_int_equal(ws_msg_data_wrap(small, sizeof(small), 77, ev, elen, "x", &dlen), -ENOSPC);
	assert_true(dlen > elen);
	assert_non_null(jw);
	assert_non_null(jd);
	assert_string_equal(json_string_value(json_object_get(jw, "type")), "data");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(jw, "payload"),
							   "subscription")), 77);
	assert_string_equal(json_string_value(json_object_get(jw, "timestamp")),
			    "2026-12-06T03:00:00.000000001Z");
	assert_true(json_equal(json_object_get(jw, "payload"), json_object_get(jd, "payload")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(jw, "payload"), "event"), "event_id")), "e-\"1\"");
	json_decref(jw);
	json_decref(jd);
	free(ev);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subscribe_full),
		cmocka_unit_test(preset),
		cmocka_unit_test(errors_name_fields),
		cmocka_unit_test(query),
		cmocka_unit_test(server_messages),
		cmocka_unit_test(data_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
