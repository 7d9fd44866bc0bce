/* tests/unit/admin/event_json_test.c — admin/event_json.c (JSON <-> Event round trips,
 * enum forms, error messages) and tools/latency_hist.c (percentiles of known
 * distributions, merge, reset). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/arena.h"
#include "admin/event_json.h"
#include "tools/latency_hist.h"

#define ARENA_BYTES (64u << 10)

static const char market_json[] =
	"{\"event_id\":\"e-1\",\"timestamp_ns\":1700000000123456789,"
	"\"data_type\":\"DATA_TYPE_MARKET_DATA\","
	"\"distribution\":{\"topic\":\"market-data\",\"partition\":3,\"offset\":9007199254740993,"
	"\"routing_key\":\"AAPL.NASDAQ.trade\",\"target_workflows\":[\"wf-a\",\"wf-b\"],"
	"\"priority\":2,\"delivery_guarantee\":\"DELIVERY_GUARANTEE_AT_LEAST_ONCE\"},"
	"\"metadata\":{\"source_service\":\"md-feed\",\"venue\":\"XNAS\",\"latency_sensitive\":true,"
	"\"audit_required\":false,\"compliance_flags\":[\"MiFID_II\",\"RegNMS\"]},"
	"\"receive_time_ns\":1700000000223456789,"
	"\"market_data\":{\"symbol\":\"AAPL\",\"exchange\":\"NASDAQ\",\"timestamp_ns\":-5,"
	"\"price\":189.25,\"volume\":1200,\"bid\":189.24,\"ask\":189.26,\"bid_size\":300,"
	"\"ask_size\":400,\"currency\":\"USD\",\"kind\":\"trade\"}}";

static const char decision_json[] =
	"{\"event_id\":\"d-7\",\"timestamp_ns\":42,\"data_type\":\"DATA_TYPE_COORDINATION_DECISION\","
	"\"distribution\":{\"topic\":\"decisions\",\"partition\":0,\"offset\":0,"
	"\"routing_key\":\"MSFT.buy\",\"target_workflows\":[],\"priority\":0,"
	"\"delivery_guarantee\":\"DELIVERY_GUARANTEE_EXACTLY_ONCE\"},"
	"\"receive_time_ns\":0,"
	"\"coordination_decision\":{\"decision_id\":\"dec-1\",\"instrument_id\":\"MSFT\","
	"\"action\":\"buy\",\"quantity\":500,\"confidence\":0.875,\"coordination_quality\":0.5,"
	"\"priority\":4294967295,\"reasoning\":[\"momentum\",\"spread tight\"],"
	"\"coordination_id\":\"run-9\"}}";

static const char execution_json[] =
	"{\"event_id\":\"x-3\",\"timestamp_ns\":-1,\"data_type\":\"DATA_TYPE_EXECUTION\","
	"\"distribution\":{\"topic\":\"executions\",\"partition\":1,\"offset\":17,"
	"\"routing_key\":\"ord.1\",\"target_workflows\":[],\"priority\":1,"
	"\"delivery_guarantee\":\"DELIVERY_GUARANTEE_UNSPECIFIED\"},"
	"\"receive_time_ns\":9223372036854775807,"
	"\"execution\":{\"order_id\":\"o-1\",\"fill_id\":\"f-1\",\"instrument_id\":\"TSLA\","
	"\"quantity\":10.5,\"price\":250.125,\"venue\":\"XNYS\",\"execution_time_ns\":123,"
	"\"commission\":0.25,\"execution_data_type\":\"EXECUTION_DATA_TYPE_FILL_NOTIFICATION\","
	"\"portfolio_id\":\"pf-7\"}}";

struct fixture {
	struct arena arena;
	Fanout__V1__Event ev;
	char err[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || arena_init(&f->arena, ARENA_BYTES))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	arena_free(&f->arena);
	free(f);
	return 0;
}

/* Parses text and converts it; returns event_from_json's result. */
static int from_text(struct fixture *f, const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
	int rc;

	if (!j)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
	arena_reset(&f->arena);
	rc = event_from_json(j, &f->ev, &f->arena, f->err, sizeof(f->err));
	json_decref(j);
	return rc;
}

/* JSON -> Event -> JSON must give back the same object; the Event must also survive a
 * protobuf pack and unpack unchanged. */
static void assert_round_trip(struct fixture *f, const char *text)
{
	json_t *want = json_loads(text, 0, NULL);
	Fanout__V1__Event *back;
	uint8_t buf[2048];
	size_t n;
	json_t *got;

	assert_int_equal(from_text(f, text), 0);
	got = event_to_json(&f->ev);
	assert_non_null(got);
	if (!json_equal(want, got)) {
		char *s = json_dumps(got, JSON_COMPACT);

		fail_msg("round trip differs:\n want %s\n got  %s", text, s);
	}
	json_decref(got);
	n = fanout__v1__event__pack(&f->ev, buf);
	assert_true(n < sizeof(buf));
	back = fanout__v1__event__unpack(NULL, n, buf);
	assert_non_null(back);
	got = event_to_json(back);
	assert_true(json_equal(want, got));
	json_decref(got);
	json_decref(want);
	fanout__v1__event__free_unpacked(back, NULL);
}

static void test_round_trip_market_data(void **state)
{
	struct fixture *f = *state;

	assert_round_trip(f, market_json);
	assert_int_equal(f->ev.payload_case, FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA);
	assert_string_equal(f->ev.market_data->symbol, "AAPL");
	assert_int_equal(f->ev.distribution->offset, 9007199254740993ull);
	assert_int_equal(f->ev.timestamp_ns, 1700000000123456789ll);
}

static void test_round_trip_coordination_decision(void **state)
{
	struct fixture *f = *state;

	assert_round_trip(f, decision_json);
	assert_int_equal(f->ev.payload_case, FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION);
	assert_int_equal(f->ev.coordination_decision->priority, UINT32_MAX);
	assert_int_equal(f->ev.coordination_decision->n_reasoning, 2);
}

static void test_round_trip_execution(void **state)
{
	struct fixture *f = *state;

	assert_round_trip(f, execution_json);
	assert_int_equal(f->ev.execution->execution_data_type,
			 FANOUT__V1__EXECUTION_DATA_TYPE__EXECUTION_DATA_TYPE_FILL_NOTIFICATION);
	assert_string_equal(f->ev.execution->portfolio_id, "pf-7");
}

static void test_output_has_defaults_and_omits_unset_messages(void **state)
{
	struct fixture *f = *state;
	json_t *j;

	assert_int_equal(from_text(f, "{\"distribution\":{\"topic\":\"t\"}}"), 0);
	j = event_to_json(&f->ev);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "distribution"),
							    "offset")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "event_id")), "");
	assert_string_equal(json_string_value(json_object_get(j, "data_type")),
			    "DATA_TYPE_UNSPECIFIED");
	assert_null(json_object_get(j, "metadata"));
	assert_null(json_object_get(j, "market_data"));
	json_decref(j);
}

static void test_enum_short_forms(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(from_text(f, "{\"data_type\":\"market_data\","
				      "\"distribution\":{\"delivery_guarantee\":\"at_least_once\"},"
				      "\"execution\":{\"execution_data_type\":\"fill_notification\"}}"), 0);
	assert_int_equal(f->ev.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA);
	assert_int_equal(f->ev.distribution->delivery_guarantee,
			 FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_LEAST_ONCE);
	assert_int_equal(f->ev.execution->execution_data_type,
			 FANOUT__V1__EXECUTION_DATA_TYPE__EXECUTION_DATA_TYPE_FILL_NOTIFICATION);
	/* Any case, and the number. */
	assert_int_equal(from_text(f, "{\"data_type\":\"Coordination_Decision\"}"), 0);
	assert_int_equal(f->ev.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION);
	assert_int_equal(from_text(f, "{\"data_type\":3}"), 0);
	assert_int_equal(f->ev.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION);
}

static void test_data_type_inferred_from_payload(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(from_text(f, "{\"coordination_decision\":{\"decision_id\":\"d\"}}"), 0);
	assert_int_equal(f->ev.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION);
	/* Given explicitly, it is kept even when it disagrees: the server judges that. */
	assert_int_equal(from_text(f, "{\"data_type\":\"execution\",\"market_data\":{}}"), 0);
	assert_int_equal(f->ev.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION);
}

static void test_missing_payload_is_accepted(void **state)
{
	struct fixture *f = *state;

	/* Converting is not validating: the server rejects this with INVALID_EVENT, and
	 * tests need a way to send it. */
	assert_int_equal(from_text(f, "{\"event_id\":\"e\",\"distribution\":{\"topic\":\"t\","
				      "\"routing_key\":\"a.b\"}}"), 0);
	assert_int_equal(f->ev.payload_case, FANOUT__V1__EVENT__PAYLOAD__NOT_SET);
	assert_int_equal(f->ev.data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_UNSPECIFIED);
	assert_null(f->ev.metadata);
}

static void test_null_means_unset(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(from_text(f, "{\"metadata\":null,\"event_id\":null,\"market_data\":null,"
				      "\"execution\":{}}"), 0);
	assert_null(f->ev.metadata);
	assert_string_equal(f->ev.event_id, "");
	assert_int_equal(f->ev.payload_case, FANOUT__V1__EVENT__PAYLOAD_EXECUTION);
}

/* Each bad input must fail with -EINVAL and exactly this message. */
static void assert_error(struct fixture *f, const char *text, const char *want)
{
	assert_int_equal(from_text(f, text), -EINVAL);
	assert_string_equal(f->err, want);
}

static void test_errors_name_the_field(void **state)
{
	struct fixture *f = *state;

	assert_error(f, "[1,2]", "event: expected an object, got an array");
	assert_error(f, "\"x\"", "event: expected an object, got a string");
	assert_error(f, "{\"colour\":1}", "colour: unknown field (not in Event)");
	assert_error(f, "{\"distribution\":{\"topik\":\"t\"}}",
		     "distribution.topik: unknown field (not in Distribution)");
	assert_error(f, "{\"distribution\":{\"topic\":7}}",
		     "distribution.topic: expected a string, got an integer");
	assert_error(f, "{\"distribution\":[]}", "distribution: expected an object, got an array");
	assert_error(f, "{\"timestamp_ns\":1.5}", "timestamp_ns: expected an integer, got a real");
	assert_error(f, "{\"timestamp_ns\":\"1\"}", "timestamp_ns: expected an integer, got a string");
	assert_error(f, "{\"market_data\":{\"price\":\"1\"}}",
		     "market_data.price: expected a number, got a string");
	assert_error(f, "{\"metadata\":{\"audit_required\":1}}",
		     "metadata.audit_required: expected true or false, got an integer");
	assert_error(f, "{\"metadata\":{\"compliance_flags\":[\"a\",2]}}",
		     "metadata.compliance_flags[1]: expected a string, got an integer");
	assert_error(f, "{\"metadata\":{\"compliance_flags\":\"a\"}}",
		     "metadata.compliance_flags: expected an array, got a string");
	assert_error(f, "{\"distribution\":{\"partition\":-1}}",
		     "distribution.partition: -1 is out of range");
	assert_error(f, "{\"distribution\":{\"offset\":-3}}",
		     "distribution.offset: -3 is out of range");
	assert_error(f, "{\"coordination_decision\":{\"priority\":4294967296}}",
		     "coordination_decision.priority: 4294967296 is out of range");
}

static void test_error_for_nul_in_string(void **state)
{
	struct fixture *f = *state;
	json_t *j = json_object();

	/* json_loads refuses \u0000 by default, but a json_t built in code may hold one. */
	json_object_set_new(j, "event_id", json_stringn("a\0b", 3));
	assert_int_equal(event_from_json(j, &f->ev, &f->arena, f->err, sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "event_id: string contains a NUL character");
	json_decref(j);
}

static void test_errors_for_enums_and_oneof(void **state)
{
	struct fixture *f = *state;

	/* The message names the field and value; its example enum name may change. */
	assert_int_equal(from_text(f, "{\"data_type\":\"MARKET\"}"), -EINVAL);
	assert_non_null(strstr(f->err, "data_type: \"MARKET\" is not a DataType name"));
	assert_error(f, "{\"distribution\":{\"delivery_guarantee\":\"once\"}}",
		     "distribution.delivery_guarantee: \"once\" is not a DeliveryGuarantee name "
		     "(expected e.g. \"DELIVERY_GUARANTEE_EXACTLY_ONCE\" or \"exactly_once\")");
	assert_error(f, "{\"data_type\":9}", "data_type: 9 is not a DataType value");
	assert_error(f, "{\"data_type\":true}", "data_type: expected a DataType name, got true");
	assert_error(f, "{\"market_data\":{},\"execution\":{}}",
		     "execution: only one of a oneof may be set, and market_data already is");
}

static void test_arena_exhaustion_is_enomem(void **state)
{
	struct fixture *f = *state;
	struct arena tiny;
	json_t *j = json_loads(market_json, 0, NULL);

	(void)f;
	assert_int_equal(arena_init(&tiny, 256), 0);
	assert_int_equal(event_from_json(j, &f->ev, &tiny, f->err, sizeof(f->err)), -ENOMEM);
	assert_non_null(strstr(f->err, "out of memory"));
	arena_free(&tiny);
	json_decref(j);
}

/* ---- latency_hist ------------------------------------------------------------------- */

/* Relative error allowed by 3 significant digits (2048 sub-buckets: < 1/1024). */
static void assert_near(uint64_t got, uint64_t want)
{
	double err = ((double)got - (double)want) / (double)want;

	if (err < -0.001 || err > 0.001)
		fail_msg("got %llu, want %llu within 0.1%%", (unsigned long long)got,
			 (unsigned long long)want);
}

static struct latency_hist *hist_new(void)
{
	struct latency_hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	latency_hist_reset(h);
	return h;
}

static void test_hist_uniform_percentiles(void **state)
{
	struct latency_hist *h = hist_new();

	(void)state;
	for (uint64_t us = 1; us <= 10000; us++)	/* 1 .. 10000 us, one each */
		latency_hist_record(h, (int64_t)(us * 1000));
	assert_int_equal(latency_hist_count(h), 10000);
	assert_int_equal(latency_hist_max(h), 10000000);
	assert_near(latency_hist_percentile(h, 50), 5000000);
	assert_near(latency_hist_percentile(h, 90), 9000000);
	assert_near(latency_hist_percentile(h, 99), 9900000);
	assert_near(latency_hist_percentile(h, 99.9), 9990000);
	assert_int_equal(latency_hist_percentile(h, 100), 10000000);
	assert_near(latency_hist_percentile(h, 0), 1000);
	/* Never below the true value: the answer is at or above p% of the values. */
	assert_true(latency_hist_percentile(h, 50) >= 5000000);
	free(h);
}

static void test_hist_small_values_are_exact(void **state)
{
	struct latency_hist *h = hist_new();

	(void)state;
	for (int64_t v = 0; v < 2048; v++)
		latency_hist_record(h, v);
	assert_int_equal(latency_hist_percentile(h, 50), 1023);
	assert_int_equal(latency_hist_percentile(h, 100), 2047);
	latency_hist_record(h, -5);	/* clock skew counts as 0 */
	assert_int_equal(latency_hist_count(h), 2049);
	free(h);
}

static void test_hist_extremes(void **state)
{
	struct latency_hist *h = hist_new();

	(void)state;
	assert_int_equal(latency_hist_percentile(h, 99), 0);	/* empty */
	latency_hist_record(h, (int64_t)LATENCY_HIST_NS_MAX);
	assert_near(latency_hist_percentile(h, 50), LATENCY_HIST_NS_MAX);
	latency_hist_record(h, INT64_MAX);	/* beyond the range: clamped, max exact */
	assert_int_equal(latency_hist_max(h), INT64_MAX);
	assert_true(latency_hist_percentile(h, 100) <= (uint64_t)INT64_MAX);
	assert_true(latency_hist_percentile(h, 100) >= LATENCY_HIST_NS_MAX);
	free(h);
}

static void test_hist_merge(void **state)
{
	struct latency_hist *a = hist_new(), *b = hist_new();

	(void)state;
	for (int64_t us = 1; us <= 5000; us++)
		latency_hist_record(a, us * 1000);
	for (int64_t us = 5001; us <= 10000; us++)
		latency_hist_record(b, us * 1000);
	assert_near(latency_hist_percentile(a, 50), 2500000);
	latency_hist_merge(a, b);
	assert_int_equal(latency_hist_count(a), 10000);
	assert_int_equal(latency_hist_max(a), 10000000);
	assert_near(latency_hist_percentile(a, 50), 5000000);
	assert_near(latency_hist_percentile(a, 99), 9900000);
	free(a);
	free(b);
}

static void test_hist_reset(void **state)
{
	struct latency_hist *h = hist_new();

	(void)state;
	latency_hist_record(h, 123456);
	latency_hist_reset(h);
	assert_int_equal(latency_hist_count(h), 0);
	assert_int_equal(latency_hist_max(h), 0);
	assert_int_equal(latency_hist_percentile(h, 50), 0);
	latency_hist_record(h, 7000);
	assert_near(latency_hist_percentile(h, 50), 7000);
	free(h);
}

/* A bimodal distribution: 99% fast, 1% slow; p99 must sit at the edge, p99.9 in the tail. */
static void test_hist_bimodal(void **state)
{
	struct latency_hist *h = hist_new();

	(void)state;
	for (int i = 0; i < 99000; i++)
		latency_hist_record(h, 20000);		/* 20 us */
	for (int i = 0; i < 1000; i++)
		latency_hist_record(h, 5000000);	/* 5 ms */
	assert_near(latency_hist_percentile(h, 50), 20000);
	assert_near(latency_hist_percentile(h, 99), 20000);
	assert_near(latency_hist_percentile(h, 99.01), 5000000);
	assert_near(latency_hist_percentile(h, 99.9), 5000000);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_market_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_coordination_decision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_execution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_has_defaults_and_omits_unset_messages,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_enum_short_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_type_inferred_from_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_payload_is_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_means_unset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_the_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_for_nul_in_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_for_enums_and_oneof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_exhaustion_is_enomem, setup, teardown),
		cmocka_unit_test(test_hist_uniform_percentiles),
		cmocka_unit_test(test_hist_small_values_are_exact),
		cmocka_unit_test(test_hist_extremes),
		cmocka_unit_test(test_hist_merge),
		cmocka_unit_test(test_hist_reset),
		cmocka_unit_test(test_hist_bimodal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
