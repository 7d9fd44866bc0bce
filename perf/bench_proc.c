/* perf/bench_proc.c — starting and stopping server processes, temporary directories,
 * loopback sockets. Processes are stopped by the pid this file started, never by name,
 * and die with fanout-bench (PR_SET_PDEATHSIG) if it is killed before it can stop them. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "perf/bench.h"

#define SETUP_IO_TIMEOUT_S 10	/* blocking set-up reads and writes (subscribe, hello) */
#define WRITE_STALL_MS 10000	/* a peer that takes nothing for this long is stuck */
#define PEER_START_TRIES 3
#define PEER_START_TIMEOUT_MS 10000
#define LOG_TAIL_BYTES 2048

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	return a;
}

int bench_free_port(void)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -EIO;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int bench_tmpdir(struct bench_run *r)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base || strlen(base) > sizeof(r->tmpdir) - 32)
		base = "/tmp";
	snprintf(r->tmpdir, sizeof(r->tmpdir), "%s/fanout-bench.XXXXXX", base);
	if (!mkdtemp(r->tmpdir)) {
		int e = errno;

		fprintf(stderr, "fanout-bench: mkdtemp %s: %s\n", r->tmpdir, strerror(e));
		r->tmpdir[0] = '\0';
		return -e;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) ? -1 : 0;
}

void bench_rmtree(const char *dir)
{
	if (dir[0] && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "fanout-bench: could not remove %s: %s\n", dir, strerror(errno));
}

int bench_spawn(char *const *argv, const char *log)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		/* Own process group: a Ctrl-C or a test runner's kill of ours does not race
		 * bench_stop_pid. Dies with us however we die (only the forking thread counts:
		 * servers are started from the main thread). */
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

void bench_stop_pid(int pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {	/* 5 s, then SIGKILL */
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

void bench_log_tail(const char *path)
{
	char buf[LOG_TAIL_BYTES + 1];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return;
	if (fseek(f, -LOG_TAIL_BYTES, SEEK_END))
		rewind(f);
	n = fread(buf, 1, LOG_TAIL_BYTES, f);
	fclose(f);
	buf[n] = '\0';
	fprintf(stderr, "--- %s (end) ---\n%s%s", path, buf, n && buf[n - 1] != '\n' ? "\n" : "");
}

int bench_connect_tcp(int port)
{
	struct sockaddr_in a = loopback(port);
	struct timeval tv = { .tv_sec = SETUP_IO_TIMEOUT_S };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* 0 when port accepts connections; -ENOENT when pid could not exec its program,
 * -ECHILD when it exited otherwise (the port was taken, say), -ETIMEDOUT. */
static int wait_port(int port, int pid, int timeout_ms)
{
	int st;

	for (int i = 0; i < timeout_ms / 20; i++) {
		int fd = bench_connect_tcp(port);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT : -ECHILD;
		usleep(20000);
	}
	return -ETIMEDOUT;
}

int bench_peer_start(struct bench_run *r, char *const *argv, char *port_arg,
		     const char *package)
{
	char log[sizeof(r->tmpdir) + 32];
	int rc = bench_tmpdir(r);

	if (rc)
		return rc;
	snprintf(log, sizeof(log), "%s/%s.log", r->tmpdir, r->drv->name);
	for (int try = 0; try < PEER_START_TRIES; try++) {
		int port = bench_free_port();

		if (port < 0)
			return port;
		snprintf(port_arg, 16, "%d", port);
		snprintf(r->addr, sizeof(r->addr), "127.0.0.1:%d", port);
		r->server_pid = bench_spawn(argv, log);
		if (r->server_pid < 0)
			return r->server_pid;
		rc = wait_port(port, r->server_pid, PEER_START_TIMEOUT_MS);
		if (rc == 0)
			return 0;
		if (rc == -ETIMEDOUT)
			bench_stop_pid(r->server_pid);
		r->server_pid = -1;
		if (rc == -ENOENT) {
			fprintf(stderr, "fanout-bench: cannot run %s: is the Debian package %s "
				"installed?\n", argv[0], package);
			return rc;
		}
		/* Exited: most likely another process took the port after we chose it. */
	}
	fprintf(stderr, "fanout-bench: %s did not start on 127.0.0.1 (%d tries)\n", argv[0],
		PEER_START_TRIES);
	bench_log_tail(log);
	return rc;
}

int bench_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ? -errno : 0;
}

/* Writes all of p to a blocking or non-blocking socket; on a full socket waits for room
 * (the peer's backpressure), giving up after WRITE_STALL_MS without progress. */
int bench_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int rc = poll(&pfd, 1, WRITE_STALL_MS);

			if (rc == 0)
				return -ETIMEDOUT;
			if (rc < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

#define CUT_IDLE_MS 300		/* nothing more for this long: the server still holds it */
#define CUT_LIMIT_MS 3000	/* bound on one check, however much is left to read */

int bench_tcp_cut(struct bench_run *r, struct bench_sub *s)
{
	int64_t start = clock_monotonic_ns();

	(void)r;
	if (s->fd < 0)
		return -EBADF;	/* never connected: nothing to tell */
	/* Publishing is over, so what is left is bounded: the socket buffers, plus (fanoutd)
	 * the SLOW_CONSUMER Error, after which the server closes at once. */
	while (clock_monotonic_ns() - start < CUT_LIMIT_MS * 1000000LL) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		ssize_t n;
		int rc = poll(&pfd, 1, CUT_IDLE_MS);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return 0;
		n = read(s->fd, s->buf, BENCH_SUB_BUF_BYTES);
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 1;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return 0;	/* still sending after CUT_LIMIT_MS: not cut */
}
