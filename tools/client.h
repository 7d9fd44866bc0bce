/* tools/client.h — a small blocking client of the fanout protocol for the CLIs and the
 * integration tests: connect, send ClientMessage frames, receive ServerMessage frames.
 * One struct client per thread; nothing here is shared. Functions return 0 or -errno. */
#ifndef FANOUT_TOOLS_CLIENT_H
#define FANOUT_TOOLS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"
#include "core/frame.h"

struct client {
	int fd;
	uint8_t *rbuf;		/* receive buffer: bytes [rpos, rlen) are unread */
	size_t rcap, rlen, rpos;
	uint32_t max_frame;	/* largest frame body accepted from the server */
	uint8_t *wbuf;		/* send scratch, grown as needed */
	size_t wcap;
	struct ssl_ctx_st *tls_ctx;	/* a tls:// server: its session (tools/tls_client.h); */
	struct ssl_st *ssl;		/* the socket is then non-blocking */
};

/* Connects to "host:port" (IPv4 or [IPv6]) with TCP_NODELAY, or to a Unix socket when
 * hostport is a path (has a '/': fanoutd's rings socket, --shm-socket). "tls://host:port"
 * speaks TLS to a server with --tls-cert: its certificate is checked against
 * $FANOUT_TLS_CA (else the system's CAs) and host; refused: -EKEYREJECTED. A tls://
 * connection sets SIGPIPE to be ignored in the process (OpenSSL writes with write()). timeout_ms bounds the
 * connect (< 0: no bound); a refused connection is retried every 20 ms until then (for
 * servers starting up). Zeroes *c first; max_frame starts at FRAME_BYTES_DEFAULT. */
int client_connect(struct client *c, const char *hostport, int timeout_ms);

/* Closes the socket and frees the buffers. Safe on a zeroed or closed client (a zeroed
 * client's fd 0 is not closed: only a connected client owns its fd). */
void client_close(struct client *c);

/* Packs m as one delimited frame and writes all of it. */
int client_send(struct client *c, const Fanout__V1__ClientMessage *m);

/* Writes raw bytes (for tests that send malformed input). */
int client_send_raw(struct client *c, const void *p, size_t n);

/* Receives the next frame body without decoding it; out points into the client's buffer
 * and is valid until the next receive. timeout_ms < 0 waits forever.
 * Returns 0, -ETIMEDOUT, -ECONNRESET on end of stream, -EBADMSG/-EMSGSIZE on a bad prefix,
 * -ENOMEM or another -errno from the socket. */
int client_recv_frame(struct client *c, struct frame_view *out, int timeout_ms);

/* Receives and decodes the next ServerMessage; free it with client_free_msg.
 * Returns as client_recv_frame, and -EPROTO when the body does not decode. */
int client_recv(struct client *c, Fanout__V1__ServerMessage **out, int timeout_ms);

void client_free_msg(Fanout__V1__ServerMessage *m);

/* Sends Hello{protocol_version 1, client_name name} and waits up to timeout_ms for the
 * answer, left in *reply (free with client_free_msg). Returns 0 when it is a HelloResult,
 * -EPROTO when the server answered something else (an Error, say; *reply is set), or a
 * receive error with *reply NULL. */
int client_hello(struct client *c, const char *name, int timeout_ms,
		 Fanout__V1__ServerMessage **reply);

/* The same for a Hello the caller filled (producer_id, heartbeat_ms, ...). Both send
 * the token in $FANOUT_TOKEN when the Hello has none (servers with --auth required):
 * every CLI and the bench authenticate that way, the secret kept off command lines. */
int client_hello_msg(struct client *c, Fanout__V1__Hello *h, int timeout_ms,
		     Fanout__V1__ServerMessage **reply);

/* Sends Subscribe and waits (up to 10 s) for the answer, left in *result_msg (free with
 * client_free_msg). Anything before the SubscribeResult is an error here: call it before
 * traffic flows to this connection. Returns 0, -EPROTO with the server's answer (an
 * Error, say) in *result_msg if it refused, or a receive error. */
int client_subscribe(struct client *c, uint32_t id, const char *topic,
		     const char *const *patterns, size_t npatterns,
		     Fanout__V1__StartPosition start, uint64_t start_offset,
		     Fanout__V1__ServerMessage **result_msg);

/* The same for a Subscribe the caller filled (filter, snapshot, ...). */
int client_subscribe_msg(struct client *c, Fanout__V1__Subscribe *s,
			 Fanout__V1__ServerMessage **result_msg);

/* Sends Ack{id, partition, offset} (cumulative: through offset); no answer comes. */
int client_ack(struct client *c, uint32_t id, uint32_t partition, uint64_t offset);

/* Sends one PublishBatch of n events with the given sequence; does not wait for the ack. */
int client_publish(struct client *c, uint64_t sequence, Fanout__V1__Event **events, size_t n);

#endif
