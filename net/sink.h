/* net/sink.h — where a subscription's frames go when not to its socket: a shared-memory
 * ring for a consumer on the same host (Subscribe.shm_ring_bytes). net/ sits above shm/
 * in the layers, so the ring is plugged in here by fanoutd (tools/fanoutd_shm.c) as a
 * table of functions; without one, rings are refused with SHM_UNAVAILABLE.
 *
 * Rings are asked for on a Unix socket only (listen_fd, accepted by every reactor as
 * reactor_conn.local connections), by peers admit allows; the ring reaches the consumer
 * as descriptors passed with the SubscribeResult (SCM_RIGHTS), never as a file.
 *
 * A sink is written by the reactor owning the subscription's connection, as that
 * subscription's frames are gathered (each turn, never waiting on the consumer). open,
 * admit and close may run on any reactor at once: the budgets they keep are atomic. */
#ifndef FANOUT_NET_SINK_H
#define FANOUT_NET_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a sink is opened for. */
struct net_sink_req {
	const char *topic;
	uint32_t partitions;
	uint32_t reactor, conn, sub_id;	/* to name it uniquely */
	uint32_t conn_rings;		/* rings the connection holds already */
	uint64_t bytes;			/* the ring size asked for */
};

struct net_sink_ops {
	void *ctx;
	const char *data_dir;		/* told to consumers, for their recovery */
	const char *socket_path;	/* the Unix socket rings are asked for on */
	int listen_fd;			/* listening on socket_path; the reactors accept on
					 * duplicates of it */
	/* Whether the peer of Unix connection fd may have rings (its SO_PEERCRED user and
	 * groups against the server's policy). Returns 0, or -1 with the reason, naming
	 * who may, in err. Control plane. */
	int (*admit)(void *ctx, int fd, char *err, size_t errcap);
	/* Creates a sink within the server's bounds (ring size, rings per connection, all
	 * rings' bytes). Returns it with *name set (for logs; valid until close) and
	 * fds[0], fds[1] the ring's two descriptors to pass to the consumer (the caller
	 * closes them once passed), or NULL with a reason in err. Control plane. */
	void *(*open)(void *ctx, const struct net_sink_req *req, const char **name, int fds[2],
		      char *err, size_t errcap);
	/* Copies one committed frame in. Returns 0 or -errno (the frame cannot fit). */
	int (*write)(void *sink, const uint8_t *frame, uint32_t len, uint32_t partition,
		     uint64_t offset, uint64_t recv_ns);
	/* Whether a consumer has attached: until one has, nothing is written, so history
	 * asked for (an early start) waits for its reader instead of lapping an empty ring.
	 * Returns 1 attached, 0 not yet, or -ETIMEDOUT when nobody attached within
	 * --shm-attach-timeout-ms (the caller then ends the subscription). */
	int (*attached)(void *sink);
	/* After a turn's writes: wakes sleeping consumers. */
	void (*flush)(void *sink);
	/* One line about the sink's consumers (count, lag) into buf. */
	void (*report)(void *sink, char *buf, size_t cap);
	/* Removes the sink (consumers see it closed) and gives its bytes back. */
	void (*close)(void *sink);
};

#endif
