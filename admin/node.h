/* admin/node.h — this server's name among the nodes sharing one PostgreSQL store
 * (--node-id): the subscriptions rows it writes carry it, and it stops only its own at
 * start-up. Stable across restarts by default, so a restarted node finds its rows. */
#ifndef FANOUT_ADMIN_NODE_H
#define FANOUT_ADMIN_NODE_H

#include <stddef.h>

/* The node id: configured (non-empty) as is, else "HOSTNAME:DIR" with DIR the data
 * directory's absolute path (one data directory serves one server at a time), bytes
 * outside [A-Za-z0-9._:/@-] replaced by '_' and cut to its last cap - 1 bytes (the tail
 * of a path tells nodes apart). Never fails; any thread. */
void node_id_resolve(const char *configured, const char *data_dir, char *out, size_t cap);

#endif
