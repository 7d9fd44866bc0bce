/* tests/unit/tools/kafka_stat_test.c — the Kafka sources' snapshots rendered: lag only
 * where it is known, Prometheus families whole (HELP, TYPE, one series per source or per
 * assigned partition with a known value), the JSON's totals, and nothing without a
 * source. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tools/kafka_stat.h"

static struct kafka_stat_source src[2];

static int setup(void **state)
{
	(void)state;
	memset(src, 0, sizeof(src));
	src[0] = (struct kafka_stat_source){ .kafka_topic = "md.ticks", .topic = "market/ticks",
		.group = "edge-1", .stored = 900, .refused = 2, .skipped = 3, .nparts = 3 };
	src[0].parts[0] = (struct kafka_stat_part){ true, 500, 480, 520 };
	src[0].parts[1] = (struct kafka_stat_part){ false, 7, 7, 9 };	/* revoked */
	src[0].parts[2] = (struct kafka_stat_part){ true, 400, -1, -1 };	/* no fetch yet */
	src[1] = (struct kafka_stat_source){ .kafka_topic = "fills", .topic = "execution/fills",
		.group = "g", .brokers_down = true, .nparts = 1 };
	src[1].parts[0] = (struct kafka_stat_part){ true, 10, 10, 8 };	/* a stale mark */
	return 0;
}

static void test_lag(void **state)
{
	(void)state;
	assert_int_equal(kafka_stat_lag(&src[0].parts[0]), 20);
	assert_int_equal(kafka_stat_lag(&src[0].parts[1]), -1);
	assert_int_equal(kafka_stat_lag(&src[0].parts[2]), -1);
	assert_int_equal(kafka_stat_lag(&src[1].parts[0]), 0);
}

static void test_metrics(void **state)
{
	char *t = kafka_stat_metrics(src, 2);

	(void)state;
	assert_non_null(t);
	assert_non_null(strstr(t, "# HELP fanout_kafka_consumer_lag_messages "));
	assert_non_null(strstr(t, "# TYPE fanout_kafka_consumer_lag_messages gauge\n"));
	assert_non_null(strstr(t, "# TYPE fanout_kafka_events_stored_total counter\n"));
	assert_non_null(strstr(t, "fanout_kafka_events_stored_total{kafka_topic=\"md.ticks\","
			       "group=\"edge-1\",topic=\"market/ticks\"} 900\n"));
	assert_non_null(strstr(t, "fanout_kafka_consumer_lag_messages{kafka_topic="
			       "\"md.ticks\",group=\"edge-1\",partition=\"0\"} 20\n"));
	/* Not assigned, or not known: no series. */
	assert_null(strstr(t, "partition=\"1\""));
	assert_null(strstr(t, "fanout_kafka_consumer_lag_messages{kafka_topic=\"md.ticks\","
			    "group=\"edge-1\",partition=\"2\"}"));
	assert_non_null(strstr(t, "fanout_kafka_position_offset{kafka_topic=\"md.ticks\","
			       "group=\"edge-1\",partition=\"2\"} 400\n"));
	assert_non_null(strstr(t, "fanout_kafka_partitions_assigned{kafka_topic=\"md.ticks\","
			       "group=\"edge-1\",topic=\"market/ticks\"} 2\n"));
	assert_non_null(strstr(t, "fanout_kafka_brokers_down{kafka_topic=\"fills\",group=\"g\","
			       "topic=\"execution/fills\"} 1\n"));
	/* Each family once. */
	assert_null(strstr(strstr(t, "# TYPE fanout_kafka_brokers_down") + 1,
			   "# TYPE fanout_kafka_brokers_down"));
	free(t);
	t = kafka_stat_metrics(src, 0);
	assert_non_null(t);
	assert_string_equal(t, "");
	free(t);
}

static void test_json(void **state)
{
	json_t *j = kafka_stat_json(src, 2), *s0, *parts;

	(void)state;
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "sources")), 2);
	s0 = json_array_get(json_object_get(j, "sources"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "group")), "edge-1");
	assert_int_equal(json_integer_value(json_object_get(s0, "stored")), 900);
	assert_int_equal(json_integer_value(json_object_get(s0, "skipped")), 3);
	assert_int_equal(json_integer_value(json_object_get(s0, "lag")), 20);
	parts = json_object_get(s0, "partitions");
	assert_int_equal(json_array_size(parts), 2);	/* the assigned ones */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(parts, 1),
							    "partition")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(parts, 1), "lag")),
			 -1);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "sources"),
								 1), "brokersDown")));
	json_decref(j);
	j = kafka_stat_json(src, 0);
	assert_int_equal(json_array_size(json_object_get(j, "sources")), 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_lag, setup),
		cmocka_unit_test_setup(test_metrics, setup),
		cmocka_unit_test_setup(test_json, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
