/* admin/rest_auth.c — bearer tokens, roles and rate limits on the REST API
 * (rest_auth.h). */
#include "admin/rest_auth.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "admin/admin.h"
#include "core/clock.h"

/* The peer's address into ss (zeroed when libmicrohttpd cannot say). */
static void rest_auth_peer(struct MHD_Connection *c, struct sockaddr_storage *ss)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(ss, 0, sizeof(*ss));
	if (sa && sa->sa_family == AF_INET)
		memcpy(ss, sa, sizeof(struct sockaddr_in));
	else if (sa && sa->sa_family == AF_INET6)
		memcpy(ss, sa, sizeof(struct sockaddr_in6));
}

/* A WebSocket stream (admin/ws.h): a browser cannot set headers on one. */
static bool rest_auth_stream(const struct path *p)
{
	return p->n >= 3 && strcmp(p->seg[0], "api") == 0 && strcmp(p->seg[1], "v1") == 0 &&
	       strcmp(p->seg[p->n - 1], "stream") == 0;
}

/* The token of "Authorization: Bearer <token>" (on a WebSocket stream, without the
 * header, of ?access_token=<token>): *len bytes at the result, or NULL. */
static const char *rest_auth_bearer(struct MHD_Connection *c, const struct path *p, size_t *len)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n;

	if (!v && rest_auth_stream(p)) {
		v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "access_token");
		n = v ? strlen(v) : 0;
		*len = n;
		return n && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789_-") == n ? v : NULL;
	}
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	n = strcspn(v, " \t");
	if (n == 0 || v[n + strspn(v + n, " \t")] != '\0')
		return NULL;
	*len = n;
	return v;
}

/* Routes a reader may not read: the tokens and the trail of who did what. */
static bool rest_auth_admin_only(const struct path *p)
{
	return p->n >= 3 && strcmp(p->seg[0], "api") == 0 && strcmp(p->seg[1], "v1") == 0 &&
	       (strcmp(p->seg[2], "tokens") == 0 || strcmp(p->seg[2], "admin-audit") == 0);
}

/* Health, and the dashboard's static files (no data: the page asks for a token). */
static bool rest_auth_open(const struct path *p)
{
	return p->n == 0 || (p->n == 2 && strcmp(p->seg[0], "dashboard") == 0) ||
	       (p->n == 1 && (strcmp(p->seg[0], "healthz") == 0 ||
			      strcmp(p->seg[0], "readyz") == 0));
}

static int rest_auth_unauthenticated(struct admin *a, struct admin_reply *rep,
				     const struct sockaddr_storage *peer, int64_t *hold_ns)
{
	*hold_ns = auth_fail(a->eng->auth, peer, clock_monotonic_ns());
	admin_error(rep, 401, "UNAUTHENTICATED", NULL, "this call needs a valid token: "
		    "Authorization: Bearer <token>");
	rep->www_authenticate = "Bearer realm=\"fanout\"";
	return -1;
}

static int rest_auth_role(const struct admin_req *r, struct admin_reply *rep,
			  const struct auth_token *t)
{
	bool read = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;

	if (t->role == AUTH_ROLE_ADMIN ||
	    (t->role == AUTH_ROLE_READER && read && !rest_auth_admin_only(&r->path)))
		return 0;
	admin_error(rep, 403, "PERMISSION_DENIED", NULL, "token %s (%s) may not %s here%s",
		    t->name, auth_role_name(t->role), r->method,
		    t->role == AUTH_ROLE_CLIENT ? ": a client token has no REST access"
		    : ": a reader may only read, and not tokens or the admin audit");
	return -1;
}

static int rest_auth_rate(struct admin_reply *rep, const struct auth_token *t)
{
	int64_t wait_ns = auth_rate_take(&t->usage->rest_tat, t->limits.rest_per_s, 1,
					 clock_monotonic_ns());
	int64_t ms = (wait_ns + 999999) / 1000000;

	if (wait_ns <= 0)
		return 0;
	admin_error(rep, 429, "RATE_LIMITED", NULL, "token %s may make %u REST calls a "
		    "second; try again in %lld ms", t->name, t->limits.rest_per_s, (long long)ms);
	json_object_set_new(rep->json, "retryAfterMs", json_integer(ms));
	rep->retry_after_s = (uint32_t)((wait_ns + 999999999) / 1000000000);
	return -1;
}

int rest_auth_check(struct admin_req *r, struct admin_reply *rep, struct admin_caller *who,
		    int64_t *hold_ns)
{
	struct admin *a = r->a;
	struct sockaddr_storage peer;
	const struct auth_token *t;
	const char *text;
	size_t len = 0;

	*hold_ns = 0;
	memset(who, 0, sizeof(*who));
	rest_auth_peer(r->conn, &peer);
	auth_addr_text(&peer, who->source, sizeof(who->source));
	if (!a->cfg->auth_required || !a->eng || !a->eng->auth || rest_auth_open(&r->path))
		return 0;
	text = rest_auth_bearer(r->conn, &r->path, &len);
	/* The admin thread is the set's writer: it may read it outside an epoch section. */
	t = text ? auth_verify(auth_current(a->eng->auth), text, len) : NULL;
	if (!t)
		return rest_auth_unauthenticated(a, rep, &peer, hold_ns);
	who->token = true;
	snprintf(who->id, sizeof(who->id), "%s", t->id);
	snprintf(who->name, sizeof(who->name), "%s", t->name);
	who->role = t->role;
	if (rest_auth_rate(rep, t) < 0)
		return -1;
	return rest_auth_role(r, rep, t);
}
