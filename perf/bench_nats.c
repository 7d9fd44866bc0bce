/* perf/bench_nats.c — the NATS driver: nats-server on a free loopback port, the text
 * protocol spoken directly (Debian has no NATS C client): PUB bench.<key> with the
 * event's encoded bytes (perf/bench_event.h) as payload, one SUB per subscribed key, MSG
 * parsed by hand and its payload read as every system's subscribers read an event
 * (bench_pb_event_fields). PING/PONG makes subscribe and flush synchronous. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "perf/bench_event.h"

struct npub {
	int port;
	char rbuf[4096];
	size_t rlen;
};

static int nats_port(const struct bench_run *r)
{
	const char *c = strrchr(r->addr, ':');

	return c ? atoi(c + 1) : -1;
}

static int nats_server_start(struct bench_run *r)
{
	char port[16] = "";
	char *argv[] = { "nats-server", "-a", "127.0.0.1", "-p", port, NULL };

	return bench_peer_start(r, argv, port, "nats-server");
}

/* Blocking read (10 s receive timeout) until a line starting with `want` arrives (INFO
 * and +OK are skipped). */
static int nats_wait_for(int fd, const char *want)
{
	char buf[8192];
	size_t len = 0;

	for (int i = 0; i < 1000; i++) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *line;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -ETIMEDOUT;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "-ERR"))
			return -EPROTO;
		for (line = buf; line; line = strstr(line, "\r\n") ? strstr(line, "\r\n") + 2 : NULL)
			if (strncmp(line, want, strlen(want)) == 0)
				return 0;
		if (len > sizeof(buf) / 2)
			len = 0;	/* INFO and +OK lines only: nothing to keep */
	}
	return -ETIMEDOUT;
}

static int nats_open(const struct bench_run *r)
{
	static const char hello[] = "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\n";
	int fd = bench_connect_tcp(nats_port(r));

	if (fd < 0)
		return fd;
	if (bench_write_all(fd, hello, sizeof(hello) - 1)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static int nats_pub_open(struct bench_run *r, struct bench_pub *p)
{
	p->priv = calloc(1, sizeof(struct npub));
	p->wcap = (size_t)r->cfg->batch * (BENCH_EVENT_BYTES_MAX + 64);
	p->wbuf = malloc(p->wcap);
	if (!p->priv || !p->wbuf)
		return -ENOMEM;
	p->fd = nats_open(r);
	return p->fd < 0 ? p->fd : bench_set_nonblock(p->fd);
}

/* Answers the server's PINGs so it does not drop the publisher. */
static int nats_pub_poll(struct bench_pub *p)
{
	struct npub *n = p->priv;
	ssize_t got = read(p->fd, n->rbuf, sizeof(n->rbuf) - 1);

	if (got <= 0)
		return got == 0 ? -ECONNRESET : (errno == EAGAIN ? 0 : -errno);
	n->rbuf[got] = '\0';
	if (strstr(n->rbuf, "-ERR"))
		return -EPROTO;
	if (strstr(n->rbuf, "PING"))
		return bench_write_all(p->fd, "PONG\r\n", 6);
	return 0;
}

static int nats_pub_send(struct bench_run *r, struct bench_pub *p, uint64_t seq0, unsigned n,
			 const int64_t *intended_ns)
{
	size_t len = 0;

	for (unsigned k = 0; k < n; k++) {
		uint64_t seq = seq0 + k;
		char key[16];
		int ev;

		bench_key_name(key, sizeof(key), (unsigned)(seq % r->cfg->symbols));
		len += (size_t)sprintf((char *)p->wbuf + len, "PUB bench.%s %zu\r\n", key,
				       bench_event_len(r->events, seq));
		ev = bench_event_put(r->events, p->wbuf + len, seq, intended_ns[k]);
		if (ev < 0)
			return ev;
		len += (size_t)ev;
		memcpy(p->wbuf + len, "\r\n", 2);
		len += 2;
	}
	p->bytes += len;
	return bench_write_all(p->fd, p->wbuf, len) ?: nats_pub_poll(p);
}

static int nats_pub_flush(struct bench_run *r, struct bench_pub *p)
{
	(void)r;
	/* The PONG comes after every PUB before it has been processed. */
	if (bench_write_all(p->fd, "PING\r\n", 6))
		return -EIO;
	for (int i = 0; i < 60000; i++) {	/* 60 s */
		struct npub *n = p->priv;
		ssize_t got = read(p->fd, n->rbuf, sizeof(n->rbuf) - 1);

		if (got > 0) {
			n->rbuf[got] = '\0';
			if (strstr(n->rbuf, "PONG"))
				return 0;
			if (strstr(n->rbuf, "PING"))
				bench_write_all(p->fd, "PONG\r\n", 6);
		} else if (got == 0 || errno != EAGAIN) {
			return -ECONNRESET;
		}
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static void nats_pub_close(struct bench_pub *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->wbuf);
	free(p->priv);
}

static int nats_sub_open(struct bench_run *r, struct bench_sub *s)
{
	const struct bench_cfg *c = r->cfg;
	size_t cap = (size_t)s->nkeys * 48 + 16, len = 0;
	char *cmd = malloc(cap);
	int rc;

	s->fd = nats_open(r);
	if (s->fd < 0 || !cmd) {
		free(cmd);
		return s->fd < 0 ? s->fd : -ENOMEM;
	}
	for (unsigned t = 0; t < s->nkeys; t++) {
		char key[16];

		bench_key_name(key, sizeof(key), (s->key_base + t) % c->symbols);
		len += (size_t)sprintf(cmd + len, "SUB bench.%s %u\r\n", key, t + 1);
	}
	len += (size_t)sprintf(cmd + len, "PING\r\n");
	rc = bench_write_all(s->fd, cmd, len);
	free(cmd);
	if (!rc)
		rc = nats_wait_for(s->fd, "PONG");
	return rc ?: bench_set_nonblock(s->fd);
}

/* One protocol item at p: returns bytes consumed, 0 when incomplete, -EPROTO. */
static long nats_item(struct bench_thread *t, struct bench_sub *s, uint8_t *p, size_t n)
{
	uint8_t *eol = memmem(p, n, "\r\n", 2);
	size_t head, size;
	uint8_t *last;

	if (!eol)
		return n > 1024 ? -EPROTO : 0;
	head = (size_t)(eol - p) + 2;
	if (head >= 4 && memcmp(p, "MSG ", 4) == 0) {
		*eol = '\0';
		last = (uint8_t *)strrchr((char *)p, ' ');
		size = last ? strtoul((char *)last + 1, NULL, 10) : 0;
		*eol = '\r';
		if (size > BENCH_EVENT_BYTES_MAX)
			return -EPROTO;	/* not what we published */
		if (n < head + size + 2)
			return 0;
		/* Not an event of ours (-EBADMSG): the harness is wrong; the subscriber stops. */
		return bench_deliver_event(t, s, p + head, size, head + size + 2,
					   clock_realtime_ns()) ?: (long)(head + size + 2);
	}
	if (head >= 4 && memcmp(p, "PING", 4) == 0 && bench_write_all(s->fd, "PONG\r\n", 6))
		return -EIO;
	if (head >= 4 && memcmp(p, "-ERR", 4) == 0) {
		fprintf(stderr, "fanout-bench: nats: %.*s\n", (int)head - 2, (char *)p);
		return -EPROTO;
	}
	return (long)head;	/* +OK, PONG, INFO */
}

static int nats_sub_read(struct bench_thread *t, struct bench_sub *s)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(s->fd, s->buf + s->len, BENCH_SUB_BUF_BYTES - s->len);
		size_t pos = 0;
		long used;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		s->len += (size_t)n;
		while ((used = nats_item(t, s, s->buf + pos, s->len - pos)) > 0)
			pos += (size_t)used;
		if (used < 0)
			return (int)used;
		memmove(s->buf, s->buf + pos, s->len - pos);
		s->len -= pos;
	}
	return 0;
}

static void nats_sub_close(struct bench_sub *s)
{
	if (s->fd >= 0)
		close(s->fd);
}

const struct bench_driver bench_nats_driver = {
	.name = "nats", .topology = "broker: nats-server (defaults), text protocol",
	.server_start = nats_server_start,
	.pub_open = nats_pub_open, .pub_send = nats_pub_send,
	.pub_flush = nats_pub_flush, .pub_close = nats_pub_close,
	.sub_open = nats_sub_open, .sub_read = nats_sub_read, .sub_close = nats_sub_close,
	.sub_cut = bench_tcp_cut,
};
