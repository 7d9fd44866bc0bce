/* tools/fanoutd_egress.c — Kafka egress through the server's own socket (see
 * fanoutd_egress.h). One thread, one librdkafka producer; per egress topic a protocol
 * connection holding the named subscription, and per fanout partition the window of
 * offsets produced and not yet acked. */
#include "tools/fanoutd_egress.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "core/clock.h"
#include "core/epoch.h"
#include "tools/client.h"
#include "tools/kafka_conf.h"
#include "tools/egress_wire.h"

#define EGRESS_BURST      512u		/* frames read per topic per round */
#define EGRESS_POLL_MS    50		/* an idle round sleeps at most this long */
#define EGRESS_CONNECT_MS 5000
#define EGRESS_RETRY_NS   (200 * 1000000ll)	/* a topic not subscribed is tried again */
#define EGRESS_SAY_NS     1000000000ll	/* one line a second, at most */
#define EGRESS_STOP_MS    2000		/* at the stop: reports awaited */
#define EGRESS_SUB_ID     1u
/* A message's opaque: topic index (3 bits), fanout partition (12), offset (48). */
#define EGRESS_PART_BITS  12u
#define EGRESS_OFF_BITS   48u

struct egress_part {
	uint64_t base;		/* the first offset not yet in Kafka: what is acked */
	uint64_t next;		/* the next offset expected from the server */
	uint64_t acked;		/* what the last Ack (and egress_next) said */
	uint8_t *done;		/* EGRESS_WINDOW: done[o % W], o in [base, next) */
};

struct egress_topic {
	const struct config_kafka_egress *cfg;
	uint32_t idx;
	rd_kafka_topic_t *rkt;
	struct client c;
	bool open;
	uint32_t partitions;
	struct egress_part *parts;	/* partitions, while open */
	uint64_t inflight;		/* sum of next - base: at most EGRESS_WINDOW */
	int64_t retry_at_ns;
	char sub[160];			/* "kafka-egress.<kafka topic>" */
};

static void egress_say(struct fanoutd_egress *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int egress_renew(struct fanoutd_egress *x);

/* One line to stderr, at most one a second (the rest counted). */
static void egress_say(struct fanoutd_egress *x, const char *fmt, ...)
{
	int64_t now = clock_monotonic_ns();
	char line[512];
	va_list ap;

	if (x->said_ns && now - x->said_ns < EGRESS_SAY_NS) {
		x->unsaid++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fanoutd: kafka egress: %s%s\n", line,
		x->unsaid ? " (and more not logged)" : "");
	x->said_ns = now;
	x->unsaid = 0;
}

static void egress_close(struct egress_topic *t)
{
	if (t->open)
		client_close(&t->c);
	t->open = false;
	for (uint32_t p = 0; t->parts && p < t->partitions; p++)
		free(t->parts[p].done);
	free(t->parts);
	t->parts = NULL;
	t->partitions = 0;
	t->inflight = 0;
	t->retry_at_ns = clock_monotonic_ns() + EGRESS_RETRY_NS;
}

/* Where the subscription starts, per partition: its cursors and the gate's egress_next
 * (what is before them is in Kafka: acked only after its delivery report). */
static int egress_place(struct fanoutd_egress *x, struct egress_topic *t,
			const Fanout__V1__SubscribeResult *r)
{
	if (r->partitions == 0 || r->partitions >= (1u << EGRESS_PART_BITS))
		return -ERANGE;
	t->parts = calloc(r->partitions, sizeof(*t->parts));
	if (!t->parts)
		return -ENOMEM;
	t->partitions = r->partitions;
	for (uint32_t p = 0; p < t->partitions; p++)
		if (!(t->parts[p].done = calloc(EGRESS_WINDOW, 1)))
			return -ENOMEM;
	for (size_t i = 0; i < r->n_positions; i++) {
		uint32_t p = r->positions[i]->partition;

		if (p < t->partitions)
			t->parts[p].base = t->parts[p].next = t->parts[p].acked =
				r->positions[i]->next_offset;
	}
	for (uint32_t p = 0; p < t->partitions; p++)
		(void)egress_gate_confirm(x->eng, t->cfg->topic, p, t->parts[p].base,
					  p + 1 == t->partitions);
	egress_gate_wake(x->eng);
	return 0;
}

/* Connects and subscribes topic t: named, EXCLUSIVE, AT_LEAST_ONCE, from the earliest
 * event the first time (everything the log holds goes to Kafka). Returns 0 or -errno
 * (said why; tried again after EGRESS_RETRY_NS). */
static int egress_open(struct fanoutd_egress *x, struct egress_topic *t)
{
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	int rc;

	t->retry_at_ns = clock_monotonic_ns() + EGRESS_RETRY_NS;
	rc = client_connect(&t->c, x->socket, EGRESS_CONNECT_MS);
	if (rc < 0) {
		egress_say(x, "cannot reach the server at %s: %s", x->socket, strerror(-rc));
		return rc;
	}
	t->open = true;
	h.protocol_version = 1;
	h.client_name = "fanoutd-egress";
	h.token = x->token[0] ? x->token : NULL;
	rc = client_hello_msg(&t->c, &h, EGRESS_CONNECT_MS, &m);
	client_free_msg(m);
	m = NULL;
	if (rc == 0) {
		s.subscription_id = EGRESS_SUB_ID;
		s.topic = (char *)t->cfg->topic;
		s.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
		s.subscription_name = t->sub;
		s.subscription_type = FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_EXCLUSIVE;
		s.delivery = FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_LEAST_ONCE;
		rc = client_subscribe_msg(&t->c, &s, &m);
	}
	if (rc == 0)
		rc = egress_place(x, t, m->subscribed);
	if (rc < 0) {
		egress_say(x, "topic %s: cannot subscribe %s: %s", t->cfg->topic, t->sub,
			   m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			   m->error->message : strerror(-rc));
		client_free_msg(m);
		egress_close(t);
		return rc;
	}
	client_free_msg(m);
	if (!x->quiet)
		fprintf(stderr, "fanoutd: kafka egress: topic %s (%u partitions) -> Kafka %s\n",
			t->cfg->topic, t->partitions, t->cfg->kafka_topic);
	return 0;
}

/* Offset off of partition p is in Kafka; the partition's base moves past what is. */
static void egress_mark(struct egress_topic *t, uint32_t p, uint64_t off)
{
	struct egress_part *ep;

	if (!t->parts || p >= t->partitions)
		return;	/* closed meanwhile: read again from the ack anyway */
	ep = &t->parts[p];
	if (off < ep->base || off >= ep->next)
		return;
	ep->done[off % EGRESS_WINDOW] = 1;
	while (ep->base < ep->next && ep->done[ep->base % EGRESS_WINDOW]) {
		ep->done[ep->base % EGRESS_WINDOW] = 0;
		ep->base++;
		t->inflight--;
	}
}

/* Hands one event to librdkafka, waiting (bounded by the stop) while its queue is
 * full. Returns 0 or -EIO (said why). */
static int egress_produce(struct fanoutd_egress *x, struct egress_topic *t, uint32_t p,
			  uint64_t off, const char *key, size_t key_len, const void *val,
			  size_t len)
{
	uint64_t opaque = ((uint64_t)t->idx << (EGRESS_PART_BITS + EGRESS_OFF_BITS)) |
			  ((uint64_t)p << EGRESS_OFF_BITS) | off;
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(x->rk, RD_KAFKA_V_RKT(t->rkt),
					RD_KAFKA_V_KEY(key, key_len),
					RD_KAFKA_V_VALUE((void *)val, len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)opaque),
					RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || atomic_load(&x->stop))
			break;
		rd_kafka_poll(x->rk, 10);	/* reports free room */
	}
	if (err) {
		egress_say(x, "topic %s partition %u offset %llu: cannot produce: %s",
			   t->cfg->topic, p, (unsigned long long)off, rd_kafka_err2str(err));
		return -EIO;
	}
	atomic_fetch_add_explicit(&x->eng->egress.produced, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&x->eng->egress.pending, 1, memory_order_relaxed);
	return 0;
}

/* One event of t: produced, its offset taken into the window. Returns 0 or -errno
 * (the connection is then read again from the ack). */
static int egress_event(struct fanoutd_egress *x, struct egress_topic *t,
			const struct egress_wire *w)
{
	struct egress_part *ep;
	uint64_t off;

	if (w->partition >= t->partitions) {
		egress_say(x, "topic %s: an event of partition %u, of %u; reading again",
			   t->cfg->topic, w->partition, t->partitions);
		return -EPROTO;
	}
	ep = &t->parts[w->partition];
	off = w->offset;
	if (off < ep->next)
		return 0;	/* sent again (a redelivery): produced already */
	if (off != ep->next) {	/* only a Gap skips (egress_gap) */
		egress_say(x, "topic %s partition %u: offset %llu after %llu; reading again",
			   t->cfg->topic, w->partition, (unsigned long long)off,
			   (unsigned long long)ep->next);
		return -EPROTO;
	}
	if (off >= (1ull << EGRESS_OFF_BITS))
		return -ERANGE;
	assert(t->inflight < EGRESS_WINDOW);	/* not read past the window */
	if (egress_produce(x, t, w->partition, off, w->key, w->key_len, w->event, w->len) < 0)
		return -EIO;
	ep->done[off % EGRESS_WINDOW] = 0;
	ep->next = off + 1;
	t->inflight++;
	return 0;
}

/* A Gap (retention deleted events before they were sent): the partition goes on after
 * it. With events in flight before it, nothing may be acked past them: the connection is
 * read again from the ack, where the Gap comes first. Returns 0 or -EPROTO. */
static int egress_gap(struct egress_topic *t, const Fanout__V1__Gap *g)
{
	struct egress_part *ep;

	if (g->partition >= t->partitions)
		return -EPROTO;
	ep = &t->parts[g->partition];
	if (g->end_offset <= ep->next)
		return 0;
	if (ep->base != ep->next)
		return -EPROTO;
	ep->base = ep->next = g->end_offset;	/* acked with the next round */
	return 0;
}

/* One frame from t's connection. Returns 0 or -errno (closed and read again later). */
static int egress_frame(struct fanoutd_egress *x, struct egress_topic *t,
			const struct frame_view *f)
{
	Fanout__V1__ServerMessage *m;
	struct egress_wire w;
	int rc = egress_wire_scan(f->body, f->len, &w);

	if (rc != 0)	/* an event (the bulk: not decoded), or bad bytes */
		return rc < 0 ? rc : egress_event(x, t, &w);
	m = fanout__v1__server_message__unpack(NULL, f->len, f->body);
	if (!m)
		return -EPROTO;
	switch (m->body_case) {
	case FANOUT__V1__SERVER_MESSAGE__BODY_GAP:	/* retention was faster: logged */
		egress_say(x, "topic %s partition %u: events %llu..%llu were deleted by "
			   "retention before they reached Kafka", t->cfg->topic,
			   m->gap->partition, (unsigned long long)m->gap->first_offset,
			   (unsigned long long)m->gap->end_offset);
		rc = egress_gap(t, m->gap);
		break;
	case FANOUT__V1__SERVER_MESSAGE__BODY_ERROR:
		egress_say(x, "topic %s: the server says: %s", t->cfg->topic, m->error->message);
		/* Its subscription ended (the topic deleted, or ended by an operator): the
		 * connection goes and the topic is subscribed again, as after a close. */
		rc = m->error->closing || m->error->subscription_id == EGRESS_SUB_ID ?
		     -ECONNRESET : 0;
		break;
	default:
		break;	/* heartbeats, pongs */
	}
	fanout__v1__server_message__free_unpacked(m, NULL);
	return rc;
}

/* A delivery report (served by rd_kafka_poll, on this thread). */
static void egress_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct fanoutd_egress *x = opaque;
	uint64_t o = (uint64_t)(uintptr_t)m->_private;
	uint32_t idx = (uint32_t)(o >> (EGRESS_PART_BITS + EGRESS_OFF_BITS));
	uint32_t p = (uint32_t)(o >> EGRESS_OFF_BITS) & ((1u << EGRESS_PART_BITS) - 1);

	(void)rk;
	atomic_fetch_sub_explicit(&x->eng->egress.pending, 1, memory_order_relaxed);
	if (m->err) {
		atomic_fetch_add_explicit(&x->eng->egress.failed, 1, memory_order_relaxed);
		if (!x->restart)
			egress_say(x, "delivery to Kafka failed: %s; reading again from the "
				   "acks", rd_kafka_err2str(m->err));
		x->restart = true;	/* what follows may not be acked past it */
		return;
	}
	atomic_fetch_add_explicit(&x->eng->egress.delivered, 1, memory_order_relaxed);
	atomic_store_explicit(&x->eng->egress.kafka_down, false, memory_order_relaxed);
	if (!x->restart && idx < x->n)
		egress_mark(&x->t[idx], p, o & ((1ull << EGRESS_OFF_BITS) - 1));
}

static void egress_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct fanoutd_egress *x = opaque;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT)
		atomic_store_explicit(&x->eng->egress.kafka_down, true, memory_order_relaxed);
	egress_say(x, "Kafka: %s (%u events waiting for it)", reason,
		   (unsigned)atomic_load(&x->eng->egress.pending));
}

/* Acks each partition through what Kafka has, and moves the gate with it. */
static void egress_acks(struct fanoutd_egress *x)
{
	bool moved = false;

	for (uint32_t i = 0; i < x->n; i++) {
		struct egress_topic *t = &x->t[i];

		for (uint32_t p = 0; t->open && p < t->partitions; p++) {
			struct egress_part *ep = &t->parts[p];

			if (ep->base <= ep->acked)
				continue;
			if (client_ack(&t->c, EGRESS_SUB_ID, p, ep->base - 1) < 0) {
				egress_say(x, "topic %s: the server connection broke; reading "
					   "again from the acks", t->cfg->topic);
				egress_close(t);
				break;
			}
			ep->acked = ep->base;
			(void)egress_gate_confirm(x->eng, t->cfg->topic, p, ep->base, false);
			moved = true;
		}
	}
	if (moved)
		egress_gate_wake(x->eng);
}

/* Serves every report queued now. */
static void egress_reports(struct fanoutd_egress *x)
{
	char drain[64];

	while (read(x->wake[0], drain, sizeof(drain)) > 0)
		;
	while (rd_kafka_poll(x->rk, 0) > 0)
		;
}

/* A delivery failed: nothing after it may be acked, so every topic is read again from
 * its ack once what is in flight has settled (those events are produced again). */
static void egress_restart(struct fanoutd_egress *x)
{
	int64_t end = clock_monotonic_ns() + (int64_t)EGRESS_STOP_MS * 1000000;

	char why[256];

	rd_kafka_purge(x->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	while (rd_kafka_outq_len(x->rk) > 0 && clock_monotonic_ns() < end &&
	       !atomic_load(&x->stop))
		rd_kafka_poll(x->rk, 20);
	for (uint32_t i = 0; i < x->n; i++)
		egress_close(&x->t[i]);
	/* A fatal error (the idempotent producer's state is lost) ends the producer:
	 * a new one, a new session, takes over. */
	if (rd_kafka_fatal_error(x->rk, why, sizeof(why)) &&
	    egress_renew(x) < 0)
		egress_say(x, "cannot make a new producer after: %s", why);
	atomic_fetch_add_explicit(&x->eng->egress.restarts, 1, memory_order_relaxed);
	x->restart = false;
}

/* Reads up to EGRESS_BURST frames of t while its window has room. Returns how many. */
static uint32_t egress_read(struct fanoutd_egress *x, struct egress_topic *t)
{
	uint32_t got = 0;

	while (t->open && got < EGRESS_BURST && t->inflight < EGRESS_WINDOW && !x->restart) {
		struct frame_view f;
		int rc = client_recv_frame(&t->c, &f, 0);

		if (rc == -ETIMEDOUT)
			break;
		if (rc == 0)
			rc = egress_frame(x, t, &f);
		if (rc < 0) {
			egress_say(x, "topic %s: %s; reading again from the acks", t->cfg->topic,
				   strerror(-rc));
			egress_close(t);	/* what is in flight is marked into nothing */
			break;
		}
		got++;
	}
	return got;
}

/* Sleeps until a topic's connection or librdkafka has something, EGRESS_POLL_MS at most. */
static void egress_idle(struct fanoutd_egress *x)
{
	struct pollfd fds[CONFIG_KAFKA_EGRESS_MAX + 1];
	nfds_t n = 0;

	fds[n++] = (struct pollfd){ .fd = x->wake[0], .events = POLLIN };
	for (uint32_t i = 0; i < x->n; i++)
		if (x->t[i].open && x->t[i].inflight < EGRESS_WINDOW)
			fds[n++] = (struct pollfd){ .fd = x->t[i].c.fd, .events = POLLIN };
	(void)poll(fds, n, EGRESS_POLL_MS);
}

static void *egress_thread(void *arg)
{
	struct fanoutd_egress *x = arg;

	/* The gate finds topics in the table the reactors read (egress_gate_confirm). */
	if (epoch_register() < 0) {
		fprintf(stderr, "fanoutd: kafka egress: out of memory\n");
		return NULL;
	}
	while (!atomic_load(&x->stop)) {
		int64_t now = clock_monotonic_ns();
		uint32_t got = 0;

		if (x->restart)
			egress_restart(x);
		for (uint32_t i = 0; i < x->n; i++)
			if (!x->t[i].open && now >= x->t[i].retry_at_ns)
				(void)egress_open(x, &x->t[i]);
		for (uint32_t i = 0; i < x->n; i++)
			got += egress_read(x, &x->t[i]);
		egress_reports(x);
		if (!x->restart)
			egress_acks(x);
		if (!got)
			egress_idle(x);
	}
	/* What Kafka confirms within the wait is acked; the rest is produced again. */
	rd_kafka_flush(x->rk, EGRESS_STOP_MS);
	egress_reports(x);
	if (!x->restart)
		egress_acks(x);
	epoch_unregister();
	return NULL;
}

static void egress_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	/* Critical only: librdkafka's threads call this, one line per broker per failure;
	 * the error callback (on the egress thread) says the rest, rate-limited. */
	if (level <= 2)
		fprintf(stderr, "fanoutd: kafka egress: %s: %s\n", fac, buf);
}

/* The idempotent producer: acks=all, retried without end (message.timeout.ms 0: an
 * event waits for Kafka however long it is away; the window bounds how many). */
static int egress_producer(struct fanoutd_egress *x, const struct config *cfg)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char why[512];

	if (kafka_conf_set(c, "kafka egress", "bootstrap.servers", cfg->kafka_brokers) < 0 ||
	    kafka_conf_set(c, "kafka egress", "client.id", "fanoutd-egress") < 0 ||
	    kafka_conf_set(c, "kafka egress", "message.timeout.ms", "0") < 0 ||
	    /* kafka acks: a publisher waits for each produce, so none lingers; local:
	     * a few ms of batching cost nobody a wait. */
	    kafka_conf_set(c, "kafka egress", "linger.ms", cfg->kafka_ack_kafka ? "0" : "5") < 0 ||
	    kafka_conf_set(c, "kafka egress", "log.connection.close", "false") < 0) {
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	/* The operator's next. Consumer properties are only warnings in a producer's
	 * conf; a value librdkafka refuses is an error. */
	if (kafka_conf_options(c, "kafka egress", cfg) < 0) {
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	/* What the guarantee stands on, after the operator's: not to be overridden. */
	if (kafka_conf_set(c, "kafka egress", "enable.idempotence", "true") < 0 ||
	    kafka_conf_set(c, "kafka egress", "acks", "all") < 0) {
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	rd_kafka_conf_set_dr_msg_cb(c, egress_report);
	rd_kafka_conf_set_error_cb(c, egress_error);
	rd_kafka_conf_set_log_cb(c, egress_log);
	rd_kafka_conf_set_opaque(c, x);
	x->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, why, sizeof(why));
	if (!x->rk) {
		fprintf(stderr, "fanoutd: kafka egress: cannot make a producer: %s\n", why);
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	/* The thread sleeps in poll(): librdkafka writes a byte when reports wait. */
	rd_kafka_queue_t *q = rd_kafka_queue_get_main(x->rk);

	rd_kafka_queue_io_event_enable(q, x->wake[1], "1", 1);
	rd_kafka_queue_destroy(q);
	return 0;
}

/* The Kafka topics' handles on the producer. Returns 0 or -EINVAL (said why). */
static int egress_topics(struct fanoutd_egress *x)
{
	for (uint32_t i = 0; i < x->n; i++) {
		struct egress_topic *t = &x->t[i];

		t->rkt = rd_kafka_topic_new(x->rk, t->cfg->kafka_topic, NULL);
		if (!t->rkt) {
			fprintf(stderr, "fanoutd: kafka egress: Kafka topic %s: %s\n",
				t->cfg->kafka_topic, rd_kafka_err2str(rd_kafka_last_error()));
			return -EINVAL;
		}
	}
	return 0;
}

static void egress_topics_free(struct fanoutd_egress *x)
{
	for (uint32_t i = 0; i < x->n; i++) {
		if (x->t[i].rkt)
			rd_kafka_topic_destroy(x->t[i].rkt);
		x->t[i].rkt = NULL;
	}
}

/* A new producer in place of one with a fatal error (nothing in flight). */
static int egress_renew(struct fanoutd_egress *x)
{
	egress_topics_free(x);
	rd_kafka_destroy(x->rk);
	x->rk = NULL;
	if (egress_producer(x, x->cfg) < 0)
		return -EINVAL;
	return egress_topics(x);
}

static int egress_token(struct fanoutd_egress *x, const char *path)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(x->token, sizeof(x->token), f)) {
		if (f)
			fclose(f);
		fprintf(stderr, "fanoutd: kafka egress: no token in --auth-bootstrap %s\n", path);
		return -ENOENT;
	}
	fclose(f);
	x->token[strcspn(x->token, "\r\n")] = '\0';
	return 0;
}

int fanoutd_egress_start(struct fanoutd_egress *x, const struct config *cfg,
			 struct net_engine *eng, const char *socket)
{
	int rc;

	memset(x, 0, sizeof(*x));
	x->wake[0] = x->wake[1] = -1;
	if (cfg->nkafka_egress == 0)
		return 0;
	x->quiet = cfg->quiet;
	x->eng = eng;
	x->cfg = cfg;
	snprintf(x->socket, sizeof(x->socket), "%s", socket);
	if (cfg->auth_required && (rc = egress_token(x, cfg->auth_bootstrap)) < 0)
		return rc;
	if (pipe2(x->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	x->t = calloc(cfg->nkafka_egress, sizeof(*x->t));
	if (!x->t) {
		fanoutd_egress_stop(x);
		return -ENOMEM;
	}
	if ((rc = egress_producer(x, cfg)) < 0) {
		fanoutd_egress_stop(x);
		return rc;
	}
	for (uint32_t i = 0; i < cfg->nkafka_egress; i++, x->n++) {
		struct egress_topic *t = &x->t[i];

		t->cfg = &cfg->kafka_egress[i];
		t->idx = i;
		snprintf(t->sub, sizeof(t->sub), EGRESS_SUB_PREFIX "%s", t->cfg->kafka_topic);
	}
	if (egress_topics(x) < 0) {
		fanoutd_egress_stop(x);
		return -EINVAL;
	}
	rc = -pthread_create(&x->thread, NULL, egress_thread, x);
	if (rc < 0) {
		fanoutd_egress_stop(x);
		return rc;
	}
	x->started = true;
	return 0;
}

void fanoutd_egress_stop(struct fanoutd_egress *x)
{
	struct egress_gate *g = x->eng ? &x->eng->egress : NULL;

	atomic_store(&x->stop, true);
	if (x->started)
		pthread_join(x->thread, NULL);
	if (g && !x->quiet && x->started)
		fprintf(stderr, "fanoutd: kafka egress: %llu events produced, %llu delivered, "
			"%llu failed\n", (unsigned long long)atomic_load(&g->produced),
			(unsigned long long)atomic_load(&g->delivered),
			(unsigned long long)atomic_load(&g->failed));
	for (uint32_t i = 0; i < x->n; i++)
		egress_close(&x->t[i]);
	egress_topics_free(x);
	if (x->rk)
		rd_kafka_destroy(x->rk);	/* after the flush: drops what is left */
	free(x->t);
	if (x->wake[0] >= 0) {
		close(x->wake[0]);
		close(x->wake[1]);
	}
	explicit_bzero(x->token, sizeof(x->token));
	memset(x, 0, sizeof(*x));
	x->wake[0] = x->wake[1] = -1;
}
