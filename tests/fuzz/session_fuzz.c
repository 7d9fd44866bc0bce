/* tests/fuzz/session_fuzz.c — whole client conversations through a real server: the
 * reactors (net/engine.c, net/server.c, core/reactor.c), the session (net/session.c:
 * framing, staging, control messages, publish pipelining, subscriptions, answers) and
 * everything behind it (ingest/, the partition logs, routing, snapshots, the budget,
 * shared-memory rings), over loopback TCP or the rings' Unix socket, as a client meets
 * them.
 *
 * Set up once per process: an engine of SF_REACTORS reactors on 127.0.0.1 (port 0) and
 * the rings' Unix socket, 64 KiB frames, 128 KiB segments, auto-created topics of 2
 * partitions, at most SF_TOPICS topics, SF_LATEST_MAX keys per last-value table, a
 * SF_BUDGET memory budget per reactor, rings of at most SF_RING_MAX, two routing rules,
 * its data (with its HASHKEY) and hot directories in a scratch directory. State
 * accumulates across inputs, as on a real server; once the logs pass SF_DATA_MAX bytes
 * the engine is stopped, its directories emptied and a new one started (the restart and
 * the final stop at exit run the same teardown as fanoutd, so leaks show at exit, and
 * every descriptor the server opened must be closed by then).
 *
 * Input: a byte (high bit: connect over the Unix socket, not TCP; the rest: a count of
 * chunk lengths), the lengths (bytes: 1 + low 7 bits; the high bit asks to wait for
 * every answer owed so far before the next chunk), then the client's byte stream (the
 * last chunk is whatever is left): length-prefixed ClientMessage frames, or anything.
 * Per input: a new connection; the stream written chunk by chunk, with a Ping of our own
 * (a separator) after every frame, or after the last of a run of publishes so batches
 * still pipeline; answers read as they come until every separator is answered (or the
 * stream's bad length prefix closed the connection); then the connection is dropped (a
 * trailing partial frame stays unread) and a Ping on a fresh connection must be
 * answered.
 * Checks, per server frame: it decodes with protobuf-c as a ServerMessage with a body,
 * every string in it is valid UTF-8, every Error has a known code and a message. Per
 * client frame (decoded here with protobuf-c), the answers before its separator are what
 * proto/README.md promises, in order: Hello a HelloResult with the limits in force (or,
 * for a newer protocol, a closing PROTOCOL_VERSION); Subscribe a SubscribeResult for its
 * id and topic or an Error for its id (a ring: over TCP always an Error; on the socket
 * its two descriptors came by then, sealed memfds, the ring write-sealed, each closed
 * here); Unsubscribe an UnsubscribeResult for a live id or an Error; Ack nothing for a
 * live id, else an Error; a PublishBatch an ack with its sequence and one entry per
 * event (decisions counted otherwise) or an Error with its sequence; Ping its Pong;
 * anything else exactly one Error, never an ack. A closing Error only for a newer
 * protocol, a bad length prefix (FRAME_TOO_LARGE or MALFORMED_FRAME, after every frame
 * before it is answered, and then always), a cut for silence, lag, a frame held past the
 * deadline or the memory budget; after it, nothing but the close; no close without it.
 * Events only for a topic with a live subscription (from its SubscribeResult until its
 * UnsubscribeResult), in a partition it has, whose routing key one of its patterns
 * matches (a matcher written here); with one subscription on the topic, offsets rise per
 * partition and, without a snapshot, start at its SubscribeResult's positions.
 * Heartbeats only while the last HelloResult turned them on; a ring's SHM_UNAVAILABLE
 * out of turn only when no reader attached in time. No answer waits more than
 * SF_WAIT_MS. No crash, leak or sanitizer report in the server's threads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "fanout.pb-c.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/epoch.h"
#include "core/executor.h"
#include "core/frame.h"
#include "core/hotdir.h"
#include "core/keyhash.h"
#include "core/topic.h"
#include "fuzz_util.h"
#include "ingest/rules_json.h"
#include "net/engine.h"
/* net/session.h sizes a buffer with CMSG_SPACE, which clang folds as a GNU extension. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
#include "net/server.h"
#pragma clang diagnostic pop
#include "tools/fanoutd_shm.h"

#define SF_REACTORS   2u
#define SF_FRAME_MAX  (64u << 10)
#define SF_PARTITIONS 2u
#define SF_TOPICS     12u
#define SF_SUBS_MAX   8u		/* --max-subscriptions */
#define SF_DATA_MAX   (48ull << 20)	/* logs past this: a fresh server */
#define SF_RING_MAX   (1u << 20)	/* --shm-max-bytes (rings are 512 KiB at least) */
#define SF_RINGS_MAX  (8u << 20)	/* --shm-total-bytes */
#define SF_LATEST_MAX 64u		/* --latest-keys-max: eviction is reached */
#define SF_BUDGET     (32ull << 20)	/* --reactor-memory-bytes: refusals are reached */
#define SF_LAG_MAX    (8u << 20)	/* --max-lag-bytes: an early start on a long topic
					 * may be cut as a slow consumer */
#define SF_DATA_CHECK 64u		/* inputs between looks at the logs' size */
#define SF_CUTS_MAX   32u
#define SF_FRESH_EVERY 8u		/* inputs between Pings on a new connection */
#define SF_WAIT_MS    10000		/* the longest silence while answers are owed */
#define SF_SEP_NONCE  0x5e9a7a70f0000000ull	/* separator i: nonce SF_SEP_NONCE + i */
#define SF_SEP_TIME   0x5e9a7a70ll
#define SF_RX_MAX     (64u << 20)	/* bytes of answers held unparsed, at most */
#define SF_FDS_MAX    16u		/* descriptors one recvmsg takes */
#define SF_IDLE_BYTES (64u << 10)	/* a reactor's budget in use with only the
					 * bystander connected, at most */
#define SF_SETTLE_MS  5000		/* for closed connections' memory to be given back */

static const char sf_rules_json[] =
	"[{\"name\": \"nasdaq-large\", \"source_topic\": \"md\", \"source_pattern\": "
	"\"*.NASDAQ.>\", \"target_topic\": \"nasdaq\", \"routing_key_template\": "
	"\"{symbol}.{exchange}.large\", \"conditions\": {\"min_price\": 100}},"
	" {\"name\": \"sells\", \"source_pattern\": \"*.decision.sell\", \"target_topic\": "
	"\"sells\", \"routing_key_template\": \"{action}.{instrument_id}\"}]";

/* ---- the server ------------------------------------------------------------------- */

static struct {
	bool up;
	char dir[512];			/* scratch: data/, hot/ */
	char data[600], hot_parent[600], sock[600], hot_root[900];
	struct config cfg;
	struct topic_table topics;
	struct executor executor;
	struct net_engine engine;
	struct rules_set *rules;
	struct net_sink_ops sinks;	/* fanoutd's rings (tools/fanoutd_shm.c) */
	volatile sig_atomic_t stop;
	struct sockaddr_in addr;
	struct sockaddr_un unix_addr;	/* the rings' socket: sessions there too */
	int fds_before;			/* open descriptors before the start */
	int bystander;			/* a connection open all along: Pings only */
	uint32_t inputs;		/* since the last start */
	uint64_t data_bytes;		/* at the last look */
} sf;

static bool sf_verbose;		/* FANOUT_FUZZ_VERBOSE: the server's lines, every answer */

/* connect(), finished when a signal interrupted it (it goes on without us: wait for it
 * and read its outcome). Returns 0 or -1 with errno set. */
static int sf_connect_wait(int fd, const struct sockaddr *a, socklen_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0;

	if (connect(fd, a, len) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while (poll(&p, 1, 5000) < 0 && errno == EINTR)
		;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

/* A connection over TCP, or over the rings' Unix socket (where rings may be had). */
static int sf_connect(bool local)
{
	int fd = socket(local ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
	if (local)
		FUZZ_CHECK(sf_connect_wait(fd, (struct sockaddr *)&sf.unix_addr,
					   sizeof(sf.unix_addr)) == 0,
			   "connect %s: %s", sf.sock, strerror(errno));
	else
		FUZZ_CHECK(sf_connect_wait(fd, (struct sockaddr *)&sf.addr, sizeof(sf.addr)) == 0,
			   "connect: %s", strerror(errno));
	if (!local)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Descriptors the server could have opened: every one but pipes (the sanitizers'
 * symbolizer, which libFuzzer starts when it names a new function, keeps two; the server
 * makes none). */
static int sf_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	FUZZ_CHECK(d, "opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d))) {
		char path[300], target[16];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, target, sizeof(target));
		n += !(k >= 5 && memcmp(target, "pipe:", 5) == 0);
	}
	closedir(d);
	return n - 1;	/* not d's own */
}

static void sf_config(struct config *c)
{
	config_defaults(c);
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:0");
	snprintf(c->data_dir, sizeof(c->data_dir), "%s", sf.data);
	snprintf(c->hot_dir, sizeof(c->hot_dir), "%s", sf.hot_parent);
	c->max_frame_bytes = SF_FRAME_MAX;
	c->segment_bytes = SF_FRAME_MAX + CONFIG_SEGMENT_SLACK;
	c->max_subscriptions = SF_SUBS_MAX;
	c->max_connections = 64;
	c->reactors = SF_REACTORS;
	c->default_partitions = SF_PARTITIONS;
	c->max_topics = SF_TOPICS;
	snprintf(c->shm_socket, sizeof(c->shm_socket), "%s", sf.sock);
	c->shm_max_bytes = SF_RING_MAX;
	c->shm_total_bytes = SF_RINGS_MAX;
	c->latest_keys_max = SF_LATEST_MAX;
	c->reactor_memory_bytes = SF_BUDGET;
	c->memory_log_ms = 0;
	c->max_lag_bytes = SF_LAG_MAX;
	c->quiet = !sf_verbose;
}

static void sf_start(void)
{
	struct log_config lc;
	char err[512];
	json_t *j;
	int rc;

	sf_config(&sf.cfg);
	sf.fds_before = sf_fds();
	FUZZ_CHECK(mkdir(sf.data, 0750) == 0 || errno == EEXIST, "mkdir %s: %s", sf.data,
		   strerror(errno));
	/* The hash key before any log or rule: every stored hash depends on it. */
	FUZZ_CHECK(keyhash_load_dir(sf.data) == 0, "hash key in %s", sf.data);
	rc = hotdir_resolve(sf.data, sf.hot_parent, sf.hot_root, sizeof(sf.hot_root));
	FUZZ_CHECK(rc == 0, "hot dir: %s", strerror(-rc));
	FUZZ_CHECK(executor_start(&sf.executor) == 0, "executor");
	lc = (struct log_config){
		.segment_bytes = sf.cfg.segment_bytes, .hot_root = sf.hot_root,
		.data_root = sf.data, .executor = &sf.executor,
	};
	rc = topic_table_init(&sf.topics, sf.data, &lc);
	sf.topics.reactors = SF_REACTORS;
	sf.topics.latest_keys_max = SF_LATEST_MAX;
	if (rc == 0)
		rc = topic_table_recover(&sf.topics);
	FUZZ_CHECK(rc >= 0, "topics: %s", strerror(-rc));
	sf.topics.max = SF_TOPICS;
	j = json_loads(sf_rules_json, 0, NULL);
	FUZZ_CHECK(j && rules_from_json(&sf.rules, j, err, sizeof(err)) == 0, "rules: %s", err);
	json_decref(j);
	FUZZ_CHECK(fanoutd_shm_init(&sf.sinks, &sf.cfg) == 0, "rings' socket %s", sf.sock);
	FUZZ_CHECK(epoch_register() == 0, "epoch_register");
	sf.stop = 0;
	rc = net_engine_start(&sf.engine, SF_REACTORS, &sf.topics, &sf.cfg, sf.rules,
			      &sf.sinks, &sf.stop, 2000);
	FUZZ_CHECK(rc == 0, "net_engine_start: %s", strerror(-rc));
	{
		char host[80];
		const char *colon = strrchr(sf.engine.bound, ':');

		FUZZ_CHECK(colon, "bound address '%s'", sf.engine.bound);
		snprintf(host, sizeof(host), "%.*s", (int)(colon - sf.engine.bound),
			 sf.engine.bound);
		sf.addr.sin_family = AF_INET;
		sf.addr.sin_port = htons((uint16_t)atoi(colon + 1));
		FUZZ_CHECK(inet_pton(AF_INET, host, &sf.addr.sin_addr) == 1, "host '%s'", host);
	}
	sf.up = true;
	sf.inputs = 0;
	sf.bystander = sf_connect(false);
}

/* This process's descriptors and what they are, for a report. */
static const char *sf_fds_list(void)
{
	static char out[640];
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	out[0] = '\0';
	while (d && (e = readdir(d)) && n + 80 < sizeof(out)) {
		char path[300], target[64];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = '\0';
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s=%s", n ? " " : "",
				      e->d_name, target);
	}
	if (d)
		closedir(d);
	return out;
}

/* fanoutd's shutdown, in its order. */
static void sf_stop(void)
{
	const struct rules_set *rules;
	int rc;

	if (!sf.up)
		return;
	sf.up = false;
	close(sf.bystander);
	sf.stop = 1;
	rc = net_engine_wait(&sf.engine);
	FUZZ_CHECK(rc == 0, "a reactor failed: %s", strerror(-rc));
	rules = atomic_exchange(&sf.engine.rules, NULL);
	executor_stop(&sf.executor);
	net_engine_free(&sf.engine);
	fanoutd_shm_fini(&sf.sinks);
	rules_free((struct rules_set *)rules);
	sf.rules = NULL;
	topic_table_close(&sf.topics);
	memset(&sf.topics, 0, sizeof(sf.topics));
	memset(&sf.executor, 0, sizeof(sf.executor));
	memset(&sf.sinks, 0, sizeof(sf.sinks));
	hotdir_release(sf.hot_root);
	/* Every descriptor the server opened (sockets, rings, logs, rings' memfds) is closed. */
	FUZZ_CHECK(sf_fds() == sf.fds_before, "%d descriptors open after the stop, %d "
		   "before the start: %s", sf_fds(), sf.fds_before, sf_fds_list());
}

static uint64_t sf_du_bytes;

static int sf_du_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F)
		sf_du_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* The data directory's topics go (its ID stays, so the hot directory is the same). */
static void sf_wipe(void)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/topics", sf.data);
	FUZZ_CHECK(fuzz_rmtree(path) == 0, "removing %s", path);
	/* Producer records name offsets in those logs; their files count toward the
	 * directory's bound. */
	snprintf(path, sizeof(path), "%s/producers", sf.data);
	FUZZ_CHECK(fuzz_rmtree(path) == 0, "removing %s", path);
}

static void sf_exit(void)
{
	fuzz_quiet_begin();
	sf_stop();
	fuzz_quiet_end();
	epoch_unregister();
}

static void sf_init(void)
{
	sf_verbose = getenv("FANOUT_FUZZ_VERBOSE") != NULL;
	fuzz_tmpdir(sf.dir, sizeof(sf.dir), "session");
	snprintf(sf.data, sizeof(sf.data), "%s/data", sf.dir);
	snprintf(sf.hot_parent, sizeof(sf.hot_parent), "%s/hot", sf.dir);
	snprintf(sf.sock, sizeof(sf.sock), "%s/shm.sock", sf.dir);
	FUZZ_CHECK(strlen(sf.sock) < sizeof(sf.unix_addr.sun_path), "socket path %s too long",
		   sf.sock);
	sf.unix_addr.sun_family = AF_UNIX;
	memcpy(sf.unix_addr.sun_path, sf.sock, strlen(sf.sock) + 1);
	FUZZ_CHECK(mkdir(sf.hot_parent, 0750) == 0, "mkdir in %s: %s", sf.dir, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	fuzz_quiet_begin();
	sf_start();
	fuzz_quiet_end();
	atexit(sf_exit);	/* after libFuzzer's last input; before LeakSanitizer's check */
}

/* Every reactor gives back what closed connections held (the budget is exact: what a
 * connection takes returns when it goes) and never went past its limit. */
static void sf_budgets_settle(void)
{
	int64_t deadline = clock_monotonic_ns() + SF_SETTLE_MS * 1000000ll;

	for (uint32_t r = 0; r < SF_REACTORS; r++) {
		const struct budget *b = net_server_budget(sf.engine.servers[r]);

		FUZZ_CHECK(budget_read(&b->peak) <= b->limit, "reactor %u: peak %llu over its "
			   "budget %llu", r, (unsigned long long)budget_read(&b->peak),
			   (unsigned long long)b->limit);
		while (budget_read(&b->used) > SF_IDLE_BYTES) {
			FUZZ_CHECK(clock_monotonic_ns() < deadline, "reactor %u: %llu bytes of its "
				   "budget still in use %d ms after the connections closed", r,
				   (unsigned long long)budget_read(&b->used), SF_SETTLE_MS);
			usleep(1000);
		}
	}
}

/* Keeps the logs bounded: a fresh server once they pass SF_DATA_MAX. */
static void sf_maybe_restart(void)
{
	if (++sf.inputs % SF_DATA_CHECK)
		return;
	sf_budgets_settle();
	sf_du_bytes = 0;
	nftw(sf.dir, sf_du_one, 16, FTW_PHYS);
	sf.data_bytes = sf_du_bytes;
	if (sf.data_bytes < SF_DATA_MAX)
		return;
	fuzz_quiet_begin();
	sf_stop();
	sf_wipe();
	sf_start();
	fuzz_quiet_end();
}

/* ---- what the client sent, as protobuf-c reads it -------------------------------- */

struct sf_frame {
	Fanout__V1__ClientMessage *m;	/* NULL: protobuf-c refuses the bytes */
	size_t end;			/* stream offset past the frame */
	bool sep;			/* a separator Ping follows it */
};

/* A subscription from its SubscribeResult until its UnsubscribeResult. */
struct sf_sub {
	const Fanout__V1__Subscribe *req;
	uint32_t partitions;
	uint64_t next[64];		/* SubscribeResult's positions */
	uint64_t last[64];		/* the last offset delivered, + 1 (0: none yet) */
};

/* One conversation: the frames, and how far their answers have come. */
struct sf_conv {
	struct sf_frame *frames;
	uint32_t nframes;
	int prefix_rc;			/* frame_parse's refusal ending the stream, or 0 */
	uint32_t cur;			/* the frame whose answers come next */
	bool got;			/* frames[cur] has had its answer */
	bool acked;			/* ... a PublishAck: a LOG_FULL Error may follow */
	bool closing;			/* a closing Error came: only the close may follow */
	bool heartbeats;		/* the last HelloResult turned them on */
	bool producer;			/* a HelloResult made it an idempotent producer */
	struct sf_sub subs[SF_SUBS_MAX];
	uint32_t nsubs;
	bool local;			/* over the rings' Unix socket */
	uint32_t fds_owed;		/* SubscribeResults' shm_fds so far */
	uint32_t fds_got;		/* descriptors received (checked, closed) */
};

static const char *sf_kind(const Fanout__V1__ClientMessage *m)
{
	if (!m)
		return "undecodable";
	switch (m->body_case) {
	case FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO: return "Hello";
	case FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE: return "Subscribe";
	case FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE: return "Unsubscribe";
	case FANOUT__V1__CLIENT_MESSAGE__BODY_ACK: return "Ack";
	case FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH: return "PublishBatch";
	case FANOUT__V1__CLIENT_MESSAGE__BODY_PING: return "Ping";
	default: return "no body";
	}
}

static const char *sf_answer_name(const Fanout__V1__ServerMessage *a)
{
	static char buf[64];

	switch (a->body_case) {
	case FANOUT__V1__SERVER_MESSAGE__BODY_EVENT: return "Event";
	case FANOUT__V1__SERVER_MESSAGE__BODY_HELLO: return "HelloResult";
	case FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED: return "SubscribeResult";
	case FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED: return "UnsubscribeResult";
	case FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK: return "PublishAck";
	case FANOUT__V1__SERVER_MESSAGE__BODY_PONG: return "Pong";
	case FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT: return "Heartbeat";
	case FANOUT__V1__SERVER_MESSAGE__BODY_ERROR:
		snprintf(buf, sizeof(buf), "Error %d%s", (int)a->error->code,
			 a->error->closing ? " (closing)" : "");
		return buf;
	default: return "no body";
	}
}

static bool sf_is_publish(const struct sf_frame *f)
{
	return f->m && f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
}

/* Stored events a batch protobuf-c read makes: one per event, one per decision of a
 * coordination_completed. */
static uint64_t sf_stored(const Fanout__V1__PublishBatch *b)
{
	uint64_t n = 0;

	for (size_t i = 0; i < b->n_events; i++)
		n += b->events[i]->payload_case ==
		     FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED ?
		     b->events[i]->coordination_completed->n_decisions : 1;
	return n;
}

/* ---- an independent reference: UTF-8 and NATS-style matching ----------------------- */

/* True when [p, p+n) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). */
static bool sf_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
			     (c & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp;

		if (len == 0 || i + len > n)
			return false;
		cp = len == 1 ? c : c & (0x7f >> len);
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Every string field of m, nested messages included, is valid UTF-8. path names the
 * first that is not. */
static bool sf_strings_ok(const ProtobufCMessage *m, const char **path)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const char *base = (const char *)m + fd->offset;
		size_t n = 1;
		void *const *items = (void *const *)base;

		if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
		    *(const uint32_t *)((const char *)m + fd->quantifier_offset) != fd->id)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)((const char *)m + fd->quantifier_offset);
			items = *(void *const *const *)base;
		}
		for (size_t k = 0; k < n; k++) {
			const void *v = items[k];

			if (!v)
				continue;
			*path = fd->name;
			if (fd->type == PROTOBUF_C_TYPE_STRING ?
			    !sf_utf8(v, strlen(v)) : !sf_strings_ok(v, path))
				return false;
		}
	}
	return true;
}

/* NATS subjects: "*" is one token, a last ">" one or more. pat is valid, key a key. */
static bool sf_key_matches(const char *pat, const char *key)
{
	for (;;) {
		const char *pe = strchr(pat, '.'), *ke = strchr(key, '.');
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
		size_t kl = ke ? (size_t)(ke - key) : strlen(key);

		if (!pe && pl == 1 && pat[0] == '>')
			return kl > 0;
		if (!(pl == 1 && pat[0] == '*') && (pl != kl || memcmp(pat, key, pl) != 0))
			return false;
		if (!pe || !ke)
			return !pe && !ke;
		pat = pe + 1;
		key = ke + 1;
	}
}

static bool sf_sub_matches(const struct sf_sub *s, const char *key)
{
	if (s->req->n_patterns == 0)
		return true;
	for (size_t i = 0; i < s->req->n_patterns; i++)
		if (sf_key_matches(s->req->patterns[i], key))
			return true;
	return false;
}

/* ---- the answers ----------------------------------------------------------------- */

static struct sf_sub *sf_live(struct sf_conv *c, uint32_t id)
{
	for (uint32_t i = 0; i < c->nsubs; i++)
		if (c->subs[i].req->subscription_id == id)
			return &c->subs[i];
	return NULL;
}

static bool sf_is_error(const Fanout__V1__ServerMessage *a, Fanout__V1__ErrorCode code)
{
	return a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR &&
	       (code == 0 || a->error->code == code);
}

/* An Error about subscription id: it names it, unless the frame was refused before it
 * was read (bad strings elsewhere in the message, or too large to decode). */
static bool sf_error_for_sub(const Fanout__V1__ServerMessage *a, uint32_t id)
{
	return sf_is_error(a, 0) &&
	       (a->error->subscription_id == id ||
		a->error->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME ||
		a->error->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE);
}

static bool sf_is_sep(const Fanout__V1__ServerMessage *a, uint32_t i)
{
	return a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PONG &&
	       a->pong->nonce == SF_SEP_NONCE + i && a->pong->send_time_ns == SF_SEP_TIME;
}

static void sf_hello(struct sf_conv *c, const Fanout__V1__Hello *h,
		     const Fanout__V1__ServerMessage *a, uint32_t i)
{
	const Fanout__V1__HelloResult *r = a->hello;
	uint32_t hb = h->heartbeat_ms == 0 ? 0 : h->heartbeat_ms < 100 ? 100 :
		      h->heartbeat_ms > 60000 ? 60000 : h->heartbeat_ms;

	if (sf_is_error(a, 0))
		return;		/* a bad string (or a newer protocol: sf_closing) */
	FUZZ_CHECK(h->protocol_version <= 1, "frame %u: Hello for protocol %u: %s", i,
		   h->protocol_version, sf_answer_name(a));
	FUZZ_CHECK(a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_HELLO,
		   "frame %u: Hello answered with %s", i, sf_answer_name(a));
	FUZZ_CHECK(r->protocol_version == 1 && r->max_frame_bytes == SF_FRAME_MAX &&
		   r->max_subscriptions == SF_SUBS_MAX && r->heartbeat_ms == hb &&
		   r->reactors == SF_REACTORS && r->reactor < SF_REACTORS &&
		   r->server_version[0], "frame %u: HelloResult protocol %u, max frame %u, max "
		   "subscriptions %u, heartbeat %u (asked %u), reactor %u of %u", i,
		   r->protocol_version, r->max_frame_bytes, r->max_subscriptions, r->heartbeat_ms,
		   h->heartbeat_ms, r->reactor, r->reactors);
	c->heartbeats = hb > 0;
	if (h->producer_id && h->producer_id[0]) {
		FUZZ_CHECK(r->producer_epoch == h->producer_epoch, "frame %u: producer epoch %llu "
			   "answered with %llu", i, (unsigned long long)h->producer_epoch,
			   (unsigned long long)r->producer_epoch);
		c->producer = true;
	}
}

static void sf_subscribed(struct sf_conv *c, const Fanout__V1__Subscribe *req,
			  const Fanout__V1__ServerMessage *a, uint32_t i)
{
	const Fanout__V1__SubscribeResult *r = a->subscribed;
	struct sf_sub *s;

	if (sf_live(c, req->subscription_id) || sf_is_error(a, 0) ||
	    (req->shm_ring_bytes && !c->local)) {	/* rings only on the Unix socket */
		FUZZ_CHECK(sf_error_for_sub(a, req->subscription_id),
			   "frame %u: Subscribe %u (%s) answered with %s", i,
			   req->subscription_id, sf_live(c, req->subscription_id) ?
			   "a live id" : "new", sf_answer_name(a));
		FUZZ_CHECK(!sf_is_error(a, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_START) ||
			   req->n_start_offsets > 0 || req->start_time_ns != 0 ||
			   req->start == FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP,
			   "frame %u: Subscribe %u without start_offsets, start_time_ns or "
			   "TIMESTAMP refused with BAD_START: %s", i, req->subscription_id,
			   a->error->message);
		return;
	}
	FUZZ_CHECK(a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED,
		   "frame %u: Subscribe answered with %s", i, sf_answer_name(a));
	FUZZ_CHECK(r->subscription_id == req->subscription_id && strcmp(r->topic, req->topic) == 0,
		   "frame %u: Subscribe %u to '%s' answered for %u, '%s'", i,
		   req->subscription_id, req->topic, r->subscription_id, r->topic);
	FUZZ_CHECK(r->partitions == SF_PARTITIONS && r->n_positions == r->partitions,
		   "frame %u: SubscribeResult with %u partitions, %zu positions", i,
		   r->partitions, r->n_positions);
	FUZZ_CHECK(!r->shm_path[0] && r->shm_fds == (req->shm_ring_bytes ? 2u : 0u) &&
		   !r->data_dir[0] == !req->shm_ring_bytes,
		   "frame %u: ring of %llu bytes asked for, SubscribeResult says %u descriptors, "
		   "path '%s', data dir '%s'", i, (unsigned long long)req->shm_ring_bytes,
		   r->shm_fds, r->shm_path, r->data_dir);
	/* The descriptors come with the first byte of the send that carries this frame. */
	c->fds_owed += r->shm_fds;
	FUZZ_CHECK(c->fds_got >= c->fds_owed, "frame %u: %u descriptors received, %u owed", i,
		   c->fds_got, c->fds_owed);
	FUZZ_CHECK(c->nsubs < SF_SUBS_MAX, "frame %u: subscription %u past the limit of %u", i,
		   req->subscription_id, SF_SUBS_MAX);
	s = &c->subs[c->nsubs++];
	memset(s, 0, sizeof(*s));
	s->req = req;
	s->partitions = r->partitions;
	for (uint32_t p = 0; p < r->n_positions; p++) {
		FUZZ_CHECK(r->positions[p]->partition == p, "frame %u: position %u is for "
			   "partition %u", i, p, r->positions[p]->partition);
		s->next[p] = r->positions[p]->next_offset;
	}
}

static void sf_unsubscribed(struct sf_conv *c, uint32_t id, const Fanout__V1__ServerMessage *a,
			    uint32_t i)
{
	struct sf_sub *s = sf_live(c, id);

	if (!s || sf_is_error(a, 0)) {
		FUZZ_CHECK(sf_error_for_sub(a, id), "frame %u: Unsubscribe %u (%s) answered "
			   "with %s", i, id, s ? "live" : "not live", sf_answer_name(a));
		return;
	}
	FUZZ_CHECK(a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED &&
		   a->unsubscribed->subscription_id == id,
		   "frame %u: Unsubscribe %u answered with %s", i, id, sf_answer_name(a));
	*s = c->subs[--c->nsubs];
}

static void sf_published(struct sf_conv *c, const Fanout__V1__PublishBatch *b,
			 const Fanout__V1__ServerMessage *a, uint32_t i)
{
	const Fanout__V1__PublishAck *ack = a->publish_ack;
	uint64_t stored = sf_stored(b);

	if (sf_is_error(a, 0)) {
		Fanout__V1__ErrorCode code = a->error->code;

		FUZZ_CHECK(a->error->sequence == b->sequence ||
			   code == FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE,
			   "frame %u: batch %llu refused with an Error for batch %llu: %s", i,
			   (unsigned long long)b->sequence,
			   (unsigned long long)a->error->sequence, a->error->message);
		FUZZ_CHECK(code == FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT ||
			   code == FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC ||
			   code == FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC ||
			   code == FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED ||
			   code == FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE ||
			   (c->producer &&	/* a sequence sent again, or 0; a newer Hello */
			    (code == FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE ||
			     code == FANOUT__V1__ERROR_CODE__ERROR_CODE_SEQUENCE_IN_FLIGHT ||
			     code == FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED ||
			     /* behind one refused for now (an earlier batch's) */
			     (code == FANOUT__V1__ERROR_CODE__ERROR_CODE_OUT_OF_ORDER &&
			      strstr(a->error->message, "was refused for now")))),
			   "frame %u: a batch protobuf-c reads refused with %s: %s", i,
			   sf_answer_name(a), a->error->message);
		return;
	}
	FUZZ_CHECK(a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK,
		   "frame %u: batch %llu answered with %s", i, (unsigned long long)b->sequence,
		   sf_answer_name(a));
	FUZZ_CHECK(ack->sequence == b->sequence && ack->n_offsets == stored &&
		   ack->n_partitions == stored, "frame %u: batch %llu of %zu events (%llu to "
		   "store) acked as batch %llu with %zu offsets, %zu partitions", i,
		   (unsigned long long)b->sequence, b->n_events, (unsigned long long)stored,
		   (unsigned long long)ack->sequence, ack->n_offsets, ack->n_partitions);
	for (size_t k = 0; k < ack->n_offsets; k++)
		FUZZ_CHECK(ack->partitions[k] < SF_PARTITIONS && ack->offsets[k] != UINT64_MAX,
			   "frame %u: ack entry %zu: partition %u offset %llu", i, k,
			   ack->partitions[k], (unsigned long long)ack->offsets[k]);
	c->acked = true;
}

/* The first answer of frames[i]. */
static void sf_main(struct sf_conv *c, uint32_t i, const Fanout__V1__ServerMessage *a)
{
	const Fanout__V1__ClientMessage *m = c->frames[i].m;

	if (!m || m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY__NOT_SET) {
		FUZZ_CHECK(sf_is_error(a, m ? FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_MESSAGE : 0) &&
			   (m || a->error->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME ||
			    a->error->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE),
			   "frame %u (%s) answered with %s", i, sf_kind(m), sf_answer_name(a));
		return;
	}
	switch (m->body_case) {
	case FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO:
		sf_hello(c, m->hello, a, i);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE:
		sf_subscribed(c, m->subscribe, a, i);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE:
		sf_unsubscribed(c, m->unsubscribe->subscription_id, a, i);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_ACK:	/* only an Error: none is fine */
		FUZZ_CHECK(sf_error_for_sub(a, m->ack->subscription_id),
			   "frame %u: Ack %u answered with %s", i, m->ack->subscription_id,
			   sf_answer_name(a));
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH:
		sf_published(c, m->publish, a, i);
		break;
	case FANOUT__V1__CLIENT_MESSAGE__BODY_PING:
		FUZZ_CHECK(sf_is_error(a, FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME) ||
			   (a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PONG &&
			    a->pong->nonce == m->ping->nonce &&
			    a->pong->send_time_ns == m->ping->send_time_ns),
			   "frame %u: Ping %llu answered with %s", i,
			   (unsigned long long)m->ping->nonce, sf_answer_name(a));
		break;
	default:
		FUZZ_CHECK(false, "frame %u: body %d", i, (int)m->body_case);
	}
}

/* frames[cur] is fully answered: the next frame's answers come. */
static void sf_next(struct sf_conv *c)
{
	const struct sf_frame *f = &c->frames[c->cur];

	if (!c->got)	/* only an Ack may go unanswered: for a live subscription */
		FUZZ_CHECK(f->m && f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_ACK &&
			   sf_live(c, f->m->ack->subscription_id), "frame %u (%s) got no answer",
			   c->cur, sf_kind(f->m));
	c->cur++;
	c->got = false;
	c->acked = false;
}

/* A closing Error: for a newer protocol, the stream's bad prefix, silence or lag. */
static void sf_closing(struct sf_conv *c, const Fanout__V1__Error *e)
{
	const struct sf_frame *f = c->cur < c->nframes ? &c->frames[c->cur] : NULL;

	switch (e->code) {
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_PROTOCOL_VERSION:
		FUZZ_CHECK(f && !c->got && f->m &&
			   f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO &&
			   f->m->hello->protocol_version > 1, "PROTOCOL_VERSION for frame %u (%s)",
			   c->cur, f ? sf_kind(f->m) : "none");
		break;
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME:
		FUZZ_CHECK(!f && c->prefix_rc == (e->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME ?
						  -EBADMSG : -EMSGSIZE),
			   "closing %d after frame %u of %u (the stream's prefix: %d): %s",
			   (int)e->code, c->cur, c->nframes, c->prefix_rc, e->message);
		break;
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_HEARTBEAT_TIMEOUT:
		FUZZ_CHECK(c->heartbeats, "HEARTBEAT_TIMEOUT without heartbeats");
		break;
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_SLOW_CONSUMER:
		FUZZ_CHECK(sf_live(c, e->subscription_id), "SLOW_CONSUMER for subscription %u",
			   e->subscription_id);
		break;
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER:	/* a Hello's producer */
		FUZZ_CHECK(f && !c->got && f->m &&
			   f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO &&
			   f->m->hello->producer_id[0], "BAD_PRODUCER for frame %u (%s)", c->cur,
			   f ? sf_kind(f->m) : "none");
		break;
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED:	/* an older epoch, or */
		FUZZ_CHECK(f && !c->got && f->m &&	/* taken over by another connection */
			   ((f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO &&
			     f->m->hello->producer_id[0]) ||
			    (f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH &&
			     c->producer)), "PRODUCER_FENCED for frame %u (%s)", c->cur,
			   f ? sf_kind(f->m) : "none");
		break;
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED:	/* input or answers */
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_DEADLINE:	/* a frame held back */
		break;
	default:
		FUZZ_CHECK(false, "closing Error %d at frame %u: %s", (int)e->code, c->cur,
			   e->message);
	}
	c->closing = true;
}

/* A ring no reader attached to in time: its subscription ends, out of turn. True when a
 * says so for a live ring (and the subscription is gone). */
static bool sf_ring_ended(struct sf_conv *c, const Fanout__V1__ServerMessage *a)
{
	struct sf_sub *s;

	if (!sf_is_error(a, FANOUT__V1__ERROR_CODE__ERROR_CODE_SHM_UNAVAILABLE))
		return false;
	s = sf_live(c, a->error->subscription_id);
	if (!s || !s->req->shm_ring_bytes || !strstr(a->error->message, "attach"))
		return false;
	*s = c->subs[--c->nsubs];
	return true;
}

/* An answer (not an event or heartbeat), in order. */
static void sf_answer(struct sf_conv *c, const Fanout__V1__ServerMessage *a)
{
	if (sf_is_error(a, 0) && a->error->closing) {
		sf_closing(c, a->error);
		return;
	}
	if (sf_ring_ended(c, a))
		return;
	for (;;) {
		const struct sf_frame *f;

		FUZZ_CHECK(c->cur < c->nframes, "%s after every frame (%u) was answered",
			   sf_answer_name(a), c->nframes);
		f = &c->frames[c->cur];
		if (!c->got && !(f->m && f->m->body_case == FANOUT__V1__CLIENT_MESSAGE__BODY_ACK &&
				 sf_is_sep(a, c->cur))) {
			sf_main(c, c->cur, a);
			c->got = true;
			return;
		}
		if (c->acked && sf_is_error(a, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL) &&
		    a->error->sequence == f->m->publish->sequence) {
			c->acked = false;	/* the events another reactor failed to append */
			return;
		}
		if (f->sep) {
			FUZZ_CHECK(sf_is_sep(a, c->cur), "frame %u (%s): a second answer, %s",
				   c->cur, sf_kind(f->m), sf_answer_name(a));
			sf_next(c);
			return;
		}
		sf_next(c);	/* a publish pipelined with the next frame: a is the next's */
	}
}

static void sf_event(struct sf_conv *c, const Fanout__V1__Event *ev)
{
	const Fanout__V1__Distribution *d = ev->distribution;
	struct sf_sub *one = NULL;
	uint32_t on_topic = 0;
	bool matched = false;

	FUZZ_CHECK(d && d->topic[0] && d->routing_key[0], "an event without topic or key");
	for (uint32_t i = 0; i < c->nsubs; i++) {
		struct sf_sub *s = &c->subs[i];

		if (s->req->shm_ring_bytes || strcmp(s->req->topic, d->topic) != 0)
			continue;	/* a ring's events never come here */
		on_topic++;
		one = s;
		FUZZ_CHECK(d->partition < s->partitions, "event in partition %u of %u",
			   d->partition, s->partitions);
		matched = matched || sf_sub_matches(s, d->routing_key);
	}
	FUZZ_CHECK(on_topic > 0, "event %s:%u:%llu with no live subscription on its topic "
		   "but to rings (frame %u)", d->topic, d->partition, (unsigned long long)d->offset, c->cur);
	FUZZ_CHECK(matched, "event %s:%u:%llu key '%s' matches no pattern of the topic's %u "
		   "subscriptions", d->topic, d->partition, (unsigned long long)d->offset,
		   d->routing_key, on_topic);
	if (on_topic != 1 || d->partition >= 64)
		return;
	FUZZ_CHECK(d->offset + 1 > one->last[d->partition],
		   "subscription %u: offset %llu after %llu in partition %u",
		   one->req->subscription_id, (unsigned long long)d->offset,
		   (unsigned long long)one->last[d->partition] - 1, d->partition);
	FUZZ_CHECK(one->req->snapshot || d->offset >= one->next[d->partition],
		   "subscription %u: offset %llu before its start %llu in partition %u",
		   one->req->subscription_id, (unsigned long long)d->offset,
		   (unsigned long long)one->next[d->partition], d->partition);
	one->last[d->partition] = d->offset + 1;
}

/* One frame the server sent. */
static void sf_server_frame(struct sf_conv *c, const uint8_t *body, uint32_t len)
{
	Fanout__V1__ServerMessage *a = fanout__v1__server_message__unpack(NULL, len, body);
	const char *path = "";

	FUZZ_CHECK(a, "a server frame of %u bytes is not a ServerMessage", len);
	FUZZ_CHECK(a->body_case != FANOUT__V1__SERVER_MESSAGE__BODY__NOT_SET,
		   "a ServerMessage without a body");
	FUZZ_CHECK(sf_strings_ok(&a->base, &path), "%s: %s is not valid UTF-8",
		   sf_answer_name(a), path);
	if (sf_verbose)
		fprintf(stderr, "session_fuzz: frame %u: %s%s%s\n", c->cur, sf_answer_name(a),
			a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ? ": " : "",
			a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			a->error->message : "");
	FUZZ_CHECK(!c->closing, "%s after a closing Error", sf_answer_name(a));
	if (a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		FUZZ_CHECK(a->error->code > 0 &&
			   (a->error->code <= FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER ||
			    /* an idempotent producer's batch behind one refused for now */
			    (c->producer &&
			     a->error->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_OUT_OF_ORDER)) &&
			   a->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED &&
			   /* the disk never refuses a sync here */
			   a->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_NOT_DURABLE &&
			   /* no partition is ever quarantined here: fresh data directories */
			   a->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_PARTITION_QUARANTINED &&
			   a->error->message[0], "Error with code %d, message '%s'",
			   (int)a->error->code, a->error->message);
	if (a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
		sf_event(c, a->event);
	else if (a->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT)
		FUZZ_CHECK(c->heartbeats, "a Heartbeat nobody asked for (frame %u)", c->cur);
	else
		sf_answer(c, a);
	fanout__v1__server_message__free_unpacked(a, NULL);
}

/* ---- the connection ---------------------------------------------------------------- */

/* What goes on the wire: the stream with the separators put in, cut in chunks. */
struct sf_plan {
	uint8_t *wire;
	size_t len;
	size_t chunk_end[SF_CUTS_MAX + 1];	/* wire offsets */
	uint32_t chunk_seps[SF_CUTS_MAX + 1];	/* separators answered before the next */
	bool chunk_sync[SF_CUTS_MAX + 1];
	uint32_t nchunks;
};

static size_t sf_ping(uint8_t *out, uint64_t nonce, int64_t time_ns)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;

	p.nonce = nonce;
	p.send_time_ns = time_ns;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	return frame_pack(&m.base, out);
}

#define SF_PING_BYTES 32u	/* a packed separator, at most (prefix included) */

/* Reads the stream's frames (as the server will, with its limit) and decodes each. */
static void sf_frames(struct sf_conv *c, const uint8_t *s, size_t n)
{
	size_t pos = 0;

	c->frames = calloc(n + 1, sizeof(*c->frames));	/* a frame takes a byte at least */
	FUZZ_CHECK(c->frames, "out of memory");
	while (pos < n) {
		struct frame_view v;
		int rc = frame_parse(s + pos, n - pos, SF_FRAME_MAX, &v);
		struct sf_frame *f = &c->frames[c->nframes];

		if (rc <= 0) {
			c->prefix_rc = rc;
			break;
		}
		pos += (size_t)rc;
		f->m = fanout__v1__client_message__unpack(NULL, v.len, v.body);
		f->end = pos;
		c->nframes++;
	}
	/* A separator after every frame but a publish another publish follows. */
	for (uint32_t i = 0; i < c->nframes; i++)
		c->frames[i].sep = !(i + 1 < c->nframes && sf_is_publish(&c->frames[i]) &&
				     sf_is_publish(&c->frames[i + 1]));
}

static void sf_plan(struct sf_plan *p, const struct sf_conv *c, const uint8_t *s, size_t n,
		    const uint8_t *cuts, size_t ncuts)
{
	size_t at = 0;	/* stream offset */
	uint32_t f = 0;

	p->wire = malloc(n + (size_t)c->nframes * SF_PING_BYTES + 1);
	FUZZ_CHECK(p->wire, "out of memory");
	p->len = 0;
	p->nchunks = 0;
	for (size_t k = 0; k <= ncuts && at < n; k++) {
		size_t end = k < ncuts ? at + (cuts[k] & 0x7f) + 1 : n;

		end = end < n ? end : n;
		for (; at < end; at++) {
			p->wire[p->len++] = s[at];
			if (f < c->nframes && c->frames[f].end == at + 1) {
				if (c->frames[f].sep)
					p->len += sf_ping(p->wire + p->len, SF_SEP_NONCE + f,
							  SF_SEP_TIME);
				f++;
			}
		}
		p->chunk_end[p->nchunks] = p->len;
		p->chunk_sync[p->nchunks] = k < ncuts && (cuts[k] & 0x80);
		/* Answers owed once this chunk is in: those up to the last separator sent. */
		p->chunk_seps[p->nchunks] = f;
		while (p->chunk_seps[p->nchunks] > 0 &&
		       !c->frames[p->chunk_seps[p->nchunks] - 1].sep)
			p->chunk_seps[p->nchunks]--;
		p->nchunks++;
	}
}

/* Received bytes not yet handed to the checks. */
struct sf_rx {
	uint8_t *buf;
	size_t len, cap;
	bool eof;
};

/* Descriptors a ring's SubscribeResult brings: sealed memfds, the ring sealed against
 * writes too. Each is checked and closed; c counts them. */
static void sf_take_fds(struct msghdr *mh, struct sf_conv *c)
{
	FUZZ_CHECK(!(mh->msg_flags & MSG_CTRUNC), "more descriptors than %u at once",
		   (unsigned)SF_FDS_MAX);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		FUZZ_CHECK(cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS,
			   "ancillary data of type %d", cm->cmsg_type);
		for (size_t k = 0; k < n; k++) {
			int fd, seals, need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
			seals = fcntl(fd, F_GET_SEALS);
			FUZZ_CHECK(c->local, "a descriptor over TCP");
			FUZZ_CHECK(seals >= 0 && (seals & need) == need, "descriptor %u: seals %#x",
				   c->fds_got, seals);
			/* Each ring is two: the ring (read-only to readers), its reader area. */
			FUZZ_CHECK(c->fds_got % 2 == 1 || (seals & F_SEAL_FUTURE_WRITE),
				   "ring descriptor %u writable (seals %#x)", c->fds_got, seals);
			close(fd);
			c->fds_got++;
		}
	}
}

/* recv, keeping the descriptors a Unix socket passes. */
static ssize_t sf_recv(int fd, uint8_t *buf, size_t cap, struct sf_conv *c)
{
	union {
		char buf[CMSG_SPACE(SF_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t got = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	if (got > 0)
		sf_take_fds(&mh, c);
	return got;
}

/* Reads what is there and checks every complete frame. Returns false when nothing
 * was there. */
static bool sf_read(int fd, struct sf_rx *rx, struct sf_conv *c)
{
	size_t pos = 0;
	ssize_t got;

	if (rx->cap - rx->len < 65536) {
		rx->cap = rx->cap ? rx->cap * 2 : 262144;
		FUZZ_CHECK(rx->cap <= SF_RX_MAX, "%zu bytes of answers unparsed", rx->len);
		rx->buf = realloc(rx->buf, rx->cap);
		FUZZ_CHECK(rx->buf, "out of memory");
	}
	got = sf_recv(fd, rx->buf + rx->len, rx->cap - rx->len, c);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (got <= 0) {		/* the server closed (a reset too: its close with unread input) */
		rx->eof = true;
		return true;
	}
	rx->len += (size_t)got;
	for (;;) {
		struct frame_view v;
		int rc = frame_parse(rx->buf + pos, rx->len - pos, (uint32_t)sf.cfg.segment_bytes, &v);

		FUZZ_CHECK(rc >= 0, "a server frame's prefix: %d", rc);
		if (rc == 0)
			break;
		sf_server_frame(c, v.body, v.len);
		pos += (size_t)rc;
	}
	memmove(rx->buf, rx->buf + pos, rx->len - pos);
	rx->len -= pos;
	return true;
}

/* Done: every separator answered (a bad prefix: the close came). */
static bool sf_done(const struct sf_conv *c, const struct sf_rx *rx, size_t written,
		    const struct sf_plan *p)
{
	if (rx->eof)
		return true;
	return !c->closing && c->prefix_rc == 0 && written == p->len && c->cur == c->nframes;
}

static void sf_converse(int fd, struct sf_conv *c, const struct sf_plan *p)
{
	struct sf_rx rx = { 0 };
	size_t written = 0;
	uint32_t chunk = 0;
	bool write_failed = false;
	int64_t deadline = clock_monotonic_ns() + SF_WAIT_MS * 1000000ll;

	while (!sf_done(c, &rx, written, p)) {
		bool synced = chunk == 0 || !p->chunk_sync[chunk - 1] || c->closing ||
			      c->cur >= p->chunk_seps[chunk - 1];
		bool want_write = !write_failed && written < p->len && synced;
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (want_write ? POLLOUT : 0) };
		int64_t left = deadline - clock_monotonic_ns();
		int n;

		FUZZ_CHECK(left > 0, "no answer for %d ms: frame %u of %u answered so far, %zu of "
			   "%zu bytes written, closing %d", SF_WAIT_MS, c->cur, c->nframes, written,
			   p->len, c->closing);
		n = poll(&pfd, 1, (int)(left / 1000000) + 1);
		FUZZ_CHECK(n >= 0 || errno == EINTR, "poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && sf_read(fd, &rx, c))
			deadline = clock_monotonic_ns() + SF_WAIT_MS * 1000000ll;
		if (want_write && (pfd.revents & POLLOUT)) {
			ssize_t w = send(fd, p->wire + written, p->chunk_end[chunk] - written,
					 MSG_NOSIGNAL);

			if (w < 0 && errno != EAGAIN && errno != EINTR)
				write_failed = true;	/* closed: the read side says why */
			if (w > 0)
				written += (size_t)w;
			/* The bound is on silence, not on the conversation. */
			deadline = clock_monotonic_ns() + SF_WAIT_MS * 1000000ll;
			if (written == p->chunk_end[chunk])
				chunk++;
		}
	}
	FUZZ_CHECK(!rx.eof || c->closing, "the server closed the connection without a closing "
		   "Error (frame %u of %u answered)", c->cur, c->nframes);
	free(rx.buf);
}

/* The server still answers: a Ping on fd, and nothing else comes. */
static void sf_alive(int fd, const char *which)
{
	uint8_t ping[SF_PING_BYTES];
	struct sf_conv c = { 0 };
	struct sf_plan p;
	size_t n = sf_ping(ping, 42, 42);

	sf_frames(&c, ping, n);
	sf_plan(&p, &c, ping, n, NULL, 0);
	sf_converse(fd, &c, &p);
	FUZZ_CHECK(c.cur == 1 && !c.closing, "no Pong on %s", which);
	fanout__v1__client_message__free_unpacked(c.frames[0].m, NULL);
	free(c.frames);
	free(p.wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t head = fuzz_u8(&in);
	size_t ncuts;
	const uint8_t *cuts = fuzz_take(&in, (head & 0x7f) % (SF_CUTS_MAX + 1), &ncuts);
	struct sf_conv c = { .local = head & 0x80 };
	struct sf_plan p;
	int fd;

	if (!sf.up)
		sf_init();
	sf_frames(&c, in.p, in.n);
	sf_plan(&p, &c, in.p, in.n, cuts, ncuts);
	fd = sf_connect(c.local);
	sf_converse(fd, &c, &p);
	close(fd);	/* unread answers and a partial frame go with it */
	/* Nothing a client sends affects another: the bystander is answered. Accepting
	 * still works: a new connection is too, after a close the server made and every
	 * SF_FRESH_EVERY inputs (each costs a connection's set-up and tear-down). */
	sf_alive(sf.bystander, "the bystander's connection");
	if (c.closing || sf.inputs % SF_FRESH_EVERY == 0) {
		fd = sf_connect(false);
		sf_alive(fd, "a new connection");
		close(fd);
	}
	for (uint32_t i = 0; i < c.nframes; i++)
		if (c.frames[i].m)
			fanout__v1__client_message__free_unpacked(c.frames[i].m, NULL);
	free(c.frames);
	free(p.wire);
	sf_maybe_restart();
	return 0;
}
