/* admin/api_admin_audit.c — GET /api/v1/admin-audit?limit=&since=&actor=&action=&after=:
 * the admin_audit trail (admin/admin_audit.h), newest first, paged by ?after=<the last
 * row's id> (given back as next). Rows still waiting for the store are written first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/router.h"
#include "admin/store_auth.h"

static json_t *admin_audit_row_json(const struct store_audit_row *w)
{
	bool numeric = w->status[0] && strspn(w->status, "0123456789") == strlen(w->status);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}",
			 "id", w->id, "at", w->at, "actor", w->actor, "actorName", w->actor_name,
			 "source", w->source, "action", w->action, "target", w->target,
			 "outcome", w->outcome,
			 "status", numeric ? json_integer(atoi(w->status))
				   : w->status[0] ? json_string(w->status) : json_null(),
			 "detail", w->detail);
}

/* The query's filters into f. Returns 0 or -1 (rep set). */
/* 8-4-4-4-12 lowercase hex digits: a row's id (store_uuid7). */
static bool api_admin_audit_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static int admin_audit_filter(const struct admin_req *r, struct admin_reply *rep,
			      struct store_audit_filter *f)
{
	int64_t since;
	int rc;

	memset(f, 0, sizeof(*f));
	if ((rc = admin_query_time(r, "since", 0, &since, rep)) < 0)
		return -1;
	if (rc)
		store_time(since, f->since, sizeof(f->since));
	if (admin_query(r, "actor", f->actor, sizeof(f->actor), rep) < 0 ||
	    admin_query(r, "action", f->action, sizeof(f->action), rep) < 0 ||
	    admin_query(r, "after", f->before_id, sizeof(f->before_id), rep) < 0)
		return -1;
	/* An id as PostgreSQL's uuid reads it: anything else would be a 500 there. */
	if (f->before_id[0] && !api_admin_audit_uuid(f->before_id)) {
		admin_error(rep, 400, "BAD_PARAMETER", "after", "after must be a row's id");
		return -1;
	}
	return 0;
}

int api_admin_audit(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	struct store_audit_filter f;
	struct store_audit_row *rows;
	uint32_t limit, n;
	json_t *arr, *next;
	int rc;

	if (admin_query_limit(r, &limit, rep) < 0 || admin_audit_filter(r, rep, &f) < 0)
		return 0;
	admin_audit_flush(a);	/* up to now, this call's own refusals aside */
	rc = store_audit_list(&a->store, &f, limit, &rows, &n);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "the admin audit");
	arr = json_array();
	for (uint32_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, admin_audit_row_json(&rows[i]));
	next = n == limit ? json_string(rows[n - 1].id) : json_null();
	free(rows);
	return admin_ok(rep, 200, json_pack("{s:I, s:o, s:o, s:I, s:I}", "count", (json_int_t)n,
					    "records", arr, "next", next,
					    "pending", (json_int_t)a->opaudit.n,
					    "dropped", (json_int_t)a->opaudit.dropped));
}
