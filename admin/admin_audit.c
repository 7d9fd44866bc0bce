/* admin/admin_audit.c — the admin_audit rows: made from REST calls and the reactors'
 * refusals, held in a bounded ring, written to the store (admin_audit.h). */
#include "admin/admin_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/http.h"
#include "admin/log.h"
#include "core/clock.h"

/* The REST calls that change something, and what the trail calls them. */
struct admin_audit_route {
	const char *method;
	const char *action;
	const char *shape[6];
};

static const struct admin_audit_route admin_audit_routes[] = {
	{ "POST", "topic.create", { "api", "v1", "topics", NULL } },
	{ "PATCH", "topic.update", { "api", "v1", "topics", "*", NULL } },
	{ "PUT", "topic.update", { "api", "v1", "topics", "*", NULL } },
	{ "DELETE", "topic.delete", { "api", "v1", "topics", "*", NULL } },
	{ "DELETE", "subscription.delete", { "api", "v1", "subscriptions", "*", NULL } },
	{ "POST", "rule.create", { "api", "v1", "rules", NULL } },
	{ "PUT", "rule.update", { "api", "v1", "rules", "*", NULL } },
	{ "PATCH", "rule.update", { "api", "v1", "rules", "*", NULL } },
	{ "DELETE", "rule.delete", { "api", "v1", "rules", "*", NULL } },
	{ "POST", "rule.enable", { "api", "v1", "rules", "*", "enable", NULL } },
	{ "POST", "rule.disable", { "api", "v1", "rules", "*", "disable", NULL } },
	{ "POST", "token.create", { "api", "v1", "tokens", NULL } },
	{ "PATCH", "token.update", { "api", "v1", "tokens", "*", NULL } },
	{ "DELETE", "token.revoke", { "api", "v1", "tokens", "*", NULL } },
};

int admin_audit_init(struct admin_audit_q *q)
{
	memset(q, 0, sizeof(*q));
	q->rows = calloc(ADMIN_AUDIT_QUEUE_MAX, sizeof(*q->rows));
	q->refusals = calloc(ADMIN_AUDIT_REFUSALS, sizeof(*q->refusals));
	if (!q->rows || !q->refusals) {
		admin_audit_free(q);
		return -1;
	}
	return 0;
}

void admin_audit_free(struct admin_audit_q *q)
{
	free(q->rows);
	free(q->refusals);
	q->rows = NULL;
	q->refusals = NULL;
}

/* The next free row; when full the oldest goes (counted, said once per spell). */
static struct store_audit_row *admin_audit_slot(struct admin_audit_q *q)
{
	if (q->n == ADMIN_AUDIT_QUEUE_MAX) {
		q->head = (q->head + 1) % ADMIN_AUDIT_QUEUE_MAX;
		q->n--;
		q->dropped++;
		if (!q->drop_logged)
			admin_log(ADMIN_LOG_WARN, "admin audit: %u rows wait for the store; the "
				  "oldest are dropped (counted)", ADMIN_AUDIT_QUEUE_MAX);
		q->drop_logged = true;
	}
	q->added++;
	return &q->rows[(q->head + q->n++) % ADMIN_AUDIT_QUEUE_MAX];
}

static void admin_audit_put(struct store_audit_row *w, int64_t at_ns, const char *actor,
			    const char *actor_name, const char *source, const char *action,
			    const char *target, const char *outcome, const char *status,
			    const char *detail)
{
	memset(w, 0, sizeof(*w));
	store_uuid7(w->id, at_ns);
	store_time(at_ns, w->at, sizeof(w->at));
	snprintf(w->actor, sizeof(w->actor), "%s", actor && *actor ? actor : "-");
	snprintf(w->actor_name, sizeof(w->actor_name), "%s", actor_name ? actor_name : "");
	snprintf(w->source, sizeof(w->source), "%s", source ? source : "");
	snprintf(w->action, sizeof(w->action), "%s", action);
	snprintf(w->target, sizeof(w->target), "%s", target ? target : "");
	snprintf(w->outcome, sizeof(w->outcome), "%s", outcome);
	snprintf(w->status, sizeof(w->status), "%s", status ? status : "");
	snprintf(w->detail, sizeof(w->detail), "%s", detail ? detail : "");
	/* A path or a message quoting a client's bytes: valid UTF-8 for the store and the
	 * JSON answer, however it was cut. */
	auth_text_clean(w->target);
	auth_text_clean(w->detail);
	auth_text_clean(w->actor_name);
}

void admin_audit_add(struct admin *a, const struct admin_caller *who, const char *action,
		     const char *target, const char *outcome, int status, const char *detail)
{
	const char *actor = who->token ? who->id
			    : a->cfg->auth_required ? "anonymous" : "-";
	char st[16];

	if (!a->opaudit.rows)
		return;
	snprintf(st, sizeof(st), "%d", status);
	admin_audit_put(admin_audit_slot(&a->opaudit), clock_realtime_ns(), actor,
			who->token ? who->name : "", who->source, action, target, outcome, st,
			detail);
}

/* The action a change call is, or NULL when it is none. */
static const char *admin_audit_action(const struct admin_req *r)
{
	const struct path *p = &r->path;

	for (size_t i = 0; i < sizeof(admin_audit_routes) / sizeof(admin_audit_routes[0]); i++) {
		const struct admin_audit_route *e = &admin_audit_routes[i];
		uint32_t k = 0;

		if (strcmp(e->method, r->method) != 0)
			continue;
		for (; k < 6 && e->shape[k]; k++)
			if (k >= p->n || (strcmp(e->shape[k], "*") && strcmp(e->shape[k], p->seg[k])))
				break;
		if (k < 6 && e->shape[k] == NULL && k == p->n)
			return e->action;
	}
	return NULL;
}

/* What a create names: from the answer when it was made, else from the body. */
static void admin_audit_created(const struct admin_req *r, const struct admin_reply *rep,
				char *buf, size_t cap)
{
	const char *keys[] = { "id", "topic_name", "name" };
	json_t *body = NULL;
	const json_t *src = rep->json;

	buf[0] = '\0';
	if (rep->status / 100 != 2 && r->body)
		src = body = json_loadb(r->body, r->body_len, 0, NULL);
	for (size_t i = 0; json_is_object(src) && i < 3 && !buf[0]; i++)
		if (json_is_string(json_object_get(src, keys[i])))
			snprintf(buf, cap, "%s", json_string_value(json_object_get(src, keys[i])));
	json_decref(body);
}

static const char *admin_audit_str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "?";
}

/* "METHOD /seg/seg" (decoded) into buf. */
static void admin_audit_request(const struct admin_req *r, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "%s ", r->method);

	for (uint32_t i = 0; i < r->path.n && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "/%s", r->path.seg[i]);
}

void admin_audit_rest(struct admin *a, const struct admin_req *r, const struct admin_reply *rep,
		      const struct admin_caller *who)
{
	bool refused = rep->status == 401 || rep->status == 403 || rep->status == 429;
	const char *action = refused ? "rest.refused" : admin_audit_action(r);
	const char *err = json_string_value(json_object_get(rep->json, "error"));
	const char *msg = json_string_value(json_object_get(rep->json, "message"));
	char target[STORE_AUDIT_TARGET_BYTES], detail[STORE_AUDIT_DETAIL_BYTES] = "";

	if (!action)
		return;
	if (refused)
		admin_audit_request(r, target, sizeof(target));
	else if (r->path.n == 3)
		admin_audit_created(r, rep, target, sizeof(target));
	else
		snprintf(target, sizeof(target), "%s", r->path.seg[3]);
	if (rep->status / 100 != 2 && err)
		snprintf(detail, sizeof(detail), "%s: %s", err, msg ? msg : "");
	else if (strcmp(action, "token.create") == 0)	/* the name and role, never the text */
		snprintf(detail, sizeof(detail), "name %s, role %s",
			 admin_audit_str(rep->json, "name"), admin_audit_str(rep->json, "role"));
	admin_audit_add(a, who, action, target, rep->status / 100 == 2 ? "ok" : refused
			? "refused" : "failed", rep->status, detail);
}

void admin_audit_refusals(struct admin *a)
{
	struct admin_audit_q *q = &a->opaudit;
	const struct auth_set *set;
	uint32_t n;

	if (!q->rows || !a->eng || !a->eng->auth)
		return;
	n = auth_refusals_take(a->eng->auth, q->refusals, ADMIN_AUDIT_REFUSALS);
	set = auth_current(a->eng->auth);	/* the admin thread swaps: no epoch needed */
	for (uint32_t i = 0; i < n; i++) {
		const struct auth_refusal *f = &q->refusals[i];
		const struct auth_token *t = f->who[0] ? auth_find(set, f->who) : NULL;
		char action[STORE_AUDIT_ACTION_BYTES];

		snprintf(action, sizeof(action), "tcp.%.32s", f->action);
		admin_audit_put(admin_audit_slot(q), f->at_ns, f->who[0] ? f->who : "anonymous",
				t ? t->name : "", f->source, action, f->target, "refused", "",
				f->why);
	}
}

/* Writes rows one at a time: a batch the store refused (not for being down). A row it
 * refuses alone is dropped, counted and logged: it would block the rest forever. */
static int admin_audit_one_by_one(struct admin *a, uint32_t m)
{
	struct admin_audit_q *q = &a->opaudit;

	for (uint32_t i = 0; i < m; i++) {
		int rc = store_audit_insert(&a->store, &q->rows[q->head], 1);

		if (rc == STORE_UNAVAILABLE)
			return rc;
		if (rc == STORE_OK) {
			q->written++;
		} else {
			q->rejected++;
			admin_log(ADMIN_LOG_ERROR, "admin audit: the store refused a row (%s %s): "
				  "%s; left out", q->rows[q->head].action, q->rows[q->head].target,
				  a->store.err);
		}
		q->head = (q->head + 1) % ADMIN_AUDIT_QUEUE_MAX;
		q->n--;
	}
	return STORE_OK;
}

bool admin_audit_flush(struct admin *a)
{
	struct admin_audit_q *q = &a->opaudit;

	admin_audit_refusals(a);
	for (uint32_t k = 0; k < ADMIN_AUDIT_FLUSHES && q->n && a->store.up; k++) {
		uint32_t m = q->n < ADMIN_AUDIT_FLUSH_ROWS ? q->n : ADMIN_AUDIT_FLUSH_ROWS;
		int rc;

		if (m > ADMIN_AUDIT_QUEUE_MAX - q->head)	/* contiguous rows only */
			m = ADMIN_AUDIT_QUEUE_MAX - q->head;
		rc = store_audit_insert(&a->store, &q->rows[q->head], m);
		if (rc == STORE_OK) {
			q->head = (q->head + m) % ADMIN_AUDIT_QUEUE_MAX;
			q->n -= m;
			q->written += m;
		} else if (rc == STORE_UNAVAILABLE ||
			   admin_audit_one_by_one(a, m) == STORE_UNAVAILABLE) {
			break;
		}
	}
	if (q->n == 0)
		q->drop_logged = false;
	return q->n && a->store.up;
}
