/* net/tls.c — a connection's TLS session on memory BIOs (see tls.h). */
#include "net/tls.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/err.h>

/* The last error OpenSSL queued, as text (its reason: "wrong version number", "http
 * request", "certificate verify failed"...). */
static void net_tls_why(char *why, size_t cap, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(why, cap, "%s%s%s", what, r ? ": " : "", r ? r : "");
	ERR_clear_error();
}

/* The sealed records' way out: a BIO that appends what OpenSSL writes to t->next, the
 * buffer of the send after the one under way (a memory BIO would be copied out once
 * more). */
static BIO_METHOD *net_tls_out_method;
static pthread_once_t net_tls_out_once = PTHREAD_ONCE_INIT;

static int net_tls_grow(uint8_t **b, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 4096;
	uint8_t *g;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	g = realloc(*b, c);
	if (!g)
		return -1;
	*b = g;
	*cap = c;
	return 0;
}

static int net_tls_out_write(BIO *b, const char *p, int n)
{
	struct net_tls *t = BIO_get_data(b);

	if (n < 0 || net_tls_grow(&t->next, &t->next_cap, t->next_len + (size_t)n) < 0)
		return -1;
	memcpy(t->next + t->next_len, p, (size_t)n);
	t->next_len += (size_t)n;
	if (!t->sealing)
		t->unsolicited += (size_t)n;
	return n;
}

static long net_tls_out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct net_tls *t = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:	/* nothing buffered below: sent by the reactor */
		return 1;
	case BIO_CTRL_PENDING:
	case BIO_CTRL_WPENDING:
		return (long)t->next_len;
	default:
		return 0;
	}
}

static int net_tls_out_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void net_tls_out_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "fanout TLS records out");

	if (m && (BIO_meth_set_write(m, net_tls_out_write) != 1 ||
		  BIO_meth_set_ctrl(m, net_tls_out_ctrl) != 1 ||
		  BIO_meth_set_create(m, net_tls_out_create) != 1)) {
		BIO_meth_free(m);
		m = NULL;
	}
	net_tls_out_method = m;	/* for the process's life */
}

/* Counts the handshake messages the peer sends after the handshake (TLS 1.3 KeyUpdates,
 * a TLS 1.2 renegotiation attempt): each costs key work on the reactor and may be
 * answered. OpenSSL calls this for every record header and message, both ways. */
static void net_tls_msg(int write_p, int version, int content_type, const void *buf,
			size_t len, SSL *ssl, void *arg)
{
	struct net_tls *t = SSL_get_app_data(ssl);

	(void)version;
	(void)buf;
	(void)len;
	(void)arg;
	if (!write_p && content_type == SSL3_RT_HANDSHAKE && t && t->established)
		t->post_handshake++;
}

SSL_CTX *net_tls_ctx_new(const char *cert, const char *key, char *why, size_t why_cap)
{
	SSL_CTX *ctx;

	pthread_once(&net_tls_out_once, net_tls_out_init);
	ctx = net_tls_out_method ? SSL_CTX_new(TLS_server_method()) : NULL;
	if (!ctx) {
		net_tls_why(why, why_cap, "cannot make a TLS context");
		return NULL;
	}
	/* No renegotiation (a client could make the server redo handshakes at will) and no
	 * tickets or cache: nothing here resumes a session, and tickets are writes each
	 * connection would carry for nothing. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_msg_callback(ctx, net_tls_msg);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		net_tls_why(why, why_cap, "--tls-cert");
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		net_tls_why(why, why_cap, "--tls-key");
		goto err;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		net_tls_why(why, why_cap, "--tls-key does not match --tls-cert");
		goto err;
	}
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

int net_tls_open(struct net_tls *t, SSL_CTX *ctx, int64_t now_ns)
{
	memset(t, 0, sizeof(*t));
	t->ssl = SSL_new(ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(net_tls_out_method);
	if (!t->ssl || !t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		memset(t, 0, sizeof(*t));
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(t->wbio, t);
	SSL_set_app_data(t->ssl, t);
	/* An empty input BIO means "more to come", not the end of the stream. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* the session owns both now */
	SSL_set_accept_state(t->ssl);
	t->handshake_by_ns = now_ns + NET_TLS_HANDSHAKE_NS;
	return 0;
}

void net_tls_close(struct net_tls *t)
{
	if (t->ssl)
		SSL_free(t->ssl);	/* and its BIOs */
	free(t->out);
	free(t->next);
	memset(t, 0, sizeof(*t));
	ERR_clear_error();
}

int net_tls_recv(struct net_tls *t, const uint8_t *p, size_t n, uint8_t *scratch,
		 size_t cap, bool (*deliver)(void *arg, const uint8_t *p, size_t k), void *arg)
{
	if (t->failed)
		return -EPROTO;
	/* One receive buffer at a time, drained below before the next: the input BIO
	 * holds at most that and one partial record. */
	if (n > 0 && BIO_write(t->rbio, p, (int)n) != (int)n) {
		snprintf(t->why, sizeof(t->why), "out of memory");
		t->failed = true;
		return -EPROTO;
	}
	for (;;) {
		size_t k = 0;
		int rc;

		/* Answers the peer asks for pile up while it does not read (our send stays
		 * in flight), and their key work is ours: bounded, else cut. */
		if (t->post_handshake > NET_TLS_POST_HANDSHAKE_MAX ||
		    t->unsolicited > NET_TLS_UNSOLICITED_MAX) {
			snprintf(t->why, sizeof(t->why), "%s",
				 t->post_handshake > NET_TLS_POST_HANDSHAKE_MAX ?
				 "too many post-handshake messages (key updates)" :
				 "answers to the peer pile up unread");
			t->failed = true;
			return -EPROTO;
		}
		ERR_clear_error();
		rc = SSL_read_ex(t->ssl, scratch, cap, &k);
		if (!t->established && SSL_is_init_finished(t->ssl))
			t->established = true;
		if (rc == 1) {
			if (!deliver(arg, scratch, k))
				return 0;
			continue;
		}
		switch (SSL_get_error(t->ssl, rc)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:	/* memory BIOs take every write */
			return 0;
		case SSL_ERROR_ZERO_RETURN:	/* close_notify */
			return -ECONNRESET;
		default:
			net_tls_why(t->why, sizeof(t->why),
				    t->established ? "bad record" : "handshake failed");
			t->failed = true;
			return -EPROTO;
		}
	}
}

static int net_tls_write(struct net_tls *t, const uint8_t *p, size_t n)
{
	size_t w = 0;

	int rc;

	ERR_clear_error();
	/* The output BIO takes everything, so a write is whole or fails outright. */
	t->sealing = true;
	rc = SSL_write_ex(t->ssl, p, n, &w);
	t->sealing = false;
	if (rc != 1 || w != n) {
		net_tls_why(t->why, sizeof(t->why), "cannot seal");
		return -EPROTO;
	}
	return 0;
}

int net_tls_seal(struct net_tls *t, const struct iovec *iov, size_t niov, size_t bytes,
		 uint8_t *scratch, size_t cap)
{
	size_t fill = 0, rec = cap < NET_TLS_RECORD_BYTES ? cap : NET_TLS_RECORD_BYTES;
	int rc;

	assert(rec > 0);
	if (!t->established || t->failed)
		return -ENOTCONN;	/* nothing of ours goes out before the handshake */
	for (size_t i = 0; i < niov; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		/* A large iovec goes straight in; small ones (frames) are packed so each
		 * record is full rather than one per frame. */
		if (fill == 0 && left >= rec) {
			size_t whole = left - left % rec;

			if ((rc = net_tls_write(t, p, whole)) < 0)
				return rc;
			p += whole;
			left -= whole;
		}
		while (left > 0) {
			size_t k = rec - fill < left ? rec - fill : left;

			memcpy(scratch + fill, p, k);
			fill += k;
			p += k;
			left -= k;
			if (fill == rec) {
				if ((rc = net_tls_write(t, scratch, fill)) < 0)
					return rc;
				fill = 0;
			}
		}
	}
	if (fill > 0 && (rc = net_tls_write(t, scratch, fill)) < 0)
		return rc;
	t->owed_next += bytes;
	return 0;
}

long net_tls_next(struct net_tls *t, const uint8_t **p)
{
	uint8_t *b;
	size_t cap;

	if (t->out_off < t->out_len) {	/* the rest of a short send */
		*p = t->out + t->out_off;
		return (long)(t->out_len - t->out_off);
	}
	if (t->next_len == 0)
		return 0;
	/* The filled buffer goes out; the empty one takes what comes meanwhile. */
	b = t->out;
	cap = t->out_cap;
	t->out = t->next;
	t->out_cap = t->next_cap;
	t->out_len = t->next_len;
	t->out_off = 0;
	t->next = b;
	t->next_cap = cap;
	t->next_len = 0;
	t->owed_out = t->owed_next;
	t->owed_next = 0;
	t->unsolicited = 0;	/* on their way */
	t->used = true;
	*p = t->out;
	return (long)t->out_len;
}

size_t net_tls_sent(struct net_tls *t, size_t res, bool *rest)
{
	size_t plain;

	assert(res <= t->out_len - t->out_off);
	t->out_off += res;
	if (t->out_off < t->out_len) {
		*rest = true;
		return 0;
	}
	plain = t->owed_out;
	t->owed_out = 0;
	t->out_len = t->out_off = 0;
	if (t->out_cap > NET_TLS_OUT_KEEP) {	/* one huge burst does not stay */
		free(t->out);
		t->out = NULL;
		t->out_cap = 0;
	}
	*rest = t->next_len > 0;
	return plain;
}

bool net_tls_pending(const struct net_tls *t)
{
	return t->out_off < t->out_len || t->next_len > 0;
}

void net_tls_trim(struct net_tls *t)
{
	t->post_handshake = 0;
	if (t->used) {
		t->used = false;
		return;
	}
	if (t->out_len == 0 && t->out_cap > 0) {	/* nothing of it is being sent */
		free(t->out);
		t->out = NULL;
		t->out_cap = 0;
	}
	if (t->next_len == 0 && t->next_cap > 0) {
		free(t->next);
		t->next = NULL;
		t->next_cap = 0;
	}
}
