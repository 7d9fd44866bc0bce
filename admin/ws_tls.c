/* admin/ws_tls.c — see ws_tls.h. */
#include "admin/ws_tls.h"

#include <errno.h>
#include <stdio.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

/* The libmicrohttpd whose upgraded-TLS relay is slow (ws_tls.h): 0.9.77 fixed it. */
static bool ws_tls_relay_slow(void)
{
	const char *v = MHD_get_version();
	unsigned a = 0, b = 0, c = 0;

	if (!v || sscanf(v, "%u.%u.%u", &a, &b, &c) != 3)
		return false;
	return a == 0 && (b < 9 || (b == 9 && c < 77));
}

void ws_tls_attach(struct ws_tls *t, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i;
	void *session;

	t->session = NULL;
	t->fd = -1;
	t->pending = false;
	if (!ws_tls_relay_slow())
		return;	/* its relay is fine: left to it */
	/* Each value copied at once: libmicrohttpd 1.0 answers every call in one buffer. */
	i = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!i || !(session = i->tls_session))
		return;	/* plain HTTP */
	i = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!i)
		return;
	t->fd = i->connect_fd;
	t->session = session;
}

ssize_t ws_tls_send(struct ws_tls *t, const void *buf, size_t len)
{
	/* After GNUTLS_E_AGAIN the record is sealed and partly out: GnuTLS finishes it when
	 * called with no data, and answers with the bytes that record carried. */
	ssize_t n = t->pending ? gnutls_record_send(t->session, NULL, 0)
			       : gnutls_record_send(t->session, buf, len);

	if (n >= 0) {
		t->pending = false;
		return n;
	}
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		t->pending = true;
		errno = n == GNUTLS_E_AGAIN ? EAGAIN : EINTR;
		return -1;
	}
	errno = EPIPE;
	return -1;
}
