/* tests/soak/soak_pub.h — a publisher of numbered events on its own routing keys, at a
 * bounded rate, with a window of batches in flight. Before a batch goes on the wire each
 * of its events' send count is raised; each ack's (partition, offset) is written into the
 * publisher's shared record. After a lost connection (a server kill) or its own SIGKILL
 * it reconnects and first resends, in sequence order, every event not yet acknowledged:
 * without idempotent publish such an event may be stored twice, and its send count tells
 * the checker that the second copy was allowed. Once the driver sets stop_new it makes
 * nothing new and exits when every event it made is acknowledged. */
#ifndef FANOUT_TESTS_SOAK_PUB_H
#define FANOUT_TESTS_SOAK_PUB_H

/* Client process entry (arg: struct soak_ctx *). Returns 0 when drained or stopped. */
int soak_pub_main(void *arg);

#endif
