/* admin/ws_accept.h — the WebSocket opening handshake's key check and answer (RFC 6455
 * §4.2.2): Sec-WebSocket-Accept = base64(SHA-1(key + the RFC's GUID)), with OpenSSL's
 * hash and base64. Pure functions; any thread. */
#ifndef FANOUT_ADMIN_WS_ACCEPT_H
#define FANOUT_ADMIN_WS_ACCEPT_H

#define WS_ACCEPT_BYTES 29u	/* 28 base64 characters and a NUL */

/* Checks a client's Sec-WebSocket-Key (the base64 of 16 bytes: 24 characters) and writes
 * the Sec-WebSocket-Accept answering it into out. Returns 0, or -1 for a key that is not
 * the base64 of 16 bytes. */
int ws_accept_key(const char *key, char out[WS_ACCEPT_BYTES]);

#endif
