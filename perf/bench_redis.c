/* perf/bench_redis.c — the Redis driver: redis-server (no persistence) on a free loopback
 * port, pipelined PUBLISH <key> <event bytes> (perf/bench_event.h), SUBSCRIBE to one
 * channel per subscribed key, replies parsed with hiredis' reader over raw non-blocking
 * sockets and each message's payload read as every system's subscribers read an event
 * (bench_pb_event_fields). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/read.h>
#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "perf/bench_event.h"

#define PUB_WINDOW 65536u	/* PUBLISH replies outstanding before waiting */

static int redis_server_start(struct bench_run *r)
{
	char port[16] = "";
	char *argv[] = { "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
			 "--appendonly", "no", "--daemonize", "no", NULL };

	return bench_peer_start(r, argv, port, "redis-server");
}

static int redis_port(const struct bench_run *r)
{
	return atoi(strrchr(r->addr, ':') + 1);
}

/* Feeds what is readable to the reader; -EAGAIN when nothing was. */
static int redis_feed(int fd, redisReader *rd)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return -ECONNRESET;
	return redisReaderFeed(rd, buf, (size_t)n) == REDIS_OK ? 0 : -EPROTO;
}

static int redis_pub_open(struct bench_run *r, struct bench_pub *p)
{
	p->priv = redisReaderCreate();
	p->wcap = (size_t)r->cfg->batch * (BENCH_EVENT_BYTES_MAX + 80);
	p->wbuf = malloc(p->wcap);
	if (!p->priv || !p->wbuf)
		return -ENOMEM;
	p->fd = bench_connect_tcp(redis_port(r));
	return p->fd < 0 ? p->fd : bench_set_nonblock(p->fd);
}

/* Counts PUBLISH replies; waits while more than `window` are outstanding. */
static int redis_pub_replies(struct bench_pub *p, uint64_t window)
{
	for (int idle = 0; idle < 10000;) {
		void *reply;
		int rc;

		while (redisReaderGetReply(p->priv, &reply) == REDIS_OK && reply) {
			if (((redisReply *)reply)->type == REDIS_REPLY_ERROR)
				fprintf(stderr, "fanout-bench: redis: %s\n", ((redisReply *)reply)->str);
			freeReplyObject(reply);
			p->outstanding--;
		}
		rc = redis_feed(p->fd, p->priv);
		if (rc == -EAGAIN) {
			if (p->outstanding <= window)
				return 0;
			usleep(1000);
			idle++;
		} else if (rc) {
			return rc;
		}
	}
	return -ETIMEDOUT;
}

static int redis_pub_send(struct bench_run *r, struct bench_pub *p, uint64_t seq0, unsigned n,
			  const int64_t *intended_ns)
{
	size_t len = 0;

	for (unsigned k = 0; k < n; k++) {
		uint64_t seq = seq0 + k;
		char key[16];
		int kl = bench_key_name(key, sizeof(key), (unsigned)(seq % r->cfg->symbols)), ev;

		len += (size_t)sprintf((char *)p->wbuf + len,
				       "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%zu\r\n", kl, key,
				       bench_event_len(r->events, seq));
		ev = bench_event_put(r->events, p->wbuf + len, seq, intended_ns[k]);
		if (ev < 0)
			return ev;
		len += (size_t)ev;
		memcpy(p->wbuf + len, "\r\n", 2);
		len += 2;
	}
	p->bytes += len;
	p->outstanding += n;
	return bench_write_all(p->fd, p->wbuf, len) ?: redis_pub_replies(p, PUB_WINDOW);
}

static int redis_pub_flush(struct bench_run *r, struct bench_pub *p)
{
	(void)r;
	return redis_pub_replies(p, 0);
}

static void redis_pub_close(struct bench_pub *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->priv)
		redisReaderFree(p->priv);
	free(p->wbuf);
}

static int redis_sub_open(struct bench_run *r, struct bench_sub *s)
{
	const struct bench_cfg *c = r->cfg;
	char *cmd = malloc((size_t)s->nkeys * 32 + 64);
	size_t len = 0;
	unsigned confirmed = 0;
	int rc = 0;

	s->priv = redisReaderCreate();
	s->fd = bench_connect_tcp(redis_port(r));
	if (s->fd < 0 || !cmd || !s->priv) {
		free(cmd);
		return s->fd < 0 ? s->fd : -ENOMEM;
	}
	len += (size_t)sprintf(cmd, "*%u\r\n$9\r\nSUBSCRIBE\r\n", s->nkeys + 1);
	for (unsigned t = 0; t < s->nkeys; t++) {
		char key[16];
		int kl = bench_key_name(key, sizeof(key), (s->key_base + t) % c->symbols);

		len += (size_t)sprintf(cmd + len, "$%d\r\n%s\r\n", kl, key);
	}
	rc = bench_write_all(s->fd, cmd, len);
	free(cmd);
	while (!rc && confirmed < s->nkeys) {	/* blocking socket: one reply a channel */
		void *reply;

		rc = redis_feed(s->fd, s->priv);
		while (!rc && redisReaderGetReply(s->priv, &reply) == REDIS_OK && reply) {
			confirmed++;
			freeReplyObject(reply);
		}
	}
	if (rc == -EAGAIN)	/* the blocking socket's receive timeout */
		rc = -ETIMEDOUT;
	return rc ?: bench_set_nonblock(s->fd);
}

/* A pub/sub message ["message", channel, payload]: its event delivered. -EBADMSG when the
 * payload is not an event of ours (the harness is wrong). Other replies are skipped. */
static int redis_message(struct bench_thread *t, struct bench_sub *s, const redisReply *m)
{
	if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
	    m->element[2]->type != REDIS_REPLY_STRING)
		return 0;
	/* bytes: counted per read below, as the framing is hiredis' */
	return bench_deliver_event(t, s, (const uint8_t *)m->element[2]->str,
				   m->element[2]->len, 0, clock_realtime_ns());
}

static int redis_sub_read(struct bench_thread *t, struct bench_sub *s)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(s->fd, s->buf, BENCH_SUB_BUF_BYTES);
		void *reply;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		if (redisReaderFeed(s->priv, (char *)s->buf, (size_t)n) != REDIS_OK)
			return -EPROTO;
		s->bytes += (uint64_t)n;
		while (redisReaderGetReply(s->priv, &reply) == REDIS_OK && reply) {
			int rc = redis_message(t, s, reply);

			freeReplyObject(reply);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static void redis_sub_close(struct bench_sub *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->priv)
		redisReaderFree(s->priv);
}

const struct bench_driver bench_redis_driver = {
	.name = "redis", .topology = "broker: redis-server pub/sub (no persistence)",
	.server_start = redis_server_start,
	.pub_open = redis_pub_open, .pub_send = redis_pub_send,
	.pub_flush = redis_pub_flush, .pub_close = redis_pub_close,
	.sub_open = redis_sub_open, .sub_read = redis_sub_read, .sub_close = redis_sub_close,
	.sub_cut = bench_tcp_cut,
};
