/* shm/shm_attach.c — asking fanoutd for a ring over its Unix socket (Hello, Subscribe with
 * shm_ring_bytes; proto/README.md), taking the ring's descriptors that come with the
 * SubscribeResult (SCM_RIGHTS), and keeping that connection for the ring's life; and
 * decoding frames with protobuf-c. The socket is non-blocking; every wait for the server
 * is bounded by the caller's timeout. */
#include "shm/shm_internal.h"

#include "fanout.pb-c.h"
#include "shm/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ATTACH_TIMEOUT_MS_DEFAULT 10000
/* Largest answer accepted on the control connection (the server's own frame limit). */
#define CONTROL_FRAME_MAX (1u << 20)
#define CONTROL_READ_BYTES 4096u
/* Descriptors held between their arrival and the SubscribeResult that counts them: one
 * ring's two, with room for a server that sends more (refused, and closed). */
#define CONTROL_FDS_MAX 8u
#define CONNECT_RETRY_MS 10	/* a full listen backlog: try again after */

struct conn {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	int timeout_ms;
	char *err;
	size_t errlen;
	int fds[CONTROL_FDS_MAX];	/* received (SCM_RIGHTS), in order, not yet taken */
	unsigned nfds;
	bool fds_lost;			/* more came than fit, or the kernel cut some */
};

static int say(struct conn *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int say(struct conn *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Waits for events on c->fd within the timeout: 0, -ETIMEDOUT or -errno. */
static int wait_fd(const struct conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int n;

	do
		n = poll(&p, 1, c->timeout_ms);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n == 0 ? -ETIMEDOUT : 0;
}

static void conn_close_fds(struct conn *c)
{
	for (unsigned i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
}

/* Why a connect to the ring socket failed, in words a user can act on. */
static const char *connect_hint(int rc)
{
	switch (-rc) {
	case ENOENT:
		return " (is fanoutd running here with rings on? its --shm-socket, default "
		       "DATA_DIR/shm.sock)";
	case EACCES:
		return " (the socket is for the server's user and its --shm-group)";
	case ECONNREFUSED:
		return " (nothing listens on it: the server is gone)";
	default:
		return "";
	}
}

/* Connects to the Unix socket at path. A connect that finds the backlog full (EAGAIN on a
 * non-blocking Unix socket) is tried again until the timeout. */
static int conn_connect(struct conn *c, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int waited = 0, rc = 0;

	if (strlen(path) >= sizeof(a.sun_path))
		return say(c, -ENAMETOOLONG, "%s: a Unix socket path has at most %zu bytes", path,
			   sizeof(a.sun_path) - 1);
	memcpy(a.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return say(c, -errno, "socket: %s", strerror(errno));
	while (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || waited >= c->timeout_ms) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		poll(NULL, 0, CONNECT_RETRY_MS);
		waited += CONNECT_RETRY_MS;
	}
	if (rc < 0)
		return say(c, rc, "connect %s: %s%s", path, strerror(-rc), connect_hint(rc));
	return 0;
}

static int conn_send(struct conn *c, const Fanout__V1__ClientMessage *m)
{
	size_t body = fanout__v1__client_message__get_packed_size(m), n, off = 0;
	uint8_t *buf = malloc(body + 10);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	n = shm_wire_varint_put(buf, body);
	n += fanout__v1__client_message__pack(m, buf + n);
	while (off < n && rc == 0) {
		ssize_t w = send(c->fd, buf + off, n - off, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno == EAGAIN)
			rc = wait_fd(c, POLLOUT);
		else if (w < 0 && errno != EINTR)
			rc = -errno;
	}
	free(buf);
	return rc;
}

/* Keeps the descriptors of every SCM_RIGHTS message in msg, in order; those beyond
 * CONTROL_FDS_MAX are closed and remembered as lost. */
static void conn_keep_fds(struct conn *c, struct msghdr *msg)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (c->nfds < CONTROL_FDS_MAX) {
				c->fds[c->nfds++] = fd;
			} else {
				close(fd);
				c->fds_lost = true;
			}
		}
	}
	if (msg->msg_flags & MSG_CTRUNC)
		c->fds_lost = true;
}

/* Reads what is there without waiting, with any descriptors that came along: 1 bytes
 * came, 0 none, -ECONNRESET at end, -errno. */
static int conn_read_some(struct conn *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CONTROL_FDS_MAX)];
	} ctl;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (c->cap - c->len < CONTROL_READ_BYTES) {
		uint8_t *b = realloc(c->buf, c->cap + CONTROL_READ_BYTES * 4);

		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap += CONTROL_READ_BYTES * 4;
	}
	iov = (struct iovec){ .iov_base = c->buf + c->len, .iov_len = c->cap - c->len };
	do {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		conn_keep_fds(c, &msg);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	c->len += (size_t)n;
	return 1;
}

/* Takes one whole frame off the buffer and decodes it into *m: 1, 0 (incomplete),
 * -EPROTO (a bad prefix, an oversized frame, or not a ServerMessage). */
static int conn_take(struct conn *c, Fanout__V1__ServerMessage **m)
{
	uint32_t prefix, body;
	int rc = shm_wire_prefix(c->buf, c->len, &prefix, &body);

	if (rc <= 0)
		return rc < 0 ? -EPROTO : 0;
	if (body > CONTROL_FRAME_MAX)
		return -EPROTO;
	if (c->len < (size_t)prefix + body)
		return 0;
	*m = fanout__v1__server_message__unpack(NULL, body, c->buf + prefix);
	c->len -= (size_t)prefix + body;
	memmove(c->buf, c->buf + prefix + body, c->len);
	return *m ? 1 : -EPROTO;
}

/* Waits up to the timeout for the next message. */
static int conn_recv(struct conn *c, Fanout__V1__ServerMessage **m)
{
	int rc;

	while ((rc = conn_take(c, m)) == 0) {
		if ((rc = wait_fd(c, POLLIN)) < 0 || (rc = conn_read_some(c)) < 0)
			return rc;
	}
	return rc < 0 ? say(c, -FANOUT_SHM_E_PROTOCOL, "%s", "the server sent a frame that is "
			    "not a fanout.v1.ServerMessage") : 0;
}

/* The server's Error as an error code and message. */
static int server_error(char *err, size_t errlen, const Fanout__V1__Error *e)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fanout__v1__error_code__descriptor, (int)e->code);

	if (err && errlen)
		snprintf(err, errlen, "server error %s: %s", v ? v->name : "ERROR_CODE_?",
			 e->message ? e->message : "");
	return -FANOUT_SHM_E_SERVER;
}

/* Sends m and waits for an answer of body `want` (Heartbeats are skipped). */
static int conn_ask(struct conn *c, const Fanout__V1__ClientMessage *m,
		    Fanout__V1__ServerMessage__BodyCase want, Fanout__V1__ServerMessage **out)
{
	int rc = conn_send(c, m);

	if (rc < 0)
		return say(c, rc, "%s", "cannot send to the server");
	for (;;) {
		if ((rc = conn_recv(c, out)) < 0)
			return rc == -ETIMEDOUT ? say(c, rc, "%s", "no answer from the server in time")
			     : rc == -ECONNRESET ? say(c, rc, "%s", "the server closed the connection")
			     : rc;
		if ((*out)->body_case == want)
			return 0;
		if ((*out)->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
			rc = server_error(c->err, c->errlen, (*out)->error);
			break;
		}
		if ((*out)->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT) {
			rc = say(c, -FANOUT_SHM_E_PROTOCOL, "%s", "unexpected answer from the server");
			break;
		}
		fanout__v1__server_message__free_unpacked(*out, NULL);
	}
	fanout__v1__server_message__free_unpacked(*out, NULL);
	*out = NULL;
	return rc;
}

static int attach_hello(struct conn *c, const struct fanout_shm_attach_opts *a)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__ServerMessage *ans;
	int rc;

	h.protocol_version = 1;
	h.client_name = (char *)(a->client_name ? a->client_name : "libfanout-shm");
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	if ((rc = conn_ask(c, &m, FANOUT__V1__SERVER_MESSAGE__BODY_HELLO, &ans)) == 0)
		fanout__v1__server_message__free_unpacked(ans, NULL);
	return rc;
}

static int attach_subscribe(struct conn *c, const struct fanout_shm_attach_opts *a,
			    Fanout__V1__ServerMessage **ans)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;
	uint32_t want;
	int rc;

	s.subscription_id = 1;
	s.topic = (char *)a->topic;
	s.n_patterns = a->npatterns;
	s.patterns = (char **)a->patterns;
	s.filter = (Fanout__V1__Filter *)a->filter;
	s.start = (Fanout__V1__StartPosition)a->start;
	s.start_offset = a->start_offset;
	s.n_start_offsets = a->nstart_offsets;
	s.start_offsets = (uint64_t *)a->start_offsets;
	s.shm_ring_bytes = a->ring_bytes ? a->ring_bytes : FANOUT_SHM_RING_BYTES_DEFAULT;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &s;
	if ((rc = conn_ask(c, &m, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED, ans)) < 0)
		return rc;
	/* The descriptors travel with the bytes of the send that carries the
	 * SubscribeResult, so they are here once it is (proto/README.md). */
	want = (*ans)->subscribed->shm_fds;
	if (want == 0)
		rc = say(c, -FANOUT_SHM_E_PROTOCOL, "%s", "the server answered Subscribe without "
			 "a ring's descriptors: it does not deliver into shared-memory rings");
	else if (want != 2 || c->nfds != 2 || c->fds_lost)
		rc = say(c, -FANOUT_SHM_E_PROTOCOL, "the SubscribeResult counts %u descriptors; "
			 "%u came%s (a ring is 2)", want, c->nfds, c->fds_lost ? ", some lost" : "");
	if (rc < 0) {
		fanout__v1__server_message__free_unpacked(*ans, NULL);
		*ans = NULL;
	}
	return rc;
}

/* Takes over the connection and the resume floors once the ring is open. */
static int attach_adopt(struct fanout_shm *r, struct conn *c, const struct fanout_shm *resume)
{
	r->control_fd = c->fd;
	r->control_buf = c->buf;
	r->control_len = c->len;
	r->control_cap = c->cap;
	c->fd = -1;
	c->buf = NULL;
	if (!resume || !r->partitions)
		return 0;
	if (!(r->floor = calloc(r->partitions, sizeof(*r->floor))))
		return -ENOMEM;
	for (uint32_t p = 0; p < r->partitions; p++)
		r->floor[p] = fanout_shm_next_offset(resume, p);
	return 0;
}

int fanout_shm_attach(struct fanout_shm **out, const struct fanout_shm_attach_opts *a,
		      const struct fanout_shm_opts *o, char *err, size_t errlen)
{
	struct conn c = { .fd = -1, .err = err, .errlen = errlen };
	const char *path = a->socket_path ? a->socket_path : FANOUT_SHM_SOCKET_DEFAULT;
	struct fanout_shm_opts ro;
	Fanout__V1__ServerMessage *ans = NULL;
	int rc;

	if (!a->topic || a->start < 0 || a->start > 2)
		return say(&c, -EINVAL, "%s", "attach needs a topic and a start of 0..2");
	if (a->nstart_offsets && !a->start_offsets)
		return say(&c, -EINVAL, "%s", "attach: nstart_offsets without start_offsets");
	c.timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : ATTACH_TIMEOUT_MS_DEFAULT;
	if ((rc = conn_connect(&c, path)) < 0 || (rc = attach_hello(&c, a)) < 0 ||
	    (rc = attach_subscribe(&c, a, &ans)) < 0)
		goto out;
	if (o)
		ro = *o;
	else
		fanout_shm_opts_init(&ro);
	/* Everything delivered to this subscription is in its ring from record 0. */
	ro.start = FANOUT_SHM_START_FIRST;
	if (!ro.data_dir && ans->subscribed->data_dir && ans->subscribed->data_dir[0])
		ro.data_dir = ans->subscribed->data_dir;
	if ((rc = fanout_shm_open_fd(out, c.fds[0], c.fds[1], &ro, err, errlen)) < 0)
		goto out;
	if ((rc = attach_adopt(*out, &c, a->resume)) < 0) {
		fanout_shm_close(*out);
		*out = NULL;
	}
out:
	conn_close_fds(&c);	/* mapped: the mappings keep the ring */
	if (ans)
		fanout__v1__server_message__free_unpacked(ans, NULL);
	if (c.fd >= 0)
		close(c.fd);
	free(c.buf);
	return rc;
}

int shm_control_check(struct fanout_shm *r)
{
	struct conn c = { .fd = r->control_fd, .buf = r->control_buf, .len = r->control_len,
			  .cap = r->control_cap, .err = r->errmsg, .errlen = sizeof(r->errmsg) };
	Fanout__V1__ServerMessage *m = NULL;
	int rd, rc = 0;

	while ((rd = conn_read_some(&c)) > 0)
		;
	conn_close_fds(&c);	/* nothing sends descriptors after the SubscribeResult */
	/* What arrived before an end of stream counts first: the Error says why. */
	while (rc == 0 && conn_take(&c, &m) == 1) {
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
			rc = server_error(r->errmsg, sizeof(r->errmsg), m->error);
		fanout__v1__server_message__free_unpacked(m, NULL);
	}
	r->control_buf = c.buf;
	r->control_len = c.len;
	r->control_cap = c.cap;
	if (rc < 0)
		return rc;
	if (rd == -ECONNRESET) {
		shm_reader_say(r, "%s: the server closed the control connection", r->path);
		return -FANOUT_SHM_E_CLOSED;
	}
	return rd;
}

int fanout_shm_control_fd(const struct fanout_shm *r)
{
	return r->control_fd;
}

struct Fanout__V1__ServerMessage *fanout_shm_decode(const struct fanout_shm_record *rec,
						    struct ProtobufCAllocator *alloc)
{
	struct Fanout__V1__ServerMessage *m;
	uint8_t *copy;

	if (!rec->body)
		return NULL;
	/* protobuf-c counts repeated fields in one pass and fills them in another: bytes the
	 * writer overwrites in between could overrun what it allocated. Decode a private
	 * copy; the caller's validate then says whether the copy was whole. */
	copy = malloc(rec->body_len ? rec->body_len : 1);
	if (!copy)
		return NULL;
	memcpy(copy, rec->body, rec->body_len);
	m = fanout__v1__server_message__unpack(alloc, rec->body_len, copy);
	free(copy);
	return m;
}

void fanout_shm_decode_free(struct Fanout__V1__ServerMessage *m, struct ProtobufCAllocator *alloc)
{
	if (m)
		fanout__v1__server_message__free_unpacked(m, alloc);
}
