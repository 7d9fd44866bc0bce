/* perf/kafka_egress_bench.c — what --kafka-ack kafka adds over local: a fanoutd with
 * --kafka-egress bench=bench.out produces to librdkafka's mock cluster (in this
 * process, three brokers on loopback), and one publisher over TCP measures
 *   - latency: LAT batches of one event, one in flight, publish -> ack (p50, p99);
 *   - throughput: EVENTS events in batches of 100, 20 batches in flight, events/s acked;
 *   - egress: from the first throughput publish until Kafka holds every event (the
 *     topic's high watermarks), events/s.
 *
 *   kafka-egress-bench FANOUTD local|kafka [EVENTS] [LAT] [LINGER_MS]   (200000, 5000)
 *
 * LINGER_MS, when given, is passed as --kafka-option linger.ms=LINGER_MS (the egress
 * producer's default is 0 with kafka acks, 5 with local ones).
 *
 * Prints one JSON line. The mock cluster is in-process: no network between brokers, no
 * replication, no disk; a real cluster adds its round trips to the ISR and its fsync
 * policy to every acks=all produce, so to every kafka-mode ack. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/clock.h"
#include "tools/client.h"

#define BATCH   100u
#define WINDOW  20u

static Fanout__V1__Event g_ev[BATCH];
static Fanout__V1__Distribution g_d[BATCH];
static Fanout__V1__MarketData g_md[BATCH];
static char g_buf[BATCH][96];

static void events_init(void)
{
	for (uint32_t i = 0; i < BATCH; i++) {
		fanout__v1__event__init(&g_ev[i]);
		fanout__v1__distribution__init(&g_d[i]);
		fanout__v1__market_data__init(&g_md[i]);
		snprintf(g_buf[i], 32, "ev-%u", i);
		snprintf(g_buf[i] + 32, 64, "S%05u.NASDAQ.trade", i % 100);
		g_ev[i].event_id = g_buf[i];
		g_d[i].topic = "bench";
		g_d[i].routing_key = g_buf[i] + 32;
		g_ev[i].distribution = &g_d[i];
		g_md[i].symbol = "S";
		g_md[i].exchange = "NASDAQ";
		g_md[i].price = 100.25;
		g_md[i].currency = "USD";
		g_ev[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		g_ev[i].market_data = &g_md[i];
	}
}

static int publish(struct client *c, uint64_t seq, uint32_t n)
{
	Fanout__V1__Event *ptrs[BATCH];

	for (uint32_t i = 0; i < n; i++) {
		g_ev[i].timestamp_ns = clock_realtime_ns();
		ptrs[i] = &g_ev[i];
	}
	return client_publish(c, seq, ptrs, n);
}

/* Waits for one answer: 0 for an ack, -1 for anything else (said). */
static int ack(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;
	int rc = client_recv(c, &m, 30000);

	if (rc == 0 && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK) {
		client_free_msg(m);
		return 0;
	}
	fprintf(stderr, "kafka-egress-bench: %s\n", rc < 0 ? strerror(-rc) :
		m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ? m->error->message :
		"not an ack");
	client_free_msg(m);
	return -1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Events Kafka holds in bench.out (the high watermarks: the mock deletes old ones). */
static int64_t kafka_holds(rd_kafka_t *rk)
{
	int64_t lo, hi, sum = 0;

	for (int p = 0; p < 3; p++)
		if (rd_kafka_query_watermark_offsets(rk, "bench.out", p, &lo, &hi, 5000) == 0)
			sum += hi;
	return sum;
}

static pid_t start(const char *fanoutd, const char *mode, const char *brokers,
		   const char *linger, const char *dir, char *addr, size_t cap)
{
	char data[160], ready[160], opt[64];
	pid_t pid;

	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(opt, sizeof(opt), "linger.ms=%s", linger ? linger : "");
	pid = fork();
	if (pid == 0 && linger)
		execl(fanoutd, fanoutd, "--listen", "127.0.0.1:0", "--no-http", "--data-dir",
		      data, "--ready-file", ready, "--quiet", "--kafka-brokers", brokers,
		      "--kafka-egress", "bench=bench.out", "--kafka-ack", mode, "--topic",
		      "bench:4", "--kafka-ack-timeout-ms", "60000", "--kafka-option", opt,
		      (char *)NULL);
	if (pid == 0) {
		execl(fanoutd, fanoutd, "--listen", "127.0.0.1:0", "--no-http", "--data-dir",
		      data, "--ready-file", ready, "--quiet", "--kafka-brokers", brokers,
		      "--kafka-egress", "bench=bench.out", "--kafka-ack", mode, "--topic",
		      "bench:4", "--kafka-ack-timeout-ms", "60000", (char *)NULL);
		_exit(127);
	}
	addr[0] = '\0';
	for (int i = 0; i < 500 && !addr[0]; i++) {
		FILE *f = fopen(ready, "r");

		if (f) {
			if (!fgets(addr, (int)cap, f))
				addr[0] = '\0';
			addr[strcspn(addr, " \n")] = '\0';
			fclose(f);
		}
		if (!addr[0])
			usleep(10000);
	}
	return pid;
}

int main(int argc, char **argv)
{
	const char *fanoutd = argc > 1 ? argv[1] : "build-rel/tools/fanoutd";
	const char *mode = argc > 2 ? argv[2] : "local";
	uint32_t n = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 200000;
	uint32_t nlat = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 5000;
	const char *linger = argc > 5 ? argv[5] : NULL;
	char err[256], dir[] = "/tmp/kafka-egress-bench-XXXXXX", addr[128], brokers[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	struct client pub;
	int64_t *lat, t0, t_acked, t_kafka = 0, published;
	uint64_t seq = 0, sent = 0, acked = 0;
	rd_kafka_t *rk;
	pid_t pid;
	int rc = 1;

	if ((strcmp(mode, "local") && strcmp(mode, "kafka")) || n < BATCH || nlat == 0 ||
	    !mkdtemp(dir) || !(lat = calloc(nlat, sizeof(*lat))))
		return 2;
	events_init();
	rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof(err));
	rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk)
		return 1;
	snprintf(brokers, sizeof(brokers), "%s",
		 rd_kafka_mock_cluster_bootstraps(rd_kafka_handle_mock_cluster(rk)));
	rd_kafka_mock_topic_create(rd_kafka_handle_mock_cluster(rk), "bench.out", 3, 3);
	pid = start(fanoutd, mode, brokers, linger, dir, addr, sizeof(addr));
	if (!addr[0] || client_connect(&pub, addr, 5000) < 0) {
		fprintf(stderr, "kafka-egress-bench: fanoutd did not start\n");
		goto out;
	}
	/* Warm-up: the egress subscribes and the producer finds its brokers. */
	for (uint32_t i = 0; i < 1000; i++)
		if (publish(&pub, ++seq, 1) < 0 || ack(&pub) < 0)
			goto out;
	for (uint32_t i = 0; i < nlat; i++) {
		int64_t t = clock_monotonic_ns();

		if (publish(&pub, ++seq, 1) < 0 || ack(&pub) < 0)
			goto out;
		lat[i] = clock_monotonic_ns() - t;
	}
	published = 1000 + nlat;
	t0 = clock_monotonic_ns();
	while (acked < n) {
		while (sent < n && sent - acked < (uint64_t)WINDOW * BATCH) {
			if (publish(&pub, ++seq, BATCH) < 0)
				goto out;
			sent += BATCH;
		}
		if (ack(&pub) < 0)
			goto out;
		acked += BATCH;
	}
	t_acked = clock_monotonic_ns();
	published += n;
	while (clock_monotonic_ns() - t0 < 120000000000ll) {
		if (kafka_holds(rk) >= published) {
			t_kafka = clock_monotonic_ns();
			break;
		}
		usleep(1000);
	}
	qsort(lat, nlat, sizeof(*lat), cmp_i64);
	printf("{\"mode\":\"%s\",\"linger_ms\":\"%s\",\"latency_samples\":%u,\"ack_p50_us\":%.1f,\"ack_p99_us\":%.1f,"
	       "\"events\":%u,\"batch\":%u,\"window\":%u,\"acked_events_per_s\":%.0f,"
	       "\"in_kafka_events_per_s\":%.0f}\n", mode, linger ? linger : "default", nlat, lat[nlat / 2] / 1e3,
	       lat[(size_t)(nlat * 0.99)] / 1e3, n, BATCH, WINDOW,
	       n / ((double)(t_acked - t0) / 1e9),
	       t_kafka ? n / ((double)(t_kafka - t0) / 1e9) : 0.0);
	rc = t_kafka ? 0 : 1;
out:
	client_close(&pub);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	rd_kafka_destroy(rk);
	free(lat);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "kafka-egress-bench: could not remove %s\n", dir);
	}
	return rc;
}
