/* admin/api_audit.c — GET /api/v1/audit?event_id=...&limit=...: the distribution_audit
 * rows of one event (admin/audit.h), oldest first. */
#include <string.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "admin/http.h"
#include "admin/router.h"

int api_audit(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	char event_id[AUDIT_EVENT_ID_BYTES];
	uint32_t limit;
	json_t *rows;
	int rc;

	rc = admin_query(r, "event_id", event_id, sizeof(event_id), rep);
	if (rc < 0)
		return 0;
	if (rc == 0 || event_id[0] == '\0')
		return admin_error(rep, 400, "BAD_PARAMETER", "event_id", "event_id: required, "
				   "1..%u bytes", AUDIT_EVENT_ID_BYTES - 1);
	if (admin_query_limit(r, &limit, rep) < 0)
		return 0;
	/* What the reactors reported up to now is answered, not left for the next chore. */
	audit_collect(a);
	audit_flush(a);
	rc = audit_rows_json(&a->store, event_id, limit, &rows);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "the audit trail");
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		return admin_error(rep, 404, "NOT_FOUND", NULL, "no audit rows for event '%.128s' "
				   "(only events published with metadata.audit_required have them)",
				   event_id);
	}
	return admin_ok(rep, 200, json_pack("{s:s, s:I, s:o}", "event_id", event_id, "count",
					    (json_int_t)json_array_size(rows), "records", rows));
}
