/* core/config.c — defaults and command-line parsing for fanoutd. */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "core/frame.h"
#include "core/latest.h"
#include "core/log.h"
#include "core/topic.h"
#include "fanout_version.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->listen, "127.0.0.1:7400");
	strcpy(c->data_dir, "fanout-data");
	c->max_frame_bytes = FRAME_BYTES_DEFAULT;
	c->max_subscriptions = 256;
	c->max_connections = 4096;
	c->segment_bytes = LOG_SEGMENT_BYTES_DEFAULT;
	c->fsync_mode = LOG_FSYNC_INTERVAL;
	c->fsync_interval_ms = CONFIG_FSYNC_INTERVAL_MS;
	c->kafka_egress_lag_max = CONFIG_KAFKA_LAG_DEFAULT;
	c->kafka_ack_timeout_ms = CONFIG_KAFKA_ACK_TIMEOUT_MS;
	c->default_partitions = 1;
	c->max_lag_events = 0;
	c->max_lag_bytes = 1ull << 30;
	c->close_grace_ms = 5000;
	c->auto_create = true;
	c->max_topics = CONFIG_MAX_TOPICS;
	c->max_topics_per_connection = CONFIG_MAX_TOPICS_PER_CONNECTION;
	c->topic_create_rate = CONFIG_TOPIC_CREATE_RATE;
	c->send_zc_bytes = CONFIG_SEND_ZC_BYTES;
	c->send_zc_inflight = CONFIG_SEND_ZC_INFLIGHT;
	c->shm_max_bytes = 1ull << 30;
	c->reactor_memory_bytes = BUDGET_BYTES_DEFAULT;
	c->frame_deadline_ms = CONFIG_FRAME_DEADLINE_MS;
	c->latest_keys_max = LATEST_KEYS_DEFAULT;
	c->data_index_bytes = 256ull << 20;	/* admin/dataidx.h DIDX_BYTES_DEFAULT */
	c->audit_spill_bytes = 256ull << 20;	/* admin/audit.h AUDIT_SPILL_BYTES_DEFAULT */
	c->memory_log_ms = CONFIG_MEMORY_LOG_MS;
	c->shm_max_rings = 4;
	c->shm_attach_timeout_ms = 10000;
	strcpy(c->http, "127.0.0.1:7480");
	c->stats_interval_s = 10;
	c->stats_queue_rows = 10000;
}

static const char config_usage[] =
	"usage: fanoutd [options]\n"
	"Distributes trading events: publishers and subscribers speak length-delimited\n"
	"protobuf (proto/fanout.proto) over TCP; events are kept in per-partition logs.\n"
	"\n"
	"  --listen HOST:PORT        address to serve (default 127.0.0.1:7400; port 0 = any)\n"
	"  --data-dir DIR            where partition logs live (default ./fanout-data)\n"
	"  --hot-dir DIR             where the segments being written live: DIR/fanout-<data\n"
	"                            dir's id>, DIR on a memory file system (default\n"
	"                            /run/fanout-hot if it is a huge-page tmpfs, else /dev/shm)\n"
	"  --ready-file PATH         write \"HOST:PORT\" here once listening\n"
	"  --rules FILE              routing rules applied at ingest, a JSON array (README)\n"
	"  --max-frame-bytes N       largest client frame accepted (default 1048576)\n"
	"  --max-subscriptions N     subscriptions per connection (default 256)\n"
	"  --max-connections N       concurrent connections per reactor (default 4096)\n"
	"  --reactors N              reactor threads, each pinned to a CPU (default: one per\n"
	"                            CPU this process may use but one, at least 1; at most 64)\n"
	"  --send-zc-bytes N         zero-copy sends (SENDMSG_ZC) of at least N bytes to peers\n"
	"                            on other hosts (default 65536; 0 = never)\n"
	"  --send-zc-inflight N      zero-copy sends per connection the peer has not yet\n"
	"                            acknowledged (1..16, default 8)\n"
	"  --shm-socket PATH         the Unix socket shared-memory rings are asked for on\n"
	"                            (default DATA_DIR/shm.sock; mode 0600)\n"
	"  --shm-group NAME          members of this group may have rings too (socket 0660)\n"
	"  --shm-max-bytes N         largest ring a subscriber may ask for (default 1073741824)\n"
	"  --shm-total-bytes N       all rings together (default: a quarter of RAM)\n"
	"  --shm-max-rings N         rings per connection, 1..16 (default 4)\n"
	"  --shm-attach-timeout-ms N a ring no reader attached to by then is removed and its\n"
	"                            subscription ended (default 10000)\n"
	"  --no-shm                  refuse shared-memory rings (no socket)\n"
	"  --segment-bytes N         log segment size, at least max-frame-bytes + 65536\n"
	"                            (default 67108864)\n"
	"  --fsync MODE              when appended events are made durable on disk\n"
	"                            (fdatasync): never, interval:MS (at most MS ms after\n"
	"                            they are written; default interval:100) or batch (a\n"
	"                            publish is acknowledged only once its events are synced)\n"
	"  --retention-mode M        retention_wins (default): a topic's retention deletes\n"
	"                            whole sealed segments even when a named subscription\n"
	"                            has not passed them (it is told of the gap);\n"
	"                            subscriptions_win: they stay until every one has\n"
	"  --auth MODE               required: every client presents a token (Hello.token,\n"
	"                            Authorization: Bearer); off (default): nobody does,\n"
	"                            allowed only while every listener is on loopback\n"
	"  --auth-bootstrap FILE     an admin token in FILE (mode 0600; made when absent)\n"
	"  --max-conn-events-per-s N   events one connection may publish a second (bursts\n"
	"                            of a second's worth; default 0 = no bound)\n"
	"  --max-conn-bytes-per-s N  the same in publish batch bytes\n"
	"  --tls-cert FILE           TLS with this certificate (PEM chain; with --tls-key)\n"
	"                            on the TCP port and the admin API (HTTPS); the Unix\n"
	"                            socket stays plain\n"
	"  --tls-key FILE            its private key (PEM)\n"
	"  --kafka-brokers LIST      the Kafka cluster (HOST:PORT,...) of the sources and\n"
	"                            the egress below\n"
	"  --kafka-source K=T[,group=G][,format=protobuf|json][,start=earliest|latest]\n"
	"                            Kafka topic K's events go to topic T (repeat, up to 8),\n"
	"                            each stored exactly once across restarts\n"
	"  --kafka-option KEY=VALUE  a librdkafka property of the consumers and the egress\n"
	"                            producer (security.protocol, sasl.*,\n"
	"                            session.timeout.ms, ...; repeat, up to 16)\n"
	"  --kafka-egress T=K[,T=K...]  produce every event stored in topic T to Kafka\n"
	"                            topic K (idempotent producer, acks=all; up to 8)\n"
	"  --kafka-ack local|kafka   a publish to an egress topic is acked once stored\n"
	"                            (local, default) or once in Kafka too (kafka)\n"
	"  --kafka-egress-lag-max N  with --kafka-ack kafka: refuse publishes (LOG_FULL)\n"
	"                            to a topic with N events not yet in Kafka (100000)\n"
	"  --kafka-ack-timeout-ms N  with --kafka-ack kafka: a batch Kafka has not\n"
	"                            confirmed in N ms is acked with NOT_DURABLE (5000)\n"
	"  --partitions N            partitions of auto-created topics (default 1)\n"
	"  --max-lag-bytes N         cut a subscriber this far behind, in bytes (default\n"
	"                            1073741824; 0 = never)\n"
	"  --max-lag-events N        the same in events (default 0 = never)\n"
	"  --close-grace-ms N        time a cut client has to read its Error (default 5000)\n"
	"  --topic NAME[:N]          declare a topic with N partitions (repeatable)\n"
	"  --no-auto-create          unknown topics are an error instead of created\n"
	"  --max-topics N            auto-creation stops at N topics (default 256)\n"
	"  --max-topics-per-connection N   topics one connection may create (default 64;\n"
	"                            0 = no bound)\n"
	"  --topic-create-rate N     topics one connection may create per second (default\n"
	"                            10, as a burst of 10 then 10 a second)\n"
	"  --reactor-memory-bytes N  each reactor's budget for what clients make it hold:\n"
	"                            partial frames, answers, publish batches, snapshots,\n"
	"                            subscriptions (default 268435456; at least 4194304 and\n"
	"                            twice --max-frame-bytes)\n"
	"  --frame-deadline-ms N     a client frame must arrive whole within N ms of its\n"
	"                            first byte, else the connection is cut (default 10000)\n"
	"  --latest-keys-max N       keys each partition's last-value table keeps for\n"
	"                            snapshots; past it the least recently updated goes\n"
	"                            (default 262144, at most 67108864)\n"
	"  --memory-log-ms N         log each reactor's memory use this often (default\n"
	"                            10000; 0 = never)\n"
	"  --quiet                   log warnings and errors only\n"
	"  --log-format text|json    server log lines as text (default) or JSON objects\n"
	"  --http HOST:PORT          admin REST API, /metrics, /healthz, /readyz (default\n"
	"                            127.0.0.1:7480; port 0 = any)\n"
	"  --no-http                 no admin HTTP server\n"
	"  --pg-url URL              keep topics, rules, subscriptions and statistics in\n"
	"                            PostgreSQL (default: $FANOUT_PG_URL, else SQLite in\n"
	"                            DIR/fanout.db)\n"
	"  --node-id NAME            this server's name among the nodes sharing a PostgreSQL\n"
	"                            store: its subscriptions' rows carry it (1..100 of\n"
	"                            [A-Za-z0-9._:/@-]; default HOSTNAME:DIR, DIR absolute)\n"
	"  --redis-url URL           keep the seeds' cache keys in Redis\n"
	"                            (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]; default\n"
	"                            $FANOUT_REDIS_URL, else no cache)\n"
	"  --data-index-bytes N      memory for the REST data API's index (latest, history,\n"
	"                            bars, decisions, executions; default 268435456; 0 =\n"
	"                            off: those endpoints answer 503)\n"
	"  --audit-spill-bytes N     audit rows kept in DIR/audit-spill.jsonl while the store\n"
	"                            is down or behind (default 268435456; 0 = none:\n"
	"                            dropped, counted)\n"
	"  --stats-interval N        a distribution_stats row per topic every N seconds\n"
	"                            (default 10)\n"
	"  --stats-queue-rows N      statistics rows kept while the store is down (default\n"
	"                            10000; the oldest go first)\n"
	"  --config FILE             settings as \"key = value\" lines, keys the flags above\n"
	"                            without \"--\"; flags given as well override the file\n"
	"  --help, --version\n";

/* Parses an unsigned decimal in [lo, hi]; returns 0 or -1. */
static int config_number(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || !isdigit((unsigned char)s[0]) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* --fsync never|interval:MS|batch. */
static int config_fsync(struct config *c, const char *arg, const char **why)
{
	uint64_t ms;

	*why = "--fsync must be never, batch or interval:MS with MS in 1..60000";
	if (strcmp(arg, "never") == 0) {
		c->fsync_mode = LOG_FSYNC_NEVER;
		return 0;
	}
	if (strcmp(arg, "batch") == 0) {
		c->fsync_mode = LOG_FSYNC_BATCH;
		return 0;
	}
	if (strncmp(arg, "interval:", 9) != 0 || config_number(arg + 9, 1, 60000, &ms) < 0)
		return -1;
	c->fsync_mode = LOG_FSYNC_INTERVAL;
	c->fsync_interval_ms = (uint32_t)ms;
	return 0;
}

int config_parse_topic(const char *arg, struct config_topic *t, const char **why)
{
	const char *colon = strrchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	uint64_t n = 1;

	if (len == 0 || len >= sizeof(t->name)) {
		*why = "topic name must be 1..200 bytes";
		return -1;
	}
	if (colon && config_number(colon + 1, 1, 1024, &n) < 0) {
		*why = "partitions must be a number in 1..1024";
		return -1;
	}
	memcpy(t->name, arg, len);
	t->name[len] = '\0';
	t->partitions = (uint32_t)n;
	return 0;
}

enum {
	OPT_LISTEN = 256, OPT_DATA_DIR, OPT_READY_FILE, OPT_RULES, OPT_MAX_FRAME, OPT_MAX_SUBS,
	OPT_MAX_CONNS, OPT_SEGMENT, OPT_PARTITIONS, OPT_MAX_LAG_BYTES, OPT_MAX_LAG_EVENTS,
	OPT_CLOSE_GRACE, OPT_TOPIC, OPT_NO_AUTO, OPT_MAX_TOPICS, OPT_QUIET,
	OPT_HELP, OPT_VERSION, OPT_CONFIG, OPT_REACTORS, OPT_SEND_ZC, OPT_SHM_SOCKET,
	OPT_SHM_GROUP, OPT_SHM_MAX, OPT_NO_SHM, OPT_HOT_DIR, OPT_SHM_TOTAL, OPT_SHM_RINGS,
	OPT_SHM_ATTACH_TIMEOUT, OPT_HTTP, OPT_NO_HTTP, OPT_PG_URL,
	OPT_STATS_INTERVAL, OPT_STATS_QUEUE, OPT_LOG_FORMAT, OPT_REACTOR_MEMORY,
	OPT_FRAME_DEADLINE, OPT_LATEST_KEYS, OPT_MEMORY_LOG, OPT_SEND_ZC_INFLIGHT,
	OPT_MAX_TOPICS_CONN, OPT_TOPIC_RATE, OPT_DATA_INDEX, OPT_AUDIT_SPILL, OPT_REDIS_URL,
	OPT_FSYNC, OPT_RETENTION_MODE, OPT_AUTH, OPT_AUTH_BOOTSTRAP, OPT_CONN_EVENTS, OPT_CONN_BYTES, OPT_TLS_CERT, OPT_TLS_KEY,
	OPT_KAFKA_BROKERS, OPT_KAFKA_SOURCE, OPT_KAFKA_OPTION, OPT_KAFKA_EGRESS, OPT_KAFKA_ACK,
	OPT_KAFKA_LAG, OPT_KAFKA_ACK_TIMEOUT, OPT_NODE_ID,
};

static const struct option config_options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
	{ "hot-dir", required_argument, NULL, OPT_HOT_DIR },
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "rules", required_argument, NULL, OPT_RULES },
	{ "max-frame-bytes", required_argument, NULL, OPT_MAX_FRAME },
	{ "max-subscriptions", required_argument, NULL, OPT_MAX_SUBS },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "reactors", required_argument, NULL, OPT_REACTORS },
	{ "send-zc-bytes", required_argument, NULL, OPT_SEND_ZC },
	{ "send-zc-inflight", required_argument, NULL, OPT_SEND_ZC_INFLIGHT },
	{ "shm-socket", required_argument, NULL, OPT_SHM_SOCKET },
	{ "shm-group", required_argument, NULL, OPT_SHM_GROUP },
	{ "shm-max-bytes", required_argument, NULL, OPT_SHM_MAX },
	{ "shm-total-bytes", required_argument, NULL, OPT_SHM_TOTAL },
	{ "shm-max-rings", required_argument, NULL, OPT_SHM_RINGS },
	{ "shm-attach-timeout-ms", required_argument, NULL, OPT_SHM_ATTACH_TIMEOUT },
	{ "no-shm", no_argument, NULL, OPT_NO_SHM },
	{ "segment-bytes", required_argument, NULL, OPT_SEGMENT },
	{ "fsync", required_argument, NULL, OPT_FSYNC },
	{ "retention-mode", required_argument, NULL, OPT_RETENTION_MODE },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "auth-bootstrap", required_argument, NULL, OPT_AUTH_BOOTSTRAP },
	{ "max-conn-events-per-s", required_argument, NULL, OPT_CONN_EVENTS },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "kafka-brokers", required_argument, NULL, OPT_KAFKA_BROKERS },
	{ "kafka-source", required_argument, NULL, OPT_KAFKA_SOURCE },
	{ "kafka-option", required_argument, NULL, OPT_KAFKA_OPTION },
	{ "kafka-egress", required_argument, NULL, OPT_KAFKA_EGRESS },
	{ "kafka-ack", required_argument, NULL, OPT_KAFKA_ACK },
	{ "kafka-egress-lag-max", required_argument, NULL, OPT_KAFKA_LAG },
	{ "kafka-ack-timeout-ms", required_argument, NULL, OPT_KAFKA_ACK_TIMEOUT },
	{ "max-conn-bytes-per-s", required_argument, NULL, OPT_CONN_BYTES },
	{ "partitions", required_argument, NULL, OPT_PARTITIONS },
	{ "max-lag-bytes", required_argument, NULL, OPT_MAX_LAG_BYTES },
	{ "max-lag-events", required_argument, NULL, OPT_MAX_LAG_EVENTS },
	{ "close-grace-ms", required_argument, NULL, OPT_CLOSE_GRACE },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "no-auto-create", no_argument, NULL, OPT_NO_AUTO },
	{ "max-topics", required_argument, NULL, OPT_MAX_TOPICS },
	{ "max-topics-per-connection", required_argument, NULL, OPT_MAX_TOPICS_CONN },
	{ "topic-create-rate", required_argument, NULL, OPT_TOPIC_RATE },
	{ "reactor-memory-bytes", required_argument, NULL, OPT_REACTOR_MEMORY },
	{ "frame-deadline-ms", required_argument, NULL, OPT_FRAME_DEADLINE },
	{ "latest-keys-max", required_argument, NULL, OPT_LATEST_KEYS },
	{ "memory-log-ms", required_argument, NULL, OPT_MEMORY_LOG },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "data-index-bytes", required_argument, NULL, OPT_DATA_INDEX },
	{ "audit-spill-bytes", required_argument, NULL, OPT_AUDIT_SPILL },
	{ "redis-url", required_argument, NULL, OPT_REDIS_URL },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "no-http", no_argument, NULL, OPT_NO_HTTP },
	{ "pg-url", required_argument, NULL, OPT_PG_URL },
	{ "node-id", required_argument, NULL, OPT_NODE_ID },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "stats-queue-rows", required_argument, NULL, OPT_STATS_QUEUE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ NULL, 0, NULL, 0 },
};

/* Copies a string option, refusing one that does not fit. */
static bool config_kafka_name_ok(const char *n, size_t len)
{
	if (len == 0 || len > 249)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("._-", n[i]))
			return false;
	return true;
}

/* One TOPIC=KAFKA_TOPIC pair of len bytes at spec into *e. Returns 0 or -EINVAL. */
static int config_egress_pair(struct config_kafka_egress *e, const char *spec, size_t len,
			      const char **why)
{
	const char *eq = memchr(spec, '=', len);
	size_t tlen = eq ? (size_t)(eq - spec) : 0;

	memset(e, 0, sizeof(*e));
	if (!eq) {
		*why = "--kafka-egress wants TOPIC=KAFKA_TOPIC[,TOPIC=KAFKA_TOPIC...]";
		return -EINVAL;
	}
	if (tlen >= sizeof(e->topic) || topic_name_check(spec, tlen, why) < 0) {
		*why = "--kafka-egress: the fanout topic is not a valid topic name (1..200 of "
		       "[A-Za-z0-9._/-], no pattern)";
		return -EINVAL;
	}
	/* It names the egress's subscription, "kafka-egress.<K>", within 128 bytes. */
	if (!config_kafka_name_ok(eq + 1, len - tlen - 1) || len - tlen - 1 > 115) {
		*why = "--kafka-egress: a Kafka topic here is 1..115 of [A-Za-z0-9._-] (it "
		       "names the egress's subscription)";
		return -EINVAL;
	}
	memcpy(e->topic, spec, tlen);
	memcpy(e->kafka_topic, eq + 1, len - tlen - 1);
	return 0;
}

int config_kafka_egress(struct config *c, const char *spec, const char **why)
{
	while (*spec) {
		size_t len = strcspn(spec, ",");
		struct config_kafka_egress e;

		if (config_egress_pair(&e, spec, len, why) < 0)
			return -EINVAL;
		for (uint32_t i = 0; i < c->nkafka_egress; i++)
			if (!strcmp(c->kafka_egress[i].topic, e.topic)) {
				*why = "--kafka-egress: a topic is produced to one Kafka topic "
				       "only (named twice)";
				return -EINVAL;
			}
		if (c->nkafka_egress >= CONFIG_KAFKA_EGRESS_MAX) {
			*why = "--kafka-egress: at most 8 topics";
			return -EINVAL;
		}
		c->kafka_egress[c->nkafka_egress++] = e;
		spec += len;
		if (*spec == ',' && !*++spec) {
			*why = "--kafka-egress wants TOPIC=KAFKA_TOPIC[,TOPIC=KAFKA_TOPIC...]";
			return -EINVAL;
		}
	}
	if (!c->nkafka_egress) {
		*why = "--kafka-egress wants TOPIC=KAFKA_TOPIC[,TOPIC=KAFKA_TOPIC...]";
		return -EINVAL;
	}
	return 0;
}

int config_kafka_source(struct config_kafka_source *k, const char *spec, const char **why)
{
	const char *eq = strchr(spec, '='), *p, *end, *topic_why = NULL;
	size_t len;

	memset(k, 0, sizeof(*k));
	snprintf(k->group, sizeof(k->group), "fanout");
	*why = "--kafka-source wants KAFKA_TOPIC=TOPIC[,group=G][,format=protobuf|json]"
	       "[,start=earliest|latest]";
	if (!eq)
		return -EINVAL;
	len = (size_t)(eq - spec);
	if (!config_kafka_name_ok(spec, len)) {
		*why = "--kafka-source: a Kafka topic is 1..249 of [A-Za-z0-9._-]";
		return -EINVAL;
	}
	memcpy(k->kafka_topic, spec, len);
	p = eq + 1;
	end = strchr(p, ',');
	len = end ? (size_t)(end - p) : strlen(p);
	if (topic_name_check(p, len, &topic_why) < 0) {
		*why = "--kafka-source: the fanout topic is not a valid topic name (1..200 of "
		       "[A-Za-z0-9._/-], not starting with '/' or '.')";
		return -EINVAL;
	}
	memcpy(k->topic, p, len);
	for (p = end; p; p = end) {
		const char *opt = p + 1, *val;

		end = strchr(opt, ',');
		len = end ? (size_t)(end - opt) : strlen(opt);
		val = memchr(opt, '=', len);
		if (!val)
			return -EINVAL;
		val++;
		len -= (size_t)(val - opt);
		if (!strncmp(opt, "group=", 6)) {
			if (!config_kafka_name_ok(val, len) || len >= sizeof(k->group)) {
				*why = "--kafka-source: group is 1..127 of [A-Za-z0-9._-]";
				return -EINVAL;
			}
			memcpy(k->group, val, len);
			k->group[len] = '\0';
		} else if (!strncmp(opt, "format=", 7)) {
			if (len == 8 && !strncmp(val, "protobuf", 8))
				k->format = CONFIG_KAFKA_PROTOBUF;
			else if (len == 4 && !strncmp(val, "json", 4))
				k->format = CONFIG_KAFKA_JSON;
			else {
				*why = "--kafka-source: format is protobuf or json";
				return -EINVAL;
			}
		} else if (!strncmp(opt, "start=", 6)) {
			if ((len == 8 && !strncmp(val, "earliest", 8)) ||
			    (len == 6 && !strncmp(val, "latest", 6)))
				k->latest = len == 6;
			else {
				*why = "--kafka-source: start is earliest or latest";
				return -EINVAL;
			}
		} else {
			*why = "--kafka-source: options are group=, format= and start=";
			return -EINVAL;
		}
	}
	/* They name its producers, "kafka.<group>.<topic>.<partition>", which must fit a
	 * producer id (51 bytes under auth). */
	if (strlen(k->group) + strlen(k->kafka_topic) > 38) {
		*why = "--kafka-source: the group and the Kafka topic together may have at most "
		       "38 characters (they name the source's producers)";
		return -EINVAL;
	}
	return 0;
}

/* --node-id: a name that logs, URLs and SQL text show as is. */
static bool config_node_id_ok(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._:/@-", s[i]))
			return false;
	return n >= 1 && n < CONFIG_NODE_ID_BYTES;
}

static int config_string(char *dst, size_t cap, const char *arg)
{
	size_t n = strlen(arg);

	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, arg, n + 1);
	return 0;
}

static int config_apply_bounds(struct config *c, int opt, const char *arg, FILE *out,
			       const char **why);
static int config_apply_admin(struct config *c, int opt, const char *arg, const char **why);

/* Applies one option; returns 0, 1 (help/version printed) or -1 with *why set. */
static int config_apply(struct config *c, int opt, const char *arg, FILE *out,
			const char **why)
{
	uint64_t n;

	switch (opt) {
	case OPT_LISTEN:
		*why = "--listen wants HOST:PORT";
		return strchr(arg, ':') ? config_string(c->listen, sizeof(c->listen), arg) : -1;
	case OPT_DATA_DIR:
		*why = "--data-dir is empty or too long";
		return config_string(c->data_dir, sizeof(c->data_dir), arg);
	case OPT_READY_FILE:
		*why = "--ready-file is empty or too long";
		return config_string(c->ready_file, sizeof(c->ready_file), arg);
	case OPT_RULES:
		*why = "--rules is empty or too long";
		return config_string(c->rules_file, sizeof(c->rules_file), arg);
	case OPT_MAX_FRAME:
		*why = "--max-frame-bytes must be in 1024..67108864";
		if (config_number(arg, 1024, FRAME_BYTES_LIMIT, &n) < 0)
			return -1;
		c->max_frame_bytes = (uint32_t)n;
		return 0;
	case OPT_MAX_SUBS:
		*why = "--max-subscriptions must be in 1..65536";
		if (config_number(arg, 1, 65536, &n) < 0)
			return -1;
		c->max_subscriptions = (uint32_t)n;
		return 0;
	case OPT_MAX_CONNS:
		*why = "--max-connections must be in 1..1048576";
		if (config_number(arg, 1, 1u << 20, &n) < 0)
			return -1;
		c->max_connections = (uint32_t)n;
		return 0;
	case OPT_REACTORS:
		*why = "--reactors must be in 1..64";
		if (config_number(arg, 1, 64, &n) < 0)
			return -1;
		c->reactors = (uint32_t)n;
		return 0;
	case OPT_HOT_DIR:
		*why = "--hot-dir is empty or too long";
		return config_string(c->hot_dir, sizeof(c->hot_dir), arg);
	case OPT_SHM_SOCKET:
		*why = "--shm-socket is empty or too long";
		return config_string(c->shm_socket, sizeof(c->shm_socket), arg);
	case OPT_SHM_GROUP:
		*why = "--shm-group is empty or too long";
		return config_string(c->shm_group, sizeof(c->shm_group), arg);
	case OPT_SHM_MAX:
		*why = "--shm-max-bytes must be in 65536..68719476736";
		return config_number(arg, 65536, 64ull << 30, &c->shm_max_bytes);
	case OPT_SHM_TOTAL:
		*why = "--shm-total-bytes must be in 65536..1099511627776";
		return config_number(arg, 65536, 1ull << 40, &c->shm_total_bytes);
	case OPT_SHM_RINGS:
		*why = "--shm-max-rings must be in 1..16";
		if (config_number(arg, 1, CONFIG_SHM_RINGS_MAX, &n) < 0)
			return -1;
		c->shm_max_rings = (uint32_t)n;
		return 0;
	case OPT_SHM_ATTACH_TIMEOUT:
		*why = "--shm-attach-timeout-ms must be in 100..3600000";
		if (config_number(arg, 100, 3600000, &n) < 0)
			return -1;
		c->shm_attach_timeout_ms = (uint32_t)n;
		return 0;
	case OPT_NO_SHM:
		c->no_shm = true;
		return 0;
	case OPT_SEND_ZC:
		*why = "--send-zc-bytes must be in 0..1073741824 (0 = never)";
		if (config_number(arg, 0, 1u << 30, &n) < 0)
			return -1;
		c->send_zc_bytes = (uint32_t)n;
		return 0;
	case OPT_SEND_ZC_INFLIGHT:
		*why = "--send-zc-inflight must be in 1..16";
		if (config_number(arg, 1, CONFIG_SEND_ZC_INFLIGHT_MAX, &n) < 0)
			return -1;
		c->send_zc_inflight = (uint32_t)n;
		return 0;
	case OPT_SEGMENT:
		*why = "--segment-bytes must be in 65536..4294967295";
		return config_number(arg, LOG_SEGMENT_BYTES_MIN, UINT32_MAX, &c->segment_bytes);
	case OPT_FSYNC:
		return config_fsync(c, arg, why);
	case OPT_RETENTION_MODE:
		*why = "--retention-mode must be retention_wins or subscriptions_win";
		if (strcmp(arg, "retention_wins") && strcmp(arg, "subscriptions_win"))
			return -EINVAL;
		c->retention_subscriptions_win = strcmp(arg, "subscriptions_win") == 0;
		return 0;
	case OPT_AUTH:
		*why = "--auth must be required or off";
		if (strcmp(arg, "required") && strcmp(arg, "off"))
			return -EINVAL;
		c->auth_required = strcmp(arg, "required") == 0;
		return 0;
	case OPT_TLS_CERT:
		*why = "--tls-cert wants a PEM file's path";
		return config_string(c->tls_cert, sizeof(c->tls_cert), arg);
	case OPT_TLS_KEY:
		*why = "--tls-key wants a PEM file's path";
		return config_string(c->tls_key, sizeof(c->tls_key), arg);
	case OPT_CONN_EVENTS:
		*why = "--max-conn-events-per-s must be a number of events (0 = no bound)";
		return config_number(arg, 0, UINT64_MAX, &c->conn_events_per_s);
	case OPT_CONN_BYTES:
		*why = "--max-conn-bytes-per-s must be a number of bytes (0 = no bound)";
		return config_number(arg, 0, UINT64_MAX, &c->conn_bytes_per_s);
	case OPT_KAFKA_BROKERS:
		*why = "--kafka-brokers wants HOST:PORT[,HOST:PORT...]";
		if (!arg[0] || strpbrk(arg, " \t\r\n"))
			return -EINVAL;
		return config_string(c->kafka_brokers, sizeof(c->kafka_brokers), arg);
	case OPT_KAFKA_OPTION:
		*why = "--kafka-option wants KEY=VALUE (a librdkafka property; at most 16)";
		if (c->nkafka_options >= 16 || !strchr(arg, '=') || arg[0] == '=')
			return -EINVAL;
		/* What exactly-once stands on, or what other flags say, is not to be
		 * overridden. */
		for (const char *const *k = (const char *const[]){ "group.id=",
		     "enable.auto.commit=", "enable.auto.offset.store=", "bootstrap.servers=",
		     "auto.offset.reset=", "partition.assignment.strategy=",
		     "group.protocol=", "isolation.level=", NULL }; *k; k++)
			if (!strncmp(arg, *k, strlen(*k))) {
				*why = "--kafka-option: group.id, bootstrap.servers and "
				       "auto.offset.reset are set by --kafka-source and "
				       "--kafka-brokers; offset commits and the assignment "
				       "strategy are fanoutd's own";
				return -EINVAL;
			}
		return config_string(c->kafka_options[c->nkafka_options++],
				     sizeof(c->kafka_options[0]), arg);
	case OPT_KAFKA_EGRESS:
		return config_kafka_egress(c, arg, why);
	case OPT_KAFKA_ACK:
		*why = "--kafka-ack is local or kafka";
		if (strcmp(arg, "local") && strcmp(arg, "kafka"))
			return -EINVAL;
		c->kafka_ack_kafka = !strcmp(arg, "kafka");
		return 0;
	case OPT_KAFKA_LAG:
		*why = "--kafka-egress-lag-max must be a number of events in 1..1000000000";
		return config_number(arg, 1, 1000000000, &c->kafka_egress_lag_max);
	case OPT_KAFKA_ACK_TIMEOUT:
		*why = "--kafka-ack-timeout-ms must be in 1..600000";
		return config_number(arg, 1, 600000, &c->kafka_ack_timeout_ms);
	case OPT_KAFKA_SOURCE:
		if (c->nkafka >= CONFIG_KAFKA_SOURCES_MAX) {
			*why = "--kafka-source: at most 8";
			return -EINVAL;
		}
		if (config_kafka_source(&c->kafka[c->nkafka], arg, why) < 0)
			return -EINVAL;
		/* One consumer per (topic, group): two would share producer ids and metrics. */
		for (uint32_t i = 0; i < c->nkafka; i++) {
			if (strcmp(c->kafka[i].kafka_topic, c->kafka[c->nkafka].kafka_topic) == 0 &&
			    strcmp(c->kafka[i].group, c->kafka[c->nkafka].group) == 0) {
				*why = "--kafka-source: a Kafka topic is consumed once per group "
				       "(the same topic and group named twice)";
				return -EINVAL;
			}
		}
		c->nkafka++;
		return 0;
	case OPT_AUTH_BOOTSTRAP:
		*why = "--auth-bootstrap wants a file's path";
		return config_string(c->auth_bootstrap, sizeof(c->auth_bootstrap), arg);
	case OPT_PARTITIONS:
		*why = "--partitions must be in 1..1024";
		if (config_number(arg, 1, 1024, &n) < 0)
			return -1;
		c->default_partitions = (uint32_t)n;
		return 0;
	case OPT_MAX_LAG_BYTES:
		*why = "--max-lag-bytes must be a number of bytes (0 = no bound)";
		return config_number(arg, 0, UINT64_MAX, &c->max_lag_bytes);
	case OPT_MAX_LAG_EVENTS:
		*why = "--max-lag-events must be a number of events (0 = no bound)";
		return config_number(arg, 0, UINT64_MAX, &c->max_lag_events);
	case OPT_CLOSE_GRACE:
		*why = "--close-grace-ms must be in 0..3600000";
		if (config_number(arg, 0, 3600000, &n) < 0)
			return -1;
		c->close_grace_ms = (uint32_t)n;
		return 0;
	case OPT_TOPIC:
		if (c->ntopics == CONFIG_TOPICS_MAX) {
			*why = "too many --topic options (at most 64)";
			return -1;
		}
		if (config_parse_topic(arg, &c->topics[c->ntopics], why) < 0)
			return -1;
		c->ntopics++;
		return 0;
	case OPT_NO_AUTO:
		c->auto_create = false;
		return 0;
	case OPT_MAX_TOPICS:
		*why = "--max-topics must be in 1..1000000";
		if (config_number(arg, 1, 1000000, &n) < 0)
			return -1;
		c->max_topics = (uint32_t)n;
		return 0;
	case OPT_MAX_TOPICS_CONN:
		*why = "--max-topics-per-connection must be in 0..1000000 (0 = no bound)";
		if (config_number(arg, 0, 1000000, &n) < 0)
			return -1;
		c->max_topics_per_connection = (uint32_t)n;
		return 0;
	case OPT_TOPIC_RATE:
		*why = "--topic-create-rate must be in 1..1000000 (topics a second)";
		if (config_number(arg, 1, 1000000, &n) < 0)
			return -1;
		c->topic_create_rate = (uint32_t)n;
		return 0;
	case OPT_QUIET:
		c->quiet = true;
		return 0;
	default:
		return config_apply_bounds(c, opt, arg, out, why);
	}
}

/* The bounds on what clients can make the server hold (issue 11, defect 8). */
static int config_apply_bounds(struct config *c, int opt, const char *arg, FILE *out,
			       const char **why)
{
	uint64_t n;

	switch (opt) {
	case OPT_REACTOR_MEMORY:
		*why = "--reactor-memory-bytes must be in 4194304..1099511627776";
		return config_number(arg, BUDGET_BYTES_MIN, 1ull << 40, &c->reactor_memory_bytes);
	case OPT_FRAME_DEADLINE:
		*why = "--frame-deadline-ms must be in 100..3600000";
		if (config_number(arg, 100, 3600000, &n) < 0)
			return -1;
		c->frame_deadline_ms = (uint32_t)n;
		return 0;
	case OPT_LATEST_KEYS:
		*why = "--latest-keys-max must be in 1..67108864";
		if (config_number(arg, 1, LATEST_KEYS_MAX, &n) < 0)
			return -1;
		c->latest_keys_max = (uint32_t)n;
		return 0;
	case OPT_MEMORY_LOG:
		*why = "--memory-log-ms must be in 0..86400000 (0 = never)";
		if (config_number(arg, 0, 86400000, &n) < 0)
			return -1;
		c->memory_log_ms = (uint32_t)n;
		return 0;
	case OPT_HELP:
		fputs(config_usage, out);
		return 1;
	case OPT_VERSION:
		fprintf(out, "fanoutd %s\n", FANOUT_VERSION);
		return 1;
	default:
		return config_apply_admin(c, opt, arg, why);
	}
}

/* The admin plane's options (admin/). */
static int config_apply_admin(struct config *c, int opt, const char *arg, const char **why)
{
	uint64_t n;

	switch (opt) {
	case OPT_LOG_FORMAT:
		*why = "--log-format must be text or json";
		if (strcmp(arg, "text") != 0 && strcmp(arg, "json") != 0)
			return -1;
		c->log_json = strcmp(arg, "json") == 0;
		return 0;
	case OPT_HTTP:
		*why = "--http wants HOST:PORT";
		c->http_set = true;
		c->no_http = false;
		return strchr(arg, ':') ? config_string(c->http, sizeof(c->http), arg) : -1;
	case OPT_NO_HTTP:
		c->no_http = true;
		return 0;
	case OPT_REDIS_URL:
		*why = "--redis-url is too long";
		return config_string(c->redis_url, sizeof(c->redis_url), arg);
	case OPT_DATA_INDEX:
		*why = "--data-index-bytes must be 0 (off) or in 1048576..1099511627776";
		if (config_number(arg, 0, 1ull << 40, &c->data_index_bytes) < 0)
			return -1;
		return c->data_index_bytes == 0 || c->data_index_bytes >= (1u << 20) ? 0 : -1;
	case OPT_AUDIT_SPILL:
		*why = "--audit-spill-bytes must be in 0..1099511627776";
		return config_number(arg, 0, 1ull << 40, &c->audit_spill_bytes);
	case OPT_PG_URL:
		*why = "--pg-url is empty or too long";
		return config_string(c->pg_url, sizeof(c->pg_url), arg);
	case OPT_NODE_ID:
		*why = "--node-id must be 1..100 of [A-Za-z0-9._:/@-]";
		return config_node_id_ok(arg) ? config_string(c->node_id, sizeof(c->node_id), arg)
					      : -1;
	case OPT_STATS_INTERVAL:
		*why = "--stats-interval must be in 1..86400 seconds";
		if (config_number(arg, 1, 86400, &n) < 0)
			return -1;
		c->stats_interval_s = (uint32_t)n;
		return 0;
	case OPT_STATS_QUEUE:
		*why = "--stats-queue-rows must be in 1..10000000";
		if (config_number(arg, 1, 10000000, &n) < 0)
			return -1;
		c->stats_queue_rows = (uint32_t)n;
		return 0;
	default:
		*why = "unknown option (see --help)";
		return -1;
	}
}

/* Trims spaces and tabs from both ends of [s, s+strlen) in place; returns the start. */
static char *config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
			   end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Applies one "key = value" (or bare "key") line of a config file. */
static int config_file_line(struct config *c, char *line, FILE *out, const char **why)
{
	char *eq = strchr(line, '='), *key = line, *val = NULL;
	const struct option *o;

	if (eq) {
		*eq = '\0';
		val = config_trim(eq + 1);
	}
	key = config_trim(key);
	for (o = config_options; o->name && strcmp(o->name, key); o++)
		;
	if (!o->name || o->val == OPT_CONFIG || o->val == OPT_HELP || o->val == OPT_VERSION) {
		*why = "unknown key (keys are the long flags without '--')";
		return -1;
	}
	if (o->has_arg == no_argument) {
		if (val && strcmp(val, "true") && strcmp(val, "yes") && strcmp(val, "1")) {
			*why = "a switch takes no value, or true";
			return -1;
		}
		return config_apply(c, o->val, NULL, out, why);
	}
	if (!val || !*val) {
		*why = "needs a value: key = value";
		return -1;
	}
	return config_apply(c, o->val, val, out, why);
}

int config_load_file(struct config *c, const char *path, FILE *out, FILE *err)
{
	char line[CONFIG_PATH_MAX + 128];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(err, "fanoutd: --config %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *l = config_trim(line);
		const char *why = "invalid line";

		lineno++;
		if (!*l || *l == '#')
			continue;
		if (strlen(line) == sizeof(line) - 1 || config_file_line(c, l, out, &why) < 0) {
			if (strlen(line) == sizeof(line) - 1)
				why = "line too long";
			fprintf(err, "fanoutd: %s:%u: %s (got '%s')\n", path, lineno, why, l);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

bool config_loopback(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	size_t hl = colon ? (size_t)(colon - hostport) : strlen(hostport);
	char host[128];
	struct in_addr v4;

	if (hl >= 2 && hostport[0] == '[' && hostport[hl - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), hostport + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, hostport);
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return true;
	return inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

int config_parse_args(struct config *c, int argc, char **argv, FILE *out, FILE *err)
{
	int opt, rc;

	/* The file first, wherever --config stands: flags override what it says. */
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", config_options, NULL)) != -1)
		if (opt == OPT_CONFIG && config_load_file(c, optarg, out, err) < 0)
			return -1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", config_options, NULL)) != -1) {
		const char *why = "invalid option";

		if (opt == OPT_CONFIG)
			continue;
		if (opt == '?') {
			fprintf(err, "fanoutd: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return -1;
		}
		rc = config_apply(c, opt, optarg, out, &why);
		if (rc < 0) {
			fprintf(err, "fanoutd: %s (got '%s')\n", why, optarg ? optarg : "");
			return -1;
		}
		if (rc > 0)
			return 1;
	}
	if (optind < argc) {
		fprintf(err, "fanoutd: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	/* Any event a client can send must fit in one segment once stamped, so an append
	 * never fails for size half-way through a valid batch. */
	if (c->segment_bytes < (uint64_t)c->max_frame_bytes + CONFIG_SEGMENT_SLACK) {
		fprintf(err, "fanoutd: --segment-bytes (%" PRIu64 ") must be at least "
			"--max-frame-bytes (%u) + %u, so that every accepted event fits in a "
			"segment\n", c->segment_bytes, c->max_frame_bytes, CONFIG_SEGMENT_SLACK);
		return -1;
	}
	if (!c->kafka_brokers[0] != !(c->nkafka || c->nkafka_egress)) {
		fprintf(err, "fanoutd: %s\n", c->nkafka ? "--kafka-source needs --kafka-brokers"
			: c->nkafka_egress ? "--kafka-egress needs --kafka-brokers"
			: "--kafka-brokers needs at least one --kafka-source KAFKA_TOPIC=TOPIC or "
			  "--kafka-egress TOPIC=KAFKA_TOPIC");
		return -1;
	}
	if (c->kafka_ack_kafka && !c->nkafka_egress) {
		fprintf(err, "fanoutd: --kafka-ack kafka waits for the egress to Kafka: give "
			"--kafka-egress TOPIC=KAFKA_TOPIC\n");
		return -1;
	}
	if (c->nkafka_egress && c->no_shm) {
		fprintf(err, "fanoutd: --kafka-egress reads through the server's Unix socket, "
			"which --no-shm turns off\n");
		return -1;
	}
	if (c->nkafka_egress && c->auth_required && !c->auth_bootstrap[0]) {
		fprintf(err, "fanoutd: --kafka-egress with --auth required subscribes with the "
			"--auth-bootstrap token: give --auth-bootstrap FILE\n");
		return -1;
	}
	if (c->nkafka && c->no_shm) {
		fprintf(err, "fanoutd: --kafka-source publishes through the server's Unix socket, "
			"which --no-shm turns off\n");
		return -1;
	}
	if (c->nkafka && c->auth_required && !c->auth_bootstrap[0]) {
		fprintf(err, "fanoutd: --kafka-source with --auth required publishes with the "
			"--auth-bootstrap token: give --auth-bootstrap FILE\n");
		return -1;
	}
	if (!c->tls_cert[0] != !c->tls_key[0]) {
		fprintf(err, "fanoutd: --tls-cert and --tls-key go together (got only %s)\n",
			c->tls_cert[0] ? "--tls-cert" : "--tls-key");
		return -1;
	}
	/* Without auth, anyone who reaches a port may publish, read and administer. */
	if (!c->auth_required && (!config_loopback(c->listen) ||
				  (!c->no_http && !config_loopback(c->http)))) {
		fprintf(err, "fanoutd: --auth off is allowed only when every listener is on "
			"loopback, and %s %s is not: pass --auth required (with --auth-bootstrap "
			"FILE for the first admin token), or listen on 127.0.0.1\n",
			config_loopback(c->listen) ? "--http" : "--listen",
			config_loopback(c->listen) ? c->http : c->listen);
		return -1;
	}
	/* A client may hold one frame in full, and an answer beside it. */
	if (c->reactor_memory_bytes < 2ull * c->max_frame_bytes) {
		fprintf(err, "fanoutd: --reactor-memory-bytes (%" PRIu64 ") must be at least twice "
			"--max-frame-bytes (%u): a client's frame and its answer must fit\n",
			c->reactor_memory_bytes, c->max_frame_bytes);
		return -1;
	}
	return 0;
}
