/* tests/unit/net/egress_gate_test.c — net/egress_gate.c: which topics go to Kafka (cached
 * on the topic), the egress's own subscription names, the watermark lag over a topic's
 * partitions (nothing before the egress placed it), --kafka-ack kafka's refusal at
 * --kafka-egress-lag-max, and egress_next that only rises. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/frame.h"
#include "core/log.h"
#include "core/topic.h"
#include "core/epoch.h"
#include "net/egress_gate.h"
#include "net/engine.h"

/* Appends n 10-byte frames to log and makes them visible. */
static void append(struct log *log, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct log_fields fl = { 0 };
		uint8_t *dst;
		uint64_t off;
		size_t at;

		assert_int_equal(log_reserve(log, 11, &dst, &off), 0);
		at = frame_varint_put(dst, 10);
		memset(dst + at, 'x', 10);
		log_commit(log, &fl);
	}
	log_publish(log);
}

static void the_gate(void **state)
{
	struct log_config lc = { .segment_bytes = 1u << 20 };
	static struct topic_table topics;
	static struct net_engine e;
	static struct config cfg;
	struct publish_error err;
	struct topic *md, *other;
	char dir[] = "/tmp/fanout-egress-gate-test.XXXXXX", cmd[128];
	const char *why;

	(void)state;
	assert_int_equal(epoch_register(), 0);	/* as the egress thread: topics are looked up */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(topic_table_init(&topics, dir, &lc), 0);
	assert_int_equal(topic_create(&topics, "md", 2, 2, &md), 0);
	assert_int_equal(topic_create(&topics, "other", 5, 1, &other), 0);
	config_defaults(&cfg);
	assert_int_equal(config_kafka_egress(&cfg, "md=md.out", &why), 0);
	cfg.kafka_ack_kafka = true;
	cfg.kafka_egress_lag_max = 3;
	e.topics = &topics;
	e.cfg = &cfg;
	egress_gate_init(&e.egress, &cfg);
	/* Which topics, cached on the topic. */
	assert_true(egress_gate_topic(&e.egress, md));
	assert_int_equal(atomic_load(&md->egress), 2);
	assert_false(egress_gate_topic(&e.egress, other));
	assert_int_equal(atomic_load(&other->egress), 1);
	assert_true(egress_gate_own(&e.egress, "kafka-egress.md.out"));
	assert_false(egress_gate_own(&e.egress, "reports"));
	/* Before the egress placed the marks: no lag, nothing refused (batches wait). */
	append(md->part[0].log, 3);
	append(md->part[1].log, 1);
	assert_int_equal(egress_gate_lag(md), 0);
	assert_int_equal(egress_gate_admit(&e.egress, md, &err), 0);
	assert_false(egress_gate_passed(md, 0, 0));
	/* Placed: 4 not in Kafka, at the bound of 3: refused. */
	assert_int_equal(egress_gate_confirm(&e, "md", 0, 0, false), 0);
	assert_int_equal(egress_gate_confirm(&e, "md", 1, 0, true), 0);
	assert_int_equal(egress_gate_lag(md), 4);
	assert_int_equal(egress_gate_admit(&e.egress, md, &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL);
	assert_int_equal(err.retry_after_ms, EGRESS_RETRY_MS);
	assert_non_null(strstr(err.message, "not yet in Kafka"));
	assert_int_equal(atomic_load(&e.egress.refused), 1);
	assert_int_equal(egress_gate_admit(&e.egress, other, &err), 0);	/* not egress */
	/* Kafka has partition 0 through offset 1: lag 2, admitted; passed below the mark. */
	assert_int_equal(egress_gate_confirm(&e, "md", 0, 2, false), 0);
	assert_int_equal(egress_gate_lag(md), 2);
	assert_int_equal(egress_gate_admit(&e.egress, md, &err), 0);
	assert_true(egress_gate_passed(md, 0, 1));
	assert_false(egress_gate_passed(md, 0, 2));
	/* The mark never goes back; unknown topics and partitions are said. */
	assert_int_equal(egress_gate_confirm(&e, "md", 0, 1, false), 0);
	assert_true(egress_gate_passed(md, 0, 1));
	assert_int_equal(egress_gate_confirm(&e, "nope", 0, 1, false), -ENOENT);
	assert_int_equal(egress_gate_confirm(&e, "md", 2, 1, false), -ENOENT);
	egress_gate_wake(&e);	/* no reactors: makes its ring, wakes nobody */
	egress_gate_free(&e.egress);
	topic_table_close(&topics);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
