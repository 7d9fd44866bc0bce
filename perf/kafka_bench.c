/* perf/kafka_bench.c — Kafka ingest's throughput: events produced beforehand to
 * librdkafka's mock cluster (in this process, three brokers on loopback) are consumed by
 * a fanoutd (--kafka-source) and delivered to subscribers over TCP; the run is timed from
 * the server's start to the last subscriber's last event (and from the first event: the
 * consumer group's join takes some 3 s first), with the server's CPU (all its threads:
 * the consumers, the reactors).
 *
 *   kafka-bench FANOUTD [EVENTS] [SUBSCRIBERS] [PARTITIONS]   (90000, 10, 3)
 *
 * The mock keeps some 40,000 messages a partition (older ones are deleted), so EVENTS
 * stays below that times PARTITIONS; a run that finds fewer in the cluster stops.
 *
 * Prints one JSON line. The mock cluster is in-process and answers at memory speed: a
 * real cluster adds its fetch latency and network, not counted here. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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

#define SUBS_MAX 64

static double cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	/* fields after the name: state is 3rd; utime 14th, stime 15th */
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			&st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void produce(rd_kafka_t *rk, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		Fanout__V1__Event e = FANOUT__V1__EVENT__INIT;
		Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
		Fanout__V1__MarketData md = FANOUT__V1__MARKET_DATA__INIT;
		char id[32], key[48], sym[16];
		uint8_t pb[512];
		size_t len;

		snprintf(id, sizeof(id), "ev-%u", i);
		snprintf(sym, sizeof(sym), "S%05u", i % 100);
		snprintf(key, sizeof(key), "%s.NASDAQ.trade", sym);
		e.event_id = id;
		e.timestamp_ns = clock_realtime_ns();
		d.topic = "bench";
		d.routing_key = key;
		e.distribution = &d;
		md.symbol = sym;
		md.exchange = "NASDAQ";
		md.price = 100.25;
		md.volume = i;
		md.currency = "USD";
		e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		e.market_data = &md;
		len = fanout__v1__event__pack(&e, pb);
		while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("bench"),
					 RD_KAFKA_V_KEY(key, strlen(key)),
					 RD_KAFKA_V_VALUE(pb, len),
					 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 60000);
}

int main(int argc, char **argv)
{
	const char *fanoutd = argc > 1 ? argv[1] : "build-rel/tools/fanoutd";
	uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 90000;
	uint32_t nsubs = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 10;
	const char *parts = argc > 4 ? argv[4] : "3";
	char err[256], dir[] = "/tmp/kafka-bench-XXXXXX", data[128], ready[160], source[64];
	char addr[128] = "", brokers[256];
	static struct client subs[SUBS_MAX];
	uint64_t got[SUBS_MAX] = { 0 }, total = 0;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	int64_t t0, t_first = 0, t_end;
	double cpu0, cpu1;
	pid_t pid;

	if (nsubs == 0 || nsubs > SUBS_MAX || n == 0 || !mkdtemp(dir))
		return 2;
	rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof(err));
	rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof(err));
	rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk)
		return 1;
	mc = rd_kafka_handle_mock_cluster(rk);
	snprintf(brokers, sizeof(brokers), "%s", rd_kafka_mock_cluster_bootstraps(mc));
	rd_kafka_mock_topic_create(mc, "bench", atoi(parts), 1);
	produce(rk, n);
	{	/* what the cluster holds: every event produced, or the run is not valid */
		int64_t lo, hi, sum = 0;

		for (int p = 0; p < atoi(parts); p++)
			if (rd_kafka_query_watermark_offsets(rk, "bench", p, &lo, &hi, 5000) == 0)
				sum += hi - lo;
		if (sum != (int64_t)n) {
			fprintf(stderr, "kafka-bench: the mock cluster holds %lld of %u events\n",
				(long long)sum, n);
			return 1;
		}
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(source, sizeof(source), "bench=bench");
	t0 = clock_monotonic_ns();
	pid = fork();
	if (pid == 0) {
		execl(fanoutd, fanoutd, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		      "--data-dir", data, "--ready-file", ready, "--quiet", "--kafka-brokers",
		      brokers, "--kafka-source", source, "--topic", "bench:1",
		      /* One thread reads every subscriber here: no cut for lagging. */
		      "--max-lag-bytes", "0", "--max-lag-events", "0", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !addr[0]; i++) {	/* the ready file: HOST:PORT first */
		FILE *f = fopen(ready, "r");

		if (f) {
			if (!fgets(addr, sizeof(addr), f))
				addr[0] = '\0';
			addr[strcspn(addr, " \n")] = '\0';
			fclose(f);
		}
		if (!addr[0])
			usleep(10000);
	}
	if (!addr[0]) {
		fprintf(stderr, "kafka-bench: fanoutd did not start\n");
		kill(pid, SIGKILL);
		return 1;
	}
	cpu0 = cpu_s(pid);
	for (uint32_t i = 0; i < nsubs; i++) {
		Fanout__V1__ServerMessage *r = NULL;

		if (client_connect(&subs[i], addr, 5000) < 0 ||
		    client_subscribe(&subs[i], 1, "bench", NULL, 0,
				     FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0, &r) < 0) {
			fprintf(stderr, "kafka-bench: subscriber %u could not subscribe\n", i);
			kill(pid, SIGKILL);
			return 1;
		}
		client_free_msg(r);
	}
	while (total < (uint64_t)n * nsubs && clock_monotonic_ns() - t0 < 120000000000ll) {
		for (uint32_t i = 0; i < nsubs; i++) {
			struct frame_view v;

			int rc = 0;

			while (got[i] < n && (rc = client_recv_frame(&subs[i], &v, 0)) == 0) {
				got[i]++;
				total++;
				if (!t_first)
					t_first = clock_monotonic_ns();
			}
			if (rc < 0 && rc != -ETIMEDOUT) {
				fprintf(stderr, "kafka-bench: subscriber %u: %s after %" PRIu64
					" events\n", i, strerror(-rc), got[i]);
				kill(pid, SIGKILL);
				return 1;
			}
		}
		struct pollfd p = { .fd = subs[0].fd, .events = POLLIN };

		(void)poll(&p, 1, 1);
	}
	t_end = clock_monotonic_ns();
	cpu1 = cpu_s(pid);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	printf("{\"events\":%u,\"subscribers\":%u,\"kafka_partitions\":%s,\"delivered\":%" PRIu64
	       ",\"seconds\":%.3f,\"events_per_s\":%.0f,\"deliveries_per_s\":%.0f,"
	       "\"server_cpu_s\":%.3f,\"server_cpu_us_per_event\":%.2f,"
	       "\"first_event_after_start_ms\":%.1f,\"events_per_s_after_first\":%.0f}\n", n,
	       nsubs, parts, total, (double)(t_end - t0) / 1e9,
	       (double)n / ((double)(t_end - t0) / 1e9),
	       (double)total / ((double)(t_end - t0) / 1e9), cpu1 - cpu0,
	       (cpu1 - cpu0) * 1e6 / n, t_first ? (double)(t_first - t0) / 1e6 : -1.0,
	       t_first && t_end > t_first ? (double)n / ((double)(t_end - t_first) / 1e9) : 0);
	for (uint32_t i = 0; i < nsubs; i++)
		client_close(&subs[i]);
	rd_kafka_destroy(rk);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "kafka-bench: could not remove %s\n", dir);
	}
	return total == (uint64_t)n * nsubs ? 0 : 1;
}
