/* tests/soak/soak_run.c — see soak_run.h. */
#include "tests/soak/soak_run.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/soak/soak_event.h"
#include "tests/soak/soak_hostile.h"
#include "tests/soak/soak_pub.h"
#include "tests/soak/soak_ring.h"
#include "tests/soak/soak_sub.h"

#define TICK_MS          20
#define READY_MS         30000	/* recovery on a busy 2-core machine */
#define STARTUP_KILL_PCT 20	/* of server kills, also killed again while recovering */
#define TERM_PCT         20	/* of server stops, SIGTERM (it drains, must exit 0) */
#define DRAIN_MS         90000
#define CATCHUP_MS       120000
#define STOP_MS          15000

static void add_client(struct soak_run *r, int role, int (*fn)(void *), uint32_t idx)
{
	struct soak_client *c = &r->cl[r->ncl++];

	c->role = role;
	c->fn = fn;
	c->ctx = (struct soak_ctx){ .cfg = r->cfg, .sh = r->sh, .idx = idx };
}

void soak_run_init(struct soak_run *r, const struct soak_cfg *cfg, struct soak_shared *sh)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->sh = sh;
	soak_server_init(&r->srv, cfg);
	soak_rng_seed(&r->rng, cfg->seed, soak_stream(SOAK_STREAM_DRIVER, 0, 0));
	for (uint32_t i = 0; i < cfg->pubs; i++)
		add_client(r, SOAK_STREAM_PUB, soak_pub_main, i);
	for (uint32_t i = 0; i < cfg->subs + cfg->rings; i++) {
		struct soak_sub *s = &sh->sub[i];
		bool ring = i >= cfg->subs;
		uint32_t j = ring ? i - cfg->subs : i;

		s->kind = ring;
		/* TCP subscribers take sets 0, 1, 2, ...; rings 3, 0, 2, 3, 4, ...: both kinds
		 * see everything, exact keys and wildcards. Number 1 of each kind is slow;
		 * the slow ring takes everything, so that its pauses lap it. */
		s->set = !ring ? j % SOAK_SETS : j == 0 ? 3 : j == 1 ? 0 : j % SOAK_SETS;
		s->slow = j == 1;
		add_client(r, ring ? SOAK_STREAM_RING : SOAK_STREAM_SUB,
			   ring ? soak_ring_main : soak_sub_main, i);
	}
	if (cfg->hostile)
		add_client(r, SOAK_STREAM_HOSTILE, soak_hostile_main, 0);
}

static int spawn(struct soak_client *c)
{
	pid_t pid = soak_fork(c->fn, &c->ctx);

	if (pid < 0)
		return (int)pid;
	c->pid = pid;
	c->respawn_ns = 0;
	c->ctx.incarnation++;
	return 0;
}

static const char *role_name(int role)
{
	static const char *const names[] = { "driver", "publisher", "subscriber", "ring reader",
					     "hostile client" };

	return names[role];
}

/* Reaps clients that exited by themselves: a drained publisher, or a failure. */
static void reap(struct soak_run *r, int64_t now)
{
	for (uint32_t i = 0; i < r->ncl; i++) {
		struct soak_client *c = &r->cl[i];
		char why[64];
		int status;

		if (c->pid <= 0 || waitpid(c->pid, &status, WNOHANG) != c->pid)
			continue;
		c->pid = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		    (atomic_load(&r->sh->stop) || (c->role == SOAK_STREAM_PUB &&
		     atomic_load(&r->sh->pub[c->ctx.idx].drained)))) {
			c->finished = true;
			continue;
		}
		r->client_failures++;
		fprintf(stderr, "soak: %s %u died by itself: %s\n", role_name(c->role), c->ctx.idx,
			soak_status_str(status, why, sizeof(why)));
		c->respawn_ns = now + 100 * 1000000;
	}
}

static void respawn(struct soak_run *r, int64_t now)
{
	for (uint32_t i = 0; i < r->ncl; i++) {
		struct soak_client *c = &r->cl[i];

		if (c->pid == 0 && !c->finished && c->respawn_ns && now >= c->respawn_ns &&
		    !atomic_load(&r->sh->stop) && spawn(c) < 0)
			c->respawn_ns = now + 100 * 1000000;
	}
}

static int64_t ms_ns(uint64_t ms)
{
	return (int64_t)ms * 1000000;
}

/* Starts the server, once more if a start times out (a stalled start is killed). A start
 * that ends in an exit is a crash (soak_server_wait_ready records it). */
static int server_up(struct soak_run *r)
{
	for (int attempt = 0; attempt < 2 && !soak_interrupted; attempt++) {
		int rc = soak_server_start(&r->srv, READY_MS);

		if (rc == 0)
			return 0;
		r->restart_failures++;
		fprintf(stderr, "soak: fanoutd start %llu failed: %s\n",
			(unsigned long long)r->srv.starts, strerror(-rc));
		if (rc != -ETIMEDOUT)
			return rc;
		soak_server_kill(&r->srv);
	}
	return -ETIMEDOUT;
}

/* SIGKILL the server (now and then SIGTERM), maybe once more while it recovers, and
 * bring it back. */
static void chaos_server(struct soak_run *r, int64_t now)
{
	if (now < r->server_kill_ns)
		return;
	if (soak_rng_chance(&r->rng, TERM_PCT)) {
		soak_server_stop(&r->srv, STOP_MS);
		r->terms++;
	} else {
		soak_server_kill(&r->srv);
	}
	soak_sleep_ms((int64_t)soak_rng_range(&r->rng, 0, 500));
	if (soak_rng_chance(&r->rng, STARTUP_KILL_PCT) && soak_server_spawn(&r->srv) == 0) {
		soak_sleep_ms((int64_t)soak_rng_range(&r->rng, 5, 250));
		soak_server_kill(&r->srv);
		r->startup_kills++;
	}
	/* Partitions are spread over the reactors at start-up: a restart with another
	 * count gives them other owners, and the logs must not care. */
	r->srv.reactors = (uint32_t)soak_rng_range(&r->rng, 1, r->cfg->reactors);
	if (!r->srv.crashed && server_up(r) == 0)
		r->restarts++;
	r->server_kill_ns = soak_now_ns() +
		ms_ns(soak_rng_range(&r->rng, r->cfg->server_kill_min_ms, r->cfg->server_kill_max_ms));
}

/* SIGKILL one running client, to start again a moment later. */
static void chaos_client(struct soak_run *r, int64_t now)
{
	struct soak_client *c;

	if (now < r->client_kill_ns || r->ncl == 0)
		return;
	r->client_kill_ns = now + ms_ns(soak_rng_range(&r->rng, r->cfg->client_kill_min_ms,
						       r->cfg->client_kill_max_ms));
	c = &r->cl[soak_rng_range(&r->rng, 0, r->ncl - 1)];
	if (c->pid <= 0)
		return;
	soak_kill_wait(c->pid);
	c->pid = 0;
	c->respawn_ns = now + ms_ns(soak_rng_range(&r->rng, 0, 300));
	r->kills[c->role]++;
}

static uint64_t sum_delivered(const struct soak_run *r)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->cfg->subs + r->cfg->rings; i++)
		n += atomic_load(&r->sh->sub[i].delivered);
	return n;
}

static uint64_t sum_pub(const struct soak_run *r, size_t field)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->cfg->pubs; i++)
		n += atomic_load((_Atomic uint64_t *)((char *)&r->sh->pub[i] + field));
	return n;
}

static void progress(struct soak_run *r, int64_t now, const char *phase)
{
	uint64_t ck = 0;

	if (now < r->progress_ns)
		return;
	r->progress_ns = now + ms_ns(5000);
	for (int i = 0; i <= SOAK_STREAM_HOSTILE; i++)
		ck += r->kills[i];
	fprintf(stderr, "soak: %s %4llds: made %llu, acked %llu, delivered %llu; server kills "
		"%llu, client kills %llu, hostile frames %llu\n", phase,
		(long long)((now - r->t0_ns) / 1000000000),
		(unsigned long long)sum_pub(r, offsetof(struct soak_pub, next_seq)),
		(unsigned long long)sum_pub(r, offsetof(struct soak_pub, acked)),
		(unsigned long long)sum_delivered(r), (unsigned long long)r->srv.kills,
		(unsigned long long)ck, (unsigned long long)atomic_load(&r->sh->hostile_frames));
}

/* One turn of the driver's loop; chaos only while the run is on. */
static void tick(struct soak_run *r, bool chaos, const char *phase)
{
	int64_t now = soak_now_ns();

	reap(r, now);
	if (r->srv.pid > 0 && !soak_server_alive(&r->srv))
		fprintf(stderr, "soak: fanoutd died by itself\n");
	if (chaos && !r->srv.crashed) {
		chaos_server(r, now);
		chaos_client(r, soak_now_ns());
	}
	respawn(r, soak_now_ns());
	progress(r, now, phase);
	soak_sleep_ms(TICK_MS);
}

static bool drained(const struct soak_run *r)
{
	for (uint32_t i = 0; i < r->cfg->pubs; i++)
		if (!atomic_load(&r->sh->pub[i].drained))
			return false;
	return true;
}

static bool caught_up(const struct soak_run *r, uint64_t (*high)[SOAK_PARTS_MAX])
{
	for (uint32_t i = 0; i < r->cfg->subs + r->cfg->rings; i++)
		for (uint32_t p = 0; p < r->cfg->parts; p++)
			if (atomic_load(&r->sh->sub[i].next[p]) < high[i][p])
				return false;
	return true;
}

/* The run goes on until its end or a crash; the drain while the server is up (after a
 * crash it was started again, to learn what the crash cost). */
static bool go_on(const struct soak_run *r, int64_t deadline)
{
	return !soak_interrupted && !r->srv.crashed && soak_now_ns() < deadline;
}

static bool drain_on(const struct soak_run *r, int64_t deadline)
{
	return !soak_interrupted && r->srv.pid > 0 && soak_now_ns() < deadline;
}

/* Publishers make nothing new and get every event acknowledged; then subscribers and
 * ring readers take everything they are owed. Clients killed just before go on. */
static void drain(struct soak_run *r)
{
	static uint64_t high[SOAK_SUBS_MAX][SOAK_PARTS_MAX];
	int64_t t = soak_now_ns();

	atomic_store(&r->sh->stop_new, 1);
	while (!drained(r) && drain_on(r, t + ms_ns(DRAIN_MS)))
		tick(r, false, "drain");
	r->drain_timeout = !drained(r);
	r->drain_ms = (soak_now_ns() - t) / 1000000;
	t = soak_now_ns();
	for (uint32_t i = 0; i < r->cfg->subs + r->cfg->rings; i++)
		soak_owed_high(r->cfg, r->sh, i, high[i]);
	while (!caught_up(r, high) && drain_on(r, t + ms_ns(CATCHUP_MS)))
		tick(r, false, "catch-up");
	r->catchup_timeout = !caught_up(r, high);
	r->catchup_ms = (soak_now_ns() - t) / 1000000;
}

/* Tells every client to stop, waits a little, kills the rest. */
static void stop_clients(struct soak_run *r)
{
	int64_t deadline = soak_now_ns() + ms_ns(5000);
	bool running = true;

	atomic_store(&r->sh->stop, 1);
	while (running && soak_now_ns() < deadline) {
		reap(r, soak_now_ns());
		running = false;
		for (uint32_t i = 0; i < r->ncl; i++)
			running |= r->cl[i].pid > 0;
		if (running)
			soak_sleep_ms(TICK_MS);
	}
	for (uint32_t i = 0; i < r->ncl; i++) {
		if (r->cl[i].pid > 0) {
			fprintf(stderr, "soak: %s %u did not stop: killed\n",
				role_name(r->cl[i].role), r->cl[i].ctx.idx);
			soak_kill_wait(r->cl[i].pid);
			r->cl[i].pid = 0;
		}
	}
}

/* A clean stop, one more start, the log read back whole, and a clean stop again. */
static void final_read(struct soak_run *r)
{
	if (r->srv.pid > 0)
		soak_server_stop(&r->srv, STOP_MS);
	if (soak_interrupted || server_up(r) < 0 ||
	    soak_log_read(r->cfg, r->sh, &r->log, &r->v) < 0) {
		r->log_unreadable = true;
		return;
	}
	soak_server_stop(&r->srv, STOP_MS);
	soak_check(r->cfg, r->sh, &r->log, &r->v);
}

static void end_hostile(struct soak_run *r)
{
	for (uint32_t i = 0; i < r->ncl; i++) {
		struct soak_client *c = &r->cl[i];

		if (c->role != SOAK_STREAM_HOSTILE)
			continue;
		if (c->pid > 0)
			soak_kill_wait(c->pid);
		c->pid = 0;
		c->finished = true;
	}
}

int soak_run(struct soak_run *r)
{
	const struct soak_cfg *c = r->cfg;
	int64_t end;

	r->t0_ns = soak_now_ns();
	end = r->t0_ns + ms_ns((uint64_t)c->duration_ms);
	r->incomplete = true;
	if (server_up(r) < 0)
		return -1;
	for (uint32_t i = 0; i < r->ncl; i++)
		if (spawn(&r->cl[i]) < 0)
			return -1;
	r->server_kill_ns = r->t0_ns + ms_ns(soak_rng_range(&r->rng, c->server_kill_min_ms,
							    c->server_kill_max_ms));
	r->client_kill_ns = r->t0_ns + ms_ns(soak_rng_range(&r->rng, c->client_kill_min_ms,
							    c->client_kill_max_ms));
	while (go_on(r, end))
		tick(r, true, "run");
	end_hostile(r);
	/* After a crash the server comes back too: the check still says what was lost. */
	if (r->srv.pid <= 0 && !soak_interrupted)
		server_up(r);
	drain(r);
	stop_clients(r);
	final_read(r);
	r->incomplete = soak_interrupted;
	return r->incomplete ? -1 : 0;
}

void soak_run_teardown(struct soak_run *r)
{
	if (r->sh)
		atomic_store(&r->sh->stop, 1);
	for (uint32_t i = 0; i < r->ncl; i++) {
		if (r->cl[i].pid > 0)
			soak_kill_wait(r->cl[i].pid);
		r->cl[i].pid = 0;
	}
	if (r->srv.pid > 0)
		soak_kill_wait(r->srv.pid);
	r->srv.pid = 0;
	soak_log_free(&r->log);
}
