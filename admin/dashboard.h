/* admin/dashboard.h — the live dashboard at "/": static HTML, JavaScript and CSS from
 * admin/dashboard/, embedded in the binary at build time (admin/dashboard/embed.py, a
 * meson custom_target), served as they are. The page reads /api/v1/stats, /api/v1/rules,
 * /metrics and the WebSocket stream; nothing is fetched from elsewhere. The admin thread
 * only. */
#ifndef FANOUT_ADMIN_DASHBOARD_H
#define FANOUT_ADMIN_DASHBOARD_H

struct admin_req;
struct admin_reply;

struct dashboard_asset {
	const char *name;		/* "index.html" */
	const char *content_type;
	const unsigned char *data;	/* NUL-terminated after len bytes */
	unsigned len;
};

/* The generated table (dashboard_assets.c). */
extern const struct dashboard_asset dashboard_assets[];
extern const unsigned dashboard_nassets;

/* GET / (index.html) and GET /dashboard/NAME. */
int api_dashboard(struct admin_req *r, struct admin_reply *rep);

#endif
