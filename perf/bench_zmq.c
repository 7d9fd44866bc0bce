/* perf/bench_zmq.c — the ZeroMQ driver: broker-less PUB/SUB. The publisher binds a
 * loopback port the kernel picks, subscribers connect and subscribe to one prefix per key
 * ("S00042|"), filtered at the publisher; after the prefix each message carries the
 * event's encoded bytes (perf/bench_event.h), read as every system's subscribers read an
 * event (bench_pb_event_fields). High-water marks are unlimited (0) so that ZeroMQ queues
 * rather than drops, as the brokers do; a loss here would be a real loss. A stalled
 * subscriber's connection is watched with a socket monitor, never read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "perf/bench_event.h"

/* No server: the publisher's socket is bound in zmq_pub_open. */
static int zmq_server_start(struct bench_run *r)
{
	(void)r;
	return 0;
}

static int zmq_pub_open(struct bench_run *r, struct bench_pub *p)
{
	int zero = 0, backlog = 4096;
	size_t len = sizeof(r->addr);

	p->zsock = zmq_socket(r->zctx, ZMQ_PUB);
	p->wbuf = malloc(16 + BENCH_EVENT_BYTES_MAX);	/* "S00042|" + the event */
	if (!p->zsock || !p->wbuf)
		return -ENOMEM;
	/* ZeroMQ's default listen backlog (100) drops SYNs when 1000 subscribers connect at
	 * once; their retries then back off for seconds. */
	if (zmq_setsockopt(p->zsock, ZMQ_SNDHWM, &zero, sizeof(zero)) ||
	    zmq_setsockopt(p->zsock, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(p->zsock, ZMQ_BACKLOG, &backlog, sizeof(backlog)))
		return -zmq_errno();
	/* Port "*": the kernel picks a free one, read back for the subscribers to connect. */
	if (zmq_bind(p->zsock, "tcp://127.0.0.1:*") ||
	    zmq_getsockopt(p->zsock, ZMQ_LAST_ENDPOINT, r->addr, &len))
		return -zmq_errno();
	return 0;
}

static int zmq_pub_send(struct bench_run *r, struct bench_pub *p, uint64_t seq0, unsigned n,
			const int64_t *intended_ns)
{
	for (unsigned k = 0; k < n; k++) {
		uint64_t seq = seq0 + k;
		int kl = bench_key_name((char *)p->wbuf, 16, (unsigned)(seq % r->cfg->symbols));
		int ev = bench_event_put(r->events, p->wbuf + kl + 1, seq, intended_ns[k]);

		if (ev < 0)
			return ev;
		p->wbuf[kl] = '|';
		if (zmq_send(p->zsock, p->wbuf, (size_t)kl + 1 + (size_t)ev, 0) < 0)
			return -zmq_errno();
		p->bytes += (uint64_t)kl + 1 + (uint64_t)ev;
	}
	return 0;
}

static int zmq_pub_flush(struct bench_run *r, struct bench_pub *p)
{
	(void)r;
	(void)p;	/* no acknowledgement in PUB/SUB: the drain phase waits for delivery */
	return 0;
}

static void zmq_pub_close(struct bench_pub *p)
{
	if (p->zsock)
		zmq_close(p->zsock);
	free(p->wbuf);
}

/* A never-read subscriber's connection is watched, not read: ZMQ_EVENT_DISCONNECTED
 * arrives on s->monitor if the publisher's side closes it. */
static int zmq_stalled_monitor(struct bench_run *r, struct bench_sub *s)
{
	char ep[48];
	int zero = 0;

	snprintf(ep, sizeof(ep), "inproc://bench-stalled-%u", s->id);
	if (zmq_socket_monitor(s->zsock, ep, ZMQ_EVENT_DISCONNECTED))
		return -zmq_errno();
	s->monitor = zmq_socket(r->zctx, ZMQ_PAIR);
	if (!s->monitor)
		return -zmq_errno();
	if (zmq_setsockopt(s->monitor, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_connect(s->monitor, ep))
		return -zmq_errno();
	return 0;
}

static int zmq_sub_open(struct bench_run *r, struct bench_sub *s)
{
	int zero = 0;

	s->zsock = zmq_socket(r->zctx, ZMQ_SUB);
	if (!s->zsock)
		return -zmq_errno();
	/* No send limit either: a SUB socket sends its subscriptions through its send pipe at
	 * connect and libzmq drops those past ZMQ_SNDHWM (1,000 by default), so a subscriber
	 * of 5,000 keys never got some of them (nor, at times, the warm-up's). */
	if (zmq_setsockopt(s->zsock, ZMQ_RCVHWM, &zero, sizeof(zero)) ||
	    zmq_setsockopt(s->zsock, ZMQ_SNDHWM, &zero, sizeof(zero)) ||
	    zmq_setsockopt(s->zsock, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(s->zsock, ZMQ_SUBSCRIBE, "W", 1))	/* warm-up messages */
		return -zmq_errno();
	for (unsigned t = 0; t < s->nkeys; t++) {
		char key[20];
		int kl = bench_key_name(key, sizeof(key) - 1, (s->key_base + t) % r->cfg->symbols);

		key[kl] = '|';
		if (zmq_setsockopt(s->zsock, ZMQ_SUBSCRIBE, key, (size_t)kl + 1))
			return -zmq_errno();
	}
	if (s->stalled) {
		int rc = zmq_stalled_monitor(r, s);

		if (rc)
			return rc;
	}
	return zmq_connect(s->zsock, r->addr) ? -zmq_errno() : 0;
}

static int zmq_sub_read(struct bench_thread *t, struct bench_sub *s)
{
	for (int i = 0; i < 256; i++) {
		int n = zmq_recv(s->zsock, s->buf, BENCH_SUB_BUF_BYTES, ZMQ_DONTWAIT);
		const uint8_t *bar;

		if (n < 0)
			return zmq_errno() == EAGAIN ? 0 : -zmq_errno();
		if (n > (int)BENCH_SUB_BUF_BYTES)
			return -EMSGSIZE;	/* truncated: never one of ours */
		if (n == 1 && s->buf[0] == 'W') {
			if (!s->warm) {
				s->warm = true;
				atomic_fetch_add(&t->run->warm, 1);
				/* Joined: no more warm-up traffic for this one (the publisher
				 * filters by subscription). Our thread owns the socket now. */
				zmq_setsockopt(s->zsock, ZMQ_UNSUBSCRIBE, "W", 1);
			}
			continue;
		}
		/* The key has no '|': the first one ends it, whatever the event's bytes hold.
		 * Not an event of ours: the harness is wrong; the subscriber stops. */
		bar = memchr(s->buf, '|', (size_t)n);
		if (!bar || bench_deliver_event(t, s, bar + 1, (size_t)(s->buf + n - bar - 1),
						(uint64_t)n, clock_realtime_ns()))
			return -EBADMSG;
	}
	return 0;
}

/* The PUB socket never disconnects a subscriber that does not keep up: it queues for it
 * (high-water marks 0, as here) or drops messages at the mark. So this is 1 only if the
 * connection itself broke. */
static int zmq_sub_cut(struct bench_run *r, struct bench_sub *s)
{
	zmq_pollitem_t it = { .socket = s->monitor, .events = ZMQ_POLLIN };

	(void)r;
	if (!s->monitor)
		return -EINVAL;
	if (zmq_poll(&it, 1, 300) < 0)	/* events are asynchronous: a moment for one */
		return -zmq_errno();
	return (it.revents & ZMQ_POLLIN) ? 1 : 0;
}

static void zmq_sub_close(struct bench_sub *s)
{
	if (s->monitor) {
		zmq_socket_monitor(s->zsock, NULL, 0);
		zmq_close(s->monitor);
		s->monitor = NULL;
	}
	if (s->zsock)
		zmq_close(s->zsock);
}

const struct bench_driver bench_zmq_driver = {
	.name = "zmq", .topology = "broker-less: the publisher binds a PUB socket, subscribers connect SUB sockets",
	.server_start = zmq_server_start,
	.pub_open = zmq_pub_open, .pub_send = zmq_pub_send,
	.pub_flush = zmq_pub_flush, .pub_close = zmq_pub_close,
	.sub_open = zmq_sub_open, .sub_read = zmq_sub_read, .sub_close = zmq_sub_close,
	.sub_cut = zmq_sub_cut,
};
