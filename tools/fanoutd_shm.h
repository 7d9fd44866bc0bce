/* tools/fanoutd_shm.h — fanoutd's shared-memory rings: the net/sink.h functions over
 * shm/ring_writer.h (net/ may not depend on shm/; fanoutd ties them), and the start-up
 * sweep of rings a dead server left behind. */
#ifndef FANOUT_TOOLS_FANOUTD_SHM_H
#define FANOUT_TOOLS_FANOUTD_SHM_H

#include "core/config.h"
#include "net/sink.h"

/* Fills ops for cfg (its --shm-* settings); sweeps stale rings from cfg->shm_dir first.
 * Returns 0, or -errno when the directory cannot be used (a message is on stderr). */
int fanoutd_shm_init(struct net_sink_ops *ops, const struct config *cfg);

#endif
