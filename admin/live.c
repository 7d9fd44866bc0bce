/* admin/live.c — see live.h. */
#include "admin/live.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/log.h"
#include "admin/rules_io.h"
#include "admin/sampler.h"
#include "admin/ws.h"
#include "core/clock.h"
#include "core/epoch.h"
#include "core/executor.h"
#include "core/xr.h"
#include "ingest/rules_json.h"

/* Reactor r's LIST command, reused from call to call (made anew after an abandon, or
 * with room for want subscriptions when the last one had too little: the room follows
 * the number of subscriptions, up to ADMIN_LIST_MAX, so a server with few costs little). */
static struct control_cmd *live_list_cmd(struct admin *a, uint32_t r, uint32_t want)
{
	struct control_cmd *cmd = a->lists[r];
	uint32_t cap = cmd ? cmd->cap : ADMIN_LIST_MIN;

	while (cap < want && cap < ADMIN_LIST_MAX)
		cap *= 2;
	cap = cap > ADMIN_LIST_MAX ? ADMIN_LIST_MAX : cap;
	if (cmd && cmd->cap < cap) {
		control_cmd_free(cmd);
		cmd = NULL;
	}
	if (!cmd) {
		cmd = control_cmd_new(CONTROL_SUBS_LIST, cap, a->cfg->max_connections);
		a->lists[r] = cmd;
	}
	if (cmd) {
		cmd->n = cmd->total = cmd->nproducers = 0;
		cmd->topic = NULL;
	}
	return cmd;
}

void live_sub_id(const struct admin *a, uint64_t serial, char *id)
{
	snprintf(id, ADMIN_ID_BYTES, "%s-%" PRIu64, a->boot, serial);
}

uint64_t live_sub_serial(const struct admin *a, const char *id)
{
	size_t bl = strlen(a->boot);
	char *end;
	uint64_t v;

	if (strncmp(id, a->boot, bl) != 0 || id[bl] != '-' || id[bl + 1] < '1' || id[bl + 1] > '9')
		return 0;
	v = strtoull(id + bl + 1, &end, 10);
	return *end ? 0 : v;
}

static int live_serial_cmp(const void *x, const void *y)
{
	uint64_t a = ((const struct admin_sub_sample *)x)->info.stats.serial;
	uint64_t b = ((const struct admin_sub_sample *)y)->info.stats.serial;

	return a < b ? -1 : a > b;
}

/* The previous sample's entry for serial (binary search), or NULL. */
static const struct admin_sub_sample *live_prev_sub(const struct admin *a, uint64_t serial)
{
	uint32_t lo = 0, hi = a->cur.nsubs;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		uint64_t s = a->cur.subs[mid].info.stats.serial;

		if (s == serial)
			return &a->cur.subs[mid];
		if (s < serial)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Copies the reactors' answers into one array with ids and rates. */
static int live_subs_merge(struct admin *a, struct admin_sub_sample **out, uint32_t *n,
			   bool *truncated, int64_t now_ns)
{
	uint32_t total = 0, k = 0;
	double dt = a->cur.mono_ns ? (double)(now_ns - a->cur.mono_ns) / 1e9 : 0;

	for (uint32_t r = 0; r < a->eng->n; r++) {
		total += a->lists[r]->n;
		*truncated = *truncated || a->lists[r]->total > a->lists[r]->n;
	}
	*out = calloc(total ? total : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (uint32_t r = 0; r < a->eng->n; r++) {
		for (uint32_t i = 0; i < a->lists[r]->n; i++) {
			struct admin_sub_sample *s = &(*out)[k++];
			const struct admin_sub_sample *p;

			s->info = a->lists[r]->subs[i];
			live_sub_id(a, s->info.stats.serial, s->id);
			p = live_prev_sub(a, s->info.stats.serial);
			s->stored = p && p->stored;
			if (p && dt > 0.05) {	/* rates over the last sample interval */
				s->rate_out = (double)(s->info.delivered - p->info.delivered) / dt;
				s->tput_out = (double)(s->info.stats.bytes_out -
						       p->info.stats.bytes_out) / dt;
			} else if (p) {
				s->rate_out = p->rate_out;
				s->tput_out = p->tput_out;
			}
		}
	}
	qsort(*out, k, sizeof(**out), live_serial_cmp);
	*n = k;
	return 0;
}

/* Asks every reactor for its list and waits; on a timeout the command is abandoned
 * (the reactor frees it) and a new one is made next time. */
static int live_list_once(struct admin *a, const struct topic *tp)
{
	int rc = 0;

	for (uint32_t r = 0; r < a->eng->n; r++) {
		struct control_cmd *cmd = live_list_cmd(a, r, a->lists[r] ? a->lists[r]->total : 0);

		if (!cmd)
			return -ENOMEM;
		cmd->topic = tp;
		rc = control_post(a->eng, r, cmd);
		if (rc < 0) {	/* queue full: never posted, still ours */
			while (r-- > 0)
				if (control_wait(a->lists[r], CONTROL_DONE, ADMIN_REACTOR_WAIT_MS) < 0) {
					control_abandon(a->lists[r]);
					a->lists[r] = NULL;
				}
			return rc;
		}
	}
	for (uint32_t r = 0; r < a->eng->n; r++) {
		if (control_wait(a->lists[r], CONTROL_DONE, ADMIN_REACTOR_WAIT_MS) == 0)
			continue;
		control_abandon(a->lists[r]);
		a->lists[r] = NULL;
		rc = -ETIMEDOUT;
	}
	return rc;
}

/* Lists; a reactor that had more than its room is asked once more with room enough. */
static int live_list_all(struct admin *a, const struct topic *tp)
{
	int rc = live_list_once(a, tp);
	bool again = false;

	for (uint32_t r = 0; rc == 0 && r < a->eng->n; r++)
		again = again || (a->lists[r]->total > a->lists[r]->cap &&
				  a->lists[r]->cap < ADMIN_LIST_MAX);
	return again ? live_list_once(a, tp) : rc;
}

int live_subs(struct admin *a, const struct topic *tp, struct admin_sub_sample **out,
	      uint32_t *n, bool *truncated)
{
	int rc;

	*out = NULL;
	*n = 0;
	*truncated = false;
	rc = live_list_all(a, tp);
	if (rc < 0)
		return rc;
	return live_subs_merge(a, out, n, truncated, clock_monotonic_ns());
}

int live_sub_end(struct admin *a, uint64_t serial, const char *why)
{
	struct control_cmd *cmds[XR_REACTORS_MAX] = { 0 };
	int found = 0, rc = 0;

	for (uint32_t r = 0; r < a->eng->n && rc == 0; r++) {
		cmds[r] = control_cmd_new(CONTROL_SUB_END, 0, 0);
		if (!cmds[r]) {
			rc = -ENOMEM;
			break;
		}
		cmds[r]->serial = serial;
		snprintf(cmds[r]->message, sizeof(cmds[r]->message), "%s", why);
		rc = control_post(a->eng, r, cmds[r]);
		if (rc < 0) {
			control_cmd_free(cmds[r]);
			cmds[r] = NULL;
		}
	}
	for (uint32_t r = 0; r < a->eng->n; r++) {
		if (!cmds[r])
			continue;
		if (control_wait(cmds[r], CONTROL_DONE, ADMIN_REACTOR_WAIT_MS) < 0) {
			control_abandon(cmds[r]);
			rc = rc ? rc : -ETIMEDOUT;
			continue;
		}
		found += (int)cmds[r]->n;
		control_cmd_free(cmds[r]);
	}
	return found ? 1 : rc;
}

bool live_topic_subscribed(const struct topic *tp)
{
	for (uint32_t p = 0; p < tp->partitions; p++)	/* a quarantined one has no log */
		if (tp->part[p].log && log_readers(tp->part[p].log) != 0)
			return true;
	return false;
}

/* Posts the drop to every reactor. Returns 0 or -errno (nothing posted is kept). */
static int live_drop_post(struct admin *a, struct admin_drop *d, const char *why)
{
	for (uint32_t r = 0; r < a->eng->n; r++) {
		struct control_cmd *cmd = control_cmd_new(CONTROL_TOPIC_DROP, 0,
							  a->cfg->max_connections);

		if (!cmd)
			return -ENOMEM;
		cmd->topic = d->tp;
		snprintf(cmd->message, sizeof(cmd->message), "%s", why);
		d->cmds[r] = cmd;
		/* A reactor's queue holds 64: with at most TOPIC_REMOVING_MAX drops and one
		 * listing in flight it has room; a stuck reactor is retried, bounded. */
		for (int tries = 0; control_post(a->eng, r, cmd) < 0; tries++) {
			if (tries == 100)
				return -EAGAIN;
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		}
	}
	return 0;
}

int live_topic_delete(struct admin *a, struct topic *tp, uint32_t *ended)
{
	struct admin_drop *d;
	char why[CONTROL_MESSAGE_BYTES];
	int rc;

	*ended = 0;
	if (a->ndrops == TOPIC_REMOVING_MAX)
		return -EBUSY;
	rc = topic_remove(a->topics, tp);
	if (rc < 0)
		return rc;
	dataidx_topic_removed(&a->data, tp);	/* its events are gone with it */
	ws_topic_removed(a, tp);	/* WebSocket streams let go of its logs */
	/* Every reactor turn that could have found tp in the table has ended after this:
	 * what the drop does not find, nothing will start. */
	epoch_synchronize();
	d = &a->drops[a->ndrops++];
	d->tp = tp;
	d->cmds = calloc(a->eng->n, sizeof(*d->cmds));
	snprintf(why, sizeof(why), "topic '%s' was deleted", tp->name);
	rc = d->cmds ? live_drop_post(a, d, why) : -ENOMEM;
	if (rc < 0) {
		/* A reactor that never got the drop may hold the topic for ever: keep it until
		 * shutdown rather than free it under that reactor. */
		admin_log(ADMIN_LOG_ERROR, "topic %s: cannot reach every reactor (%s); its memory "
			  "is kept until the server stops", tp->name, strerror(-rc));
		return rc;
	}
	for (uint32_t r = 0; r < a->eng->n; r++) {
		if (control_wait(d->cmds[r], CONTROL_ENDED, ADMIN_REACTOR_WAIT_MS) < 0)
			rc = -ETIMEDOUT;
		else
			*ended += d->cmds[r]->n;
	}
	a->topics_deleted++;
	return rc;
}

static bool live_drop_done(const struct admin *a, const struct admin_drop *d, bool all)
{
	for (uint32_t r = 0; !all && r < a->eng->n; r++)
		if (!d->cmds || !d->cmds[r] ||
		    atomic_load_explicit(&d->cmds[r]->state, memory_order_acquire) != CONTROL_DONE)
			return false;
	return true;
}

/* The executor lets go of tp's logs (it persists them in the background). */
static int live_drop_executor(struct admin *a, struct topic *tp)
{
	struct log *logs[TOPIC_PARTITIONS_MAX];
	uint32_t n = 0;

	for (uint32_t p = 0; p < tp->partitions; p++)
		if (tp->part[p].log)	/* a quarantined partition has none */
			logs[n++] = tp->part[p].log;
	return executor_release(a->topics->log_config.executor, logs, n, ADMIN_REACTOR_WAIT_MS);
}

void live_drops_poll(struct admin *a, bool all)
{
	bool synced = all;	/* after the reactors stopped no grace period is needed */

	for (uint32_t i = a->ndrops; i-- > 0;) {
		struct admin_drop *d = &a->drops[i];
		int rc;

		if (!live_drop_done(a, d, all))
			continue;
		if (!synced) {
			epoch_synchronize();	/* turns that saw the topic before DONE end */
			synced = true;
		}
		if (live_drop_executor(a, d->tp) < 0)
			continue;	/* asked again at the next poll */
		for (uint32_t r = 0; d->cmds && r < a->eng->n; r++)
			control_cmd_free(d->cmds[r]);
		free(d->cmds);
		audit_drain(a);	/* audit records name the topic: rows before it goes */
		named_forget_topic(&a->eng->named, d->tp);	/* their files go with it */
		sampler_topic_forget(a, d->tp);	/* the latest sample points at it */
		rc = topic_destroy(a->topics, d->tp);
		if (rc < 0)
			admin_log(ADMIN_LOG_WARN, "a deleted topic's files were not all removed: %s "
				  "(they are skipped at start-up and removed then)", strerror(-rc));
		*d = a->drops[--a->ndrops];
	}
}

int live_rules_build(struct admin *a, struct rules_set **out, char *err, size_t cap)
{
	struct store_rule *rows;
	uint32_t n;
	json_t *arr;
	int rc;

	*out = NULL;
	rc = store_rules_list(&a->store, &rows, &n);
	if (rc != STORE_OK) {
		snprintf(err, cap, "%s", a->store.err);
		return -1;
	}
	arr = rules_io_array(rows, n);
	store_rules_free(rows, n);
	if (!arr) {
		snprintf(err, cap, "out of memory");
		return -1;
	}
	rc = rules_from_json(out, arr, err, cap);
	json_decref(arr);
	return rc < 0 ? -1 : 0;
}

int live_rules_reload(struct admin *a, char *err, size_t cap)
{
	struct rules_set *next;

	if (live_rules_build(a, &next, err, cap) < 0)
		return -1;
	a->rules_n = next->n;
	a->rules_enabled = next->n_enabled;
	a->rules_swaps++;
	/* The old set is freed once no reactor can be inside rules_apply with it. */
	rules_free((struct rules_set *)net_engine_swap_rules(a->eng, next));
	return 0;
}
