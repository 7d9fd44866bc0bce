/* tools/tls_client.h — the client's side of TLS for the CLIs, the bench and the tests
 * (OpenSSL): the server's certificate must chain to the CA in $FANOUT_TLS_CA (a PEM
 * file) or, without it, to the system's CAs, and name the host dialled (a DNS name or an
 * IP address). Used by the HTTP client (https://) and the protocol client (tls://). */
#ifndef FANOUT_TOOLS_TLS_CLIENT_H
#define FANOUT_TOOLS_TLS_CLIENT_H

#include <stdint.h>

#include <openssl/ssl.h>

/* Runs the handshake on fd (non-blocking) to host, bounded by deadline (monotonic ns;
 * < 0: none). On success *ctx and *ssl are the caller's to free (tls_client_free).
 * Returns 0, -EKEYREJECTED when the certificate is refused, -ENOENT for an unreadable
 * $FANOUT_TLS_CA, -ETIMEDOUT, -EPROTO for another TLS failure, or -errno. */
int tls_client_start(int fd, const char *host, int64_t deadline, SSL_CTX **ctx, SSL **ssl);

/* After an SSL call on ssl returned rc (<= 0): waits on fd for what it asks (bounded by
 * deadline, < 0: none). Returns 0 to call again, -ECONNRESET at the peer's close_notify,
 * -ETIMEDOUT, or -EPROTO for a TLS failure. */
int tls_client_wait(SSL *ssl, int fd, int rc, int64_t deadline);

void tls_client_free(SSL_CTX *ctx, SSL *ssl);

#endif
