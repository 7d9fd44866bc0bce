/* tests/soak/soak_server.h — the real fanoutd under test: started on the run's data
 * directory and port (the same across restarts), SIGKILLed on purpose, and watched for
 * any other exit, which is a crash and fails the soak. Its stdout and stderr go to
 * DIR/server.log, each start marked. Driver only. */
#ifndef FANOUT_TESTS_SOAK_SERVER_H
#define FANOUT_TESTS_SOAK_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/soak/soak_state.h"

/* fanoutd's --frame-deadline-ms: a third of the default, so that the hostile client's
 * stalled frames are cut within a short run; honest clients send each frame whole. */
#define SOAK_FRAME_DEADLINE_MS 3000

struct soak_server {
	const struct soak_cfg *cfg;
	pid_t pid;			/* 0 when not running */
	uint32_t reactors;		/* --reactors of the next start (default cfg's) */
	uint64_t starts, kills;
	int crash_status;		/* wait status of the first exit we did not cause */
	bool crashed;
	char log[SOAK_PATH_MAX + 16];
	char ready[SOAK_PATH_MAX + 16];
};

void soak_server_init(struct soak_server *s, const struct soak_cfg *cfg);

/* Starts fanoutd without waiting. Returns 0 or -errno. */
int soak_server_spawn(struct soak_server *s);

/* Waits up to timeout_ms for the ready file. Returns 0; -ECHILD when it exited first
 * (recorded as a crash); -ETIMEDOUT. */
int soak_server_wait_ready(struct soak_server *s, int timeout_ms);

/* soak_server_spawn then soak_server_wait_ready. */
int soak_server_start(struct soak_server *s, int timeout_ms);

/* SIGKILL on purpose, and reap. */
void soak_server_kill(struct soak_server *s);

/* SIGTERM and wait up to timeout_ms (then SIGKILL). Returns the wait status; a status
 * other than a clean exit 0 is recorded as a crash. */
int soak_server_stop(struct soak_server *s, int timeout_ms);

/* Reaps the server if it exited on its own (a crash). Returns false when it is gone. */
bool soak_server_alive(struct soak_server *s);

/* Writes the log's last lines to stderr (after a crash). */
void soak_server_log_tail(const struct soak_server *s, int lines);

/* Describes a wait status ("exit 3", "signal 6") into buf. */
const char *soak_status_str(int status, char *buf, size_t cap);

#endif
