/* net/tls.h — TLS on the TCP protocol's connections (--tls-cert/--tls-key), in user
 * space: this kernel has no kTLS, so each connection's OpenSSL session works on memory
 * BIOs. Received ciphertext goes in and plaintext comes out for the session; a send's
 * gathered iovecs are sealed into the connection's ciphertext buffer (an output BIO of
 * ours appends the records to it), which the reactor sends by copy (never zero-copy:
 * the buffer is reused). Two such buffers swap: one being sent, one taking what OpenSSL
 * writes meanwhile (handshake answers, alerts). The reactor still knows bytes
 * only; net/server.c puts this layer between it and the session.
 *
 * A net_tls belongs to one connection on one reactor's thread. The SSL_CTX is shared by
 * every reactor (OpenSSL makes SSL_new on it thread-safe). */
#ifndef FANOUT_NET_TLS_H
#define FANOUT_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#define NET_TLS_HANDSHAKE_NS (10 * 1000000000ll)	/* a handshake not done by then: closed */
#define NET_TLS_RECORD_BYTES (16u << 10)		/* plaintext per record (TLS's maximum) */
/* A send buffer larger than this is given back once its send is done. */
#define NET_TLS_OUT_KEEP     (1u << 20)
/* The peer's own traffic after the handshake: messages it starts per net_tls_trim
 * period (KeyUpdates; a legitimate client sends one in a great while), and the answers
 * to it waiting unsent (the peer not reading). Past either, the connection is cut. */
#define NET_TLS_POST_HANDSHAKE_MAX 8u
#define NET_TLS_UNSOLICITED_MAX (16u << 10)

struct net_tls {
	SSL *ssl;		/* its BIOs: rbio (ciphertext in, memory), wbio (out: ours) */
	BIO *rbio, *wbio;
	uint8_t *out;		/* ciphertext being sent: [out_off, out_len) not yet taken */
	size_t out_len, out_off, out_cap;
	uint8_t *next;		/* ciphertext written since: the next send's */
	size_t next_len, next_cap;
	bool used;		/* a send since the last net_tls_trim */
	bool sealing;		/* inside net_tls_seal: what is written is the session's */
	size_t unsolicited;	/* of next_len: written on the peer's account */
	uint32_t post_handshake;	/* messages the peer started since net_tls_trim */
	size_t owed_next;	/* plaintext bytes sealed into wbio, not yet in out */
	size_t owed_out;	/* plaintext bytes whose ciphertext is in out */
	int64_t handshake_by_ns;	/* monotonic deadline while !established */
	bool established;	/* the handshake finished */
	bool failed;		/* a fatal error: the alert (if any) goes out, then close */
	char why[96];		/* the failure, for the log */
	struct iovec send_iov;	/* the send under way: [out_off, out_len) of out */
	struct msghdr send_msg;
};

/* The server's context from a PEM certificate (chain) and key: TLS 1.2 and 1.3, no
 * session tickets (nothing here resumes sessions). Returns NULL with why filled. */
SSL_CTX *net_tls_ctx_new(const char *cert, const char *key, char *why, size_t why_cap);

/* Starts t as the server's side of a new connection. Returns 0 or -ENOMEM. */
int net_tls_open(struct net_tls *t, SSL_CTX *ctx, int64_t now_ns);

/* Frees t's session and buffers. Safe on a zeroed or closed t. */
void net_tls_close(struct net_tls *t);

/* Feeds n received bytes of ciphertext and decrypts what it completes: deliver(arg, p, k)
 * for each run of plaintext (p valid during the call), into scratch (cap bytes). deliver
 * returns false to stop (the connection is closing); the rest stays undelivered. Returns
 * 0, or -EPROTO when the peer broke the protocol (t->why says how; an alert for it may
 * be waiting in wbio: send it, then close), or -ECONNRESET when it closed the session. */
int net_tls_recv(struct net_tls *t, const uint8_t *p, size_t n, uint8_t *scratch,
		 size_t cap, bool (*deliver)(void *arg, const uint8_t *p, size_t k), void *arg);

/* Seals bytes of plaintext from iov[0..niov) into records, copying through scratch (cap
 * bytes, at least NET_TLS_RECORD_BYTES) so that small frames share full records. They
 * count as owed until net_tls_sent reports them. Returns 0, or -ENOMEM / -EPROTO. */
int net_tls_seal(struct net_tls *t, const struct iovec *iov, size_t niov, size_t bytes,
		 uint8_t *scratch, size_t cap);

/* With no send in flight: the ciphertext to send next (everything sealed or produced
 * by the handshake so far), at *p, its length returned; 0 when there is none. -ENOMEM
 * when the buffer could not grow. *p is valid until net_tls_sent says it is all sent. */
long net_tls_next(struct net_tls *t, const uint8_t **p);

/* The send of the ciphertext net_tls_next gave took res bytes. Returns the plaintext
 * bytes now wholly on the wire (to report to the session; 0 for none yet), and sets
 * *rest when part of it is still to send (call net_tls_next again). */
size_t net_tls_sent(struct net_tls *t, size_t res, bool *rest);

/* Whether ciphertext waits to be sent (handshake answers, an alert, sealed records). */
bool net_tls_pending(const struct net_tls *t);

/* Called every so often (the police pass, 100 ms): gives back the buffers of a
 * connection that sent nothing since the last call, so idle connections hold no
 * ciphertext memory while busy ones keep theirs (a buffer per send would be malloc'd and
 * faulted in each time); and starts the next period of NET_TLS_POST_HANDSHAKE_MAX. */
void net_tls_trim(struct net_tls *t);

#endif
