/* tools/http_client.h — a small blocking HTTP/1.1 client over plain sockets for fanoutctl,
 * fanout-top and the tests: one request per connection (Connection: close), bodies read
 * to the end (Content-Length, chunked, or until close), everything bounded by a timeout
 * and HTTP_RESPONSE_MAX. Functions return 0 or -errno; nothing here is shared between
 * threads. */
#ifndef FANOUT_TOOLS_HTTP_CLIENT_H
#define FANOUT_TOOLS_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_RESPONSE_MAX (256u << 20)	/* larger answers fail with -EFBIG */

struct http_response {
	int status;
	char *body;		/* NUL-terminated, len bytes */
	size_t len;
	char content_type[128];
	char allow[128];
	char retry_after[32];		/* the Retry-After header ("" when absent) */
	char www_authenticate[128];	/* the WWW-Authenticate header */
};

/* Sends METHOD path to "host:port" — or "https://host:port": TLS (OpenSSL), the
 * server's certificate checked against the CA in $FANOUT_TLS_CA (a PEM file; else the
 * system's CAs) and its name against host; refused: -EKEYREJECTED — (body may be NULL; ctype defaults to
 * application/json when there is a body) and reads the answer into *out (free with
 * http_response_free). Returns 0 for any HTTP answer (check out->status), -ETIMEDOUT,
 * -ECONNREFUSED, -EPROTO for a reply that is not HTTP, or another -errno. */
int http_request(const char *hostport, const char *method, const char *path,
		 const char *ctype, const char *body, size_t len, int timeout_ms,
		 struct http_response *out);

/* http_request with "Authorization: Bearer <token>" (token NULL or "": none). A token
 * with a control character is refused with -EINVAL before anything is sent. */
int http_request_auth(const char *hostport, const char *token, const char *method,
		      const char *path, const char *ctype, const char *body, size_t len,
		      int timeout_ms, struct http_response *out);

void http_response_free(struct http_response *r);

/* Percent-encodes one path segment (a topic name: '/' becomes %2F). Returns the length,
 * or -1 when it does not fit cap. */
int http_encode_segment(const char *in, char *out, size_t cap);

#endif
