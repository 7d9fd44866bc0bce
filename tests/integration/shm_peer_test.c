/* tests/integration/shm_peer_test.c — who may have a ring: peers of other users on the
 * rings' Unix socket of a real fanoutd. Forked children drop to uid nobody (setresuid, so
 * the test runs as root; exit 77 otherwise) and attach with libfanout-shm: the socket's
 * mode keeps them out first (0600, or 0660 with --shm-group); past it (the test widens the
 * mode), the server's SO_PEERCRED check refuses them with SHM_UNAVAILABLE naming the peer
 * and who may; members of --shm-group, by primary or supplementary group, get rings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/fanout_shm.h"
#include "tests/integration/harness.h"

#define NOBODY 65534u
#define OTHER_GID 1u		/* daemon: a group that is not --shm-group */
#define SKIP 77

static int g_argc;
static char **g_argv;
static gid_t g_group;		/* --shm-group for these tests (nogroup) */
static char g_group_name[64];

struct peer {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;		/* supplementary */
	size_t ngroups;
	const char *sock;
	char err[512];			/* the child's attach error, through a pipe */
};

static const char *sock_path(const struct server *s)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s/data/shm.sock", s->dir);
	return path;
}

/* In the child: become the peer, then attach. Exits 0 attached, 1 refused by the server
 * (err written to fd), 2 connect refused by the file's mode, 3 anything else. */
static void peer_child(const struct peer *p, int fd)
{
	struct fanout_shm_attach_opts a = { .socket_path = p->sock, .topic = "md",
					    .ring_bytes = 1u << 20, .timeout_ms = 5000 };
	struct fanout_shm *r = NULL;
	char err[512] = "";
	int rc;

	if (setgroups(p->ngroups, p->groups) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0)
		_exit(3);
	rc = fanout_shm_attach(&r, &a, NULL, err, sizeof(err));
	if (write(fd, err, strlen(err) + 1) < 0)
		_exit(3);
	if (rc == 0) {
		fanout_shm_close(r);
		_exit(0);
	}
	_exit(rc == -FANOUT_SHM_E_SERVER ? 1 : rc == -EACCES ? 2 : 3);
}

/* Runs a peer in a child; returns its exit code, its message in p->err. */
static int run_peer(struct peer *p)
{
	int pfd[2], st;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		peer_child(p, pfd[1]);
	}
	close(pfd[1]);
	n = read(pfd[0], p->err, sizeof(p->err) - 1);
	p->err[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* The path down to the socket is open to everyone (the modes under test are the
 * socket's own). */
static void open_path(const struct server *s)
{
	char data[300];

	snprintf(data, sizeof(data), "%s/data", s->dir);
	assert_int_equal(chmod(s->dir, 0711), 0);
	assert_int_equal(chmod(data, 0711), 0);
}

static void start(struct server *s, bool group)
{
	const char *args[] = { "--topic", "md", "--shm-group", g_group_name, NULL };

	server_setup(s, g_argc, g_argv);
	if (!group)
		args[2] = NULL;
	server_start(s, args);
	open_path(s);
}

static void other_user_refused(void **state)
{
	struct server s;
	struct stat st;
	struct peer p = { .uid = NOBODY, .gid = NOBODY };

	(void)state;
	start(&s, false);
	p.sock = sock_path(&s);
	assert_int_equal(stat(p.sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(run_peer(&p), 2);	/* the file's mode: no connect at all */
	assert_non_null(strstr(p.err, "Permission denied"));
	assert_int_equal(chmod(p.sock, 0666), 0);	/* past the mode: the server decides */
	assert_int_equal(run_peer(&p), 1);
	if (!strstr(p.err, "SHM_UNAVAILABLE") || !strstr(p.err, "uid 65534") ||
	    !strstr(p.err, "may not have rings: only root and the server's user (uid 0)"))
		fail_msg("refusal: %s", p.err);
	p.uid = 0;	/* root, the server's own user here, may */
	assert_int_equal(run_peer(&p), 0);
	assert_int_equal(kill(s.pid, 0), 0);
	server_teardown(&s);
}

static void group_members_admitted(void **state)
{
	const gid_t member[] = { g_group };
	struct server s;
	struct stat st;
	struct peer primary = { .uid = NOBODY, .gid = g_group };
	struct peer supplementary = { .uid = NOBODY, .gid = OTHER_GID, .groups = member,
				      .ngroups = 1 };
	struct peer outsider = { .uid = NOBODY, .gid = OTHER_GID };

	(void)state;
	start(&s, true);
	primary.sock = supplementary.sock = outsider.sock = sock_path(&s);
	assert_int_equal(stat(primary.sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, g_group);
	if (run_peer(&primary) != 0)
		fail_msg("member by primary group: %s", primary.err);
	if (run_peer(&supplementary) != 0)
		fail_msg("member by supplementary group: %s", supplementary.err);
	assert_int_equal(run_peer(&outsider), 2);	/* 0660: the mode keeps it out */
	assert_int_equal(chmod(outsider.sock, 0666), 0);
	assert_int_equal(run_peer(&outsider), 1);
	if (!strstr(outsider.err, "uid 65534, gid 1") || !strstr(outsider.err, g_group_name) ||
	    !strstr(outsider.err, "--shm-group"))
		fail_msg("refusal: %s", outsider.err);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(other_user_refused),
		cmocka_unit_test(group_members_admitted),
	};
	struct group *g;

	if (geteuid() != 0) {
		fprintf(stderr, "shm_peer_test: needs root to act as other users; skipped\n");
		return SKIP;
	}
	g = getgrgid(NOBODY);	/* Debian's nogroup */
	if (!g) {
		fprintf(stderr, "shm_peer_test: no group %u; skipped\n", NOBODY);
		return SKIP;
	}
	g_group = g->gr_gid;
	snprintf(g_group_name, sizeof(g_group_name), "%s", g->gr_name);
	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
