/* admin/http.h — the HTTP side of the admin plane: libmicrohttpd without threads of its
 * own (the admin thread runs it with MHD_run_wait), request bodies gathered up to
 * ADMIN_BODY_MAX, paths and query strings decoded by admin/path.c, and every answer a
 * JSON body (text for /metrics). Errors are always
 *   {"error": CODE, "message": "...", "field": "name or null"}
 * with 400 (BAD_JSON, INVALID_FIELD, BAD_PARAMETER), 404 (NOT_FOUND), 405
 * (METHOD_NOT_ALLOWED, with Allow), 409 (ALREADY_EXISTS, IN_USE, CONFLICT), 413
 * (BODY_TOO_LARGE), 415 (UNSUPPORTED_MEDIA_TYPE), 500 (INTERNAL), 503
 * (STORE_UNAVAILABLE, REACTOR_TIMEOUT). The admin thread only. */
#ifndef FANOUT_ADMIN_HTTP_H
#define FANOUT_ADMIN_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/path.h"

struct admin;
struct admin_caller;
struct MHD_Connection;
struct MHD_Response;

/* One request as the handlers see it. */
struct admin_req {
	struct admin *a;
	const struct admin_caller *who;	/* admin/rest_auth.h: who is calling */
	struct MHD_Connection *conn;
	const char *method;
	struct path path;
	const char *body;		/* NUL-terminated; NULL without a body */
	size_t body_len;
};

/* What a handler answers: a JSON value (owned, dumped then freed) or text. */
struct admin_reply {
	int status;
	json_t *json;
	char *text;			/* malloc'd; sent as text/plain (Prometheus format) */
	size_t text_len;
	bool text_json;			/* text is JSON already (a cached answer) */
	const char *allow;		/* 405: the methods that are */
	const char *www_authenticate;	/* 401: the WWW-Authenticate header */
	uint32_t retry_after_s;		/* 429: the Retry-After header (0: none) */
	struct MHD_Response *upgrade;	/* 101: a WebSocket handshake's (admin/ws.h) */
	const char *body_static;	/* text_len bytes sent as they are, never freed
					 * (the dashboard's files) ... */
	const char *content_type;	/* ... with this Content-Type */
};

/* Starts the daemon on cfg->http in external-select mode. Returns 0, or -1 after logging
 * (with explicit, a failure to bind is an error; without, the default port being taken
 * is only a warning and the server runs without HTTP: *bound stays ""). */
int admin_http_start(struct admin *a, const char *listen, bool explicit, char *bound,
		     size_t cap);

/* Serves what is ready, waiting at most wait_ms for something to happen. Answers held
 * back (a 401 after repeated failures: the connection suspended) go out once due. */
void admin_http_run(struct admin *a, int wait_ms);

void admin_http_stop(struct admin *a);

/* Helpers for handlers. Each returns 0 so handlers can `return admin_error(...)`. */
int admin_ok(struct admin_reply *rep, int status, json_t *json);
int admin_error(struct admin_reply *rep, int status, const char *code, const char *field,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The store's failure as an answer: 503 when unavailable, 409 conflict, 404, else 500. */
int admin_store_error(struct admin_reply *rep, struct admin *a, int rc, const char *what);

/* The body as a JSON object, or NULL with rep set (415 not JSON, 400 BAD_JSON / not an
 * object). Caller owns the result. */
json_t *admin_body(const struct admin_req *r, struct admin_reply *rep);

/* A query parameter, percent-decoded into buf (cap bytes). Returns 1 when present, 0
 * when absent, -1 when malformed (rep set to 400 BAD_PARAMETER). */
int admin_query(const struct admin_req *r, const char *key, char *buf, size_t cap,
		struct admin_reply *rep);

/* "limit" (1..ADMIN_PAGE_MAX, default ADMIN_PAGE_DEFAULT). Returns 0 or -1 (rep set). */
int admin_query_limit(const struct admin_req *r, uint32_t *limit, struct admin_reply *rep);

/* An integer parameter in lo..hi, dflt when absent. Returns 0 or -1 (rep set). */
int admin_query_u32(const struct admin_req *r, const char *key, uint32_t lo, uint32_t hi,
		    uint32_t dflt, uint32_t *out, struct admin_reply *rep);

/* A time parameter (path.h time_parse), dflt when absent. Returns 1 when present, 0
 * when absent, -1 when malformed (rep set to 400 BAD_PARAMETER naming key). */
int admin_query_time(const struct admin_req *r, const char *key, int64_t dflt, int64_t *out,
		     struct admin_reply *rep);

/* A boolean parameter ("true"/"false"/"1"/"0"), false when absent. Returns 0 or -1. */
int admin_query_bool(const struct admin_req *r, const char *key, bool *out,
		     struct admin_reply *rep);

/* 405 for a known path: allow lists the methods that are. */
int admin_method_not_allowed(struct admin_reply *rep, const char *allow);

#endif
