/* tools/tls_client.c — see tls_client.h. */
#include "tools/tls_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/clock.h"

static int tls_client_poll(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline < 0 ? -1 : (deadline - clock_monotonic_ns()) / 1000000;
		int rc;

		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

int tls_client_wait(SSL *ssl, int fd, int rc, int64_t deadline)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return tls_client_poll(fd, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return tls_client_poll(fd, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:	/* the socket's own error (a reset, a broken pipe) */
		return errno && errno != EAGAIN ? -errno : -ECONNRESET;
	default:
		return -EPROTO;
	}
}

int tls_client_start(int fd, const char *host, int64_t deadline, SSL_CTX **ctxp, SSL **sslp)
{
	const char *ca = getenv("FANOUT_TLS_CA");
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	int rc;

	*ctxp = NULL;
	*sslp = NULL;
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	rc = -ENOENT;	/* the CA file */
	if (ca && ca[0] ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
		       : SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto err;
	rc = -ENOMEM;
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		goto err;
	rc = -EINVAL;
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
		  : SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
		goto err;
	while (ERR_clear_error(), errno = 0, (rc = SSL_connect(ssl)) != 1) {
		if (SSL_get_verify_result(ssl) != X509_V_OK) {
			rc = -EKEYREJECTED;
			goto err;
		}
		if ((rc = tls_client_wait(ssl, fd, rc, deadline)) < 0)
			goto err;
	}
	*ctxp = ctx;
	*sslp = ssl;
	return 0;
err:
	tls_client_free(ctx, ssl);
	return rc;
}

void tls_client_free(SSL_CTX *ctx, SSL *ssl)
{
	if (ssl)
		SSL_free(ssl);
	if (ctx)
		SSL_CTX_free(ctx);
	ERR_clear_error();
}
