/* tests/soak/soak_server.c — see soak_server.h. */
#include "tests/soak/soak_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/soak/soak_proc.h"

void soak_server_init(struct soak_server *s, const struct soak_cfg *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->reactors = cfg->reactors;
	snprintf(s->log, sizeof(s->log), "%s/server.log", cfg->dir);
	snprintf(s->ready, sizeof(s->ready), "%s/ready", cfg->dir);
}

const char *soak_status_str(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, cap, "status 0x%x", status);
	return buf;
}

/* In the child: output to the log, then exec fanoutd. Never returns. */
static void exec_server(const struct soak_server *s)
{
	const struct soak_cfg *c = s->cfg;
	char reactors[16], topic[64], segment[32], deadline[16];
	int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	const char *argv[] = {
		c->fanoutd, "--listen", c->addr, "--data-dir", c->data, "--ready-file", s->ready,
		"--quiet", "--reactors", reactors, "--topic", topic, "--shm-socket", c->shm_sock,
		"--segment-bytes", segment, "--frame-deadline-ms", deadline,
		"--http", "127.0.0.1:0", NULL,
	};

	/* Dies with the driver: a killed soak must not leave a server on a shared box. The
	 * admin API on a port of its own: never the shared default. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(reactors, sizeof(reactors), "%u", s->reactors);
	snprintf(topic, sizeof(topic), "%s:%u", SOAK_TOPIC, c->parts);
	snprintf(segment, sizeof(segment), "%llu", (unsigned long long)c->segment_bytes);
	snprintf(deadline, sizeof(deadline), "%d", SOAK_FRAME_DEADLINE_MS);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execv(c->fanoutd, (char *const *)argv);
	perror("soak: execv fanoutd");
	_exit(127);
}

int soak_server_spawn(struct soak_server *s)
{
	FILE *f = fopen(s->log, "a");
	pid_t pid;

	if (f) {
		fprintf(f, "=== soak: start %llu, %u reactors ===\n",
			(unsigned long long)s->starts + 1, s->reactors);
		fclose(f);
	}
	unlink(s->ready);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_server(s);
	s->pid = pid;
	s->starts++;
	return 0;
}

bool soak_server_alive(struct soak_server *s)
{
	int status;

	if (s->pid <= 0)
		return false;
	if (waitpid(s->pid, &status, WNOHANG) != s->pid)
		return true;
	s->pid = 0;
	if (!s->crashed) {
		s->crashed = true;
		s->crash_status = status;
	}
	return false;
}

int soak_server_wait_ready(struct soak_server *s, int timeout_ms)
{
	int64_t deadline = soak_now_ns() + (int64_t)timeout_ms * 1000000;

	while (soak_now_ns() < deadline && !soak_interrupted) {
		if (access(s->ready, F_OK) == 0)
			return 0;
		if (!soak_server_alive(s))
			return -ECHILD;
		soak_sleep_ms(10);
	}
	return -ETIMEDOUT;
}

int soak_server_start(struct soak_server *s, int timeout_ms)
{
	int rc = soak_server_spawn(s);

	return rc < 0 ? rc : soak_server_wait_ready(s, timeout_ms);
}

void soak_server_kill(struct soak_server *s)
{
	int status;

	if (s->pid <= 0)
		return;
	status = soak_kill_wait(s->pid);
	s->pid = 0;
	s->kills++;
	/* Anything but our SIGKILL means it had already died by itself. */
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) && !s->crashed) {
		s->crashed = true;
		s->crash_status = status;
	}
}

int soak_server_stop(struct soak_server *s, int timeout_ms)
{
	int64_t deadline = soak_now_ns() + (int64_t)timeout_ms * 1000000;
	int status = -1;
	bool exited = false;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	while (!exited && soak_now_ns() < deadline) {
		exited = waitpid(s->pid, &status, WNOHANG) == s->pid;
		if (!exited)
			soak_sleep_ms(10);
	}
	if (!exited) {
		fprintf(stderr, "soak: fanoutd did not exit within %d ms of SIGTERM\n", timeout_ms);
		status = soak_kill_wait(s->pid);
	}
	s->pid = 0;
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !s->crashed) {
		s->crashed = true;
		s->crash_status = status;
	}
	return status;
}

void soak_server_log_tail(const struct soak_server *s, int lines)
{
	char cmd[SOAK_PATH_MAX + 64];

	fprintf(stderr, "soak: last lines of %s:\n", s->log);
	fflush(stderr);
	snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, s->log);
	if (system(cmd) != 0)
		fprintf(stderr, "soak: (could not show the log)\n");
}
