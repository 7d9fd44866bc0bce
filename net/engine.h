/* net/engine.h — the reactors together: one thread per reactor, each pinned to a CPU with
 * its memory on that CPU's NUMA node, each running its own net_server (io_uring ring,
 * connections, the partitions it owns), all on one port (SO_REUSEPORT), joined by the
 * cross-reactor lanes (core/xr) and wake-ups (reactor_wake). */
#ifndef FANOUT_NET_ENGINE_H
#define FANOUT_NET_ENGINE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/topic.h"
#include "core/xr.h"
#include "ingest/route.h"
#include "ingest/rules.h"
#include "net/audit.h"
#include "net/control.h"
#include "net/named.h"
#include "net/producer.h"
#include "net/sink.h"

struct net_server;

struct net_engine_thread {
	struct net_engine *eng;
	uint32_t id;
	int cpu;			/* pinned to; -1 if pinning failed */
	int node;			/* its NUMA node; -1 without libnuma */
	pthread_t thread;
	bool started;
	int rc;				/* init, then run: 0 or -errno */
};

struct net_engine {
	uint32_t n;
	struct net_server **servers;	/* n, each allocated by its own thread */
	struct reactor **reactors;	/* theirs, by id (reactor.peers) */
	_Atomic uint32_t quiet;		/* draining reactors with nothing in flight */
	struct net_engine_thread *threads;
	struct xr_mesh mesh;
	struct topic_table *topics;
	const struct config *cfg;
	/* The routing rules in force (NULL = none): read by every reactor inside an epoch
	 * section, replaced by net_engine_swap_rules. */
	const struct rules_set *_Atomic rules;
	const struct net_sink_ops *sinks;	/* shared-memory rings; NULL = refused */
	volatile sig_atomic_t *stop;
	int drain_ms;
	char bound[80];			/* where reactor 0 listens; the others join it */
	pthread_mutex_t lock;		/* start-up hand-shake */
	pthread_cond_t cond;
	uint32_t ready;			/* threads through init (success or not) */
	bool go;			/* every reactor is up: start serving */
	struct control control;		/* the admin plane's commands (net/control.h) */
	/* The admin thread's WebSocket streams (admin/ws.c) sleep until a log grows: that
	 * thread stores admin_armed true (seq_cst, then a fence) before it reads the tails;
	 * the first reactor to publish a tail after (publish_flush's fence, then this flag)
	 * takes the flag and writes admin_wake_fd, an eventfd. So either the thread's read
	 * sees the tail or it is woken; one write per arming, not per event. -1: none.
	 * Written by the admin thread before it first arms; never closed while running. */
	int admin_wake_fd;
	_Atomic bool admin_armed;
	_Atomic uint64_t next_serial;	/* subscriptions' serials (net/stats.h) */
	struct audit_queue *audit;	/* n: reactor i's audit records, for the admin
					 * thread (net/audit.h) */
	_Atomic bool audit_on;		/* the admin thread takes them (else none is kept) */
	struct named_registry named;	/* named subscriptions (net/named.h) */
	struct producer_registry producers;	/* idempotent producers (net/producer.h) */
	struct auth *auth;		/* tokens and permissions (core/auth.h): &auth_own,
					 * from net_engine_start on; tokens are added by the
					 * caller (the bootstrap) and the admin plane */
	struct auth auth_own;
	struct ssl_ctx_st *tls_ctx;	/* --tls-cert: the TCP port speaks TLS (net/tls.h);
					 * NULL: plain */
	bool producers_open;
};

/* The number of reactors cfg asks for: --reactors, else one fewer than the CPUs this
 * process may run on (at least 1, at most XR_REACTORS_MAX). */
uint32_t net_engine_count(const struct config *cfg);

/* Starts n reactors on their threads and waits until all listen. Returns 0, or -errno
 * after stopping whatever started (a message is on stderr). */
int net_engine_start(struct net_engine *e, uint32_t n, struct topic_table *topics,
		     const struct config *cfg, const struct rules_set *rules,
		     const struct net_sink_ops *sinks, volatile sig_atomic_t *stop, int drain_ms);

/* Waits for every reactor to stop (after *stop) and drain. Returns 0 or the first
 * reactor's -errno. */
int net_engine_wait(struct net_engine *e);

/* The rules in force. A reactor's thread, inside its turn (an epoch section). */
static inline const struct rules_set *net_engine_rules(struct net_engine *e)
{
	return atomic_load_explicit(&e->rules, memory_order_acquire);
}

/* Puts next in force and returns the rules it replaced once no reactor can be using
 * them any more (a grace period): the caller frees them. The main thread (registered
 * with core/epoch); next may be NULL. */
const struct rules_set *net_engine_swap_rules(struct net_engine *e,
					      const struct rules_set *next);

/* Totals over the reactors, for the farewell line. */
void net_engine_counts(const struct net_engine *e, uint64_t *events, uint64_t *batches,
		       uint64_t *rejected);

/* Frees the servers (closing their connections) and the lanes. Main thread, after
 * net_engine_wait. */
void net_engine_free(struct net_engine *e);

#endif
