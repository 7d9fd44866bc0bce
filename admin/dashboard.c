/* admin/dashboard.c — see dashboard.h. */
#include "admin/dashboard.h"

#include <string.h>

#include "admin/http.h"

int api_dashboard(struct admin_req *r, struct admin_reply *rep)
{
	const char *name = r->path.n == 0 ? "index.html" : r->path.seg[1];

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		return admin_method_not_allowed(rep, "GET, HEAD");
	for (unsigned i = 0; i < dashboard_nassets; i++) {
		if (strcmp(dashboard_assets[i].name, name) != 0)
			continue;
		rep->status = 200;
		rep->body_static = (const char *)dashboard_assets[i].data;
		rep->text_len = dashboard_assets[i].len;
		rep->content_type = dashboard_assets[i].content_type;
		return 0;
	}
	return admin_error(rep, 404, "NOT_FOUND", NULL, "no dashboard file '%s'", name);
}
