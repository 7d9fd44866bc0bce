/* tools/fanoutd_log.c — see fanoutd_log.h. */
#include "tools/fanoutd_log.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FANOUTD_LOG_LINE_MAX 16384u	/* longer lines are cut into pieces */

static pid_t fanoutd_log_pid;

static const char *fanoutd_log_level(const char **msg)
{
	const char *m = *msg;

	if (strncmp(m, "fanoutd: ", 9) == 0)
		m += 9;
	if (strncmp(m, "warning: ", 9) == 0) {
		*msg = m + 9;
		return "warn";
	}
	if (strncmp(m, "error: ", 7) == 0) {
		*msg = m + 7;
		return "error";
	}
	*msg = m;
	if (strstr(m, "cannot ") || strstr(m, "failed") || strstr(m, "out of memory"))
		return "error";
	return "info";
}

static void fanoutd_log_emit(int out, char *line)
{
	struct timespec ts;
	struct tm tm;
	char when[64], *text;
	const char *msg = line, *level = fanoutd_log_level(&msg);
	json_t *o;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000);
	/* Bytes that are not UTF-8 would make jansson refuse the line: keep it readable. */
	o = json_pack("{s:s, s:s, s:s%}", "ts", when, "level", level, "msg", msg, strlen(msg));
	for (char *p = line; !o && *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	if (!o)
		o = json_pack("{s:s, s:s, s:s}", "ts", when, "level", level, "msg", msg);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text) {
		size_t n = strlen(text);

		text[n] = '\n';	/* one write per line */
		if (write(out, text, n + 1) < 0) {
			/* nowhere left to say it */
		}
	}
	free(text);
	json_decref(o);
}

static void fanoutd_log_child(int in, int out)
{
	static char buf[FANOUTD_LOG_LINE_MAX + 1];
	size_t len = 0;
	ssize_t n;

	signal(SIGINT, SIG_IGN);	/* a Ctrl-C to the group: the server says goodbye first */
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	while ((n = read(in, buf + len, FANOUTD_LOG_LINE_MAX - len)) > 0 || (n < 0 && errno == EINTR)) {
		char *nl;

		len += n > 0 ? (size_t)n : 0;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			fanoutd_log_emit(out, buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == FANOUTD_LOG_LINE_MAX) {	/* no newline in a full buffer: cut it */
			buf[len] = '\0';
			fanoutd_log_emit(out, buf);
			len = 0;
		}
	}
	if (len) {
		buf[len] = '\0';
		fanoutd_log_emit(out, buf);
	}
	_exit(0);
}

int fanoutd_log_json_start(void)
{
	int fds[2], out;

	fflush(stderr);
	out = dup(STDERR_FILENO);
	if (out < 0 || pipe(fds) < 0)
		return -errno;
	fanoutd_log_pid = fork();
	if (fanoutd_log_pid < 0) {
		int e = errno;

		close(fds[0]);
		close(fds[1]);
		close(out);
		return -e;
	}
	if (fanoutd_log_pid == 0) {
		close(fds[1]);
		close(STDERR_FILENO);	/* the pipe's last writer is the server */
		fanoutd_log_child(fds[0], out);
	}
	close(fds[0]);
	close(out);
	if (dup2(fds[1], STDERR_FILENO) < 0)
		return -errno;
	close(fds[1]);
	return 0;
}

void fanoutd_log_json_stop(void)
{
	int status;

	if (fanoutd_log_pid <= 0)
		return;
	fflush(stderr);
	close(STDERR_FILENO);	/* end of file for the child */
	for (int i = 0; i < 200; i++) {	/* 2 s at most */
		if (waitpid(fanoutd_log_pid, &status, WNOHANG) == fanoutd_log_pid)
			return;
		usleep(10000);
	}
}
