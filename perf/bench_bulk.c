/* perf/bench_bulk.c — fanout's bulk load (--bulk-subscribers N): while the measured
 * publisher runs, a second publisher sends to another topic (BENCH_BULK_TOPIC) flat out
 * and N more subscribers take all of it, on the same server, so that the measured topic
 * competes with a saturating one for the same reactors (perf/priority.sh). The bulk
 * traffic is not in the measured counts; its rates in and out are reported beside them.
 * The publisher sends one pre-encoded PublishBatch again and again (the server does not
 * care that the events repeat) and reads its acks as they come; the subscribers' thread
 * reads and counts frames (varint prefixes only). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "tools/client.h"

#define BULK_CONNECT_MS 10000
#define BULK_POLL_MS 50
#define BULK_RBUF (256u << 10)
#define BULK_BATCH_MAX 256u

struct bench_bulk {
	struct bench_run *run;
	struct client pub;
	struct client *subs;
	uint8_t *batch;		/* one delimited ClientMessage{PublishBatch} */
	size_t batch_len;
	unsigned events_per_batch, nsubs;
	pthread_t pub_tid, sub_tid;
	bool pub_started, sub_started;
	_Atomic bool stop;
	_Atomic uint64_t published, delivered;
	int64_t start_ns, end_ns;
	int error;		/* the publisher's: -errno */
};

/* The batch every bulk publish sends: events for 100 keys of BENCH_BULK_TOPIC. */
static int bulk_encode(struct bench_bulk *b, unsigned n)
{
	Fanout__V1__Event ev[BULK_BATCH_MAX], *ptrs[BULK_BATCH_MAX];
	Fanout__V1__Distribution d[BULK_BATCH_MAX];
	Fanout__V1__MarketData md[BULK_BATCH_MAX];
	char ids[BULK_BATCH_MAX][24], syms[BULK_BATCH_MAX][16], keys[BULK_BATCH_MAX][32];
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	size_t len, hdr = 0;

	for (unsigned i = 0; i < n; i++) {
		fanout__v1__event__init(&ev[i]);
		fanout__v1__distribution__init(&d[i]);
		fanout__v1__market_data__init(&md[i]);
		snprintf(ids[i], sizeof(ids[i]), "bulk-%u", i);
		snprintf(syms[i], sizeof(syms[i]), "B%03u", i % 100);
		snprintf(keys[i], sizeof(keys[i]), "B%03u.NYSE.trade", i % 100);
		ev[i].event_id = ids[i];
		ev[i].timestamp_ns = clock_realtime_ns();
		d[i].topic = BENCH_BULK_TOPIC;
		d[i].routing_key = keys[i];
		ev[i].distribution = &d[i];
		md[i].symbol = syms[i];
		md[i].exchange = "NYSE";
		md[i].price = 100.0 + i;
		md[i].volume = 1 + i;
		md[i].currency = "USD";
		ev[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		ev[i].market_data = &md[i];
		ptrs[i] = &ev[i];
	}
	pb.sequence = 1;
	pb.n_events = n;
	pb.events = ptrs;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	m.publish = &pb;
	len = fanout__v1__client_message__get_packed_size(&m);
	b->batch = malloc(len + 10);
	if (!b->batch)
		return -ENOMEM;
	for (size_t v = len; ; v >>= 7) {	/* the varint prefix */
		b->batch[hdr++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	fanout__v1__client_message__pack(&m, b->batch + hdr);
	b->batch_len = hdr + len;
	b->events_per_batch = n;
	return 0;
}

/* Sends the batch as fast as the server takes it (cfg->bulk_rate 0) or at that many
 * events/s, discarding its acks as they come (they are read, so the server never stops
 * reading for want of room to answer). */
static void *bulk_pub_main(void *arg)
{
	struct bench_bulk *b = arg;
	double rate = b->run->cfg->bulk_rate;
	uint8_t *scratch = malloc(BULK_RBUF);
	size_t off = 0;

	if (!scratch) {
		b->error = -ENOMEM;
		return NULL;
	}
	if ((b->error = bench_set_nonblock(b->pub.fd)) < 0) {
		free(scratch);
		return NULL;
	}
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		struct pollfd p = { .fd = b->pub.fd, .events = POLLIN | POLLOUT };
		ssize_t n;

		if (poll(&p, 1, BULK_POLL_MS) < 0 && errno != EINTR) {
			b->error = -errno;
			break;
		}
		if (p.revents & POLLIN) {
			n = recv(b->pub.fd, scratch, BULK_RBUF, MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				b->error = n == 0 ? -ECONNRESET : -errno;
				break;
			}
		}
		if (!(p.revents & POLLOUT))
			continue;
		if (off == 0 && rate > 0 &&	/* the next batch is not due yet */
		    (double)atomic_load_explicit(&b->published, memory_order_relaxed) >
		    rate * (double)(clock_monotonic_ns() - b->start_ns) / 1e9) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
			continue;
		}
		n = send(b->pub.fd, b->batch + off, b->batch_len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			b->error = -errno;
			break;
		}
		if (n > 0 && (off += (size_t)n) == b->batch_len) {
			off = 0;
			atomic_fetch_add_explicit(&b->published, b->events_per_batch,
						  memory_order_relaxed);
		}
	}
	free(scratch);
	return NULL;
}

/* Counts the frames in p..p+n: *skip bytes of the current frame remain; a prefix split
 * across reads is carried in *var and *shift. */
static uint64_t bulk_count(const uint8_t *p, size_t n, uint64_t *skip, uint64_t *var,
			   unsigned *shift)
{
	uint64_t frames = 0;

	while (n > 0) {
		if (*skip) {
			size_t k = *skip < n ? (size_t)*skip : n;

			*skip -= k;
			p += k;
			n -= k;
			continue;
		}
		if (*shift < 64)	/* a prefix is at most 10 bytes; garbage stays defined */
			*var |= (uint64_t)(*p & 0x7f) << *shift;
		*shift += 7;
		if (!(*p++ & 0x80)) {
			*skip = *var;
			*var = 0;
			*shift = 0;
			frames++;
		}
		n--;
	}
	return frames;
}

static void *bulk_sub_main(void *arg)
{
	struct bench_bulk *b = arg;
	struct pollfd *p = calloc(b->nsubs, sizeof(*p));
	uint64_t *skip = calloc(b->nsubs, sizeof(*skip)), *var = calloc(b->nsubs, sizeof(*var));
	unsigned *shift = calloc(b->nsubs, sizeof(*shift));
	uint8_t *buf = malloc(BULK_RBUF);

	if (!p || !skip || !var || !shift || !buf)
		goto out;
	for (unsigned i = 0; i < b->nsubs; i++)
		p[i] = (struct pollfd){ .fd = b->subs[i].fd, .events = POLLIN };
	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		if (poll(p, b->nsubs, BULK_POLL_MS) <= 0)
			continue;
		for (unsigned i = 0; i < b->nsubs; i++) {
			ssize_t n;

			if (!(p[i].revents & POLLIN))
				continue;
			n = recv(p[i].fd, buf, BULK_RBUF, MSG_DONTWAIT);
			if (n <= 0) {
				if (n == 0 || errno != EAGAIN) {
					p[i].fd = -1;	/* cut: poll skips it from now on */
					fprintf(stderr, "fanout-bench: bulk subscriber %u was cut "
						"(%s): the bulk deliveries count stops there\n", i,
						n == 0 ? "end of stream" : strerror(errno));
				}
				continue;
			}
			atomic_fetch_add_explicit(&b->delivered,
						  bulk_count(buf, (size_t)n, &skip[i], &var[i],
							     &shift[i]), memory_order_relaxed);
		}
	}
out:
	free(p);
	free(skip);
	free(var);
	free(shift);
	free(buf);
	return NULL;
}

int bench_bulk_start(struct bench_run *r)
{
	const struct bench_cfg *c = r->cfg;
	struct bench_bulk *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	r->bulk = b;
	b->run = r;
	b->pub.fd = -1;
	b->subs = calloc(c->bulk_subscribers, sizeof(*b->subs));
	if (!b->subs)
		return -ENOMEM;
	for (unsigned i = 0; i < c->bulk_subscribers; i++)
		b->subs[i].fd = -1;
	rc = bulk_encode(b, c->batch < BULK_BATCH_MAX ? c->batch : BULK_BATCH_MAX);
	if (rc == 0)
		rc = client_connect(&b->pub, r->addr, BULK_CONNECT_MS);
	for (unsigned i = 0; rc == 0 && i < c->bulk_subscribers; i++) {
		Fanout__V1__ServerMessage *m = NULL;

		rc = client_connect(&b->subs[i], r->addr, BULK_CONNECT_MS);
		if (rc == 0)
			rc = client_subscribe(&b->subs[i], 1, BENCH_BULK_TOPIC, NULL, 0,
					      FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					      &m);
		client_free_msg(m);
		b->nsubs = i + 1;
		/* Nothing is published to the topic before every subscriber is in, so nothing
		 * may wait in the client's buffer that the frame counter would miss. */
		if (rc == 0 && b->subs[i].rlen > b->subs[i].rpos)
			rc = -EPROTO;
		if (rc == 0)
			rc = bench_set_nonblock(b->subs[i].fd);
	}
	if (rc) {
		fprintf(stderr, "fanout-bench: bulk load: %s\n", strerror(-rc));
		return rc;
	}
	b->start_ns = clock_monotonic_ns();
	rc = -pthread_create(&b->sub_tid, NULL, bulk_sub_main, b);
	b->sub_started = rc == 0;
	if (rc == 0)
		rc = -pthread_create(&b->pub_tid, NULL, bulk_pub_main, b);
	b->pub_started = rc == 0;
	/* Named, so that a run can be looked at (or reniced) thread by thread. */
	if (b->sub_started)
		(void)pthread_setname_np(b->sub_tid, "bench-bulk-sub");
	if (b->pub_started)
		(void)pthread_setname_np(b->pub_tid, "bench-bulk-pub");
	return rc;
}

void bench_bulk_stop(struct bench_run *r, struct bench_result *res)
{
	struct bench_bulk *b = r->bulk;
	double s;

	if (!b)
		return;
	atomic_store(&b->stop, true);
	if (b->pub_started)
		pthread_join(b->pub_tid, NULL);
	if (b->sub_started)
		pthread_join(b->sub_tid, NULL);
	b->pub_started = b->sub_started = false;
	b->end_ns = clock_monotonic_ns();
	s = (double)(b->end_ns - b->start_ns) / 1e9;
	if (res && s > 0) {
		res->bulk_in_per_s = (double)atomic_load(&b->published) / s;
		res->bulk_out_per_s = (double)atomic_load(&b->delivered) / s;
	}
	if (b->error)
		fprintf(stderr, "fanout-bench: bulk publisher: %s\n", strerror(-b->error));
}

void bench_bulk_close(struct bench_run *r)
{
	struct bench_bulk *b = r->bulk;

	if (!b)
		return;
	bench_bulk_stop(r, NULL);
	client_close(&b->pub);
	for (unsigned i = 0; i < b->nsubs; i++)
		client_close(&b->subs[i]);
	free(b->subs);
	free(b->batch);
	free(b);
	r->bulk = NULL;
}
