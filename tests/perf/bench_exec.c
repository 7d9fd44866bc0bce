/* tests/perf/bench_exec.c — see bench_exec.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench_exec.h"

#define CAPTURE_MAX (1u << 20)	/* bytes kept of each stream */
#define CHILDREN_MAX 64

static char tmpdir[] = "/tmp/fanout-bench-test.XXXXXX";

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) ? -1 : 0;
}

static void remove_tmpdir(void)
{
	if (nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "# could not remove %s: %s\n", tmpdir, strerror(errno));
}

void bexec_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		fprintf(stderr, "# PR_SET_CHILD_SUBREAPER: %s (orphans go to init)\n", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir) || setenv("TMPDIR", tmpdir, 1)) {
		perror("# mkdtemp/setenv TMPDIR");
		exit(1);
	}
	atexit(remove_tmpdir);
}

const char *bexec_tmpdir(void)
{
	return tmpdir;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sink {
	int fd;
	char *buf;
	size_t len;
};

/* Reads what fd has into s; closes it at end of stream. */
static void drain_fd(struct sink *s)
{
	char tmp[4096];
	ssize_t n = read(s->fd, tmp, sizeof(tmp));

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	if (s->len + (size_t)n < CAPTURE_MAX) {
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
}

static pid_t start(const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid(), pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		/* If the test dies (a runner's timeout kill), fanout-bench gets SIGTERM and
		 * stops its server as it does for a Ctrl-C. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int wait_status(pid_t pid, int options)
{
	int st;
	pid_t r;

	do
		r = waitpid(pid, &st, options);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void bexec_run(struct bexec *x, const char *const *argv)
{
	int po[2], pe[2];
	struct sink s[2];
	int64_t deadline = now_ms() + BEXEC_TIMEOUT_S * 1000;
	pid_t pid;

	memset(x, 0, sizeof(*x));
	fprintf(stderr, "#");
	for (const char *const *a = argv; *a; a++)
		fprintf(stderr, " %s", *a);
	fprintf(stderr, "\n");
	assert_int_equal(pipe2(po, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
	pid = start(argv, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	s[0] = (struct sink){ .fd = po[0], .buf = calloc(1, CAPTURE_MAX) };
	s[1] = (struct sink){ .fd = pe[0], .buf = calloc(1, CAPTURE_MAX) };
	assert_true(s[0].buf && s[1].buf);
	while ((s[0].fd >= 0 || s[1].fd >= 0) && now_ms() < deadline) {
		struct pollfd p[2] = { { .fd = s[0].fd, .events = POLLIN },
				       { .fd = s[1].fd, .events = POLLIN } };

		if (poll(p, 2, 1000) <= 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (p[i].revents)
				drain_fd(&s[i]);
	}
	for (int i = 0; i < 2; i++)
		if (s[i].fd >= 0)
			close(s[i].fd);
	if (now_ms() >= deadline) {
		fprintf(stderr, "# fanout-bench still running after %d s: killing it\n", BEXEC_TIMEOUT_S);
		kill(pid, SIGKILL);
	}
	x->status = wait_status(pid, 0);
	x->out = s[0].buf;
	x->err = s[1].buf;
	x->json = json_loads(x->out, 0, NULL);
	fprintf(stderr, "#   exit status %d after %.1f s\n", x->status,
		(double)(now_ms() - (deadline - BEXEC_TIMEOUT_S * 1000)) / 1e3);
	if (x->status != 0)
		fprintf(stderr, "# stderr:\n%s", x->err);
}

void bexec_free(struct bexec *x)
{
	free(x->out);
	free(x->err);
	json_decref(x->json);
	memset(x, 0, sizeof(*x));
}

pid_t bexec_spawn(const char *const *argv)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid;

	assert_true(null >= 0);
	pid = start(argv, null, null);
	close(null);
	return pid;
}

/* Reads the pids of parent's children into pids (its main thread's list: fanout-bench
 * starts servers from there). Returns how many. */
static int children(pid_t parent, pid_t *pids, int max)
{
	char path[64];
	FILE *f;
	int n = 0;
	long v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (n < max && fscanf(f, "%ld", &v) == 1)
		pids[n++] = (pid_t)v;
	fclose(f);
	return n;
}

static bool comm_is(pid_t pid, const char *comm)
{
	char path[64], name[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(name, sizeof(name), f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return strcmp(name, comm) == 0;
}

pid_t bexec_find_child(pid_t parent, const char *comm, int timeout_ms)
{
	for (int64_t end = now_ms() + timeout_ms; now_ms() < end; usleep(20000)) {
		pid_t pids[CHILDREN_MAX];
		int n = children(parent, pids, CHILDREN_MAX);

		for (int i = 0; i < n; i++)
			if (!comm || comm_is(pids[i], comm))
				return pids[i];
	}
	return -1;
}

int bexec_wait(pid_t pid, int timeout_ms)
{
	for (int64_t end = now_ms() + timeout_ms; now_ms() < end; usleep(20000)) {
		int st = wait_status(pid, WNOHANG);

		if (st >= 0)
			return st;
	}
	return -1;
}

int bexec_kill_children(void)
{
	pid_t pids[CHILDREN_MAX];
	int n = children(getpid(), pids, CHILDREN_MAX);

	for (int i = 0; i < n; i++) {
		fprintf(stderr, "# leftover child %d: killing it\n", (int)pids[i]);
		kill(pids[i], SIGKILL);
		wait_status(pids[i], 0);
	}
	while (wait_status(-1, WNOHANG) >= 0)	/* zombies already gone from the list */
		;
	return n;
}

json_int_t bexec_int(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("'%s' is missing or not an integer", k);
	return json_integer_value(v);
}
