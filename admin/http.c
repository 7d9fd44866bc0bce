/* admin/http.c — libmicrohttpd plumbing: the daemon, gathering bodies, the error shape,
 * queueing answers (see http.h). */
#include "admin/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "admin/admin.h"
#include "admin/log.h"
#include "admin/rest_auth.h"
#include "admin/router.h"
#include "admin/ws.h"
#include "core/clock.h"

/* A request's state across libmicrohttpd's calls of the access handler. */
struct admin_http_ctx {
	char *body;
	size_t len, cap;
	bool too_large;
	/* An answer held back (rest_auth: a 401 after repeated failures): the connection is
	 * suspended until resume_ns, then the answer goes out. At most one per connection,
	 * so bounded by ADMIN_HTTP_CONNECTIONS. */
	bool held, listed;
	struct admin_reply rep;
	int64_t resume_ns;
	struct MHD_Connection *conn;
	struct admin_http_ctx *next;	/* a->http_held */
};

int admin_ok(struct admin_reply *rep, int status, json_t *json)
{
	rep->status = status;
	rep->json = json;
	return 0;
}

int admin_error(struct admin_reply *rep, int status, const char *code, const char *field,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(rep->json);
	rep->status = status;
	rep->json = json_pack("{s:s, s:s, s:o}", "error", code, "message", msg, "field",
			      field ? json_string(field) : json_null());
	return 0;
}

int admin_store_error(struct admin_reply *rep, struct admin *a, int rc, const char *what)
{
	switch (rc) {
	case STORE_UNAVAILABLE:
		return admin_error(rep, 503, "STORE_UNAVAILABLE", NULL, "%s: %s; try again", what,
				   a->store.up ? a->store.err : "the store is unavailable");
	case STORE_CONFLICT:
		return admin_error(rep, 409, "CONFLICT", NULL, "%s: %s", what, a->store.err);
	case STORE_NOT_FOUND:
		return admin_error(rep, 404, "NOT_FOUND", NULL, "%s: %s", what, a->store.err);
	default:
		return admin_error(rep, 500, "INTERNAL", NULL, "%s: %s", what, a->store.err);
	}
}

int admin_method_not_allowed(struct admin_reply *rep, const char *allow)
{
	rep->allow = allow;
	return admin_error(rep, 405, "METHOD_NOT_ALLOWED", NULL, "allowed here: %s", allow);
}

json_t *admin_body(const struct admin_req *r, struct admin_reply *rep)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	json_error_t jerr;
	json_t *j;

	if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
		admin_error(rep, 415, "UNSUPPORTED_MEDIA_TYPE", NULL,
			    "the body must be JSON (Content-Type: application/json), got %s",
			    ct ? ct : "no Content-Type");
		return NULL;
	}
	j = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		admin_error(rep, 400, "BAD_JSON", NULL, "line %d column %d: %s", jerr.line,
			    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		admin_error(rep, 400, "BAD_JSON", NULL, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

int admin_query(const struct admin_req *r, const char *key, char *buf, size_t cap,
		struct admin_reply *rep)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);

	if (!v)
		return 0;
	if (path_decode(v, strlen(v), buf, cap) < 0) {
		admin_error(rep, 400, "BAD_PARAMETER", key, "query parameter %s is malformed or "
			    "longer than %zu bytes", key, cap - 1);
		return -1;
	}
	return 1;
}

int admin_query_u32(const struct admin_req *r, const char *key, uint32_t lo, uint32_t hi,
		    uint32_t dflt, uint32_t *out, struct admin_reply *rep)
{
	char buf[16], *end;
	int rc = admin_query(r, key, buf, sizeof(buf), rep);
	unsigned long v;

	*out = dflt;
	if (rc <= 0)
		return rc;
	v = strtoul(buf, &end, 10);
	if (!buf[0] || *end || buf[0] == '-' || v < lo || v > hi) {
		admin_error(rep, 400, "BAD_PARAMETER", key, "%s must be in %u..%u", key, lo, hi);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int admin_query_limit(const struct admin_req *r, uint32_t *limit, struct admin_reply *rep)
{
	return admin_query_u32(r, "limit", 1, ADMIN_PAGE_MAX, ADMIN_PAGE_DEFAULT, limit, rep);
}

int admin_query_time(const struct admin_req *r, const char *key, int64_t dflt, int64_t *out,
		     struct admin_reply *rep)
{
	char buf[64];
	int rc = admin_query(r, key, buf, sizeof(buf), rep);

	*out = dflt;
	if (rc <= 0)
		return rc;
	if (time_parse(buf, out) < 0) {
		admin_error(rep, 400, "BAD_PARAMETER", key, "%s must be RFC 3339 "
			    "(2026-12-05T09:30:00Z), a date (2026-12-05) or ns since the epoch",
			    key);
		return -1;
	}
	return 1;
}

int admin_query_bool(const struct admin_req *r, const char *key, bool *out,
		     struct admin_reply *rep)
{
	char buf[8];
	int rc = admin_query(r, key, buf, sizeof(buf), rep);

	*out = false;
	if (rc <= 0)
		return rc;
	if (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(buf, "false") == 0 || strcmp(buf, "0") == 0)
		return 0;
	admin_error(rep, 400, "BAD_PARAMETER", key, "%s must be true or false", key);
	return -1;
}

/* Queues rep on the connection (the JSON dumped; text as is). */
static enum MHD_Result admin_http_send(struct admin *a, struct MHD_Connection *c,
				       struct admin_reply *rep)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body;
	size_t len;
	const char *ctype = "application/json";

	if (rep->upgrade) {	/* the connection becomes a WebSocket once this is sent */
		a->http_requests[1]++;
		ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, rep->upgrade);
		MHD_destroy_response(rep->upgrade);
		rep->upgrade = NULL;
		return ret;
	}
	if (rep->body_static) {	/* the dashboard's files: not ours to free */
		resp = MHD_create_response_from_buffer(rep->text_len, (void *)rep->body_static,
						       MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		a->http_requests[2]++;
		ret = MHD_queue_response(c, (unsigned)rep->status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (rep->text) {
		body = rep->text;
		len = rep->text_len;
		ctype = rep->text_json ? "application/json"
					 : "text/plain; version=0.0.4; charset=utf-8";
	} else {
		body = rep->json ? json_dumps(rep->json, JSON_COMPACT) : NULL;
		if (!body) {
			body = strdup("{\"error\":\"INTERNAL\",\"message\":\"out of memory\","
				      "\"field\":null}");
			rep->status = 500;
		}
		len = body ? strlen(body) : 0;
	}
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (rep->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
	if (rep->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					rep->www_authenticate);
	if (rep->retry_after_s) {
		char secs[16];

		snprintf(secs, sizeof(secs), "%u", rep->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	if (rep->status >= 100 && rep->status < 600)
		a->http_requests[rep->status / 100]++;
	ret = MHD_queue_response(c, (unsigned)rep->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Gathers a body chunk; past ADMIN_BODY_MAX the rest is read and dropped (413 at the end:
 * the connection stays usable). */
static void admin_http_gather(struct admin_http_ctx *ctx, const char *data, size_t n)
{
	if (ctx->too_large || ctx->len + n > ADMIN_BODY_MAX) {
		ctx->too_large = true;
		return;
	}
	if (ctx->len + n + 1 > ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap : 4096;
		char *grown;

		while (cap < ctx->len + n + 1)
			cap *= 2;
		grown = realloc(ctx->body, cap);
		if (!grown) {
			ctx->too_large = true;	/* answered 413: the body cannot be held */
			return;
		}
		ctx->body = grown;
		ctx->cap = cap;
	}
	memcpy(ctx->body + ctx->len, data, n);
	ctx->len += n;
	ctx->body[ctx->len] = '\0';
}

/* Keeps rep for later: the connection is suspended until hold_ns from now (no sleep:
 * the admin thread serves everyone else meanwhile). */
static void admin_http_hold(struct admin *a, struct MHD_Connection *c,
			    struct admin_http_ctx *ctx, struct admin_reply *rep, int64_t hold_ns)
{
	ctx->rep = *rep;
	ctx->held = true;
	ctx->listed = true;
	ctx->conn = c;
	ctx->resume_ns = clock_monotonic_ns() + hold_ns;
	ctx->next = a->http_held;
	a->http_held = ctx;
	MHD_suspend_connection(c);
}

/* Authenticates, routes and records r. Returns true when the answer is held back. */
static bool admin_http_serve(struct admin *a, struct admin_req *req, struct admin_http_ctx *ctx,
			     struct admin_reply *rep)
{
	struct admin_caller who;
	int64_t hold_ns = 0;

	req->body = ctx->body;
	req->body_len = ctx->len;
	req->who = &who;
	if (rest_auth_check(req, rep, &who, &hold_ns) == 0)
		admin_route(req, rep);
	admin_audit_rest(a, req, rep, &who);
	if (hold_ns <= 0)
		return false;
	admin_http_hold(a, req->conn, ctx, rep, hold_ns);
	return true;
}

/* Resumes the held connections that are due (all of them with all). */
static void admin_http_resume(struct admin *a, bool all)
{
	int64_t now = clock_monotonic_ns();

	for (struct admin_http_ctx **pp = &a->http_held; *pp;) {
		struct admin_http_ctx *ctx = *pp;

		if (!all && ctx->resume_ns > now) {
			pp = &ctx->next;
			continue;
		}
		*pp = ctx->next;
		ctx->next = NULL;
		ctx->listed = false;
		MHD_resume_connection(ctx->conn);
	}
}

static enum MHD_Result admin_http_access(void *cls, struct MHD_Connection *c, const char *url,
					 const char *method, const char *version,
					 const char *upload, size_t *upload_size, void **con_cls)
{
	struct admin *a = cls;
	struct admin_http_ctx *ctx = *con_cls;
	struct admin_reply rep = { .status = 500 };
	struct admin_req req = { .a = a, .conn = c, .method = method };
	enum MHD_Result ret;

	(void)version;
	if (!ctx) {	/* headers only, the first call: set up, then the body comes */
		ctx = calloc(1, sizeof(*ctx));
		*con_cls = ctx;
		return ctx ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		admin_http_gather(ctx, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->held) {	/* resumed: its time has come */
		ctx->held = false;
		ret = admin_http_send(a, c, &ctx->rep);
		json_decref(ctx->rep.json);
		ctx->rep.json = NULL;
		return ret;
	}
	if (ctx->too_large)
		admin_error(&rep, 413, "BODY_TOO_LARGE", NULL, "request bodies are limited to %u "
			    "bytes", ADMIN_BODY_MAX);
	else if (path_split(url, &req.path) < 0)
		admin_error(&rep, 400, "BAD_PARAMETER", NULL, "the path is malformed (bad "
			    "percent-escape, or too many or too long segments)");
	else if (admin_http_serve(a, &req, ctx, &rep))
		return MHD_YES;	/* held back: suspended */
	ret = admin_http_send(a, c, &rep);
	json_decref(rep.json);
	return ret;
}

static void admin_http_done(void *cls, struct MHD_Connection *c, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct admin *a = cls;
	struct admin_http_ctx *ctx = *con_cls;

	(void)c;
	(void)toe;
	if (ctx && ctx->listed) {	/* closed while held: out of the list */
		for (struct admin_http_ctx **pp = &a->http_held; *pp; pp = &(*pp)->next)
			if (*pp == ctx) {
				*pp = ctx->next;
				break;
			}
	}
	if (ctx) {
		json_decref(ctx->rep.json);
		free(ctx->body);
	}
	free(ctx);
	*con_cls = NULL;
}

/* We decode paths and queries ourselves (admin/path.c): libmicrohttpd's unescaping would
 * turn a topic's %2F into a path separator. */
static size_t admin_http_no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* Resolves HOST:PORT ("[v6]:port" too) into ss. Returns 0 or -1. */
static int admin_http_addr(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128], port[16];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	size_t hl;

	if (!colon || (size_t)(colon - listen) >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return -1;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), listen + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, listen);
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Writes the address the daemon listens on as HOST:PORT. */
static void admin_http_bound(struct MHD_Daemon *d, char *bound, size_t cap)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(bound, cap, "?");
		return;
	}
	snprintf(bound, cap, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

/* Reads a PEM file (at most ADMIN_TLS_FILE_MAX bytes) into a NUL-terminated buffer.
 * Returns it, or NULL after logging. */
static char *admin_http_pem(const char *flag, const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = f ? malloc(ADMIN_TLS_FILE_MAX + 1) : NULL;
	size_t n = buf ? fread(buf, 1, ADMIN_TLS_FILE_MAX + 1, f) : 0;

	if (f)
		fclose(f);
	if (!buf || n == 0 || n > ADMIN_TLS_FILE_MAX) {
		admin_log(ADMIN_LOG_ERROR, "%s %s: %s", flag, path, !f ? strerror(errno) :
			  !buf ? "out of memory" : n == 0 ? "empty or unreadable" :
			  "larger than 1 MiB: not a PEM certificate or key");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* --tls-cert/--tls-key: both read (the key kept off disk reads later), or -1 logged. */
static int admin_http_tls_load(struct admin *a)
{
	struct stat st;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		admin_log(ADMIN_LOG_ERROR, "--tls-cert: this libmicrohttpd has no TLS");
		return -1;
	}
	if (stat(a->cfg->tls_key, &st) == 0 && (st.st_mode & 077))
		admin_log(ADMIN_LOG_WARN, "--tls-key %s: others may read it (mode %03o): "
			  "chmod 600 it", a->cfg->tls_key, (unsigned)(st.st_mode & 0777));
	a->tls_cert_pem = admin_http_pem("--tls-cert", a->cfg->tls_cert);
	a->tls_key_pem = a->tls_cert_pem ? admin_http_pem("--tls-key", a->cfg->tls_key) : NULL;
	return a->tls_key_pem ? 0 : -1;
}

static void admin_http_tls_free(struct admin *a)
{
	if (a->tls_key_pem)
		explicit_bzero(a->tls_key_pem, strlen(a->tls_key_pem));
	free(a->tls_key_pem);
	free(a->tls_cert_pem);
	a->tls_key_pem = a->tls_cert_pem = NULL;
}

int admin_http_start(struct admin *a, const char *listen, bool explicit, char *bound,
		     size_t cap)
{
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, NULL },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct sockaddr_storage ss;
	socklen_t sl;
	/* Suspend and resume: a 401 held back (rest_auth.h) without blocking the thread. */
	unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_ALLOW_UPGRADE;	/* WebSocket streams (admin/ws.h) */

	bound[0] = '\0';
	if (admin_http_addr(listen, &ss, &sl) < 0) {
		admin_log(ADMIN_LOG_ERROR, "--http %s: not a HOST:PORT that resolves", listen);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (a->cfg->tls_cert[0]) {	/* GnuTLS, inside libmicrohttpd */
		if (admin_http_tls_load(a) < 0)
			return -1;
		flags |= MHD_USE_TLS;
		tls[0].ptr_value = a->tls_key_pem;
		tls[1].ptr_value = a->tls_cert_pem;
	} else {
		tls[0].option = MHD_OPTION_END;
	}
	/* No thread of its own: the admin thread runs it (MHD_run_wait), so handlers and the
	 * store share one thread and need no locks. */
	a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, admin_http_access, a,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  /* An upgraded connection still counts against the limit. */
				  MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)(ADMIN_HTTP_CONNECTIONS + WS_CONNECTIONS_MAX),
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_HTTP_TIMEOUT_S,
				  MHD_OPTION_NOTIFY_COMPLETED, admin_http_done, a,
				  MHD_OPTION_UNESCAPE_CALLBACK, admin_http_no_unescape, a,
				  MHD_OPTION_ARRAY, tls,
				  MHD_OPTION_END);
	if (!a->mhd) {
		if (a->tls_key_pem) {	/* asked for HTTPS: never quietly none */
			admin_log(ADMIN_LOG_ERROR, "--http %s with --tls-cert %s: cannot start "
				  "(the address in use, or the certificate and key do not load or "
				  "do not match)", listen, a->cfg->tls_cert);
			return -1;
		}
		if (explicit) {
			admin_log(ADMIN_LOG_ERROR, "--http %s: cannot listen (address in use?)",
				  listen);
			return -1;
		}
		admin_log(ADMIN_LOG_WARN, "http: cannot listen on %s (in use?); the admin API is "
			  "off (choose one with --http HOST:PORT)", listen);
		return 0;
	}
	admin_http_bound(a->mhd, bound, cap);
	if (ws_init(a) < 0)
		admin_log(ADMIN_LOG_WARN, "http: WebSocket streams are off");
	return 0;
}

void admin_http_run(struct admin *a, int wait_ms)
{
	if (!a->mhd) {
		struct timespec ts = { .tv_sec = wait_ms / 1000,
				       .tv_nsec = (long)(wait_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		return;
	}
	admin_http_resume(a, false);
	ws_http_run(a, wait_ms);	/* the daemon and the WebSocket streams */
}

void admin_http_stop(struct admin *a)
{
	ws_free(a);	/* upgraded sockets go back to the daemon first */
	if (a->mhd) {
		admin_http_resume(a, true);	/* a daemon stops with none suspended */
		MHD_stop_daemon(a->mhd);
	}
	a->mhd = NULL;
	admin_http_tls_free(a);
}
