/* admin/rest_auth.h — who may call the REST API (with --auth required): /healthz,
 * /readyz and the dashboard's static files (/, /dashboard/NAME) stay open; everything
 * else wants "Authorization: Bearer <token>" of a token in force (core/auth.h
 * auth_verify; a WebSocket stream, to which a browser cannot give headers, takes
 * ?access_token=<token> instead), else 401 UNAUTHENTICATED with WWW-Authenticate (the
 * answer never says whether the token was missing, malformed or unknown; repeated
 * failures from one address are answered late, auth_fail). A client token gets 403
 * PERMISSION_DENIED everywhere; a reader may GET, except /api/v1/tokens and
 * /api/v1/admin-audit; an admin may do everything. A token's rest_per_s bounds its calls
 * (429 RATE_LIMITED, Retry-After). With --auth off every call goes through. The admin
 * thread only. */
#ifndef FANOUT_ADMIN_REST_AUTH_H
#define FANOUT_ADMIN_REST_AUTH_H

#include <stdint.h>

#include "admin/admin_audit.h"
#include "admin/http.h"

/* Decides whether r goes on to its handler. Fills who (the peer's address always; the
 * token's id, name and role when one was verified). Returns 0 to go on, or -1 with rep
 * set to the refusal and *hold_ns how long to hold that answer back (0: none). */
int rest_auth_check(struct admin_req *r, struct admin_reply *rep, struct admin_caller *who,
		    int64_t *hold_ns);

#endif
