/* net/stats.h — what the admin plane reads about the reactors while they run: counters
 * with one writer each (the reactor that owns them) stored with relaxed atomics, and the
 * small records a subscription and a session carry for the admin plane's listings.
 *
 * Contract: a counter here is written only by its reactor's thread, with
 * net_stat_add/net_stat_set (a relaxed load and store: a plain add on x86-64, no lock
 * prefix, so the hot path pays nothing for it); any thread may read it with
 * net_stat_get. Counters only grow, so a reader sees some recent value, never a torn one
 * (_Atomic uint64_t is one aligned 8-byte access). The records in struct sub_stats and
 * struct session_stats are plain: only their reactor reads or writes them, and it copies
 * them out when the admin plane asks (net/control.h). */
#ifndef FANOUT_NET_STATS_H
#define FANOUT_NET_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct topic;

static inline void net_stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void net_stat_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t net_stat_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* One reactor's counters. Those marked "mirrored" are kept elsewhere by the reactor (in
 * publish_ctx and struct reactor, plain fields) and copied here once per turn
 * (net_stats_turn), never per event. */
struct net_stats {
	_Atomic uint64_t events_in;	/* mirrored: events appended (own and handed over) */
	_Atomic uint64_t batches_in;	/* mirrored: publish batches accepted */
	_Atomic uint64_t batches_rejected;	/* mirrored */
	_Atomic uint64_t deliveries;	/* frames gathered for sockets and rings */
	_Atomic uint64_t bytes_sent;	/* bytes the kernel took (send completions) */
	_Atomic uint64_t sends;		/* sendmsg submissions */
	_Atomic uint64_t wakeups;	/* mirrored: wake-ups received from other threads */
	_Atomic uint64_t turns;		/* mirrored: loop turns */
	_Atomic uint64_t wait_ns;	/* mirrored: time inside io_uring_enter (submitting
					 * and sleeping); the rest of the turn is work */
	_Atomic uint64_t connections;	/* mirrored gauge: open connections */
	_Atomic uint64_t controls;	/* admin commands handled */
	_Atomic uint64_t tls_handshakes;	/* TLS handshakes finished */
	_Atomic uint64_t tls_failures;	/* TLS connections failed (handshake, records,
					 * no handshake in time) */
} __attribute__((aligned(64)));

/* Per subscription, for the admin plane's listings and rates. */
struct sub_stats {
	uint64_t serial;		/* unique in the process (net_engine.next_serial) */
	int64_t since_ns;		/* CLOCK_REALTIME of the subscribe */
	uint64_t bytes_out;		/* frame bytes gathered */
	uint64_t delivered_at_ack;	/* sub->delivered when the client last acked */
	uint32_t reactor;
	int start;			/* fanout.v1.StartPosition asked for */
	char name[129];			/* a named subscription's name (net/named.h), "" */
	bool resumed;			/* named: it existed, resumed after its last Ack */
	bool at_most_once;		/* named: AT_MOST_ONCE */
	uint8_t type;			/* named: enum named_type (net/named.h) */
	bool standby;			/* named FAILOVER: standing by */
};

#define NET_CLIENT_NAME_MAX 64u

/* Per connection. */
struct session_stats {
	int64_t connected_ns;		/* CLOCK_REALTIME of the accept */
	char client_name[NET_CLIENT_NAME_MAX];	/* from Hello, truncated; "" = none */
	/* The topic of the first event of the connection's last accepted batch: the admin
	 * plane counts a topic's producers with it. Compared, never dereferenced (a topic
	 * being deleted clears it: net/control.c). */
	const struct topic *last_topic;
};

#endif
