/* tools/fanoutd_shm_sock.h — fanoutd's Unix socket for shared-memory rings: making it with
 * exactly the mode and group asked for (a stale one replaced, a live one never), and the
 * credential check of the peers connected to it (SO_PEERCRED, SO_PEERGROUPS).
 * Control plane: start-up, and admissions from any reactor (no shared state). */
#ifndef FANOUT_TOOLS_FANOUTD_SHM_SOCK_H
#define FANOUT_TOOLS_FANOUTD_SHM_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who may have rings: root, the server's user, and members of the group if set. */
struct shm_sock_policy {
	uid_t server_uid;
	bool set_group;
	gid_t group;
	char group_name[64];
};

/* Listens on a new Unix socket at path: mode 0600, or 0660 owned by the policy's group
 * (never wider while it is being made, whatever the umask). A socket left there by a
 * process that is gone is replaced; one something still listens on, or a path that is
 * not a socket, is an error. Returns the listening descriptor (close-on-exec), or -errno
 * with a message naming the path on stderr. */
int shm_sock_listen(const char *path, const struct shm_sock_policy *p);

/* Checks the peer of the connected Unix socket fd against p. Returns 0, or -1 with the
 * reason in err: the peer's pid, uid and gid, and who may have rings. */
int shm_sock_admit(int fd, const struct shm_sock_policy *p, char *err, size_t cap);

#endif
