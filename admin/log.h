/* admin/log.h — the admin plane's log lines, in the server's one format: "fanoutd: "
 * then, for warnings and errors, "warning: " or "error: " (what --log-format json reads
 * the level from; tools/fanoutd_log.c). Info lines honour --quiet. Any thread. */
#ifndef FANOUT_ADMIN_LOG_H
#define FANOUT_ADMIN_LOG_H

#include <stdbool.h>

enum admin_log_level { ADMIN_LOG_INFO, ADMIN_LOG_WARN, ADMIN_LOG_ERROR };

/* Info lines are dropped while quiet is set (fanoutd --quiet). */
void admin_log_quiet(bool quiet);

void admin_log(enum admin_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
