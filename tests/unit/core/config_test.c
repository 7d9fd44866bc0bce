/* tests/unit/core/config_test.c — fanoutd's flags: defaults, limits, cross-checks, and the
 * message a wrong value gets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

/* Parses a NULL-terminated argument list; *msg gets what went to stderr (caller frees). */
static int parse(struct config *c, char **msg, const char *const *args)
{
	char *argv[32], *outbuf = NULL;
	size_t outlen = 0, errlen = 0;
	int argc = 0, rc;
	FILE *out = open_memstream(&outbuf, &outlen), *err = open_memstream(msg, &errlen);

	assert_non_null(out);
	assert_non_null(err);
	argv[argc++] = (char *)"fanoutd";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	config_defaults(c);
	rc = config_parse_args(c, argc, argv, out, err);
	fclose(out);
	fclose(err);
	free(outbuf);
	return rc;
}

static void defaults_and_flags(void **state)
{
	struct config c;
	char *msg = NULL;

	(void)state;
	assert_int_equal(parse(&c, &msg, (const char *const[]){ NULL }), 0);
	assert_string_equal(c.listen, "127.0.0.1:7400");
	assert_true(c.auto_create);
	assert_int_equal(c.max_topics, 256);
	assert_int_equal(c.max_topics_per_connection, 64);
	assert_int_equal(c.topic_create_rate, 10);
	assert_int_equal(c.send_zc_inflight, 8);
	assert_int_equal(c.max_lag_bytes, 1ull << 30);
	assert_int_equal(c.reactors, 0);	/* one per CPU */
	assert_int_equal(c.send_zc_bytes, 65536);
	assert_true(c.reactor_memory_bytes == 256ull << 20);
	assert_int_equal(c.frame_deadline_ms, 10000);
	assert_int_equal(c.latest_keys_max, 262144);
	assert_int_equal(c.memory_log_ms, 10000);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--reactor-memory-bytes",
		"8388608", "--frame-deadline-ms", "500", "--latest-keys-max", "7",
		"--memory-log-ms", "0", NULL }), 0);
	assert_true(c.reactor_memory_bytes == 8388608);
	assert_int_equal(c.frame_deadline_ms, 500);
	assert_int_equal(c.latest_keys_max, 7);
	assert_int_equal(c.memory_log_ms, 0);
	assert_string_equal(c.shm_socket, "");	/* DATA_DIR/shm.sock */
	assert_int_equal(c.shm_total_bytes, 0);	/* a quarter of RAM */
	assert_int_equal(c.shm_max_rings, 4);
	assert_int_equal(c.shm_attach_timeout_ms, 10000);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--shm-socket", "/run/f.sock",
		"--shm-total-bytes", "1048576", "--shm-max-rings", "16",
		"--shm-attach-timeout-ms", "100", NULL }), 0);
	assert_string_equal(c.shm_socket, "/run/f.sock");
	assert_int_equal(c.shm_total_bytes, 1048576);
	assert_int_equal(c.shm_max_rings, 16);
	assert_int_equal(c.shm_attach_timeout_ms, 100);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--max-topics", "3",
		"--no-auto-create", "--topic", "md:4", "--max-lag-events", "100", "--reactors", "3",
		"--send-zc-bytes", "0", "--send-zc-inflight", "1", "--max-topics-per-connection",
		"0", "--topic-create-rate", "1000", NULL }), 0);
	assert_int_equal(c.send_zc_inflight, 1);
	assert_int_equal(c.max_topics_per_connection, 0);	/* no bound */
	assert_int_equal(c.topic_create_rate, 1000);
	assert_int_equal(c.reactors, 3);
	assert_int_equal(c.send_zc_bytes, 0);
	assert_int_equal(c.max_topics, 3);
	assert_false(c.auto_create);
	assert_int_equal(c.ntopics, 1);
	assert_string_equal(c.topics[0].name, "md");
	assert_int_equal(c.topics[0].partitions, 4);
	assert_int_equal(c.max_lag_events, 100);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--help", NULL }), 1);
	free(msg);
}

static void bad_values_name_the_flag(void **state)
{
	static const struct {
		const char *args[5];
		const char *says;
	} cases[] = {
		{ { "--max-topics", "0" }, "--max-topics must be in 1..1000000" },
		{ { "--max-frame-bytes", "10" }, "--max-frame-bytes" },
		{ { "--partitions", "x" }, "--partitions" },
		{ { "--partitions", " 4" }, "--partitions" },
		{ { "--max-lag-bytes", "+5" }, "--max-lag-bytes" },
		{ { "--max-lag-bytes", "-1" }, "--max-lag-bytes" },
		{ { "--listen", "nocolon" }, "HOST:PORT" },
		{ { "--reactors", "0" }, "--reactors must be in 1..64" },
		{ { "--reactors", "65" }, "--reactors must be in 1..64" },
		{ { "--send-zc-bytes", "x" }, "--send-zc-bytes" },
		{ { "--shm-max-rings", "17" }, "--shm-max-rings must be in 1..16" },
		{ { "--shm-max-rings", "0" }, "--shm-max-rings must be in 1..16" },
		{ { "--shm-attach-timeout-ms", "99" }, "--shm-attach-timeout-ms must be in" },
		{ { "--shm-total-bytes", "1" }, "--shm-total-bytes must be in" },
		{ { "--shm-socket", "" }, "--shm-socket is empty" },
		{ { "--shm-dir", "/dev/shm" }, "unknown or incomplete option '--shm-dir'" },
		{ { "--http", "nocolon" }, "--http wants HOST:PORT" },
		{ { "--stats-interval", "0" }, "--stats-interval must be in 1..86400" },
		{ { "--stats-queue-rows", "0" }, "--stats-queue-rows" },
		{ { "--log-format", "xml" }, "--log-format must be text or json" },
		{ { "--fsync", "sometimes" }, "--fsync must be never, batch or interval:MS" },
		{ { "--fsync", "interval:0" }, "--fsync must be" },
		{ { "--fsync", "interval:60001" }, "--fsync must be" },
		{ { "--fsync", "interval:" }, "--fsync must be" },
		{ { "--fsync", "interval:5x" }, "--fsync must be" },
		{ { "--fsync", "batch:1" }, "--fsync must be" },
		{ { "--pg-url", "" }, "--pg-url is empty" },
		{ { "--node-id", "" }, "--node-id must be 1..100" },
		{ { "--node-id", "a b" }, "--node-id must be 1..100" },
		{ { "--node-id", "x'; DROP TABLE topics; --" }, "--node-id must be" },
		{ { "--send-zc-inflight", "0" }, "--send-zc-inflight must be in 1..16" },
		{ { "--send-zc-inflight", "17" }, "--send-zc-inflight must be in 1..16" },
		{ { "--max-topics-per-connection", "x" }, "--max-topics-per-connection" },
		{ { "--topic-create-rate", "0" }, "--topic-create-rate must be in 1..1000000" },
		{ { "--topic", "a:0" }, "partitions must be" },
		{ { "--bogus" }, "unknown or incomplete option '--bogus'" },
		{ { "--reactor-memory-bytes", "1000" }, "--reactor-memory-bytes must be in" },
		{ { "--reactor-memory-bytes", "4194304", "--max-frame-bytes", "4194304" },
		  "at least twice --max-frame-bytes" },
		{ { "--frame-deadline-ms", "0" }, "--frame-deadline-ms must be in 100.." },
		{ { "--latest-keys-max", "0" }, "--latest-keys-max must be in 1.." },
		{ { "--latest-keys-max", "67108865" }, "--latest-keys-max" },
		{ { "--memory-log-ms", "x" }, "--memory-log-ms" },
		{ { "extra" }, "unexpected argument 'extra'" },
		/* Every event a client may send must fit in a segment. */
		{ { "--segment-bytes", "65536" }, "must be at least --max-frame-bytes (1048576)" },
		{ { "--segment-bytes", "131072", "--max-frame-bytes", "131072" },
		  "must be at least" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		char *msg = NULL;

		assert_int_equal(parse(&c, &msg, cases[i].args), -1);
		if (!strstr(msg, cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, msg, cases[i].says);
		free(msg);
	}
}

/* The admin plane's flags: defaults, values, and --http given explicitly. */
static void admin_flags(void **state)
{
	struct config c;
	char *msg = NULL;

	(void)state;
	assert_int_equal(parse(&c, &msg, (const char *const[]){ NULL }), 0);
	assert_string_equal(c.http, "127.0.0.1:7480");
	assert_false(c.http_set);
	assert_false(c.no_http);
	assert_string_equal(c.pg_url, "");
	assert_string_equal(c.node_id, "");	/* admin/node.h picks HOSTNAME:DIR */
	assert_int_equal(c.stats_interval_s, 10);
	assert_int_equal(c.stats_queue_rows, 10000);
	assert_false(c.log_json);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--auth", "required", "--http",
		"0.0.0.0:0", "--pg-url",
		"postgresql://u@h/db", "--stats-interval", "3", "--stats-queue-rows", "50",
		"--log-format", "json", "--node-id", "edge-1.example:7400", NULL }), 0);
	assert_string_equal(c.node_id, "edge-1.example:7400");
	assert_string_equal(c.http, "0.0.0.0:0");
	assert_true(c.http_set);
	assert_string_equal(c.pg_url, "postgresql://u@h/db");
	assert_int_equal(c.stats_interval_s, 3);
	assert_int_equal(c.stats_queue_rows, 50);
	assert_true(c.log_json);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--no-http", NULL }), 0);
	assert_true(c.no_http);
	free(msg);
}

/* --fsync: interval:100 by default; each mode parsed. */
static void fsync_modes(void **state)
{
	struct config c;
	char *msg = NULL;

	(void)state;
	assert_int_equal(parse(&c, &msg, (const char *const[]){ NULL }), 0);
	assert_int_equal(c.fsync_mode, LOG_FSYNC_INTERVAL);
	assert_int_equal(c.fsync_interval_ms, 100);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--fsync", "batch", NULL }), 0);
	assert_int_equal(c.fsync_mode, LOG_FSYNC_BATCH);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--fsync", "never", NULL }), 0);
	assert_int_equal(c.fsync_mode, LOG_FSYNC_NEVER);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--fsync", "interval:7", NULL }),
			 0);
	assert_int_equal(c.fsync_mode, LOG_FSYNC_INTERVAL);
	assert_int_equal(c.fsync_interval_ms, 7);
	free(msg);
}

static void kafka_egress(void **state)
{
	struct config c;
	const char *why = NULL;
	char *msg = NULL;

	(void)state;
	/* Pairs, in one flag or several; the defaults of the other flags. */
	config_defaults(&c);
	assert_int_equal(c.kafka_ack_kafka, false);
	assert_int_equal(c.kafka_egress_lag_max, CONFIG_KAFKA_LAG_DEFAULT);
	assert_int_equal(c.kafka_ack_timeout_ms, CONFIG_KAFKA_ACK_TIMEOUT_MS);
	assert_int_equal(config_kafka_egress(&c, "market/ticks=md.ticks,fills=exec.fills", &why),
			 0);
	assert_int_equal(c.nkafka_egress, 2);
	assert_string_equal(c.kafka_egress[0].topic, "market/ticks");
	assert_string_equal(c.kafka_egress[0].kafka_topic, "md.ticks");
	assert_string_equal(c.kafka_egress[1].topic, "fills");
	assert_string_equal(c.kafka_egress[1].kafka_topic, "exec.fills");
	/* Each refusal says which part. */
	config_defaults(&c);
	assert_int_equal(config_kafka_egress(&c, "ticks", &why), -EINVAL);
	assert_non_null(strstr(why, "TOPIC=KAFKA_TOPIC"));
	assert_int_equal(config_kafka_egress(&c, "", &why), -EINVAL);
	assert_int_equal(config_kafka_egress(&c, "a=b,", &why), -EINVAL);
	config_defaults(&c);
	assert_int_equal(config_kafka_egress(&c, "t=bad topic", &why), -EINVAL);
	assert_non_null(strstr(why, "Kafka topic"));
	{
		char spec[140] = "t=";

		memset(spec + 2, 'k', 116);	/* "kafka-egress." + 116 > a name's 128 */
		assert_int_equal(config_kafka_egress(&c, spec, &why), -EINVAL);
		assert_non_null(strstr(why, "1..115"));
		spec[2 + 115] = '\0';
		assert_int_equal(config_kafka_egress(&c, spec, &why), 0);
		config_defaults(&c);
	}
	assert_int_equal(config_kafka_egress(&c, "/abs=k", &why), -EINVAL);
	assert_non_null(strstr(why, "fanout topic"));
	assert_int_equal(config_kafka_egress(&c, "md.*=k", &why), -EINVAL);	/* no patterns */
	assert_non_null(strstr(why, "no pattern"));
	assert_int_equal(config_kafka_egress(&c, "t=k,t=j", &why), -EINVAL);
	assert_non_null(strstr(why, "twice"));
	config_defaults(&c);
	assert_int_equal(config_kafka_egress(&c, "a=k,b=k,c=k,d=k,e=k,f=k,g=k,h=k", &why), 0);
	assert_int_equal(config_kafka_egress(&c, "i=k", &why), -EINVAL);
	assert_non_null(strstr(why, "at most 8"));
	/* Flags: egress needs brokers, kafka acks need egress, and their bounds. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:9092",
		"--kafka-egress", "t=k", "--kafka-ack", "kafka", "--kafka-egress-lag-max", "50",
		"--kafka-ack-timeout-ms", "250", NULL }), 0);
	assert_true(c.kafka_ack_kafka);
	assert_int_equal(c.kafka_egress_lag_max, 50);
	assert_int_equal(c.kafka_ack_timeout_ms, 250);
	assert_int_equal(c.nkafka, 0);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-egress", "t=k", NULL }),
			 -1);
	assert_non_null(strstr(msg, "--kafka-egress needs --kafka-brokers"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-ack", "kafka", NULL }), -1);
	assert_non_null(strstr(msg, "--kafka-source"));	/* brokers for nothing */
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-source", "a=b", "--kafka-ack", "kafka", NULL }), -1);
	assert_non_null(strstr(msg, "--kafka-ack kafka waits for the egress"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-ack", "later", NULL }),
			 -1);
	assert_non_null(strstr(msg, "local or kafka"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-ack-timeout-ms", "0",
		NULL }), -1);
	assert_non_null(strstr(msg, "1..600000"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-egress", "t=k", "--no-shm", NULL }), -1);
	assert_non_null(strstr(msg, "--no-shm"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-egress", "t=k", "--auth", "required", NULL }), -1);
	assert_non_null(strstr(msg, "--auth-bootstrap"));
	free(msg);
}

static void kafka_sources(void **state)
{
	struct config_kafka_source k;
	struct config c;
	const char *why = NULL;
	char *msg = NULL;

	(void)state;
	/* Defaults, then every option. */
	assert_int_equal(config_kafka_source(&k, "md.ticks=market-data", &why), 0);
	assert_string_equal(k.kafka_topic, "md.ticks");
	assert_string_equal(k.topic, "market-data");
	assert_string_equal(k.group, "fanout");
	assert_int_equal(k.format, CONFIG_KAFKA_PROTOBUF);
	assert_false(k.latest);
	assert_int_equal(config_kafka_source(&k, "fills=execution/fills,group=edge-1,"
					     "format=json,start=latest", &why), 0);
	assert_string_equal(k.topic, "execution/fills");
	assert_string_equal(k.group, "edge-1");
	assert_int_equal(k.format, CONFIG_KAFKA_JSON);
	assert_true(k.latest);
	/* Each refusal says which part. */
	assert_int_equal(config_kafka_source(&k, "ticks", &why), -EINVAL);
	assert_non_null(strstr(why, "KAFKA_TOPIC=TOPIC"));
	assert_int_equal(config_kafka_source(&k, "bad topic=t", &why), -EINVAL);
	assert_non_null(strstr(why, "Kafka topic"));
	assert_int_equal(config_kafka_source(&k, "ticks=/abs", &why), -EINVAL);
	assert_non_null(strstr(why, "fanout topic"));
	assert_int_equal(config_kafka_source(&k, "ticks=t,format=xml", &why), -EINVAL);
	assert_non_null(strstr(why, "format"));
	assert_int_equal(config_kafka_source(&k, "ticks=t,start=middle", &why), -EINVAL);
	assert_non_null(strstr(why, "start"));
	assert_int_equal(config_kafka_source(&k, "ticks=t,colour=red", &why), -EINVAL);
	assert_non_null(strstr(why, "options are"));
	assert_int_equal(config_kafka_source(&k, "ticks=t,group=a b", &why), -EINVAL);
	assert_non_null(strstr(why, "group"));
	assert_int_equal(config_kafka_source(&k, "a-very-long-kafka-topic-name=t,"
					     "group=and-a-long-group-name", &why), -EINVAL);
	assert_non_null(strstr(why, "38"));
	/* Flags: brokers and sources go together; options pass through. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:9092",
		"--kafka-source", "a=b", "--kafka-source", "c=d,format=json", "--kafka-option",
		"session.timeout.ms=6000", NULL }), 0);
	assert_string_equal(c.kafka_brokers, "k:9092");
	assert_int_equal(c.nkafka, 2);
	assert_string_equal(c.kafka[1].kafka_topic, "c");
	assert_int_equal(c.nkafka_options, 1);
	assert_string_equal(c.kafka_options[0], "session.timeout.ms=6000");
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-source", "a=b", NULL }),
			 -1);
	assert_non_null(strstr(msg, "needs --kafka-brokers"));
	free(msg);
	/* The same topic and group twice; another group is fine. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-source", "a=b", "--kafka-source", "a=c", NULL }), -1);
	assert_non_null(strstr(msg, "once per group"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-source", "a=b", "--kafka-source", "a=c,group=other", NULL }), 0);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-source", "a=b", "--no-shm", NULL }), -1);
	assert_non_null(strstr(msg, "--no-shm"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-brokers", "k:1",
		"--kafka-source", "a=b", "--auth", "required", NULL }), -1);
	assert_non_null(strstr(msg, "--auth-bootstrap"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-option", "novalue",
		NULL }), -1);
	assert_non_null(strstr(msg, "KEY=VALUE"));
	free(msg);
	/* What exactly-once stands on is not the operator's to change. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-option",
		"enable.auto.commit=true", NULL }), -1);
	assert_non_null(strstr(msg, "fanoutd's own"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--kafka-option",
		"group.id=other", NULL }), -1);
	free(msg);
}

static void auth_flags_and_loopback(void **state)
{
	struct config c;
	char *msg = NULL;

	(void)state;
	assert_int_equal(parse(&c, &msg, (const char *const[]){ NULL }), 0);
	assert_false(c.auth_required);
	assert_string_equal(c.auth_bootstrap, "");
	assert_int_equal(c.conn_events_per_s, 0);
	free(msg);
	/* Off is refused on any listener off loopback, naming the flag to change. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--listen", "0.0.0.0:7400",
		NULL }), -1);
	assert_non_null(strstr(msg, "--auth required"));
	assert_non_null(strstr(msg, "--listen 0.0.0.0:7400"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--http", "[::]:0", NULL }), -1);
	assert_non_null(strstr(msg, "--http [::]:0"));
	free(msg);
	/* ... but not with the API off, or on loopback of either family. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--http", "[::1]:0", "--listen",
		"127.0.0.9:1", NULL }), 0);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--http", "10.0.0.1:80",
		"--no-http", "--listen", "localhost:0", NULL }), 0);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--auth", "required",
		"--auth-bootstrap", "/etc/fanout/admin.token", "--listen", "0.0.0.0:1",
		"--max-conn-events-per-s", "1000", "--max-conn-bytes-per-s", "65536", NULL }), 0);
	assert_true(c.auth_required);
	assert_string_equal(c.auth_bootstrap, "/etc/fanout/admin.token");
	assert_int_equal(c.conn_events_per_s, 1000);
	assert_int_equal(c.conn_bytes_per_s, 65536);
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--tls-cert", "c.pem", NULL }),
			 -1);
	assert_non_null(strstr(msg, "--tls-cert and --tls-key go together"));
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--tls-cert", "c.pem",
		"--tls-key", "k.pem", NULL }), 0);
	assert_string_equal(c.tls_cert, "c.pem");
	assert_string_equal(c.tls_key, "k.pem");
	free(msg);
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--auth", "maybe", NULL }), -1);
	assert_non_null(strstr(msg, "--auth must be required or off"));
	free(msg);
	assert_true(config_loopback("127.0.0.1:7400"));
	assert_true(config_loopback("[::1]:7400"));
	assert_false(config_loopback("128.0.0.1:7400"));
	assert_false(config_loopback("[::]:7400"));
	assert_false(config_loopback("example.com:1"));
}

static void segment_just_big_enough(void **state)
{
	struct config c;
	char *msg = NULL;

	(void)state;
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--segment-bytes", "131072",
		"--max-frame-bytes", "65536", NULL }), 0);
	assert_int_equal(c.segment_bytes, 131072);
	free(msg);
}

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *config_file(const char *text)
{
	static char path[] = "/tmp/fanout-config-test.XXXXXX";
	int fd;
	FILE *f;

	strcpy(path, "/tmp/fanout-config-test.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void config_file_then_flags(void **state)
{
	struct config c;
	char *msg = NULL;
	const char *path = config_file(
		"# fanoutd settings\n"
		"listen = 0.0.0.0:7500\n"
		"auth = required\n"
		"  max-topics=12  \n"
		"\n"
		"topic = md:4\n"
		"topic = fills\n"
		"no-auto-create\n"
		"quiet = true\n"
		"max-lag-events = 5000\n");

	(void)state;
	/* --config may stand anywhere: the flags after or before it still win. */
	assert_int_equal(parse(&c, &msg, (const char *const[]){ "--max-lag-events", "7",
		"--config", path, NULL }), 0);
	assert_string_equal(c.listen, "0.0.0.0:7500");
	assert_int_equal(c.max_topics, 12);
	assert_int_equal(c.ntopics, 2);
	assert_string_equal(c.topics[0].name, "md");
	assert_int_equal(c.topics[0].partitions, 4);
	assert_string_equal(c.topics[1].name, "fills");
	assert_false(c.auto_create);
	assert_true(c.quiet);
	assert_int_equal(c.max_lag_events, 7);
	free(msg);
	unlink(path);
}

static void config_file_errors_name_the_line(void **state)
{
	static const struct {
		const char *text;
		const char *says;
	} cases[] = {
		{ "listen = 127.0.0.1:1\nbogus = 1\n", ":2: unknown key" },
		{ "max-topics\n", ":1: needs a value" },
		{ "quiet = maybe\n", ":1: a switch takes no value" },
		{ "# ok\npartitions = 0\n", ":2: --partitions must be in 1..1024" },
		{ "config = other\n", ":1: unknown key" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		char *msg = NULL;
		const char *path = config_file(cases[i].text);

		assert_int_equal(parse(&c, &msg, (const char *const[]){ "--config", path, NULL }), -1);
		if (!strstr(msg, path) || !strstr(msg, cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, msg, cases[i].says);
		free(msg);
		unlink(path);
	}
	{
		struct config c;
		char *msg = NULL;

		assert_int_equal(parse(&c, &msg, (const char *const[]){ "--config",
			"/nonexistent/fanoutd.conf", NULL }), -1);
		assert_non_null(strstr(msg, "No such file"));
		free(msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_and_flags),
		cmocka_unit_test(bad_values_name_the_flag),
		cmocka_unit_test(segment_just_big_enough),
		cmocka_unit_test(fsync_modes),
		cmocka_unit_test(admin_flags),
		cmocka_unit_test(auth_flags_and_loopback),
		cmocka_unit_test(kafka_sources),
		cmocka_unit_test(kafka_egress),
		cmocka_unit_test(config_file_then_flags),
		cmocka_unit_test(config_file_errors_name_the_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
