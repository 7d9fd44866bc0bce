/* tests/soak/soak_run.h — the driver: starts fanoutd and every client, then for the
 * run's duration SIGKILLs the server at random intervals (now and then again while it
 * recovers) and restarts it on the same data directory and port, and SIGKILLs random
 * clients, which start again and resume. Then it drains: publishers get every event
 * acknowledged, subscribers and ring readers catch up with what they are owed; every
 * client stops; the server is stopped with SIGTERM, started once more, and the log is
 * read back for the check. Every exit path kills whatever it started. One thread. */
#ifndef FANOUT_TESTS_SOAK_RUN_H
#define FANOUT_TESTS_SOAK_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/soak/soak_check.h"
#include "tests/soak/soak_proc.h"
#include "tests/soak/soak_server.h"
#include "tests/soak/soak_state.h"

#define SOAK_CLIENTS_MAX (SOAK_PUBS_MAX + SOAK_SUBS_MAX + 1)

struct soak_client {
	int role;			/* SOAK_STREAM_PUB, _SUB, _RING or _HOSTILE */
	int (*fn)(void *);
	pid_t pid;			/* 0 when not running */
	int64_t respawn_ns;		/* when to start it again (0: not scheduled) */
	bool finished;			/* stopped for good */
	struct soak_ctx ctx;
};

struct soak_run {
	const struct soak_cfg *cfg;
	struct soak_shared *sh;
	struct soak_server srv;
	struct soak_rng rng;
	struct soak_client cl[SOAK_CLIENTS_MAX];
	uint32_t ncl;
	uint64_t kills[SOAK_STREAM_HOSTILE + 1];	/* clients SIGKILLed, by role */
	uint64_t client_failures;	/* clients that exited by themselves, not stopped */
	uint64_t restarts, startup_kills, restart_failures, terms;
	bool drain_timeout, catchup_timeout, log_unreadable;
	bool incomplete;		/* interrupted, or the server never came up */
	int64_t t0_ns, server_kill_ns, client_kill_ns, progress_ns;
	int64_t drain_ms, catchup_ms;
	struct soak_log log;
	struct soak_verdict v;
};

void soak_run_init(struct soak_run *r, const struct soak_cfg *cfg, struct soak_shared *sh);

/* The whole run through the final log read and check. Returns 0 when it got that far
 * (the verdict says how it went), -1 when it could not (interrupted, server never up). */
int soak_run(struct soak_run *r);

/* Kills every client and the server still running. Idempotent. */
void soak_run_teardown(struct soak_run *r);

#endif
