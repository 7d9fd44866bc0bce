/* admin/ws_tls.c — see ws_tls.h. */
#include "admin/ws_tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

void ws_tls_attach(struct ws_tls *t, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *s, *fd;

	t->session = NULL;
	t->fd = -1;
	t->pending = false;
	s = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!s || !s->tls_session || !fd)
		return;	/* plain HTTP */
	t->session = s->tls_session;
	t->fd = fd->connect_fd;
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
