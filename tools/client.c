/* tools/client.c — the blocking fanout client behind tools/client.h: a TCP socket, a
 * receive buffer that frame_parse splits into frames, and a send scratch buffer. This is
 * the tools' side, not the server's data path, so the buffers grow with realloc. */
#include "tools/client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/clock.h"
#include "tools/tls_client.h"

/* First receive buffer: many small frames per recv() at high rates. */
#define RBUF_INITIAL_BYTES (256u << 10)
/* How often a refused connect is retried while the server starts. */
#define CONNECT_RETRY_NS (20 * 1000000LL)
/* client_subscribe has no timeout argument; a live server answers well within this. */
#define SUBSCRIBE_TIMEOUT_MS 10000

/* Absolute CLOCK_MONOTONIC deadline for a timeout; -1 means none. */
static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds left until deadline, rounded up so poll never wakes early; -1 for none. */
static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - clock_monotonic_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int ms, r;

	for (;;) {
		/* A deadline already past still gets one look, so a zero timeout means
		 * "only if ready now" rather than "never". */
		ms = remaining_ms(deadline);
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;	/* readable, writable, or an error the next call reports */
		if (r == 0 && ms == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Splits "host:port" or "[v6-address]:port" into host and port. */
static int split_hostport(const char *hp, char *host, size_t hostcap, const char **port)
{
	const char *h = hp, *colon;
	size_t hlen;

	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = hp + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - hp);
	}
	if (hlen == 0 || hlen >= hostcap || colon[1] == '\0')
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

/* One connect attempt to one address. Returns a blocking socket with TCP_NODELAY or
 * -errno. Non-blocking while connecting so the deadline bounds it. */
static int connect_once(const struct addrinfo *ai, int64_t deadline)
{
	int fd, one = 1, soerr = 0, rc;
	socklen_t len = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto err;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc)
			goto err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
			rc = soerr ? -soerr : -errno;
			goto err;
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    (ai->ai_family != AF_UNIX &&
	     setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)) {
		rc = -errno;
		goto err;
	}
	return fd;
err:
	close(fd);
	return rc;
}

static int connect_any(const struct addrinfo *res, int64_t deadline)
{
	struct timespec nap;
	int rc = -EHOSTUNREACH;
	int64_t left;

	for (;;) {
		for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			rc = connect_once(ai, deadline);
			if (rc >= 0)
				return rc;
		}
		if (rc != -ECONNREFUSED)
			return rc;
		/* Refused: the server may still be starting; try again until the deadline. */
		left = deadline < 0 ? CONNECT_RETRY_NS : deadline - clock_monotonic_ns();
		if (left <= 0)
			return rc;
		if (left > CONNECT_RETRY_NS)
			left = CONNECT_RETRY_NS;
		nap.tv_sec = 0;
		nap.tv_nsec = (long)left;
		nanosleep(&nap, NULL);
	}
}

/* A Unix socket at path (fanoutd's rings socket speaks the same protocol). */
static int connect_unix(const char *path, int64_t deadline)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct addrinfo ai = { .ai_family = AF_UNIX, .ai_socktype = SOCK_STREAM,
			       .ai_addr = (struct sockaddr *)&a, .ai_addrlen = sizeof(a) };

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	return connect_any(&ai, deadline);
}

int client_connect(struct client *c, const char *hostport, int timeout_ms)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int64_t deadline = deadline_of(timeout_ms);
	bool tls = strncmp(hostport, "tls://", 6) == 0;
	char host[256];
	const char *port;
	int rc, fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->max_frame = FRAME_BYTES_DEFAULT;
	if (tls)
		hostport += 6;
	if (strchr(hostport, '/')) {
		if (tls)
			return -EINVAL;	/* the Unix socket is plain */
		fd = connect_unix(hostport, deadline_of(timeout_ms));
	} else {
		rc = split_hostport(hostport, host, sizeof(host), &port);
		if (rc)
			return rc;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc)
			return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		fd = connect_any(res, deadline);
		freeaddrinfo(res);
	}
	if (fd < 0)
		return fd;
	if (tls) {	/* non-blocking under TLS: every wait is a poll with its deadline */
		/* OpenSSL writes with write(), not send(MSG_NOSIGNAL): a server that has cut
		 * the connection must give -EPIPE, not kill the process. */
		signal(SIGPIPE, SIG_IGN);
		rc = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ? -errno
			: tls_client_start(fd, host, deadline, &c->tls_ctx, &c->ssl);
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	c->rbuf = malloc(RBUF_INITIAL_BYTES);
	if (!c->rbuf) {
		tls_client_free(c->tls_ctx, c->ssl);
		close(fd);
		return -ENOMEM;
	}
	c->rcap = RBUF_INITIAL_BYTES;
	c->fd = fd;
	return 0;
}

void client_close(struct client *c)
{
	/* rbuf is allocated exactly while the socket is open, so a zeroed client (fd 0,
	 * which is stdin and not ours) is recognised and left alone. */
	if (c->ssl) {
		(void)SSL_shutdown(c->ssl);	/* close_notify, if the socket takes it now */
		tls_client_free(c->tls_ctx, c->ssl);
	}
	if (c->rbuf && c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int client_send_raw(struct client *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0 && c->ssl) {
		size_t k = 0;
		int rc;

		ERR_clear_error();
		errno = 0;	/* tls_client_wait reads it on SSL_ERROR_SYSCALL */
		rc = SSL_write_ex(c->ssl, b, n, &k);
		if (rc == 1) {
			b += k;
			n -= k;
		} else if ((rc = tls_client_wait(c->ssl, c->fd, rc, -1)) < 0) {
			return rc == -ECONNRESET ? -EPIPE : rc;
		}
	}
	while (n > 0) {
		/* MSG_NOSIGNAL: a peer that closed gives -EPIPE, not a SIGPIPE. */
		w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int client_send(struct client *c, const Fanout__V1__ClientMessage *m)
{
	size_t n = frame_packed_size(&m->base);

	if (n > FRAME_BYTES_LIMIT + FRAME_PREFIX_MAX)
		return -EMSGSIZE;
	if (n > c->wcap) {
		size_t cap = n > 2 * c->wcap ? n : 2 * c->wcap;
		uint8_t *p = realloc(c->wbuf, cap);

		if (!p)
			return -ENOMEM;
		c->wbuf = p;
		c->wcap = cap;
	}
	return client_send_raw(c, c->wbuf, frame_pack(&m->base, c->wbuf));
}

/* Makes room for more bytes after an incomplete frame: drops what was consumed, then
 * grows the buffer (up to one largest frame) if the partial frame fills it. */
static int make_room(struct client *c)
{
	size_t limit = (size_t)c->max_frame + FRAME_PREFIX_MAX, cap;
	uint8_t *p;

	if (c->rpos > 0) {
		/* At most one partial frame is moved, since the rest was parsed. */
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen < c->rcap)
		return 0;
	if (c->rcap >= limit)
		return -EMSGSIZE;	/* frame_parse should have refused the prefix already */
	cap = 2 * c->rcap < limit ? 2 * c->rcap : limit;
	p = realloc(c->rbuf, cap);
	if (!p)
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

int client_hello_msg(struct client *c, Fanout__V1__Hello *h, int timeout_ms,
		     Fanout__V1__ServerMessage **reply)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	int rc;

	*reply = NULL;
	if (!h->token || !h->token[0])
		h->token = getenv("FANOUT_TOKEN");	/* --auth required servers */
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = h;
	rc = client_send(c, &m);
	if (rc == 0)
		rc = client_recv(c, reply, timeout_ms);
	if (rc < 0)
		return rc;
	return (*reply)->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_HELLO ? 0 : -EPROTO;
}

int client_hello(struct client *c, const char *name, int timeout_ms,
		 Fanout__V1__ServerMessage **reply)
{
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;

	h.protocol_version = 1;
	h.client_name = (char *)name;
	return client_hello_msg(c, &h, timeout_ms, reply);
}

/* fill for a TLS connection: what OpenSSL has decrypted, else a wait for records. */
static int fill_tls(struct client *c, int64_t deadline)
{
	for (;;) {
		size_t k = 0;
		int rc;

		ERR_clear_error();
		errno = 0;	/* SSL_ERROR_SYSCALL below reads it */
		rc = SSL_read_ex(c->ssl, c->rbuf + c->rlen, c->rcap - c->rlen, &k);
		if (rc == 1) {
			c->rlen += k;
			return 0;
		}
		switch (SSL_get_error(c->ssl, rc)) {
		case SSL_ERROR_WANT_READ:
			if (deadline >= 0 && remaining_ms(deadline) == 0)
				return -ETIMEDOUT;
			rc = wait_fd(c->fd, POLLIN, deadline);
			break;
		case SSL_ERROR_WANT_WRITE:
			rc = wait_fd(c->fd, POLLOUT, deadline);
			break;
		case SSL_ERROR_ZERO_RETURN:	/* close_notify, or a close without it */
			return -ECONNRESET;
		case SSL_ERROR_SYSCALL:
			return errno ? -errno : -ECONNRESET;
		default:
			return -EPROTO;	/* a bad record or an alert */
		}
		if (rc)
			return rc;
	}
}

/* Reads whatever has arrived, waiting until deadline for at least one byte. */
static int fill(struct client *c, int64_t deadline)
{
	ssize_t r;
	int rc = make_room(c);

	if (rc)
		return rc;
	if (c->ssl)
		return fill_tls(c, deadline);
	for (;;) {
		/* Try first, poll only when empty: one syscall per read under load. */
		r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
		if (r > 0) {
			c->rlen += (size_t)r;
			return 0;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		/* Nothing there and no time left: recv just looked, so skip the poll. */
		if (deadline >= 0 && remaining_ms(deadline) == 0)
			return -ETIMEDOUT;
		rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
}

int client_recv_frame(struct client *c, struct frame_view *out, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	int n;

	for (;;) {
		n = frame_parse(c->rbuf + c->rpos, c->rlen - c->rpos, c->max_frame, out);
		if (n > 0) {
			c->rpos += (size_t)n;
			return 0;
		}
		if (n < 0)
			return n;
		n = fill(c, deadline);
		if (n)
			return n;
	}
}

int client_recv(struct client *c, Fanout__V1__ServerMessage **out, int timeout_ms)
{
	struct frame_view v;
	int rc = client_recv_frame(c, &v, timeout_ms);

	*out = NULL;
	if (rc)
		return rc;
	*out = fanout__v1__server_message__unpack(NULL, v.len, v.body);
	return *out ? 0 : -EPROTO;
}

void client_free_msg(Fanout__V1__ServerMessage *m)
{
	if (m)
		fanout__v1__server_message__free_unpacked(m, NULL);
}

int client_subscribe(struct client *c, uint32_t id, const char *topic,
		     const char *const *patterns, size_t npatterns,
		     Fanout__V1__StartPosition start, uint64_t start_offset,
		     Fanout__V1__ServerMessage **result_msg)
{
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;

	s.subscription_id = id;
	s.topic = (char *)topic;		/* protobuf-c's structs are not const-correct */
	s.n_patterns = npatterns;
	s.patterns = (char **)patterns;
	s.start = start;
	s.start_offset = start_offset;
	return client_subscribe_msg(c, &s, result_msg);
}

int client_subscribe_msg(struct client *c, Fanout__V1__Subscribe *s,
			 Fanout__V1__ServerMessage **result_msg)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__ServerMessage *r = NULL;
	uint32_t id = s->subscription_id;
	int rc;

	if (result_msg)
		*result_msg = NULL;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = s;
	rc = client_send(c, &m);
	if (rc)
		return rc;
	rc = client_recv(c, &r, SUBSCRIBE_TIMEOUT_MS);
	if (rc)
		return rc;
	/* Anything but our SubscribeResult (an Error, an early event) is a refusal. */
	if (r->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED ||
	    r->subscribed->subscription_id != id)
		rc = -EPROTO;
	if (result_msg)
		*result_msg = r;
	else
		client_free_msg(r);
	return rc;
}

int client_ack(struct client *c, uint32_t id, uint32_t partition, uint64_t offset)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ack a = FANOUT__V1__ACK__INIT;

	a.subscription_id = id;
	a.partition = partition;
	a.offset = offset;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_ACK;
	m.ack = &a;
	return client_send(c, &m);
}

int client_publish(struct client *c, uint64_t sequence, Fanout__V1__Event **events, size_t n)
{
	Fanout__V1__PublishBatch b = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;

	b.sequence = sequence;
	b.n_events = n;
	b.events = events;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	m.publish = &b;
	return client_send(c, &m);
}
