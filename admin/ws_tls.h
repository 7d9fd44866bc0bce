/* admin/ws_tls.h — a wss:// connection's frames written straight into its TLS session.
 *
 * Why: libmicrohttpd hands an upgraded HTTPS connection to us as one end of a socket
 * pair and relays between it and TLS itself. Version 0.9.75 (Debian 12's) leaves the
 * 101 response's write buffer allocated at the upgrade, and that buffer had grown to
 * all the free memory of the connection's pool, so the relay runs on its 8-byte
 * emergency buffer: 4 bytes per direction per pass, each 4 bytes sealed in a TLS record
 * of its own (26 bytes on the wire; strace shows recvfrom(..., 4) then a 26-byte
 * sendmsg). That capped a stream at ~300 JSON messages/s. Fixed upstream in
 * libmicrohttpd 0.9.77 (commit 6b5e509f, "Upgraded TLS: fixed inefficient
 * communication"); a larger MHD_OPTION_CONNECTION_MEMORY_LIMIT does not help.
 *
 * So, with a libmicrohttpd older than 0.9.77 (checked at run time: a newer one's relay
 * is used as it is), what the server sends goes through the session's
 * gnutls_record_send on the TCP socket (full records of up to 16 KiB), and
 * libmicrohttpd only relays what the client sends (subscribes, pongs, closes: small). Its relay towards the client stays idle: we
 * never write into the socket pair, so the session's sending side is ours alone. The
 * admin thread only (the one that runs libmicrohttpd: no concurrent use of a session). */
#ifndef FANOUT_ADMIN_WS_TLS_H
#define FANOUT_ADMIN_WS_TLS_H

#include <stdbool.h>
#include <sys/types.h>

struct MHD_Connection;

struct ws_tls {
	void *session;			/* gnutls_session_t; NULL: plain ws:// */
	int fd;				/* the TCP socket (libmicrohttpd's to close) */
	bool pending;			/* a record is half sent: finish it before another */
};

/* Takes conn's TLS session and socket, or leaves t->session NULL when conn is plain. */
void ws_tls_attach(struct ws_tls *t, struct MHD_Connection *conn);

/* Sends up to len bytes of buf as TLS records, send(2)-like: the bytes taken, or -1 with
 * errno EAGAIN (wait for the TCP socket's EPOLLOUT; call again with the same buf, which
 * must still hold what was offered), EINTR, or EPIPE (the session failed). */
ssize_t ws_tls_send(struct ws_tls *t, const void *buf, size_t len);

#endif
