/* admin/log.c — see log.h. */
#include "admin/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static _Atomic bool admin_log_is_quiet;

void admin_log_quiet(bool quiet)
{
	atomic_store(&admin_log_is_quiet, quiet);
}

void admin_log(enum admin_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "", "warning: ", "error: " };
	char line[1024];
	va_list ap;
	int n;

	if (level == ADMIN_LOG_INFO && atomic_load(&admin_log_is_quiet))
		return;
	n = snprintf(line, sizeof(line), "fanoutd: %s", prefix[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);	/* one write: lines of threads do not interleave */
}
