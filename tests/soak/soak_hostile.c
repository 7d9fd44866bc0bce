/* tests/soak/soak_hostile.c — see soak_hostile.h. */
#include "tests/soak/soak_hostile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tests/soak/soak_pbw.h"
#include "tests/soak/soak_proc.h"
#include "tests/soak/soak_server.h"
#include "tests/soak/soak_state.h"
#include "tools/client.h"

#define HOSTILE_CONNECT_MS 300
#define HOSTILE_ANSWER_MS  2000	/* for an answer the protocol promises */
#define HOSTILE_GLANCE_MS  200	/* for whatever garbage may get */
#define HOSTILE_BATCH_MAX  8192u	/* the protocol's limit */

enum poison { POISON_NONE, POISON_NUL_ID, POISON_NUL_KEY, POISON_NUL_TOPIC,
	      POISON_NUL_SYMBOL, POISON_UTF8_ID, POISON_UTF8_KEY, POISONS };

struct hostile {
	const struct soak_ctx *x;
	struct soak_rng rng;
	struct client cl;
	struct pbw ev, dist, md, batch, msg, frame;
	uint64_t n;			/* events made, for unique ids */
	uint64_t wire_seq;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* A string field, with a NUL (nul) or an invalid UTF-8 byte (utf8) inside. */
static void poisoned_str(struct pbw *b, uint32_t field, const char *s, bool nul, bool utf8)
{
	char buf[128];
	size_t n = strlen(s);

	memcpy(buf, s, n);
	if (nul)
		buf[n / 2] = '\0';
	if (utf8)
		buf[n / 2] = (char)0xc3;	/* a lead byte followed by ASCII */
	pbw_bytes(b, field, buf, n);
}

/* Appends one event (as PublishBatch field 2) to h->batch. */
static void add_event(struct hostile *h, const char *topic, enum poison p)
{
	char id[48], key[48];

	snprintf(id, sizeof(id), "hostile-%" PRIu64 "-%u", h->n++, h->x->incarnation);
	snprintf(key, sizeof(key), "h.k%02u.trade", (unsigned)(h->n % 8));
	pbw_reset(&h->dist);
	poisoned_str(&h->dist, 1, topic, p == POISON_NUL_TOPIC, false);
	poisoned_str(&h->dist, 4, key, p == POISON_NUL_KEY, p == POISON_UTF8_KEY);
	pbw_reset(&h->md);
	poisoned_str(&h->md, 1, "HSYMBOL", p == POISON_NUL_SYMBOL, false);
	pbw_reset(&h->ev);
	poisoned_str(&h->ev, 1, id, p == POISON_NUL_ID, p == POISON_UTF8_ID);
	pbw_msg(&h->ev, 4, &h->dist);
	pbw_msg(&h->ev, 10, &h->md);
	pbw_msg(&h->batch, 2, &h->ev);
}

/* Starts a batch; finish_batch wraps it into h->frame. */
static void start_batch(struct hostile *h)
{
	pbw_reset(&h->batch);
	pbw_uint(&h->batch, 1, ++h->wire_seq);
}

static void finish_batch(struct hostile *h)
{
	pbw_reset(&h->msg);
	pbw_msg(&h->msg, 5, &h->batch);
	pbw_reset(&h->frame);
	pbw_frame(&h->frame, &h->msg);
}

/* An Error it got: the server's memory bounds may cut it anywhere (RESOURCE_EXHAUSTED,
 * FRAME_DEADLINE), which is allowed; they are counted apart, the rest is the act's. */
static void count_error(struct hostile *h, const Fanout__V1__Error *e)
{
	if (e->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED)
		count(&h->x->sh->hostile_cut_budget, 1);
	else if (e->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_DEADLINE)
		count(&h->x->sh->hostile_cut_deadline, 1);
}

/* Waits up to ms for the answer to batch seq: 2 acknowledged, 1 refused with an Error,
 * 0 none (timeout, closed: the server may be restarting). Other answers are skipped. */
static int answer(struct hostile *h, uint64_t seq, int ms)
{
	int64_t deadline = soak_now_ns() + (int64_t)ms * 1000000;

	for (;;) {
		Fanout__V1__ServerMessage *m = NULL;
		int left = (int)((deadline - soak_now_ns()) / 1000000), rc = 0;

		if (left <= 0 || client_recv(&h->cl, &m, left) < 0) {
			client_free_msg(m);
			return 0;
		}
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
			count_error(h, m->error);
			rc = 1;
		}
		else if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK &&
			 m->publish_ack->sequence == seq)
			rc = 2;
		client_free_msg(m);
		if (rc)
			return rc;
	}
}

static int send_frame(struct hostile *h, const void *p, size_t n)
{
	count(&h->x->sh->hostile_frames, 1);
	return client_send_raw(&h->cl, p, n);
}

/* A batch that must be refused whole: valid events to the soak topic around one with a
 * poisoned string, or more events than a batch may hold. */
static void must_refuse(struct hostile *h, bool too_many)
{
	uint32_t n = too_many ? HOSTILE_BATCH_MAX + 1 : (uint32_t)soak_rng_range(&h->rng, 1, 20);
	uint32_t bad = (uint32_t)soak_rng_range(&h->rng, 0, n - 1);
	enum poison p = (enum poison)soak_rng_range(&h->rng, POISON_NUL_ID, POISONS - 1);
	int rc;

	start_batch(h);
	for (uint32_t i = 0; i < n; i++)
		add_event(h, SOAK_TOPIC, !too_many && i == bad ? p : POISON_NONE);
	finish_batch(h);
	if (send_frame(h, h->frame.p, h->frame.len) < 0)
		return;
	rc = answer(h, h->wire_seq, HOSTILE_ANSWER_MS);
	if (rc == 2) {
		count(&h->x->sh->hostile_accepted, 1);
		fprintf(stderr, "soak: hostile: a batch of %u events (%s) was acknowledged\n", n,
			too_many ? "over the limit" : "one with a poisoned string");
	} else if (rc == 1) {
		count(&h->x->sh->hostile_refused, 1);
	}
}

/* Valid events to a topic of its own: a large batch, or a small one with bytes flipped
 * (then anything may come back, as long as the server lives). */
static void own_topic(struct hostile *h, bool mutate)
{
	uint32_t n = mutate ? (uint32_t)soak_rng_range(&h->rng, 1, 16) :
			      (uint32_t)soak_rng_range(&h->rng, 1000, HOSTILE_BATCH_MAX);
	uint32_t flips = (uint32_t)soak_rng_range(&h->rng, 1, 8);
	size_t hdr;

	start_batch(h);
	for (uint32_t i = 0; i < n; i++)
		add_event(h, mutate ? SOAK_HOSTILE_TOPIC_MUT : SOAK_HOSTILE_TOPIC_BIG, POISON_NONE);
	finish_batch(h);
	hdr = h->frame.len - h->msg.len;	/* flips stay inside the body */
	for (uint32_t i = 0; mutate && i < flips; i++)
		h->frame.p[hdr + soak_rng_range(&h->rng, 0, h->msg.len - 1)] ^=
			(uint8_t)soak_rng_range(&h->rng, 1, 255);
	if (send_frame(h, h->frame.p, h->frame.len) < 0)
		return;
	if (answer(h, h->wire_seq, HOSTILE_ANSWER_MS) == 2 && !mutate)
		count(&h->x->sh->hostile_stored, n);
}

/* A valid publish frame to the soak topic cut short, then the connection dropped: the
 * server must store none of it. */
static void truncated(struct hostile *h)
{
	uint32_t n = (uint32_t)soak_rng_range(&h->rng, 1, 50);

	start_batch(h);
	for (uint32_t i = 0; i < n; i++)
		add_event(h, SOAK_TOPIC, POISON_NONE);
	finish_batch(h);
	send_frame(h, h->frame.p, soak_rng_range(&h->rng, 1, h->frame.len - 1));
}

/* Random bytes; what the server makes of them is its business, as long as it lives. */
static void garbage(struct hostile *h)
{
	uint8_t buf[2048];
	size_t n = soak_rng_range(&h->rng, 1, sizeof(buf));

	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)soak_rng_next(&h->rng);
	if (send_frame(h, buf, n) == 0)
		answer(h, 0, HOSTILE_GLANCE_MS);
}

/* A length prefix over the frame limit (2^32 - 1 included), or longer than 5 bytes. */
static void bad_prefix(struct hostile *h)
{
	static const uint8_t too_long[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	uint64_t sizes[] = { (1u << 20) + 1, 1u << 31, UINT32_MAX,
			     soak_rng_range(&h->rng, (1u << 20) + 1, UINT32_MAX) };
	struct pbw b = { 0 };
	int rc;

	if (soak_rng_chance(&h->rng, 25)) {
		rc = send_frame(h, too_long, sizeof(too_long));
	} else {
		pbw_varint(&b, sizes[soak_rng_range(&h->rng, 0, 3)]);
		pbw_raw(&b, "junkjunk", soak_rng_range(&h->rng, 0, 8));
		rc = send_frame(h, b.p, b.len);
		pbw_free(&b);
	}
	if (rc == 0 && answer(h, 0, HOSTILE_ANSWER_MS) == 1)
		count(&h->x->sh->hostile_refused, 1);
}

/* A Subscribe the server must refuse: a NUL in the topic, a malformed pattern, or a
 * ring of a terabyte. */
static void bad_subscribe(struct hostile *h)
{
	struct pbw sub = { 0 };
	uint64_t which = soak_rng_range(&h->rng, 0, 2);

	pbw_uint(&sub, 1, 7);
	poisoned_str(&sub, 2, which == 0 ? "soak/ev\x01nts" : SOAK_TOPIC, which == 0, false);
	if (which == 1)
		pbw_str(&sub, 3, soak_rng_chance(&h->rng, 50) ? "A.>.B" : "p0..k01");
	if (which == 2)
		pbw_uint(&sub, 8, 1ull << 40);
	pbw_reset(&h->msg);
	pbw_msg(&h->msg, 2, &sub);
	pbw_reset(&h->frame);
	pbw_frame(&h->frame, &h->msg);
	pbw_free(&sub);
	if (send_frame(h, h->frame.p, h->frame.len) == 0 && answer(h, 0, HOSTILE_ANSWER_MS) == 1)
		count(&h->x->sh->hostile_refused, 1);
}

/* Subscribes to the whole soak topic from the earliest and never reads. */
static void stalled(struct hostile *h)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;

	s.subscription_id = 1;
	s.topic = SOAK_TOPIC;
	s.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &s;
	count(&h->x->sh->hostile_frames, 1);
	if (client_send(&h->cl, &m) == 0)
		soak_sleep_ms((int64_t)soak_rng_range(&h->rng, 300, 2000));
}

/* Half a large frame, then silence for a while (a partial frame the server must hold
 * within its bounds, then forget); one time in three past fanoutd's frame deadline, to
 * read the FRAME_DEADLINE that cuts it (counted by answer; none if the server was
 * killed meanwhile). */
static void half_frame(struct hostile *h)
{
	uint8_t buf[4096];
	struct pbw b = { 0 };
	bool late = soak_rng_chance(&h->rng, 33);

	memset(buf, 'x', sizeof(buf));
	pbw_varint(&b, soak_rng_range(&h->rng, 100000, 1u << 20));
	pbw_raw(&b, buf, soak_rng_range(&h->rng, 0, sizeof(buf)));
	if (send_frame(h, b.p, b.len) == 0) {
		if (late)
			answer(h, 0, SOAK_FRAME_DEADLINE_MS + HOSTILE_ANSWER_MS);
		else
			soak_sleep_ms((int64_t)soak_rng_range(&h->rng, 100, 1500));
	}
	pbw_free(&b);
}

static void send_msg(struct hostile *h, const Fanout__V1__ClientMessage *m)
{
	count(&h->x->sh->hostile_frames, 1);
	client_send(&h->cl, m);
}

/* A ring asked for on the Unix socket, its descriptors never taken (a plain read drops
 * them), the connection held a while, then closed: the server must give the ring back.
 * Or one of a terabyte, which it must refuse. */
static void unclaimed_ring(struct hostile *h)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;
	bool huge = soak_rng_chance(&h->rng, 25);

	s.subscription_id = 1;
	s.topic = SOAK_TOPIC;
	s.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	s.shm_ring_bytes = huge ? 1ull << 40 : 4ull << 20;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &s;
	send_msg(h, &m);
	if (huge) {
		if (answer(h, 0, HOSTILE_ANSWER_MS) == 1)
			count(&h->x->sh->hostile_refused, 1);
		return;
	}
	count(&h->x->sh->hostile_rings, 1);
	soak_sleep_ms((int64_t)soak_rng_range(&h->rng, 0, 1500));
}

/* Subscriptions past the limit, with a snapshot of the soak topic and a filter at or
 * past its 4,096 values, then an Ack and an Unsubscribe for nothing that exists. */
static void odd_subscribes(struct hostile *h)
{
	static char *syms[4097];
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__Filter f = FANOUT__V1__FILTER__INIT;
	Fanout__V1__Ack a = FANOUT__V1__ACK__INIT;
	uint32_t n = (uint32_t)soak_rng_range(&h->rng, 1, 260);

	for (size_t i = 0; i < 4097; i++)
		syms[i] = "P0K00";
	f.n_symbols = soak_rng_range(&h->rng, 4095, 4097);
	f.symbols = syms;
	s.topic = SOAK_TOPIC;
	s.snapshot = soak_rng_chance(&h->rng, 50);
	s.filter = soak_rng_chance(&h->rng, 50) ? &f : NULL;
	if (s.filter)
		n = n % 4 + 1;	/* 32 KiB each: a few are enough */
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &s;
	for (uint32_t i = 0; i < n; i++) {
		s.subscription_id = i;
		send_msg(h, &m);
	}
	a.subscription_id = (uint32_t)soak_rng_next(&h->rng);
	a.partition = (uint32_t)soak_rng_next(&h->rng);
	a.offset = UINT64_MAX;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_ACK;
	m.ack = &a;
	send_msg(h, &m);
	answer(h, 0, HOSTILE_GLANCE_MS);
}

/* A Hello of any version (above 1: closing) with any heartbeat, then a burst of pings. */
static void odd_hello(struct hostile *h)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Hello hello = FANOUT__V1__HELLO__INIT;
	Fanout__V1__Ping ping = FANOUT__V1__PING__INIT;
	uint32_t n = (uint32_t)soak_rng_range(&h->rng, 1, 500);

	hello.protocol_version = (uint32_t)soak_rng_range(&h->rng, 0, 3);
	hello.heartbeat_ms = (uint32_t)soak_rng_range(&h->rng, 0, 100000);
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &hello;
	send_msg(h, &m);
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &ping;
	for (uint32_t i = 0; i < n; i++) {
		ping.nonce = i;
		send_msg(h, &m);
	}
	answer(h, 0, HOSTILE_GLANCE_MS);
}

/* Connections opened and dropped as fast as they come, some after one byte of a prefix. */
static void churn(struct hostile *h)
{
	uint32_t n = (uint32_t)soak_rng_range(&h->rng, 10, 60);
	struct client c;

	for (uint32_t i = 0; i < n; i++) {
		if (client_connect(&c, h->x->cfg->addr, HOSTILE_CONNECT_MS) == 0) {
			count(&h->x->sh->hostile_connects, 1);
			if (soak_rng_chance(&h->rng, 50) && client_send_raw(&c, "\x80", 1) == 0)
				count(&h->x->sh->hostile_frames, 1);
		}
		client_close(&c);
	}
}

/* One hostile act on a fresh connection: over TCP, or one time in five (and for the
 * rings it never maps, always) over the Unix socket for rings, which speaks the same
 * protocol. */
static void act(struct hostile *h)
{
	uint64_t r = soak_rng_range(&h->rng, 0, 99);
	const struct soak_cfg *c = h->x->cfg;
	bool local = (r >= 8 && r < 11) || soak_rng_chance(&h->rng, 20);

	if (r < 8) {
		churn(h);
		return;
	}
	if (client_connect(&h->cl, local ? c->shm_sock : c->addr, HOSTILE_CONNECT_MS) < 0) {
		client_close(&h->cl);
		soak_sleep_ms(50);
		return;
	}
	count(&h->x->sh->hostile_connects, 1);
	if (r < 11)
		unclaimed_ring(h);
	else if (r < 23)
		garbage(h);
	else if (r < 35)
		bad_prefix(h);
	else if (r < 45)
		truncated(h);
	else if (r < 65)
		must_refuse(h, false);
	else if (r < 68)
		must_refuse(h, true);
	else if (r < 70)
		own_topic(h, false);
	else if (r < 82)
		own_topic(h, true);
	else if (r < 90)
		bad_subscribe(h);
	else if (r < 93)
		stalled(h);
	else if (r < 95)
		half_frame(h);
	else if (r < 98)
		odd_subscribes(h);
	else
		odd_hello(h);
	client_close(&h->cl);
}

int soak_hostile_main(void *arg)
{
	static struct hostile h;

	h.x = arg;
	soak_rng_seed(&h.rng, h.x->cfg->seed,
		      soak_stream(SOAK_STREAM_HOSTILE, h.x->idx, h.x->incarnation));
	while (!atomic_load_explicit(&h.x->sh->stop, memory_order_relaxed)) {
		act(&h);
		soak_sleep_ms((int64_t)soak_rng_range(&h.rng, 0, 30));
	}
	pbw_free(&h.ev);
	pbw_free(&h.dist);
	pbw_free(&h.md);
	pbw_free(&h.batch);
	pbw_free(&h.msg);
	pbw_free(&h.frame);
	return 0;
}
