/* net/sink.h — where a subscription's frames go when not to its socket: a shared-memory
 * ring for a consumer on the same host (Subscribe.shm_ring_bytes). net/ sits above shm/
 * in the layers, so the ring is plugged in here by fanoutd (tools/fanoutd_shm.c) as a
 * table of functions; without one, rings are refused with SHM_UNAVAILABLE.
 *
 * A sink is written by the reactor owning the subscription's connection, as that
 * subscription's frames are gathered (each turn, never waiting on the consumer). */
#ifndef FANOUT_NET_SINK_H
#define FANOUT_NET_SINK_H

#include <stddef.h>
#include <stdint.h>

/* What a sink is opened for. */
struct net_sink_req {
	const char *topic;
	uint32_t partitions;
	uint32_t reactor, conn, sub_id;	/* to name it uniquely */
	uint64_t bytes;			/* the ring size asked for */
};

struct net_sink_ops {
	void *ctx;
	const char *data_dir;		/* told to consumers, for their recovery */
	/* Creates a sink. Returns it with *path set (valid until close), or NULL with a
	 * reason in err. Control plane. */
	void *(*open)(void *ctx, const struct net_sink_req *req, const char **path, char *err,
		      size_t errcap);
	/* Copies one committed frame in. Returns 0 or -errno (the frame cannot fit). */
	int (*write)(void *sink, const uint8_t *frame, uint32_t len, uint32_t partition,
		     uint64_t offset, uint64_t recv_ns);
	/* Whether a consumer has attached: until one has, nothing is written, so history
	 * asked for (an early start) waits for its reader instead of lapping an empty ring. */
	bool (*attached)(void *sink);
	/* After a turn's writes: wakes sleeping consumers. */
	void (*flush)(void *sink);
	/* One line about the sink's consumers (count, lag) into buf. */
	void (*report)(void *sink, char *buf, size_t cap);
	/* Removes the sink (consumers see it closed). */
	void (*close)(void *sink);
};

#endif
