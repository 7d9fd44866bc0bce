/* tools/fanoutd_shm_sock.c — the rings' Unix socket and who may use it. */
#include "tools/fanoutd_shm_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SHM_SOCK_BACKLOG 128
#define SHM_SOCK_GROUPS_FIRST 64u	/* supplementary groups read at first; more on ERANGE */
#define SHM_SOCK_GROUPS_MAX 65536u	/* the kernel's NGROUPS_MAX */

static int shm_sock_addr(const char *path, struct sockaddr_un *a)
{
	size_t n = strlen(path);

	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (n == 0 || n >= sizeof(a->sun_path)) {
		fprintf(stderr, "fanoutd: --shm-socket %s: a Unix socket path has 1..%zu bytes "
			"(set --shm-socket to a shorter path)\n", path, sizeof(a->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(a->sun_path, path, n + 1);
	return 0;
}

/* Clears the way for bind: nothing there, or a socket nobody listens on (a server that
 * died) which is removed. A live socket or any other file stays, and is an error. */
static int shm_sock_clear(const char *path, const struct sockaddr_un *a)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "fanoutd: --shm-socket %s exists and is not a socket\n", path);
		return -EEXIST;
	}
	/* Non-blocking: a live server with a full backlog answers EAGAIN, not a wait. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0 || errno == EAGAIN ?
	     -EADDRINUSE : errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	if (rc == -EADDRINUSE)
		fprintf(stderr, "fanoutd: --shm-socket %s: another server listens on it\n", path);
	else if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

/* The socket file's owner group and mode, set by path without following a symlink put
 * there meanwhile (lchown, AT_SYMLINK_NOFOLLOW): its directory should not be writable by
 * others, but a race there changes nothing else. */
static int shm_sock_perms(const char *path, const struct shm_sock_policy *p)
{
	if (p->set_group && lchown(path, (uid_t)-1, p->group) < 0)
		return -errno;
	if (fchmodat(AT_FDCWD, path, p->set_group ? 0660 : 0600, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int shm_sock_listen(const char *path, const struct shm_sock_policy *p)
{
	struct sockaddr_un a;
	int fd, rc;

	if ((rc = shm_sock_addr(path, &a)) < 0 || (rc = shm_sock_clear(path, &a)) < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* bind makes the file with the socket's mode less the umask: 0600 first, so it is
	 * never wider than asked, even for a moment; the group's bits come after chown. */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = -errno;
		close(fd);
		goto fail;
	}
	if ((rc = shm_sock_perms(path, p)) < 0 || listen(fd, SHM_SOCK_BACKLOG) < 0) {
		rc = rc < 0 ? rc : -errno;
		close(fd);
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	if (rc != -ENAMETOOLONG && rc != -EEXIST && rc != -EADDRINUSE)
		fprintf(stderr, "fanoutd: --shm-socket %s: %s\n", path, strerror(-rc));
	return rc;
}

/* Whether group is among the peer's supplementary groups (SO_PEERGROUPS: as they were
 * when it connected). */
static bool shm_sock_peer_has_group(int fd, gid_t group)
{
	gid_t first[SHM_SOCK_GROUPS_FIRST], *g = first;
	socklen_t len = sizeof(first);
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || len > SHM_SOCK_GROUPS_MAX * sizeof(gid_t) ||
		    !(g = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
			len = 0;	/* it changed meanwhile: not a member as far as we know */
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
		found = g[i] == group;
	if (g != first)
		free(g);
	return found;
}

int shm_sock_admit(int fd, const struct shm_sock_policy *p, char *err, size_t cap)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		snprintf(err, cap, "cannot read the peer's credentials (SO_PEERCRED): %s",
			 strerror(errno));
		return -1;
	}
	if (cr.uid == 0 || cr.uid == p->server_uid)
		return 0;
	if (p->set_group && (cr.gid == p->group || shm_sock_peer_has_group(fd, p->group)))
		return 0;
	if (p->set_group)
		snprintf(err, cap, "peer pid %d (uid %u, gid %u) may not have rings: only root, "
			 "the server's user (uid %u) and members of group %s (gid %u, "
			 "--shm-group) may", (int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid,
			 (unsigned)p->server_uid, p->group_name, (unsigned)p->group);
	else
		snprintf(err, cap, "peer pid %d (uid %u, gid %u) may not have rings: only root "
			 "and the server's user (uid %u) may (--shm-group admits a group)",
			 (int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid, (unsigned)p->server_uid);
	return -1;
}
