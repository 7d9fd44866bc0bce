/* tests/soak/soak_sub.h — a TCP subscriber of the soak topic: subscribes from the latest
 * position the first time (its SubscribeResult's positions are what it is owed from),
 * and after any loss of its connection — a server restart, its own SIGKILL and
 * restart — resumes with START_POSITION_OFFSET at its smallest next offset, skipping
 * what it already had in the other partitions. Every event goes through soak_deliver. */
#ifndef FANOUT_TESTS_SOAK_SUB_H
#define FANOUT_TESTS_SOAK_SUB_H

#include <stdint.h>

#include "tests/soak/soak_state.h"

/* Client process entry (arg: struct soak_ctx *). Returns 0 when told to stop, else
 * non-zero (a failure of the client itself). */
int soak_sub_main(void *arg);

/* The log's tail of each partition of the soak topic now (a LATEST subscription's
 * positions), over a connection of its own. Returns 0, or -errno (server down: retry). */
int soak_tails(const struct soak_cfg *c, uint64_t *tails);

#endif
