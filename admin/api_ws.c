/* admin/api_ws.c — the WebSocket stream endpoints: the general one and the seeds' three,
 * which preset their data type (admin/ws.h). */
#include "admin/router.h"
#include "admin/ws.h"

int api_ws_stream(struct admin_req *r, struct admin_reply *rep)
{
	return ws_upgrade(r, rep, WS_ENDPOINT_GENERAL);
}

int api_ws_market_data(struct admin_req *r, struct admin_reply *rep)
{
	return ws_upgrade(r, rep, WS_ENDPOINT_MARKET_DATA);
}

int api_ws_execution(struct admin_req *r, struct admin_reply *rep)
{
	return ws_upgrade(r, rep, WS_ENDPOINT_EXECUTION);
}

int api_ws_coordination(struct admin_req *r, struct admin_reply *rep)
{
	return ws_upgrade(r, rep, WS_ENDPOINT_COORDINATION);
}

int api_ws_list(struct admin_req *r, struct admin_reply *rep)
{
	return ws_list(r, rep);
}
