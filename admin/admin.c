/* admin/admin.c — the admin thread's life: start-up agreement between the store and the
 * running server, the loop (HTTP, store reconnection, sampling, drops), SIGHUP reloads,
 * and shutdown. */
#include "admin/admin.h"
#include "admin/cache_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/http.h"
#include "admin/live.h"
#include "admin/log.h"
#include "admin/node.h"
#include "admin/rules_io.h"
#include "admin/retention.h"
#include "admin/sampler.h"
#include "core/clock.h"
#include "core/epoch.h"

struct topic *admin_topic_find(struct admin *a, const char *name)
{
	struct topic *tp;

	(void)a;
	epoch_enter();
	tp = topic_find(a->topics, name, strlen(name));
	epoch_exit();
	return tp;
}

static void admin_on_store_up(void *ctx)
{
	((struct admin *)ctx)->store_fresh = true;
	((struct admin *)ctx)->tokens.stale = true;	/* tokens written meanwhile, elsewhere */
}

/* Puts the store's tokens in force when they may have changed; a failure is tried again
 * a second later (logged once per spell). */
static void admin_tokens_sync(struct admin *a, int64_t now)
{
	char err[TOKENS_ERR_BYTES + 64];
	int rc;

	/* Another server on the same PostgreSQL store may have changed them: looked at
	 * every ADMIN_TOKENS_LOOK_NS (put in force only when something changed). */
	bool look = false;

	/* Only PostgreSQL is shared: SQLite is this server's own file. */
	if (a->cfg->auth_required && a->store.kind == STORE_PG && a->tokens.ready &&
	    !a->tokens.stale && now >= a->tokens.look_ns) {
		a->tokens.stale = look = true;
		a->tokens.look_ns = now + ADMIN_TOKENS_LOOK_NS;
	}
	if (!a->tokens.stale || !a->store.up || now < a->tokens.retry_ns)
		return;
	a->tokens.looking = look;
	rc = tokens_reload(a, err, sizeof(err));
	a->tokens.looking = false;
	if (rc == 0) {
		a->tokens.retry_ns = 0;
		return;
	}
	if (!a->tokens.retry_ns)
		admin_log(ADMIN_LOG_ERROR, "tokens: not put in force: %s; trying again", err);
	a->tokens.retry_ns = now + 1000000000ll;
}

/* A topic whose partition count on disk differs from its record: the logs on disk win.
 * With SQLite the record is corrected. PostgreSQL is shared with other nodes: each keeps
 * its own logs' count and the record stays as its maker wrote it (admin/watch.h). */
static void admin_sync_partitions(struct admin *a, const struct topic *tp,
				  struct store_topic *t)
{
	bool shared = a->store.kind == STORE_PG;

	admin_log(ADMIN_LOG_WARN, "store: topic %s has %u partitions on disk, %u in the store; "
		  "%s", t->name, tp->partitions, t->partitions, shared ? "this node keeps its "
		  "own (the store is shared)" : "the store is corrected");
	if (shared)
		return;
	t->partitions = tp->partitions;
	store_topic_update(&a->store, t);
}

/* Start-up: every topic of the store runs, every running topic is stored. Returns
 * whether every stored topic was read (its retention policy in force). */
static bool admin_sync_topics(struct admin *a)
{
	char after[TOPIC_NAME_MAX + 1] = "";
	struct store_topic *rows;
	uint32_t n;

	do {
		if (store_topics_list(&a->store, after, STORE_LIST_MAX, &rows, &n) != STORE_OK) {
			if (!a->retention_waits_logged)	/* once per outage, not per retry */
				admin_log(ADMIN_LOG_WARN, "store: the topics could not be read; "
					  "retention deletes nothing until they are");
			a->retention_waits_logged = true;
			return false;
		}
		for (uint32_t i = 0; i < n; i++) {
			struct store_topic *t = &rows[i];
			struct topic *tp = admin_topic_find(a, t->name);
			int rc = tp ? 0 : topic_create(a->topics, t->name, strlen(t->name),
							t->partitions, &tp);

			if (rc < 0 && !tp) {
				admin_log(ADMIN_LOG_ERROR, "store: topic %s: cannot open it: %s",
					  t->name, strerror(-rc));
				continue;
			}
			if (tp->partitions != t->partitions)
				admin_sync_partitions(a, tp, t);
			atomic_store(&tp->disabled, !t->enabled);
			atomic_store(&tp->priority, t->priority);
			retention_apply(tp, t->retention_policy);
		}
		if (n)
			snprintf(after, sizeof(after), "%s", rows[n - 1].name);
		free(rows);
	} while (n == STORE_LIST_MAX);
	sampler_store_topics(a);	/* and the other way round */
	if (a->retention_waits_logged)
		admin_log(ADMIN_LOG_INFO, "store: the topics were read; retention applies");
	a->retention_waits_logged = false;
	return true;
}

/* Puts the --rules file's rules in the store (origin "file"), replacing rules of the
 * same name and removing file rules the file no longer has. One transaction. */
static int admin_import_rules(struct admin *a, char *err, size_t cap)
{
	json_t *arr, *obj;
	struct store_rule *rows = NULL;
	uint32_t n = 0;
	size_t i;
	int rc;

	if (rules_io_load_file(a->cfg->rules_file, &arr, err, cap) < 0)
		return -1;
	rc = store_begin(&a->store);
	json_array_foreach(arr, i, obj) {
		struct store_rule r, old;
		char field[64];

		if (rc != STORE_OK)
			break;
		if (rules_io_parse(obj, &r, err, field, sizeof(field)) < 0) {
			rc = STORE_ERR;	/* the file was checked whole: out of memory */
			break;
		}
		strcpy(r.origin, "file");
		rc = store_rule_get(&a->store, r.name, &old);
		store_rule_clear(&old);
		rc = rc == STORE_OK ? store_rule_update(&a->store, &r)
		     : rc == STORE_NOT_FOUND ? store_rule_insert(&a->store, &r) : rc;
		store_rule_clear(&r);
	}
	if (rc == STORE_OK)
		rc = store_rules_list(&a->store, &rows, &n);
	for (uint32_t k = 0; rc == STORE_OK && k < n; k++) {
		bool in_file = false;

		json_array_foreach(arr, i, obj)
			in_file = in_file || strcmp(json_string_value(json_object_get(obj, "name")),
						    rows[k].name) == 0;
		if (!in_file && strcmp(rows[k].origin, "file") == 0)
			rc = store_rule_delete(&a->store, rows[k].name);
	}
	store_rules_free(rows, n);
	json_decref(arr);
	if (rc == STORE_OK)
		rc = store_commit(&a->store);
	if (rc != STORE_OK) {
		store_rollback(&a->store);
		snprintf(err, cap, "store: %s", a->store.err);
		return -1;
	}
	return 0;
}

/* The store is up: agree with it. With running, the rules are swapped in; otherwise
 * (start-up) *out receives them. */
static void admin_sync(struct admin *a, bool running, struct rules_set **out)
{
	char err[RULES_ERROR_BYTES + 512], now[STORE_TIME_BYTES];
	struct rules_set *set = NULL;

	a->store_fresh = false;
	if (!a->synced_once) {	/* this node's previous run's subscriptions are over */
		store_time(clock_realtime_ns(), now, sizeof(now));
		/* SQLite is this node's own file: every row is its own, whatever id a
		 * previous run had (a container's host name changes). */
		if (store_subs_stop_all(&a->store, a->store.kind == STORE_PG ? a->node_id :
					NULL, now) != STORE_OK)
			admin_log(ADMIN_LOG_WARN, "store: the previous run's subscriptions are not "
				  "marked stopped: %s", a->store.err);
		a->retention_ready = admin_sync_topics(a);
		a->synced_once = true;
	}
	if (a->cfg->rules_file[0] && admin_import_rules(a, err, sizeof(err)) < 0)
		admin_log(ADMIN_LOG_ERROR, "--rules %s: not imported into the store: %s",
			  a->cfg->rules_file, err);
	watch_store_up(a);	/* before the rules are read: later changes are looked for */
	if (!running) {
		if (live_rules_build(a, &set, err, sizeof(err)) < 0)
			admin_log(ADMIN_LOG_ERROR, "store: routing rules not loaded: %s", err);
		*out = set;
		return;
	}
	if (live_rules_reload(a, err, sizeof(err)) < 0)
		admin_log(ADMIN_LOG_ERROR, "store: routing rules not reloaded: %s", err);
}

/* A base-36 start time in ms: subscription ids of this run ("<boot>-<serial>"). */
static void admin_boot_id(struct admin *a)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	uint64_t ms = (uint64_t)(a->start_real_ns / 1000000);
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = digits[ms % 36];
		ms /= 36;
	} while (ms && n < 15);
	for (int i = 0; i < n; i++)
		a->boot[i] = tmp[n - 1 - i];
	a->boot[n] = '\0';
}

int admin_prepare(struct admin *a, const struct config *cfg, struct topic_table *topics,
		  struct rules_set *file_rules, struct rules_set **rules)
{
	char path[CONFIG_PATH_MAX + 32];
	const char *target = cfg->pg_url;
	int rc;

	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	a->topics = topics;
	a->start_real_ns = clock_realtime_ns();
	a->start_mono_ns = clock_monotonic_ns();
	admin_boot_id(a);
	node_id_resolve(cfg->node_id, cfg->data_dir, a->node_id, sizeof(a->node_id));
	admin_log_quiet(cfg->quiet);
	a->stops = calloc(ADMIN_STOPS_MAX, sizeof(*a->stops));
	if (!a->stops || admin_audit_init(&a->opaudit) < 0)
		return -1;
	if ((rc = audit_init(&a->audit, cfg->data_dir, cfg->audit_spill_bytes)) < 0) {
		admin_log(ADMIN_LOG_ERROR, "audit trail: %s/%s: %s", cfg->data_dir,
			  AUDIT_SPILL_FILE, strerror(-rc));
		return -1;
	}
	if (dataidx_init(&a->data, cfg->data_index_bytes) < 0) {
		admin_log(ADMIN_LOG_ERROR, "data index: out of memory");
		return -1;
	}
	{
		const char *why = "";

		if (cache_init(&a->cache, cfg->redis_url, &why) < 0) {
			admin_log(ADMIN_LOG_ERROR, "%s", why);
			return -1;
		}
		a->data.cache_on = a->cache.on && a->data.on;
		if (a->cache.on)
			admin_log(ADMIN_LOG_INFO, "redis cache on %s", a->cache.where);
	}
	if (!target[0]) {
		snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, STORE_SQLITE_FILE);
		target = path;
	}
	a->store.on_up = admin_on_store_up;
	a->store.on_up_ctx = a;
	if (store_open(&a->store, cfg->pg_url[0] ? STORE_PG : STORE_SQLITE, target, false) ==
	    STORE_ERR) {
		admin_log(ADMIN_LOG_ERROR, "store: %s", a->store.err);
		return -1;
	}
	/* PostgreSQL connects asynchronously: at start-up (no reactor runs yet) waiting a
	 * bounded moment lets the store be the source of truth from the first event. */
	for (int64_t until = clock_monotonic_ns() + (int64_t)STORE_CONNECT_TIMEOUT_S * 1000000000;
	     !a->store.up && a->store.connecting && clock_monotonic_ns() < until;) {
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		store_poll(&a->store, clock_monotonic_ns());
	}
	*rules = file_rules;
	if (!a->store.up) {
		admin_log(ADMIN_LOG_WARN, "store: %s is not reachable yet; starting with %s "
			  "routing rules, the store's are applied when it answers", a->store.where,
			  file_rules ? "the --rules file's" : "no");
		return 0;
	}
	admin_sync(a, false, rules);
	if (*rules) {
		rules_free(file_rules);
		a->rules_n = (*rules)->n;
		a->rules_enabled = (*rules)->n_enabled;
	} else {
		*rules = file_rules;	/* the store's rules failed to load: the file's */
	}
	if (!cfg->quiet)
		admin_log(ADMIN_LOG_INFO, "store: %s (schema version %u), %u routing rules in "
			  "force; node %s", a->store.where, a->store.schema_version, a->rules_n,
			  a->node_id);
	return 0;
}

/* SIGHUP: the --rules file again, through the store. */
static void admin_reload_rules(struct admin *a)
{
	char err[RULES_ERROR_BYTES + 512];

	if (!a->cfg->rules_file[0]) {
		admin_log(ADMIN_LOG_WARN, "SIGHUP: no --rules file; nothing to reload");
		return;
	}
	if (!a->store.up) {
		admin_log(ADMIN_LOG_WARN, "SIGHUP: the store is unavailable; the reload happens "
			  "when it is back");
		a->reload_pending = true;
		return;
	}
	a->reload_pending = false;
	if (admin_import_rules(a, err, sizeof(err)) < 0) {
		admin_log(ADMIN_LOG_ERROR, "SIGHUP: %s; keeping the routing rules in force", err);
		return;
	}
	if (live_rules_reload(a, err, sizeof(err)) < 0) {
		admin_log(ADMIN_LOG_ERROR, "SIGHUP: %s; keeping the routing rules in force", err);
		return;
	}
	admin_log(ADMIN_LOG_INFO, "SIGHUP: routing rules reloaded from %s: %u (%u enabled)",
		  a->cfg->rules_file, a->rules_n, a->rules_enabled);
}

/* Takes in new topics and, with flush, writes the bars the store has not had. */
static void admin_data_sync(struct admin *a, bool flush)
{
	int rc;

	if (!a->data.on)
		return;
	if (dataidx_sync_topics(&a->data, a->topics) < 0)
		admin_log(ADMIN_LOG_WARN, "data index: cannot list the topics (out of memory)");
	if (!flush)
		return;
	rc = dataidx_flush_bars(&a->data, &a->store, DIDX_FLUSH_ROWS);
	if (rc < 0 && rc != STORE_UNAVAILABLE)
		a->data_flush_errors++;
}

void admin_data_catch_up(struct admin *a)
{
	int64_t until = clock_monotonic_ns() + (int64_t)DIDX_CATCH_UP_MS * 1000000;
	uint64_t left = DIDX_CATCH_UP_EVENTS;

	admin_data_sync(a, false);
	/* Bounded in events and in time: a backlog (a burst, or a producer whose times run
	 * backwards) delays this answer a little, never the admin thread for long. */
	while (left && dataidx_step(&a->data, DIDX_STEP_EVENTS) && clock_monotonic_ns() < until)
		left = left > DIDX_STEP_EVENTS ? left - DIDX_STEP_EVENTS : 0;
}

/* Chores between HTTP waits. */
static void admin_chores(struct admin *a)
{
	int64_t now = clock_monotonic_ns();

	store_poll(&a->store, now);
	if (a->store_fresh && a->store.up)
		admin_sync(a, true, NULL);
	admin_tokens_sync(a, now);
	watch_poll(a, now);	/* topics and rules other nodes changed */
	if (atomic_exchange(&a->reload, false) || (a->reload_pending && a->store.up))
		admin_reload_rules(a);
	if (now >= a->next_sample_ns) {
		/* A first sync that could not read every stored topic: again, for their
		 * retention policies (none is applied until then). */
		if (a->synced_once && !a->retention_ready && a->store.up)
			a->retention_ready = admin_sync_topics(a);
		sampler_tick(a);
		admin_data_sync(a, true);
		cache_keys_sample(a);
		a->next_sample_ns = now + (int64_t)ADMIN_SAMPLE_MS * 1000000;
	}
	dataidx_step(&a->data, DIDX_STEP_EVENTS);
	audit_collect(a);
	a->audit_more = audit_flush(a);
	if (admin_audit_flush(a))	/* the admin trail's rows, and TCP refusals */
		a->audit_more = true;
	cache_poll(&a->cache, now);
	if (a->ndrops)
		live_drops_poll(a, false);
	retention_poll(a, now);
	epoch_poll();	/* ck_ht arrays this thread's topic creations retired */
}

static void *admin_main(void *arg)
{
	struct admin *a = arg;

	/* The control plane yields the CPU to the data plane: on a machine where reactors
	 * and this thread share cores, a burst of API calls must not delay deliveries. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), ADMIN_NICE) < 0 && !a->cfg->quiet)
		admin_log(ADMIN_LOG_WARN, "admin thread: cannot lower its priority: %s",
			  strerror(errno));
	pthread_setname_np(pthread_self(), "fanout-admin");

	if (epoch_register() < 0) {
		admin_log(ADMIN_LOG_ERROR, "admin thread: out of memory; the admin plane is off");
		return NULL;
	}
	admin_tokens_sync(a, clock_monotonic_ns());	/* stored tokens work from the start */
	while (!atomic_load(&a->stop)) {
		int64_t until = a->next_sample_ns - clock_monotonic_ns();
		int wait_ms = until <= 0 ? 0 : until / 1000000 < ADMIN_POLL_MS
			      ? (int)(until / 1000000) : ADMIN_POLL_MS;

		if (a->data.behind || a->audit_more)
			wait_ms = 0;	/* the data index or the audit trail has work pending */
		admin_http_run(a, wait_ms);
		admin_chores(a);
	}
	admin_http_stop(a);
	/* The stop waits for this thread: back to the reactors' priority where allowed. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 0);
	sampler_tick(a);	/* a last sample: the final row counts up to the stop */
	sampler_flush_rows(a, true);	/* the interval cut short; one try if the store is up */
	for (int i = 0; i < 64 && a->data.dirty; i++)	/* the bars not yet stored (bounded) */
		if (dataidx_flush_bars(&a->data, &a->store, DIDX_FLUSH_ROWS) <= 0)
			break;
	audit_drain(a);	/* the reactors may add a few more: admin_free takes those */
	audit_flush(a);
	admin_audit_flush(a);	/* one try; what the store cannot take now is lost */
	epoch_unregister();
	return NULL;
}

int admin_start(struct admin *a, struct net_engine *eng)
{
	int rc;

	a->eng = eng;
	a->lists = calloc(eng->n, sizeof(*a->lists));
	if (!a->lists)
		return -1;
	for (uint32_t r = 0; r < eng->n; r++)	/* made now, not in the middle of a run */
		a->lists[r] = control_cmd_new(CONTROL_SUBS_LIST, ADMIN_LIST_MIN,
					      a->cfg->max_connections);
	a->rules_n = eng->rules ? net_engine_rules(eng)->n : 0;
	a->rules_enabled = eng->rules ? net_engine_rules(eng)->n_enabled : 0;
	if (eng->auth && tokens_init(a) < 0)
		return -1;
	if (!a->cfg->no_http && admin_http_start(a, a->cfg->http, a->cfg->http_set,
						 a->http_bound, sizeof(a->http_bound)) < 0)
		return -1;
	if (a->http_bound[0] && !a->cfg->quiet)
		admin_log(ADMIN_LOG_INFO, "admin API on %s://%s (/api/v1, /metrics, /healthz, "
			  "/readyz)", a->cfg->tls_cert[0] ? "https" : "http", a->http_bound);
	atomic_store(&eng->audit_on, true);	/* this thread takes the audit records */
	rc = pthread_create(&a->thread, NULL, admin_main, a);
	if (rc != 0) {
		admin_log(ADMIN_LOG_ERROR, "admin thread: %s", strerror(rc));
		admin_http_stop(a);
		return -1;
	}
	a->started = true;
	return 0;
}

void admin_extend(struct admin *a, const struct admin_ext *ext)
{
	atomic_store_explicit(&a->ext, ext, memory_order_release);
}

void admin_reload(struct admin *a)
{
	atomic_store(&a->reload, true);
}

void admin_stop_thread(struct admin *a)
{
	if (!a->started)
		return;
	atomic_store(&a->stop, true);
	pthread_join(a->thread, NULL);
	a->started = false;
}

void admin_free(struct admin *a)
{
	if (a->eng) {
		live_drops_poll(a, true);	/* the reactors are gone: nothing holds them */
		audit_drain(a);	/* what they queued last, then to the store or the spill */
		for (int i = 0; i < 16 && a->audit.n && a->store.up; i++)
			audit_flush(a);
		audit_spill(a);	/* the rest waits in the spill for the next start */
		/* What the reactors' last closes would add has no one to take it. */
		atomic_store(&a->eng->audit_on, false);
	}
	for (uint32_t r = 0; a->lists && r < a->eng->n; r++)
		control_cmd_free(a->lists[r]);
	free(a->lists);
	free(a->stops);
	sampler_free(a);
	watch_free(a);
	tokens_free(a);
	admin_audit_free(&a->opaudit);
	dataidx_free(&a->data);
	audit_free(&a->audit);
	cache_free(&a->cache);
	store_close(&a->store);
	a->lists = NULL;
	a->stops = NULL;
}
