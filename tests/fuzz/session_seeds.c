/* tests/fuzz/session_seeds.c — writes the session target's seed inputs (small valid
 * conversations, and a few broken ones) into a directory, one file each, named for what
 * they hold. Built with the fuzz targets; run by hand when the seeds change:
 *
 *   build-fuzz/tests/fuzz/session_seeds tests/fuzz/corpus/session
 *
 * An input is a byte (its high bit: over the rings' Unix socket, not TCP; the rest a count
 * of chunk lengths), the lengths (1 + low 7 bits; the high bit waits for the answers),
 * then the stream of length-prefixed ClientMessage frames
 * (session_fuzz.c). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanout.pb-c.h"
#include "core/frame.h"

#define SEED_BYTES (64u << 10)

struct seed {
	uint8_t cuts[33];
	uint8_t ncuts;
	bool local;		/* over the Unix socket */
	uint8_t stream[SEED_BYTES];
	size_t len;
};

static void seed_raw(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->stream)) {
		fprintf(stderr, "session_seeds: a seed outgrew %u bytes\n", SEED_BYTES);
		exit(1);
	}
	memcpy(s->stream + s->len, p, n);
	s->len += n;
}

static void seed_msg(struct seed *s, Fanout__V1__ClientMessage *m)
{
	uint8_t buf[8192];

	if (frame_packed_size(&m->base) > sizeof(buf)) {
		fprintf(stderr, "session_seeds: a frame too large\n");
		exit(1);
	}
	seed_raw(s, buf, frame_pack(&m->base, buf));
}

static void seed_ping(struct seed *s, uint64_t nonce)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;

	p.nonce = nonce;
	p.send_time_ns = 1700000000000000000ll;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	seed_msg(s, &m);
}

static void seed_hello(struct seed *s, uint32_t version, uint32_t heartbeat_ms)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;

	h.protocol_version = version;
	h.client_name = "seed";
	h.heartbeat_ms = heartbeat_ms;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	seed_msg(s, &m);
}

/* Hello as an idempotent producer. */
static void seed_hello_producer(struct seed *s, char *id, uint64_t epoch)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;

	h.protocol_version = 1;
	h.producer_id = id;
	h.producer_epoch = epoch;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	seed_msg(s, &m);
}

static void seed_subscribe(struct seed *s, uint32_t id, char *topic, char **patterns,
			   size_t npatterns, Fanout__V1__StartPosition start,
			   Fanout__V1__Filter *filter, bool snapshot)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;

	sub.subscription_id = id;
	sub.topic = topic;
	sub.patterns = patterns;
	sub.n_patterns = npatterns;
	sub.start = start;
	sub.filter = filter;
	sub.snapshot = snapshot;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &sub;
	seed_msg(s, &m);
}

/* A Subscribe whose events go to a shared-memory ring of bytes. */
static void seed_subscribe_ring(struct seed *s, uint32_t id, char *topic, uint64_t bytes)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;

	sub.subscription_id = id;
	sub.topic = topic;
	sub.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	sub.shm_ring_bytes = bytes;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &sub;
	seed_msg(s, &m);
}

static void seed_unsubscribe(struct seed *s, uint32_t id)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Unsubscribe u = FANOUT__V1__UNSUBSCRIBE__INIT;

	u.subscription_id = id;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE;
	m.unsubscribe = &u;
	seed_msg(s, &m);
}

static void seed_ack(struct seed *s, uint32_t id, uint32_t partition, uint64_t offset)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ack a = FANOUT__V1__ACK__INIT;

	a.subscription_id = id;
	a.partition = partition;
	a.offset = offset;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_ACK;
	m.ack = &a;
	seed_msg(s, &m);
}

/* Events of a batch; each seed_* below fills one. */
struct seed_event {
	Fanout__V1__Event ev;
	Fanout__V1__Distribution d;
	Fanout__V1__Metadata md;
	Fanout__V1__MarketData mkt;
	Fanout__V1__ExecutionData exe;
	Fanout__V1__CoordinationCompleted cc;
	Fanout__V1__CoordinationDecision dec[2], *decs[2];
	char id[32];
};

static void seed_event_base(struct seed_event *e, const char *id, char *topic, char *key)
{
	fanout__v1__event__init(&e->ev);
	fanout__v1__distribution__init(&e->d);
	fanout__v1__metadata__init(&e->md);
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->ev.event_id = e->id;
	e->ev.timestamp_ns = 1700000000000000000ll;
	e->d.topic = topic;
	e->d.routing_key = key;
	e->ev.distribution = &e->d;
	e->md.source_service = "seed";
	e->ev.metadata = &e->md;
}

static void seed_market(struct seed_event *e, const char *id, char *topic, char *symbol,
			char *exchange, char *key, double price)
{
	seed_event_base(e, id, topic, key);
	fanout__v1__market_data__init(&e->mkt);
	e->mkt.symbol = symbol;
	e->mkt.exchange = exchange;
	e->mkt.price = price;
	e->mkt.volume = 100;
	e->mkt.currency = "USD";
	e->mkt.kind = "trade";
	e->ev.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	e->ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	e->ev.market_data = &e->mkt;
}

static void seed_execution(struct seed_event *e, const char *id)
{
	seed_event_base(e, id, "exec/fills", "AAPL.fill.complete");
	fanout__v1__execution_data__init(&e->exe);
	e->exe.order_id = "o1";
	e->exe.instrument_id = "AAPL";
	e->exe.quantity = 100;
	e->exe.price = 150.25;
	e->exe.venue = "NYSE";
	e->exe.execution_data_type = FANOUT__V1__EXECUTION_DATA_TYPE__EXECUTION_DATA_TYPE_FILL_NOTIFICATION;
	e->ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	e->ev.execution = &e->exe;
}

static void seed_completed(struct seed_event *e, const char *id)
{
	static char *actions[2] = { "buy", "sell" }, *ids[2] = { "d1", "d2" };

	seed_event_base(e, id, "coord", "ignored");
	fanout__v1__coordination_completed__init(&e->cc);
	e->cc.coordination_id = "c1";
	for (int i = 0; i < 2; i++) {
		fanout__v1__coordination_decision__init(&e->dec[i]);
		e->dec[i].decision_id = ids[i];
		e->dec[i].instrument_id = "AAPL";
		e->dec[i].action = actions[i];
		e->dec[i].quantity = 10;
		e->dec[i].confidence = 0.9;
		e->decs[i] = &e->dec[i];
	}
	e->cc.decisions = e->decs;
	e->cc.n_decisions = 2;
	e->ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED;
	e->ev.coordination_completed = &e->cc;
}

static void seed_batch(struct seed *s, uint64_t seq, struct seed_event *ev, size_t n)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__PublishBatch b = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__Event *evs[16];

	for (size_t i = 0; i < n; i++)
		evs[i] = &ev[i].ev;
	b.sequence = seq;
	b.events = evs;
	b.n_events = n;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	m.publish = &b;
	seed_msg(s, &m);
}

/* Three market data events on md (one the nasdaq-large rule moves) and an execution. */
static void seed_md_batch(struct seed *s, uint64_t seq)
{
	struct seed_event ev[4];

	seed_market(&ev[0], "e1", "md", "AAPL", "NASDAQ", "AAPL.NASDAQ.trade", 150.5);
	seed_market(&ev[1], "e2", "md", "MSFT", "NYSE", "MSFT.NYSE.quote", 20);
	seed_market(&ev[2], "e3", "md", "IBM", "NASDAQ", "IBM.NASDAQ.trade", 50);
	seed_execution(&ev[3], "e4");
	seed_batch(s, seq, ev, 4);
}

static void seed_write(const char *dir, const char *name, const struct seed *s)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	uint8_t head = (uint8_t)(s->ncuts | (s->local ? 0x80 : 0));

	f = fopen(path, "wb");
	if (!f || fwrite(&head, 1, 1, f) != 1 ||
	    fwrite(s->cuts, 1, s->ncuts, f) != s->ncuts ||
	    fwrite(s->stream, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "session_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void seed_cuts(struct seed *s, const uint8_t *cuts, uint8_t n)
{
	memcpy(s->cuts, cuts, n);
	s->ncuts = n;
}

static void seeds_plain(const char *dir)
{
	struct seed s = { 0 };
	struct seed_event ev[2];

	seed_ping(&s, 1);
	seed_write(dir, "ping", &s);

	s = (struct seed){ 0 };
	seed_hello(&s, 1, 0);
	seed_ping(&s, 2);
	seed_write(dir, "hello", &s);

	s = (struct seed){ 0 };
	seed_hello(&s, 1, 100);
	seed_ping(&s, 3);
	seed_write(dir, "hello-heartbeat", &s);

	s = (struct seed){ 0 };
	seed_hello(&s, 2, 0);
	seed_ping(&s, 4);
	seed_write(dir, "hello-newer-protocol", &s);

	s = (struct seed){ 0 };
	seed_md_batch(&s, 7);
	seed_write(dir, "publish-batch", &s);

	s = (struct seed){ 0 };	/* a batch sent again, one with sequence 0, an old epoch */
	seed_hello_producer(&s, "seed-producer", 2);
	seed_md_batch(&s, 1);
	seed_md_batch(&s, 1);
	seed_md_batch(&s, 0);
	seed_md_batch(&s, 2);
	seed_hello_producer(&s, "seed-producer", 1);
	seed_ping(&s, 6);
	seed_write(dir, "publish-idempotent", &s);

	s = (struct seed){ 0 };
	seed_md_batch(&s, 8);
	seed_md_batch(&s, 9);
	seed_md_batch(&s, 10);
	seed_ping(&s, 5);
	seed_write(dir, "publish-pipelined", &s);

	s = (struct seed){ 0 };
	seed_completed(&ev[0], "cc1");
	seed_market(&ev[1], "e5", "coord", "AAPL", "ARCA", "AAPL.ARCA.trade", 1);
	seed_batch(&s, 11, ev, 2);
	seed_write(dir, "publish-completed", &s);

	s = (struct seed){ 0 };
	seed_market(&ev[0], "e6", "md", "AAPL", "NASDAQ", "AAPL..trade", 1);
	seed_batch(&s, 12, ev, 1);
	seed_market(&ev[0], "", "md", "AAPL", "NASDAQ", "AAPL.NASDAQ.trade", 1);
	seed_batch(&s, 13, ev, 1);
	seed_market(&ev[0], "e7", "bad..topic", "AAPL", "NASDAQ", "AAPL.NASDAQ.trade", 1);
	seed_batch(&s, 14, ev, 1);
	seed_write(dir, "publish-invalid", &s);
}

static void seeds_subscribe(const char *dir)
{
	static char *pats[] = { "*.NASDAQ.>", "MSFT.NYSE.quote" }, *all[] = { ">" };
	static char *exact[] = { "AAPL.NASDAQ.trade" }, *bad[] = { "A.>.B" };
	static char *syms[] = { "AAPL", "MSFT", "IBM" }, *sells[] = { "sell.*" };
	Fanout__V1__Filter filter = FANOUT__V1__FILTER__INIT, bad_filter = FANOUT__V1__FILTER__INIT;
	Fanout__V1__Bound lo = FANOUT__V1__BOUND__INIT, hi = FANOUT__V1__BOUND__INIT;
	struct seed s = { 0 };

	filter.symbols = syms;
	filter.n_symbols = 3;
	lo.value = 10;
	filter.min_price = &lo;
	bad_filter.min_price = &lo;
	hi.value = 5;
	bad_filter.max_price = &hi;

	seed_subscribe(&s, 1, "md", pats, 2, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST,
		       &filter, false);
	seed_subscribe(&s, 2, "nasdaq", NULL, 0, FANOUT__V1__START_POSITION__START_POSITION_LATEST,
		       NULL, false);
	seed_md_batch(&s, 20);
	seed_ping(&s, 6);
	seed_write(dir, "subscribe-pattern-filter-publish", &s);

	s = (struct seed){ 0 };
	seed_md_batch(&s, 21);
	seed_subscribe(&s, 3, "md", all, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST, NULL,
		       true);
	seed_subscribe(&s, 4, "md", exact, 1, FANOUT__V1__START_POSITION__START_POSITION_OFFSET,
		       &filter, true);
	seed_md_batch(&s, 22);
	seed_write(dir, "snapshot", &s);

	s = (struct seed){ 0 };
	seed_subscribe(&s, 5, "md", exact, 1, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST,
		       NULL, false);
	seed_ack(&s, 5, 0, 3);
	seed_unsubscribe(&s, 5);
	seed_unsubscribe(&s, 5);
	seed_ack(&s, 5, 0, 3);
	seed_subscribe(&s, 6, "sells", sells, 1, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST,
		       NULL, false);
	seed_write(dir, "unsubscribe-ack", &s);

	s = (struct seed){ 0 };
	seed_subscribe(&s, 7, "md", bad, 1, 0, NULL, false);
	seed_subscribe(&s, 8, "md", NULL, 0, 0, &bad_filter, false);
	seed_subscribe(&s, 9, "/bad", NULL, 0, 0, NULL, false);
	seed_subscribe(&s, 10, "md", NULL, 0, 0, NULL, false);
	seed_subscribe(&s, 10, "md", NULL, 0, 0, NULL, false);
	seed_write(dir, "subscribe-errors", &s);

	s = (struct seed){ 0 };
	seed_subscribe_ring(&s, 12, "md", 65536);
	seed_subscribe_ring(&s, 13, "md", 1ull << 30);
	seed_subscribe(&s, 14, "md", exact, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST,
		       NULL, false);
	seed_md_batch(&s, 23);
	seed_unsubscribe(&s, 12);
	seed_write(dir, "subscribe-ring", &s);
	s.local = true;		/* the same where rings may be had */
	seed_write(dir, "subscribe-ring-local", &s);

	/* More keys than the last-value table keeps (64 a partition), then a snapshot. */
	s = (struct seed){ 0 };
	for (int b = 0; b < 8; b++) {
		struct seed_event kev[16];
		char kkeys[16][32], ksyms[16][16];

		for (int i = 0; i < 16; i++) {
			snprintf(ksyms[i], sizeof(ksyms[i]), "S%d", b * 16 + i);
			snprintf(kkeys[i], sizeof(kkeys[i]), "S%d.NYSE.trade", b * 16 + i);
			seed_market(&kev[i], "k", "keys", ksyms[i], "NYSE", kkeys[i], 10 + i);
		}
		seed_batch(&s, 40 + (uint64_t)b, kev, 16);
	}
	seed_subscribe(&s, 15, "keys", all, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST,
		       NULL, true);
	seed_write(dir, "snapshot-evicted", &s);
}

static void seeds_broken(const char *dir)
{
	static const uint8_t garbage[] = { 0x03, 0xff, 0xff, 0xff, 0x00, 0x02, 0x3a, 0x00,
					   0x04, 0x2a, 0x02, 0x08, 0x01 };
	static const uint8_t bad_prefix[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t too_large[] = { 0x81, 0x80, 0x08 };	/* 131073 bytes */
	static const uint8_t partial[] = { 0x20, 0x2a, 0x10 };
	static const uint8_t chunks[] = { 0x00, 0x02, 0x84, 0x10, 0x91, 0x03, 0x7f, 0x80 };
	static char *pats[] = { "*.*.trade" };
	struct seed s = { 0 };

	seed_raw(&s, garbage, sizeof(garbage));
	seed_ping(&s, 7);
	seed_write(dir, "garbage", &s);

	s = (struct seed){ 0 };
	seed_ping(&s, 8);
	seed_raw(&s, bad_prefix, sizeof(bad_prefix));
	seed_write(dir, "bad-prefix", &s);

	s = (struct seed){ 0 };
	seed_ping(&s, 9);
	seed_raw(&s, too_large, sizeof(too_large));
	seed_write(dir, "frame-too-large", &s);

	s = (struct seed){ 0 };
	seed_ping(&s, 10);
	seed_raw(&s, partial, sizeof(partial));
	seed_write(dir, "partial-frame", &s);

	s = (struct seed){ 0 };
	seed_cuts(&s, chunks, sizeof(chunks));
	seed_subscribe(&s, 11, "md", pats, 1, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST,
		       NULL, false);
	seed_md_batch(&s, 30);
	seed_md_batch(&s, 31);
	seed_ping(&s, 11);
	seed_write(dir, "chunked", &s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: session_seeds DIR\n");
		return 2;
	}
	seeds_plain(argv[1]);
	seeds_subscribe(argv[1]);
	seeds_broken(argv[1]);
	return 0;
}
