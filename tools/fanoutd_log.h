/* tools/fanoutd_log.h — --log-format json: the server's stderr becomes a pipe read by a
 * small child process that writes each line as one JSON object,
 *   {"ts":"2026-12-05T09:30:00.123Z","level":"info","msg":"reactor 0: cpu 0, ..."}
 * so every module's lines are covered without each knowing the format. A child, not a
 * thread: it outlives a crash of the server long enough to write its last words (an
 * assertion's message), then ends at end of file. The level is "warn" or "error" for
 * lines that say "warning:" or "error:" after "fanoutd: " (the admin plane's lines) or
 * that read as failures ("cannot", "failed", "out of memory"), else "info". */
#ifndef FANOUT_TOOLS_FANOUTD_LOG_H
#define FANOUT_TOOLS_FANOUTD_LOG_H

/* Starts the child and points fd 2 at its pipe. Call before any thread starts. Returns 0
 * or -errno (stderr unchanged). */
int fanoutd_log_json_start(void);

/* Closes our end of the pipe and waits (bounded) for the child to write what it holds. */
void fanoutd_log_json_stop(void);

#endif
