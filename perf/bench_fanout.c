/* perf/bench_fanout.c — the fanout driver: fanoutd from the build tree with a temporary
 * data dir; the publisher sends the pre-encoded events every system carries
 * (perf/bench_event.h: event_id = sequence, timestamp_ns = intended send time) in one
 * ClientMessage{PublishBatch} frame per batch, built in place without protobuf-c, and
 * counts fanoutd's acks (one per batch, in order, one offset per event) read without
 * allocating: an Error or a wrong ack fails the run, so every event the run counts was
 * accepted by fanoutd's validation. Subscribers take one routing-key pattern per
 * subscribed key and the content filter (cfg->filter) in every Subscribe, read
 * non-blocking and read only the two fields they need from each frame (a protobuf
 * wire-format walk, no allocation), as a latency-minded consumer would. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "perf/bench_event.h"
#include "perf/bench_pb.h"
#include "tools/client.h"
#include "tools/http_client.h"
#include "tools/synth.h"

#define CONNECT_TIMEOUT_MS 10000
#define READY_TIMEOUT_MS 10000
#define ACK_TIMEOUT_MS 10000
#define PATTERNS_PER_SUB 64u	/* the protocol's limit per subscription */
#define PUB_WINDOW 64u		/* batches in flight before waiting for acks */

struct fpub {
	struct client c;
	uint8_t *buf;		/* bench_event_batch's, for the largest batch */
	uint64_t batches;	/* sent; batch b (from 1) is PublishBatch.sequence b */
	uint64_t acked;		/* batches acknowledged, in order */
	uint64_t sent_events, acked_events;
	uint32_t window[PUB_WINDOW + 1];	/* events of batch b at b mod its size */
};

void bench_fanout_key(char *dst, size_t cap, unsigned k)
{
	char sym[16];

	bench_key_name(sym, sizeof(sym), k);
	snprintf(dst, cap, "%s.%s.trade", sym, synth_exchange(k));
}

/* Reads the "HOST:PORT" fanoutd writes (atomically, by rename) once it listens, and the
 * admin API's from its "http HOST:PORT" line. */
static bool read_ready(const char *path, char *addr, size_t cap, char *http, size_t hcap)
{
	FILE *f = fopen(path, "r");
	char line[128];
	bool ok;

	if (!f)
		return false;
	ok = fgets(addr, (int)cap, f) && strchr(addr, ':');
	addr[strcspn(addr, " \r\n")] = '\0';
	http[0] = '\0';
	if (ok && fgets(line, sizeof(line), f) && strncmp(line, "http ", 5) == 0) {
		size_t n = strcspn(line + 5, " \r\n");

		if (n < hcap) {
			memcpy(http, line + 5, n);
			http[n] = '\0';
		}
	}
	fclose(f);
	return ok;
}

/* --fanout-priority: the measured topic made through the topics API with it. */
static int fanout_topic_priority(struct bench_run *r)
{
	struct http_response ans = { 0 };
	char body[128];
	int rc;

	snprintf(body, sizeof(body), "{\"topic_name\": \"%s\", \"priority\": %d}", BENCH_TOPIC,
		 r->cfg->fanout_priority);
	rc = http_request(r->http, "POST", "/api/v1/topics", NULL, body, strlen(body), 10000,
			  &ans);
	if (rc == 0 && ans.status != 201) {
		fprintf(stderr, "fanout-bench: topic %s with priority %d: HTTP %d %s\n",
			BENCH_TOPIC, r->cfg->fanout_priority, ans.status, ans.body ? ans.body : "");
		rc = -EPROTO;
	} else if (rc) {
		fprintf(stderr, "fanout-bench: topics API at %s: %s\n", r->http, strerror(-rc));
	}
	http_response_free(&ans);
	return rc;
}

/* --fanout-auth: the bootstrap token the server wrote goes in $FANOUT_TOKEN, which
 * client_hello sends. Returns 0 or -errno. */
static int fanout_token(const char *path)
{
	char tok[128] = "";
	FILE *f = fopen(path, "r");

	if (!f || !fgets(tok, sizeof(tok), f)) {
		if (f)
			fclose(f);
		fprintf(stderr, "fanout-bench: --fanout-auth: no token in %s\n", path);
		return -ENOENT;
	}
	fclose(f);
	tok[strcspn(tok, "\n")] = '\0';
	return setenv("FANOUT_TOKEN", tok, 1) < 0 ? -errno : 0;
}

/* A Hello (with $FANOUT_TOKEN): needed with --fanout-auth. Returns 0 or -errno. */
static int fanout_hello(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;
	int rc = client_hello(c, "fanout-bench", CONNECT_TIMEOUT_MS, &m);

	if (rc < 0)
		fprintf(stderr, "fanout-bench: fanoutd refused the Hello%s%s\n",
			m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ? ": " : "",
			m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			m->error->message : "");
	if (m)
		client_free_msg(m);
	return rc;
}

/* --fanout-tls: a self-signed certificate for 127.0.0.1 in the run's directory, made
 * with the openssl command; the clients trust it through $FANOUT_TLS_CA. */
static int fanout_tls_cert(struct bench_run *r, char *cert, char *key, size_t cap)
{
	char cmd[1024];

	snprintf(cert, cap, "%s/tls.pem", r->tmpdir);
	snprintf(key, cap, "%s/tls.key", r->tmpdir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:P-256 -nodes -keyout '%s' -out '%s' -days 2 -subj "
		 "/CN=fanout-bench -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", key,
		 cert);
	if (system(cmd) != 0) {
		fprintf(stderr, "fanout-bench: --fanout-tls: openssl could not make a "
			"certificate\n");
		return -ENOENT;
	}
	return setenv("FANOUT_TLS_CA", cert, 1) < 0 ? -errno : 0;
}

/* A client's connection to the server: tls:// with --fanout-tls. */
static int fanout_connect(struct bench_run *r, struct client *c)
{
	char addr[96];

	snprintf(addr, sizeof(addr), "%s%s", r->cfg->fanout_tls ? "tls://" : "", r->addr);
	return client_connect(c, addr, CONNECT_TIMEOUT_MS);
}

static int fanout_server_start(struct bench_run *r)
{
	char data[200], ready[200], log[200], lag[32], reactors[16], index[24], boot[220];
	char cert[220], key[220];
	/* The admin API on a port of its own (not the default 7480 another server may hold). */
	char *argv[] = { (char *)r->cfg->fanoutd, "--listen", "127.0.0.1:0", "--data-dir", data,
			 "--ready-file", ready, "--quiet", "--shm-socket", r->shm_socket,
			 "--data-index-bytes", index, "--http", "127.0.0.1:0", NULL, NULL, NULL,
			 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	int rc = bench_tmpdir(r), st, argc = 14;

	if (rc)
		return rc;
	/* The REST data API's index is off unless asked for: the peers keep no history
	 * index, and its own cost is measured on its own (perf/RESULTS.md §13). */
	snprintf(index, sizeof(index), "%llu", (unsigned long long)r->cfg->fanout_data_index_bytes);
	if (r->cfg->fanout_max_lag_bytes >= 0) {	/* else fanoutd's own bound */
		snprintf(lag, sizeof(lag), "%.0f", r->cfg->fanout_max_lag_bytes);
		argv[argc++] = "--max-lag-bytes";
		argv[argc++] = lag;
	}
	if (r->cfg->fanout_reactors) {	/* else one per CPU */
		snprintf(reactors, sizeof(reactors), "%u", r->cfg->fanout_reactors);
		argv[argc++] = "--reactors";
		argv[argc++] = reactors;
	}
	if (r->cfg->fanout_fsync[0]) {
		argv[argc++] = "--fsync";
		argv[argc++] = (char *)r->cfg->fanout_fsync;
	}
	if (r->cfg->fanout_tls) {
		rc = fanout_tls_cert(r, cert, key, sizeof(cert));
		if (rc)
			return rc;
		argv[argc++] = "--tls-cert";
		argv[argc++] = cert;
		argv[argc++] = "--tls-key";
		argv[argc++] = key;
	}
	if (r->cfg->fanout_auth) {	/* the server makes the token file */
		snprintf(boot, sizeof(boot), "%s/boot.token", r->tmpdir);
		argv[argc++] = "--auth";
		argv[argc++] = "required";
		argv[argc++] = "--auth-bootstrap";
		argv[argc++] = boot;
	}
	snprintf(data, sizeof(data), "%s/data", r->tmpdir);
	snprintf(r->shm_socket, sizeof(r->shm_socket), "%s/shm.sock", r->tmpdir);
	snprintf(ready, sizeof(ready), "%s/ready", r->tmpdir);
	snprintf(log, sizeof(log), "%s/fanoutd.log", r->tmpdir);
	r->server_pid = bench_spawn(argv, log);
	if (r->server_pid < 0)
		return r->server_pid;
	for (int i = 0; i < READY_TIMEOUT_MS / 20; i++) {
		if (read_ready(ready, r->addr, sizeof(r->addr), r->http, sizeof(r->http))) {
			if (r->cfg->fanout_auth && (rc = fanout_token(boot)) < 0)
				return rc;
			return r->cfg->fanout_priority >= 0 ? fanout_topic_priority(r) : 0;
		}
		if (waitpid(r->server_pid, &st, WNOHANG) == r->server_pid) {
			r->server_pid = -1;
			fprintf(stderr, "fanout-bench: %s exited at start-up%s\n", r->cfg->fanoutd,
				WIFEXITED(st) && WEXITSTATUS(st) == 127 ?
				" (not found: build it, or give --fanoutd PATH)" : "");
			bench_log_tail(log);
			return -ECHILD;
		}
		usleep(20000);
	}
	fprintf(stderr, "fanout-bench: %s not ready after %d ms\n", r->cfg->fanoutd,
		READY_TIMEOUT_MS);
	bench_log_tail(log);
	return -ETIMEDOUT;
}

static int fanout_pub_open(struct bench_run *r, struct bench_pub *p)
{
	static unsigned next_producer;	/* one run's publishers open one after another */
	struct fpub *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	p->priv = f;
	f->buf = malloc(bench_event_batch_cap(r->cfg->batch));
	if (!f->buf)
		return -ENOMEM;
	rc = fanout_connect(r, &f->c);
	if (rc == 0 && r->cfg->fanout_auth && !r->cfg->fanout_idempotent)
		rc = fanout_hello(&f->c);
	if (rc == 0 && r->cfg->fanout_idempotent) {	/* a producer of its own: bench-N */
		Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
		Fanout__V1__ServerMessage *m = NULL;
		char id[32];

		snprintf(id, sizeof(id), "bench-%u", next_producer++);
		h.protocol_version = 1;
		h.client_name = "fanout-bench";
		h.producer_id = id;
		h.producer_epoch = 1;
		rc = client_hello_msg(&f->c, &h, CONNECT_TIMEOUT_MS, &m);
		if (rc < 0)
			fprintf(stderr, "fanout-bench: fanoutd refused producer %s%s%s\n", id,
				m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
				": " : "", m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
				m->error->message : "");
		if (m)
			client_free_msg(m);
	}
	return rc;
}

/* fanoutd refused a batch: says so, with the Error's code and message (decoded by
 * protobuf-c: this happens once), and fails the run. */
static int fanout_pub_refused(const struct frame_view *v)
{
	Fanout__V1__ServerMessage *m = fanout__v1__server_message__unpack(NULL, v->len, v->body);
	const ProtobufCEnumValue *code;

	if (!m || m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
		fprintf(stderr, "fanout-bench: fanoutd sent an Error the bench cannot decode\n");
	} else {
		code = protobuf_c_enum_descriptor_get_value(&fanout__v1__error_code__descriptor,
							    (int)m->error->code);
		fprintf(stderr, "fanout-bench: fanoutd refused publish batch %" PRIu64 ": %s: %s\n",
			m->error->sequence, code ? code->name : "?", m->error->message);
	}
	if (m)
		fanout__v1__server_message__free_unpacked(m, NULL);
	return -EPROTO;
}

/* One PublishAck: the next batch in order, one offset per event it held. */
static int fanout_pub_ack(struct fpub *f, struct bench_pub *p, const struct bench_pb_ack *a)
{
	uint64_t want = f->acked + 1;
	uint32_t n = f->window[want % (PUB_WINDOW + 1)];

	if (a->sequence != want || a->offsets != n || p->outstanding == 0) {
		fprintf(stderr, "fanout-bench: fanoutd acknowledged batch %" PRIu64 " with %" PRIu64
			" offsets; expected batch %" PRIu64 " of %" PRIu32 " events\n", a->sequence,
			a->offsets, want, n);
		return -EPROTO;
	}
	f->acked = want;
	f->acked_events += n;
	p->outstanding--;
	return 0;
}

/* Reads answers; waits (up to ACK_TIMEOUT_MS each) while more than `window` batches are
 * in flight. Frames are read in place, not decoded: no allocation per batch. */
static int fanout_pub_acks(struct fpub *f, struct bench_pub *p, uint64_t window)
{
	for (;;) {
		struct frame_view v;
		struct bench_pb_ack a;
		int rc = client_recv_frame(&f->c, &v, p->outstanding > window ? ACK_TIMEOUT_MS : 0);

		if (rc == -ETIMEDOUT && p->outstanding <= window)
			return 0;
		if (rc)
			return rc;
		rc = bench_pb_answer(v.body, v.len, &a);
		if (rc == BENCH_PB_ERROR)
			return fanout_pub_refused(&v);
		if (rc < 0) {
			fprintf(stderr, "fanout-bench: fanoutd sent a frame that does not parse\n");
			return rc;
		}
		if (rc == BENCH_PB_ACK && (rc = fanout_pub_ack(f, p, &a)))
			return rc;
	}
}

static int fanout_pub_send(struct bench_run *r, struct bench_pub *p, uint64_t seq0, unsigned n,
			   const int64_t *intended_ns)
{
	struct fpub *f = p->priv;
	const uint8_t *frame;
	long len = bench_event_batch(r->events, f->buf, f->batches + 1, seq0, n, intended_ns,
				     &frame);
	int rc;

	if (len < 0)
		return (int)len;
	rc = client_send_raw(&f->c, frame, (size_t)len);
	if (rc)
		return rc;
	f->batches++;
	f->window[f->batches % (PUB_WINDOW + 1)] = n;
	f->sent_events += n;
	p->bytes += (uint64_t)len;
	p->outstanding++;
	return fanout_pub_acks(f, p, PUB_WINDOW);
}

/* Every batch acknowledged, every event stored: the run's events all passed fanoutd. */
static int fanout_pub_flush(struct bench_run *r, struct bench_pub *p)
{
	struct fpub *f = p->priv;
	int rc = fanout_pub_acks(f, p, 0);

	(void)r;
	if (!rc && f->acked_events != f->sent_events) {
		fprintf(stderr, "fanout-bench: fanoutd stored %" PRIu64 " of %" PRIu64 " events\n",
			f->acked_events, f->sent_events);
		rc = -EPROTO;
	}
	return rc;
}

static void fanout_pub_close(struct bench_pub *p)
{
	struct fpub *f = p->priv;

	if (!f)
		return;
	client_close(&f->c);
	free(f->buf);
	free(f);
	p->priv = NULL;
}

#define NAMED_ACK_EVERY 64u	/* --fanout-named: events between a subscriber's Acks */

/* A fanout subscriber's connection; with --fanout-named, its subscriptions (ids 1..nids)
 * and the events since its last Acks. */
struct fsub {
	struct client cl;
	bool named, shared;
	unsigned nids, since_ack;
	/* --fanout-shared: events of partition ack_part received and not acked yet */
	uint32_t ack_part, nacks;
	uint64_t acks[NAMED_ACK_EVERY];
};

static int fanout_varint(const uint8_t *p, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			return 0;
	}
	return -EBADMSG;
}

/* An event frame's partition and offset (ServerMessage.event.distribution). */
static int fanout_frame_position(const uint8_t *body, size_t len, uint32_t *part,
				 uint64_t *off)
{
	size_t elen, dlen, vlen;
	long at = bench_pb_field(body, len, 1, 2, &elen), dat;
	uint64_t p = 0;

	if (at < 0 || (dat = bench_pb_field(body + at, elen, 4, 2, &dlen)) < 0)
		return -EBADMSG;
	body += at + dat;
	if ((at = bench_pb_field(body, dlen, 2, 0, &vlen)) >= 0 &&
	    fanout_varint(body + at, vlen, &p) < 0)
		return -EBADMSG;
	*part = (uint32_t)p;
	*off = 0;
	if ((at = bench_pb_field(body, dlen, 3, 0, &vlen)) >= 0)
		return fanout_varint(body + at, vlen, off);
	return 0;
}

/* Writes a whole frame even if the socket is full for a moment. */
static void fanout_sub_write(struct bench_sub *s, const uint8_t *buf, size_t len)
{
	SSL *ssl = ((struct fsub *)s->priv)->cl.ssl;
	size_t done = 0;

	while (done < len && ssl) {	/* --fanout-tls: acks are records too */
		struct pollfd pfd = { .fd = s->fd };
		size_t w = 0;
		int rc;

		ERR_clear_error();
		if (SSL_write_ex(ssl, buf + done, len - done, &w) == 1) {
			done += w;
			continue;
		}
		rc = SSL_get_error(ssl, 0);
		if (rc != SSL_ERROR_WANT_WRITE && rc != SSL_ERROR_WANT_READ)
			return;	/* the connection is going: its reader finds out */
		pfd.events = rc == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		(void)poll(&pfd, 1, 100);
	}
	while (done < len) {
		ssize_t w = write(s->fd, buf + done, len - done);

		if (w > 0) {
			done += (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return;	/* the connection is going: its reader finds out */
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };

			(void)poll(&pfd, 1, 100);
		}
	}
}

/* --fanout-named: an Ack through this frame on every subscription of the connection
 * (cumulative; the server clamps an Ack to what it sent each), in one write that is
 * finished even if the socket is full for a moment (a frame cut short would break the
 * stream). */
static void fanout_sub_ack(struct bench_sub *s, const uint8_t *body, size_t len)
{
	struct fsub *f = s->priv;
	uint8_t buf[8192];	/* 256 Acks of at most 32 bytes */
	size_t at = 0;
	uint32_t part;
	uint64_t off;

	if (++f->since_ack < NAMED_ACK_EVERY || fanout_frame_position(body, len, &part, &off) < 0)
		return;
	f->since_ack = 0;
	for (unsigned id = 1; id <= f->nids && at + 32 <= sizeof(buf); id++) {
		Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Ack a = FANOUT__V1__ACK__INIT;
		size_t n;

		a.subscription_id = id;
		a.partition = part;
		a.offset = off;
		m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_ACK;
		m.ack = &a;
		n = fanout__v1__client_message__get_packed_size(&m);
		buf[at] = (uint8_t)n;	/* < 128: one varint byte */
		fanout__v1__client_message__pack(&m, buf + at + 1);
		at += n + 1;
	}
	fanout_sub_write(s, buf, at);
}

/* --fanout-shared: acks the events received since the last Ack, individually, in one
 * Ack (offset and offsets). */
static void fanout_sub_ack_list(struct bench_sub *s)
{
	struct fsub *f = s->priv;
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ack a = FANOUT__V1__ACK__INIT;
	uint8_t buf[16 + NAMED_ACK_EVERY * 10];
	size_t n, at;

	if (f->nacks == 0)
		return;
	a.subscription_id = 1;
	a.partition = f->ack_part;
	a.offset = f->acks[0];
	a.n_offsets = f->nacks - 1;
	a.offsets = f->acks + 1;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_ACK;
	m.ack = &a;
	n = fanout__v1__client_message__get_packed_size(&m);
	at = frame_varint_put(buf, (uint32_t)n);
	fanout__v1__client_message__pack(&m, buf + at);
	fanout_sub_write(s, buf, at + n);
	f->nacks = 0;
}

/* --fanout-shared: a received event is acked with the others of its partition, every
 * NAMED_ACK_EVERY events. */
static void fanout_sub_ack_shared(struct bench_sub *s, const uint8_t *body, size_t len)
{
	struct fsub *f = s->priv;
	uint32_t part;
	uint64_t off;

	if (fanout_frame_position(body, len, &part, &off) < 0)
		return;
	if (part != f->ack_part)
		fanout_sub_ack_list(s);
	f->ack_part = part;
	f->acks[f->nacks++] = off;
	if (f->nacks == NAMED_ACK_EVERY)
		fanout_sub_ack_list(s);
}

/* Subscribes, saying why when fanoutd refuses. Returns client_subscribe_msg's code. */
static int fanout_subscribe(struct client *cl, Fanout__V1__Subscribe *sub)
{
	Fanout__V1__ServerMessage *res = NULL;
	int rc = client_subscribe_msg(cl, sub, &res);

	if (rc == -EPROTO && res && res->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fprintf(stderr, "fanout-bench: fanoutd refused a subscription: %s\n",
			res->error->message);
	if (res)
		client_free_msg(res);
	return rc;
}

static int fanout_sub_open(struct bench_run *r, struct bench_sub *s)
{
	const struct bench_cfg *c = r->cfg;
	struct fsub *f = calloc(1, sizeof(*f));
	struct client *cl = &f->cl;
	char keys[PATTERNS_PER_SUB][48], name[64];
	char *pats[PATTERNS_PER_SUB];
	struct bench_pb_filter fst;
	Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;
	int rc;

	if (!f)
		return -ENOMEM;
	s->priv = f;
	f->named = c->fanout_named;
	f->shared = c->fanout_shared != 0;
	rc = fanout_connect(r, cl);
	if (rc == 0 && c->fanout_auth)
		rc = fanout_hello(cl);
	if (rc == 0 && f->shared) {	/* one subscription of every key, the group's */
		sub.subscription_id = 1;
		sub.topic = BENCH_TOPIC;
		sub.start = FANOUT__V1__START_POSITION__START_POSITION_LATEST;
		sub.subscription_name = "bench-group";
		sub.subscription_type = c->fanout_shared;
		rc = fanout_subscribe(cl, &sub);
	}
	for (unsigned t = 0, id = 1; rc == 0 && !f->shared && t < s->nkeys; id++) {
		unsigned n = 0;

		for (; n < PATTERNS_PER_SUB && t < s->nkeys; n++, t++) {
			bench_fanout_key(keys[n], sizeof(keys[n]), (s->key_base + t) % c->symbols);
			pats[n] = keys[n];
		}
		sub.subscription_id = id;
		sub.topic = BENCH_TOPIC;
		sub.patterns = pats;
		sub.n_patterns = n;
		sub.start = FANOUT__V1__START_POSITION__START_POSITION_LATEST;
		sub.filter = bench_pb_filter(&c->filter, &fst);
		if (f->named) {	/* a fresh data directory per run: a new one each time */
			snprintf(name, sizeof(name), "bench-%u-%u", s->id, id);
			sub.subscription_name = name;
			f->nids = id;
		}
		rc = fanout_subscribe(cl, &sub);
	}
	if (rc)
		return rc;
	/* No event flows before the publisher starts: nothing is left in the client's buffer. */
	if (cl->rlen != cl->rpos)
		return -EPROTO;
	s->fd = cl->fd;
	return bench_set_nonblock(s->fd);
}

static int fanout_parse(struct bench_thread *t, struct bench_sub *s)
{
	size_t pos = 0;

	for (;;) {
		struct frame_view v;
		uint64_t seq;
		int64_t ts;
		int n = frame_parse(s->buf + pos, s->len - pos, BENCH_SUB_BUF_BYTES / 2, &v);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		pos += (size_t)n;
		if (bench_pb_event_seq(v.body, v.len, &seq, &ts) == 0) {
			int64_t now = clock_realtime_ns(), srv;

			s->bytes += (uint64_t)n;
			if (bench_deliver(t, s, seq, ts, now) && t->hist_in &&
			    bench_pb_event_receive_time(v.body, v.len, &srv) == 0)
				bench_deliver_split(t, seq, ts, srv, now);
			if (((struct fsub *)s->priv)->named)
				fanout_sub_ack(s, v.body, v.len);
			else if (((struct fsub *)s->priv)->shared)
				fanout_sub_ack_shared(s, v.body, v.len);
		} else {
			fprintf(stderr, "fanout-bench: subscriber %u: a frame that is not an event\n", s->id);
		}
	}
	memmove(s->buf, s->buf + pos, s->len - pos);
	s->len -= pos;
	return 0;
}

/* fanout_sub_read under TLS: records decrypted by OpenSSL. A record's plaintext the
 * buffer had no room for stays in OpenSSL, where no poll sees it: read on while some
 * is pending. */
static int fanout_sub_read_tls(struct bench_thread *t, struct bench_sub *s, SSL *ssl)
{
	for (int i = 0; i < 16 || SSL_pending(ssl) > 0; i++) {
		size_t n = 0;
		int rc;

		ERR_clear_error();
		if (SSL_read_ex(ssl, s->buf + s->len, BENCH_SUB_BUF_BYTES - s->len, &n) != 1) {
			rc = SSL_get_error(ssl, 0);
			if (rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE)
				return 0;
			return rc == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
		}
		s->len += n;
		rc = fanout_parse(t, s);
		if (rc)
			return rc;
	}
	return 0;
}

static int fanout_sub_read(struct bench_thread *t, struct bench_sub *s)
{
	struct fsub *f = s->priv;

	if (f->cl.ssl)
		return fanout_sub_read_tls(t, s, f->cl.ssl);
	for (int i = 0; i < 16; i++) {	/* bounded, so one busy subscriber cannot starve others */
		ssize_t n = read(s->fd, s->buf + s->len, BENCH_SUB_BUF_BYTES - s->len);
		int rc;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		s->len += (size_t)n;
		rc = fanout_parse(t, s);
		if (rc)
			return rc;
	}
	return 0;
}

static void fanout_sub_close(struct bench_sub *s)
{
	if (s->priv)
		client_close(&((struct fsub *)s->priv)->cl);
	free(s->priv);
	s->priv = NULL;
}

const struct bench_driver bench_fanout_driver = {
	.name = "fanout", .topology = "broker: fanoutd (1 reactor, 1 partition)",
	.server_start = fanout_server_start,
	.pub_open = fanout_pub_open, .pub_send = fanout_pub_send,
	.pub_flush = fanout_pub_flush, .pub_close = fanout_pub_close,
	.sub_open = fanout_sub_open, .sub_read = fanout_sub_read, .sub_close = fanout_sub_close,
	.sub_cut = bench_tcp_cut,
};
