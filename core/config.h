/* core/config.h — fanoutd's settings: defaults, command-line flags, validation.
 * Parsed once at start-up on the main thread; read-only afterwards. */
#ifndef FANOUT_CORE_CONFIG_H
#define FANOUT_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_TOPICS_MAX 64u
#define CONFIG_PATH_MAX   400u
#define CONFIG_SEGMENT_SLACK 65536u	/* segment room beyond the largest client frame */
/* Zero-copy pays only for large sends (the kernel's msg_zerocopy notes put the break-even
 * around 10 KB; notification and page pinning cost the rest): not measured on this
 * project's machines, which have no path off the host. */
#define CONFIG_SEND_ZC_BYTES 65536u
/* A frame that has not arrived whole 10 s after its first byte is a stalled or
 * crawling client holding up to --max-frame-bytes: at 1 MiB that is 100 KiB/s. */
#define CONFIG_FRAME_DEADLINE_MS 10000u
#define CONFIG_MEMORY_LOG_MS 10000u
#define CONFIG_SHM_RINGS_MAX 16u	/* --shm-max-rings bound (net/session.h passes their
					 * descriptors per answer buffer) */
/* Zero-copy sends a connection keeps waiting for the peer's ACK (their notifications):
 * throughput to a peer is at most this many sends (each up to 256 KiB) per round trip. */
#define CONFIG_SEND_ZC_INFLIGHT 8u
#define CONFIG_SEND_ZC_INFLIGHT_MAX 16u	/* REACTOR_ZC_INFLIGHT_MAX */
/* Topics clients may create. Each partition holds a hot segment from its creation: 2
 * mappings, 2 descriptors (4 once it has data) and its first 256 KiB of frames and of
 * index faulted in, which on the default huge-page hot file system is two 2 MiB pages:
 * 4 MiB (512 KiB on 4 KiB pages). 256 one-partition topics: at most 1 GiB of hot
 * memory, ~1,000 descriptors, ~500 of the 65,530 mappings Linux allows by default.
 * The seeds' topics are per data kind and asset class: tens, not thousands. */
#define CONFIG_MAX_TOPICS 256u
#define CONFIG_FSYNC_INTERVAL_MS 100u	/* --fsync's default: interval:100 */
#define CONFIG_MAX_TOPICS_PER_CONNECTION 64u	/* a quarter of them */
#define CONFIG_TOPIC_CREATE_RATE 10u	/* per second per connection, burst as many */

struct config_topic {
	char name[201];
	uint32_t partitions;
};

/* --kafka-source: one Kafka topic consumed into one fanout topic (tools/fanoutd_kafka.c). */
#define CONFIG_KAFKA_SOURCES_MAX 8u
#define CONFIG_NODE_ID_BYTES 101u	/* --node-id: 1..100 bytes */
enum config_kafka_format { CONFIG_KAFKA_PROTOBUF = 0, CONFIG_KAFKA_JSON };

struct config_kafka_source {
	char kafka_topic[250];		/* Kafka's names: 1..249 of [A-Za-z0-9._-] */
	char topic[201];		/* the fanout topic its events go to */
	char group[128];		/* the consumer group (default "fanout") */
	enum config_kafka_format format;	/* payloads: an Event, or JSON as fanout-pub
						 * --file reads */
	bool latest;			/* a group with no committed offset starts at the
					 * end, not the beginning */
};

/* --kafka-egress: one fanout topic produced to one Kafka topic (tools/fanoutd_egress.c). */
#define CONFIG_KAFKA_EGRESS_MAX 8u
#define CONFIG_KAFKA_LAG_DEFAULT 100000u	/* --kafka-egress-lag-max */
#define CONFIG_KAFKA_ACK_TIMEOUT_MS 5000u	/* --kafka-ack-timeout-ms */

struct config_kafka_egress {
	char topic[201];		/* the fanout topic (a name, not a pattern) */
	char kafka_topic[250];		/* Kafka's names: 1..249 of [A-Za-z0-9._-] */
};

struct config {
	char listen[128];		/* HOST:PORT; port 0 picks a free one */
	char data_dir[CONFIG_PATH_MAX];
	char ready_file[CONFIG_PATH_MAX];	/* "" = none */
	char rules_file[CONFIG_PATH_MAX];	/* routing rules (JSON); "" = none */
	uint32_t max_frame_bytes;	/* largest client frame body accepted */
	uint32_t max_subscriptions;	/* per connection */
	uint32_t max_connections;	/* per reactor */
	uint32_t reactors;		/* reactor threads; 0 = one per CPU we may run on */
	uint32_t send_zc_bytes;		/* zero-copy sends to remote peers from this size;
					 * 0 = never */
	uint32_t send_zc_inflight;	/* zero-copy sends awaiting the peer, per connection */
	bool no_shm;			/* refuse shared-memory rings */
	char hot_dir[CONFIG_PATH_MAX];	/* hot segments' root; "" = under /dev/shm by id */
	char shm_socket[CONFIG_PATH_MAX];	/* the Unix socket rings are served on;
						 * "" = DATA_DIR/shm.sock */
	char shm_group[64];		/* its members may have rings too; "" = owner only */
	uint64_t shm_max_bytes;		/* largest ring a subscriber may ask for */
	uint64_t shm_total_bytes;	/* all rings together; 0 = a quarter of RAM */
	uint32_t shm_max_rings;		/* rings per connection */
	uint32_t shm_attach_timeout_ms;	/* a ring nobody attached to by then is removed */
	uint64_t segment_bytes;		/* partition log segment size */
	int fsync_mode;			/* --fsync: LOG_FSYNC_* (core/log.h) */
	bool retention_subscriptions_win;	/* --retention-mode subscriptions_win */
	uint32_t fsync_interval_ms;	/* interval:MS */
	uint32_t default_partitions;	/* for auto-created topics */
	uint64_t max_lag_events;	/* a subscription further behind is cut; 0 = no bound */
	uint64_t max_lag_bytes;		/* the same in frame bytes; 0 = no bound */
	uint32_t close_grace_ms;	/* time a peer has to take a closing Error */
	bool auto_create;		/* create unknown topics on first use */
	uint32_t max_topics;		/* auto-creation refuses past this many topics */
	uint32_t max_topics_per_connection;	/* topics one connection may create; 0 = no bound */
	uint32_t topic_create_rate;	/* topics one connection may create per second */
	bool quiet;			/* no info logs, only warnings and errors */
	uint64_t reactor_memory_bytes;	/* each reactor's budget for client-caused memory */
	uint32_t frame_deadline_ms;	/* a partial client frame older than this is cut */
	uint32_t latest_keys_max;	/* keys per partition's last-value table */
	uint32_t memory_log_ms;		/* each budget's use logged this often; 0 = never */
	char http[128];			/* admin HTTP HOST:PORT */
	bool http_set;			/* --http given: failing to bind it is fatal */
	bool no_http;			/* no admin HTTP server */
	char pg_url[CONFIG_PATH_MAX];	/* PostgreSQL store; "" = SQLite in the data dir */
	char node_id[CONFIG_NODE_ID_BYTES];	/* --node-id; "" = HOSTNAME:DATA_DIR
						 * (admin/node.h) */
	uint64_t data_index_bytes;	/* the REST data API's index; 0 = off */
	uint64_t audit_spill_bytes;	/* audit rows spilled while the store is down */
	char redis_url[CONFIG_PATH_MAX];	/* Redis cache; "" = none */
	uint32_t stats_interval_s;	/* distribution_stats rows every this many seconds */
	uint32_t stats_queue_rows;	/* rows kept while the store is down */
	bool log_json;			/* --log-format json */
	bool auth_required;		/* --auth required (core/auth.h) */
	uint64_t conn_events_per_s;	/* a connection's publish rate bound; 0 = none */
	uint64_t conn_bytes_per_s;	/* the same in batch bytes */
	char auth_bootstrap[CONFIG_PATH_MAX];	/* --auth-bootstrap: an admin token's file */
	char tls_cert[CONFIG_PATH_MAX];	/* --tls-cert: the admin API over HTTPS (PEM) */
	char tls_key[CONFIG_PATH_MAX];	/* --tls-key: its private key (PEM) */
	uint32_t ntopics;
	struct config_topic topics[CONFIG_TOPICS_MAX];	/* declared with --topic */
	char kafka_brokers[512];	/* --kafka-brokers HOST:PORT,...; "" = no Kafka */
	uint32_t nkafka_options;
	char kafka_options[16][256];	/* --kafka-option KEY=VALUE: librdkafka's own */
	uint32_t nkafka;
	struct config_kafka_source kafka[CONFIG_KAFKA_SOURCES_MAX];	/* --kafka-source */
	uint32_t nkafka_egress;
	struct config_kafka_egress kafka_egress[CONFIG_KAFKA_EGRESS_MAX];	/* --kafka-egress */
	bool kafka_ack_kafka;		/* --kafka-ack kafka: publish acks wait for Kafka */
	uint64_t kafka_egress_lag_max;	/* --kafka-egress-lag-max: events of an egress
					 * topic not yet in Kafka past which kafka-ack
					 * publishes to it are refused (LOG_FULL) */
	uint64_t kafka_ack_timeout_ms;	/* --kafka-ack-timeout-ms: a batch waits this long
					 * for Kafka, then is acked with NOT_DURABLE */
};

/* Parses a --kafka-source spec, KAFKA_TOPIC=TOPIC[,group=G][,format=protobuf|json]
 * [,start=earliest|latest], into *k. Returns 0, or -EINVAL with *why saying what is
 * wrong (static text). */
int config_kafka_source(struct config_kafka_source *k, const char *spec, const char **why);

/* Parses a --kafka-egress spec, TOPIC=KAFKA_TOPIC[,TOPIC=KAFKA_TOPIC...], appending to
 * c->kafka_egress. Returns 0, or -EINVAL with *why saying what is wrong (static text):
 * a bad name, a topic named twice, more than CONFIG_KAFKA_EGRESS_MAX. */
int config_kafka_egress(struct config *c, const char *spec, const char **why);

/* Fills every field with its default. */
void config_defaults(struct config *c);

/* Parses argv over the defaults already in *c: the --config file first, then the flags,
 * which override it. Returns 0 to run, 1 when --help or --version was printed (exit 0),
 * -1 after printing a clear error to err (exit 2). */
int config_parse_args(struct config *c, int argc, char **argv, FILE *out, FILE *err);

/* Applies a config file over *c: "key = value" lines whose keys are the long flags
 * without "--" (switches as a bare key or "key = true"), '#' comments, blank lines;
 * repeatable keys (topic) may repeat. Returns 0, or -1 after printing "PATH:LINE: why"
 * to err. */
int config_load_file(struct config *c, const char *path, FILE *out, FILE *err);

/* True when HOST:PORT names a loopback address (127.0.0.0/8, ::1, localhost). */
bool config_loopback(const char *hostport);

/* Parses "name" or "name:partitions". Returns 0 or -1 with *why set. */
int config_parse_topic(const char *arg, struct config_topic *t, const char **why);

#endif
