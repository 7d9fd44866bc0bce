/* tools/fanoutd_shm.h — fanoutd's shared-memory rings: the net/sink.h functions over
 * shm/ring_writer.h (net/ may not depend on shm/; fanoutd ties them), the Unix socket
 * rings are asked for on (tools/fanoutd_shm_sock.h), and the bounds every ring counts
 * against: its size, rings per connection, all rings' bytes, the attach timeout. */
#ifndef FANOUT_TOOLS_FANOUTD_SHM_H
#define FANOUT_TOOLS_FANOUTD_SHM_H

#include "core/config.h"
#include "net/sink.h"

/* Fills ops for cfg (its --shm-* settings) and listens on the rings' socket (--shm-socket,
 * default DATA_DIR/shm.sock; the data directory must exist). Returns 0, or -errno when the
 * socket or the group cannot be had (a message is on stderr). Main thread, at start-up. */
int fanoutd_shm_init(struct net_sink_ops *ops, const struct config *cfg);

/* Closes and removes the socket; nothing for ops never initialised (zeroed). Main thread,
 * after the reactors stopped. */
void fanoutd_shm_fini(struct net_sink_ops *ops);

/* The Unix socket's path after fanoutd_shm_init (the protocol is spoken there too). */
const char *fanoutd_shm_socket(void);

#endif
