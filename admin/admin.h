/* admin/admin.h — the control plane: one admin thread serving HTTP (libmicrohttpd driven
 * from this thread with MHD_run_wait, no thread of its own), the command-side store
 * (admin/store.h), the statistics sampler, and every change to the running server.
 *
 * Threads: admin_prepare runs on the main thread before the reactors start; from
 * admin_start until admin_stop_thread everything here belongs to the admin thread,
 * except admin_reload (any thread: it sets a flag). The admin thread never blocks a
 * reactor: it reads their counters (net/stats.h), asks them through bounded queues
 * (net/control.h) and waits, bounded, for their answers; it swaps rules and topics with
 * the epoch machinery the reactors already use. The reactors never wait for it. */
#ifndef FANOUT_ADMIN_ADMIN_H
#define FANOUT_ADMIN_ADMIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin/admin_audit.h"
#include "admin/audit.h"
#include "admin/cache.h"
#include "admin/dataidx.h"
#include "admin/latency.h"
#include "admin/store.h"
#include "admin/store_tables.h"
#include "admin/tokens.h"
#include "admin/watch.h"
#include "core/config.h"
#include "core/topic.h"
#include "ingest/rules.h"
#include "net/control.h"
#include "net/engine.h"

#define ADMIN_BODY_MAX        (1u << 20)	/* request bodies; larger is 413 */
#define ADMIN_SAMPLE_MS       1000		/* statistics sampled this often */
#define ADMIN_POLL_MS         100		/* longest HTTP wait between chores */
#define ADMIN_REACTOR_WAIT_MS 2000		/* longest wait for a reactor's answer */
#define ADMIN_LIST_MAX        16384u		/* subscriptions one reactor reports */
#define ADMIN_LIST_MIN        64u		/* a listing's first room; grows to fit */
#define ADMIN_PAGE_DEFAULT    100u
#define ADMIN_PAGE_MAX        1000u
#define ADMIN_HTTP_CONNECTIONS 256u		/* concurrent HTTP connections */
#define ADMIN_HTTP_TIMEOUT_S  30u		/* an idle HTTP connection is closed */
#define ADMIN_TLS_FILE_MAX    (1u << 20)	/* --tls-cert / --tls-key files */
#define ADMIN_STATS_FLUSH_ROWS 64u		/* distribution_stats rows per transaction */
#define ADMIN_ID_BYTES        48u
#define ADMIN_NICE            5		/* the admin thread's nice value: it yields to
						 * the reactors without starving on a busy host */
#define ADMIN_STOPS_MAX       4096u		/* ended subscriptions waiting for the store */

/* One partition's figures at a sample. Counters are since this process started. */
struct admin_part_sample {
	uint64_t base_next, base_bytes;	/* the in-counters' zero (see sampler.c) */
	uint64_t next, first;		/* offsets: the log's tail and first */
	uint64_t persisted, synced;	/* offsets below are in the disk files; synced */
	uint64_t bytes;			/* frame bytes in the log */
	uint64_t total_bytes;		/* frame bytes appended, retention's deleted too */
	uint64_t segments;		/* in the log (retention's deleted ones not) */
	uint64_t retired_events, retired_bytes;	/* deleted by retention since start */
	uint64_t in_events, in_bytes;	/* appended since start */
	uint64_t out_events, out_bytes;	/* delivered since start (every reactor) */
	double rate_in, tput_in, rate_out, tput_out;	/* per second, last interval */
	uint32_t owner;
};

struct admin_topic_sample {
	struct topic *tp;
	bool stored;			/* known to be in the store's topics table */
	struct admin_part_sample *parts;	/* tp->partitions */
	struct admin_part_sample total;	/* summed over the partitions */
	uint64_t backlog_events, backlog_bytes;	/* summed over its subscriptions */
	uint32_t subscriptions, producers;
	/* distribution_stats: the counters at the last row written. */
	uint64_t row_in_events, row_in_bytes, row_out_events, row_out_bytes;
	/* GET .../stats answers, rendered once per sample: a polling client costs a copy,
	 * not a JSON build (freed with the sample). */
	char *stats_json;
	size_t stats_len;
};

struct admin_sub_sample {
	struct control_sub_info info;
	char id[ADMIN_ID_BYTES];	/* "<boot>-<serial>", the REST and store id */
	double rate_out, tput_out;
	bool stored;			/* its 'active' row is in the store */
};

struct admin_reactor_sample {
	uint64_t events_in, batches_in, batches_rejected, deliveries, bytes_sent, sends;
	uint64_t wakeups, turns, wait_ns, connections, controls;
	double rate_in, rate_out, busy;	/* events/s, deliveries/s, share of time working */
};

struct admin_sample {
	int64_t mono_ns, real_ns;
	struct admin_topic_sample *topics;	/* by name */
	uint32_t ntopics;
	struct admin_sub_sample *subs;		/* by serial */
	uint32_t nsubs;
	bool subs_truncated;			/* a reactor had more than ADMIN_LIST_MAX */
	struct admin_reactor_sample *reactors;	/* eng->n */
};

/* distribution_stats rows waiting for the store: a ring, oldest dropped when full. */
struct admin_statq {
	struct store_stat_row *rows;
	uint32_t cap, head, n;
	uint64_t dropped, written;
	bool drop_logged;
};

/* A removed topic waiting for every reactor to let go (net/control.h drop). */
struct admin_drop {
	struct topic *tp;
	struct control_cmd **cmds;	/* one per reactor */
};

struct MHD_Daemon;
struct admin_http_ctx;
struct ws_server;
struct json_t;

/* What a part of fanoutd above admin/ (tools/fanoutd_kafka.c) adds to the admin plane.
 * Both are called on the admin thread; the part guards its own state. */
struct admin_ext {
	void *arg;
	/* Prometheus text (whole families: HELP, TYPE, series) for /metrics, malloc'd;
	 * NULL: none. */
	char *(*metrics)(void *arg);
	/* GET /api/v1/kafka's body (a new reference); NULL: out of memory. */
	struct json_t *(*kafka)(void *arg);
};

struct admin {
	const struct config *cfg;
	struct net_engine *eng;
	struct topic_table *topics;
	struct store store;
	char boot[16];			/* base-36 start time in ms: subscription ids */
	char node_id[CONFIG_NODE_ID_BYTES];	/* this node's name (admin/node.h) */
	struct admin_watch watch;	/* other nodes' changes (admin/watch.h) */
	int64_t start_real_ns, start_mono_ns;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool reload;		/* SIGHUP: import --rules again */
	/* Retention (admin/retention.h): the next pass, the grace generation last asked
	 * of the reactors, and whether deleted segments wait for one. */
	int64_t retention_next_ns;
	uint64_t grace_want;
	bool retention_pending;
	bool retention_ready;		/* every stored topic's policy is in force */
	bool retention_waits_logged;	/* said that it waits for them */
	bool store_fresh;		/* the store came up: sync topics and rules */
	bool synced_once;		/* topics and old subscriptions agreed at first up */
	bool reload_pending;		/* a reload waits for the store */
	struct MHD_Daemon *mhd;
	struct ws_server *ws;		/* WebSocket streams (admin/ws.h) */
	_Atomic(const struct admin_ext *) ext;	/* admin_extend; NULL: none */
	char *tls_cert_pem, *tls_key_pem;	/* --tls-cert/--tls-key, read at start */
	struct admin_http_ctx *http_held;	/* answers held back (admin/http.c) */
	char http_bound[80];		/* "" without HTTP */
	struct admin_sample cur;	/* the latest sample (rates against the one before) */
	struct admin_latency latency;	/* delivery latency's window (admin/latency.h) */
	char (*stops)[ADMIN_ID_BYTES];	/* ended subscriptions the store has not heard of */
	uint32_t nstops;
	int64_t next_sample_ns, next_row_ns;
	struct control_cmd **lists;	/* one LIST command per reactor, reused */
	struct admin_statq statq;
	struct admin_drop drops[TOPIC_REMOVING_MAX];
	uint32_t ndrops;
	uint64_t topics_deleted;
	uint64_t http_requests[6];	/* by status class: [2] = 2xx ... */
	uint64_t rules_swaps;
	uint32_t rules_n, rules_enabled;	/* the set in force */
	struct dataidx data;		/* the REST data API's index (admin/dataidx.h) */
	struct audit_trail audit;	/* distribution_audit rows (admin/audit.h) */
	bool audit_more;		/* it has rows to write: no waiting between chores */
	struct cache cache;		/* Redis (admin/cache.h), off without --redis-url */
	uint64_t cache_rules_swaps;	/* rules_swaps when routing keys were written */
	int64_t cache_routing_ns;	/* when they are rewritten next */
	uint64_t cache_outages_seen;	/* cache.outages when every key was last rewritten */
	uint64_t data_flush_errors;	/* bar rows the store refused (kept dirty) */
	struct admin_tokens tokens;	/* the tokens in force (admin/tokens.h) */
	struct admin_audit_q opaudit;	/* admin_audit rows (admin/admin_audit.h) */
};

/* topic_find for the admin thread: inside an epoch section of its own (the table's
 * arrays may be replaced by a reactor creating a topic meanwhile). The topic stays valid
 * afterwards: only the admin thread destroys topics. */
struct topic *admin_topic_find(struct admin *a, const char *name);

/* Brings the data index up to date before a data query: new topics, and up to
 * DIDX_CATCH_UP_EVENTS pending events or DIDX_CATCH_UP_MS (what was acknowledged before
 * the request, unless the index is that far behind). */
void admin_data_catch_up(struct admin *a);

/* Opens the store (SQLite file in the data dir, or PostgreSQL from cfg->pg_url) and, when
 * it is up, makes it and the topic table agree and imports file_rules' source (--rules)
 * into it. *rules receives the set to start the reactors with: the store's when it is
 * up, else file_rules (taken over either way). Returns 0, or -1 after logging when the
 * configuration is unusable. Main thread, before the reactors start. */
int admin_prepare(struct admin *a, const struct config *cfg, struct topic_table *topics,
		  struct rules_set *file_rules, struct rules_set **rules);

/* Starts the admin thread (and HTTP unless cfg->no_http). Returns 0, or -1 after
 * logging (an explicit --http that cannot be bound). Main thread, reactors running. */
int admin_start(struct admin *a, struct net_engine *eng);

/* Asks the admin thread to read --rules again (SIGHUP). Async-signal-safe. */
void admin_reload(struct admin *a);

/* Adds ext's metrics and endpoints (ext must outlive the admin thread; NULL takes
 * them away). Any thread, once admin_prepare is done. */
void admin_extend(struct admin *a, const struct admin_ext *ext);

/* Stops HTTP and the admin thread, writing the statistics rows it still holds (bounded).
 * Main thread, before the reactors stop. */
void admin_stop_thread(struct admin *a);

/* Destroys removed topics still held and closes the store. Main thread, reactors
 * stopped. */
void admin_free(struct admin *a);

#endif
