/* tools/http_client.c — see http_client.h. */
#include "tools/http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/clock.h"
#include "tools/tls_client.h"

/* One request's connection: a socket, and its TLS session for an https:// server. */
struct http_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static int http_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = (deadline - clock_monotonic_ns()) / 1000000;
		struct pollfd p = { .fd = fd, .events = events };
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

/* Connects (non-blocking, bounded by deadline) to "host:port" or "[v6]:port"; the host
 * part goes into host (hcap bytes). */
static int http_connect(const char *hostport, int64_t deadline, char *host, size_t hcap)
{
	char port[16];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	size_t hl;
	int fd, rc, err = 0;
	socklen_t el = sizeof(err);

	if (!colon || (hl = (size_t)(colon - hostport)) >= hcap ||
	    strlen(colon + 1) >= sizeof(port))
		return -EINVAL;
	if (hl >= 2 && hostport[0] == '[')
		snprintf(host, hcap, "%.*s", (int)(hl - 2), hostport + 1);
	else
		snprintf(host, hcap, "%.*s", (int)hl, hostport);
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	rc = -EHOSTUNREACH;
	/* Each address in turn: "localhost" may name ::1 first and the server 127.0.0.1. */
	for (struct addrinfo *p = ai; p; p = p->ai_next) {
		fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		rc = 0;
		if (connect(fd, p->ai_addr, p->ai_addrlen) < 0 && errno != EINPROGRESS)
			rc = -errno;
		if (rc == 0)
			rc = http_wait(fd, POLLOUT, deadline);
		err = 0;
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err)
			rc = -err;
		if (rc == 0) {
			freeaddrinfo(ai);
			return fd;
		}
		close(fd);
		if (rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(ai);
	return rc;
}

/* Waits for what an SSL call asked for (rc its return), bounded by deadline. Returns
 * 0 to call again, or -errno. */
static int http_tls_wait(struct http_conn *c, int rc, int64_t deadline)
{
	return tls_client_wait(c->ssl, c->fd, rc, deadline);
}

static int http_send_all(struct http_conn *c, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w;

		if (c->ssl) {
			int rc;

			ERR_clear_error();
			rc = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);

			if (rc > 0) {
				p += rc;
				n -= (size_t)rc;
			} else if ((rc = http_tls_wait(c, rc, deadline)) < 0) {
				return rc;
			}
			continue;
		}
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (http_wait(c->fd, POLLOUT, deadline) < 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* One read: > 0 bytes, 0 at the end, -EAGAIN to wait (done here for TLS), or -errno. */
static ssize_t http_recv(struct http_conn *c, char *p, size_t n, int64_t deadline)
{
	for (;;) {
		ssize_t r;
		int rc;

		if (!c->ssl) {
			r = recv(c->fd, p, n, 0);
			return r >= 0 ? r : errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
		}
		ERR_clear_error();
		rc = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		if (rc > 0)
			return rc;
		/* The end: close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a close without it,
		 * which the answer's length then vouches for (http_parse). Any other
		 * failure — a bad record, an alert, a reset — is an error, not an end. */
		if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if ((rc = http_tls_wait(c, rc, deadline)) < 0)
			return rc;
	}
}

/* Reads until the peer closes (the request said Connection: close). */
static int http_read_all(struct http_conn *c, char **buf, size_t *len, int64_t deadline)
{
	size_t cap = 8192;
	char *b = malloc(cap + 1);

	*len = 0;
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (*len == cap) {
			char *g = cap * 2 > HTTP_RESPONSE_MAX ? NULL : realloc(b, cap * 2 + 1);

			if (!g) {
				free(b);
				return cap * 2 > HTTP_RESPONSE_MAX ? -EFBIG : -ENOMEM;
			}
			b = g;
			cap *= 2;
		}
		r = http_recv(c, b + *len, cap - *len, deadline);
		if (r > 0) {
			*len += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (r != -EAGAIN) {
			free(b);
			return (int)r;
		}
		if (http_wait(c->fd, POLLIN, deadline) < 0) {
			free(b);
			return -ETIMEDOUT;
		}
	}
	b[*len] = '\0';
	*buf = b;
	return 0;
}

/* TLS over c->fd to host (tools/tls_client.h). Returns 0, -EKEYREJECTED when the
 * certificate is refused, or -errno. */
static int http_tls_start(struct http_conn *c, const char *host, int64_t deadline)
{
	return tls_client_start(c->fd, host, deadline, &c->ctx, &c->ssl);
}

static void http_conn_close(struct http_conn *c)
{
	tls_client_free(c->ctx, c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	ERR_clear_error();
}

/* Decodes a chunked body in place. Returns its length or -EPROTO. */
static long http_dechunk(char *p, size_t n)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long sz = strtoul(p + in, &end, 16);
		char *crlf = strstr(end, "\r\n");

		if (end == p + in || !crlf)
			return -EPROTO;
		in = (size_t)(crlf + 2 - p);
		if (sz == 0)
			return (long)out;
		if (in + sz + 2 > n)
			return -EPROTO;
		memmove(p + out, p + in, sz);
		out += sz;
		in += sz + 2;
	}
}

/* Copies header name's value (case-insensitive) from the head into dst, "" if absent. */
static void http_header(const char *head, const char *name, char *dst, size_t cap)
{
	size_t nl = strlen(name);

	dst[0] = '\0';
	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *v = l + 2;

		if (strncasecmp(v, name, nl) == 0 && v[nl] == ':') {
			size_t n = strcspn(v + nl + 1, "\r\n");
			const char *s = v + nl + 1;

			while (n && *s == ' ') {
				s++;
				n--;
			}
			snprintf(dst, cap, "%.*s", (int)n, s);
			return;
		}
	}
}

static int http_parse(char *raw, size_t len, struct http_response *out)
{
	char *body = strstr(raw, "\r\n\r\n"), te[32], cl[32];
	long n;

	if (strncmp(raw, "HTTP/1.", 7) != 0 || !body || sscanf(raw + 8, " %d", &out->status) != 1)
		return -EPROTO;
	*body = '\0';
	body += 4;
	http_header(raw, "Content-Type", out->content_type, sizeof(out->content_type));
	http_header(raw, "Allow", out->allow, sizeof(out->allow));
	http_header(raw, "Retry-After", out->retry_after, sizeof(out->retry_after));
	http_header(raw, "WWW-Authenticate", out->www_authenticate,
		    sizeof(out->www_authenticate));
	http_header(raw, "Transfer-Encoding", te, sizeof(te));
	http_header(raw, "Content-Length", cl, sizeof(cl));
	n = (long)(len - (size_t)(body - raw));
	if (strcasecmp(te, "chunked") == 0 && (n = http_dechunk(body, (size_t)n)) < 0)
		return -EPROTO;
	if (cl[0] && strtol(cl, NULL, 10) > n)
		return -EPROTO;	/* cut short: a body is whole or an error */
	if (cl[0] && strtol(cl, NULL, 10) < n)
		n = strtol(cl, NULL, 10);
	out->body = malloc((size_t)n + 1);
	if (!out->body)
		return -ENOMEM;
	memcpy(out->body, body, (size_t)n);
	out->body[n] = '\0';
	out->len = (size_t)n;
	return 0;
}

int http_request(const char *hostport, const char *method, const char *path,
		 const char *ctype, const char *body, size_t len, int timeout_ms,
		 struct http_response *out)
{
	return http_request_auth(hostport, NULL, method, path, ctype, body, len, timeout_ms,
				 out);
}

/* The request's head into head (cap bytes). Returns its length, or -1 when it does not
 * fit or the token would break the header. */
static int http_head(char *head, size_t cap, const char *hostport, const char *token,
		     const char *method, const char *path, const char *ctype, const char *body,
		     size_t len)
{
	int n = snprintf(head, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
			 "Accept: application/json\r\nUser-Agent: fanout-http\r\n", method, path,
			 hostport);

	for (const char *t = token; t && *t; t++)
		if ((unsigned char)*t < 0x21 || *t == 0x7f)
			return -1;
	if (token && *token && n > 0 && (size_t)n < cap)
		n += snprintf(head + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", token);
	if (body && n > 0 && (size_t)n < cap)
		n += snprintf(head + n, cap - (size_t)n, "Content-Type: %s\r\n"
			      "Content-Length: %zu\r\n", ctype ? ctype : "application/json", len);
	if (n > 0 && (size_t)n < cap)
		n += snprintf(head + n, cap - (size_t)n, "\r\n");
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* "https://host:port" or "http://host:port" or "host:port": the address (without the
 * scheme) and whether it is TLS. */
static const char *http_scheme(const char *hostport, bool *tls)
{
	*tls = strncmp(hostport, "https://", 8) == 0;
	if (*tls)
		return hostport + 8;
	return strncmp(hostport, "http://", 7) == 0 ? hostport + 7 : hostport;
}

int http_request_auth(const char *hostport, const char *token, const char *method,
		      const char *path, const char *ctype, const char *body, size_t len,
		      int timeout_ms, struct http_response *out)
{
	int64_t deadline = clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	struct http_conn c = { .fd = -1 };
	char head[2048], host[256];
	char *raw = NULL;
	size_t rlen = 0;
	bool tls;
	int n, rc;

	memset(out, 0, sizeof(*out));
	hostport = http_scheme(hostport, &tls);
	n = http_head(head, sizeof(head), hostport, token, method, path, ctype, body, len);
	if (n < 0)
		return token && strpbrk(token, "\r\n\t ") ? -EINVAL : -ENAMETOOLONG;
	c.fd = http_connect(hostport, deadline, host, sizeof(host));
	if (c.fd < 0)
		return c.fd;
	rc = tls ? http_tls_start(&c, host, deadline) : 0;
	if (rc == 0)
		rc = http_send_all(&c, head, (size_t)n, deadline);
	explicit_bzero(head, sizeof(head));	/* it may hold a token */
	if (rc == 0 && body)
		rc = http_send_all(&c, body, len, deadline);
	/* No shutdown(SHUT_WR): some servers take a half-close for a client gone. The request
	 * said Connection: close, so the server closes after its answer. */
	if (rc == 0)
		rc = http_read_all(&c, &raw, &rlen, deadline);
	http_conn_close(&c);
	if (rc == 0)
		rc = http_parse(raw, rlen, out);
	free(raw);
	return rc;
}

void http_response_free(struct http_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int http_encode_segment(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -1;
			snprintf(out + o, 4, "%%%02X", c);
			o += 3;
		}
	}
	out[o] = '\0';
	return (int)o;
}
