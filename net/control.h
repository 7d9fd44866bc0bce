/* net/control.h — the admin plane's commands to the reactors: one bounded SPSC queue per
 * reactor (ck_ring; the admin thread the only producer, the reactor the only consumer),
 * a wake-up after each post (MSG_RING from a small io_uring of the admin thread's own, or
 * the reactor's eventfd), drained by the reactor once per turn in its idle hook.
 *
 * The reactors own their connections and subscriptions: the admin thread never touches
 * them. It asks, and the reactor answers by filling the command and publishing its
 * state (release); the admin thread waits for that (acquire) with a bound. A reactor
 * never waits for the admin thread: a full queue is the admin's problem (-EAGAIN), and
 * a command the admin stopped waiting for is freed by the reactor when it gets to it.
 *
 * Commands:
 *   CONTROL_SUBS_LIST  copy the reactor's live subscriptions (optionally of one topic)
 *                      into cmd->subs, at most cmd->cap; cmd->n copied, cmd->total seen;
 *                      and the topic of each connection's last accepted batch into
 *                      cmd->producers (the topics' producers), cmd->nproducers of them
 *   CONTROL_SUB_END    end subscription cmd->serial with an Error SUBSCRIPTION_ENDED
 *                      saying cmd->message; cmd->n = 1 if this reactor had it
 *   CONTROL_TOPIC_DROP a removed topic (core/topic.h topic_remove) goes: every
 *                      subscription on it ends with an Error saying cmd->message
 *                      (cmd->n counts them) and the state becomes CONTROL_ENDED; the
 *                      reactor then keeps checking, once per turn at most every 10 ms,
 *                      until nothing of its own can still touch the topic's memory — no
 *                      publish batch of its connections with events for the topic still
 *                      waiting on another reactor, no send that was in flight when the
 *                      subscriptions ended — and sets CONTROL_DONE. The topic may be
 *                      destroyed after every reactor is DONE and a grace period (the
 *                      caller's epoch_synchronize). Drops are never abandoned.
 *
 * Thread contracts: control_init/control_free by the main thread around the reactors'
 * lives; control_post/control_wait/control_abandon by one admin thread; the _reactor
 * functions by the reactor named. */
#ifndef FANOUT_NET_CONTROL_H
#define FANOUT_NET_CONTROL_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <ck_ring.h>

#include "core/topic.h"
#include "net/stats.h"

#define CONTROL_QUEUE_SLOTS 64u		/* commands waiting per reactor (power of two) */
#define CONTROL_DROPS_MAX   TOPIC_REMOVING_MAX	/* drops a reactor follows at once */
#define CONTROL_DROP_CHECK_NS (10 * 1000 * 1000ll)	/* a drop's re-check interval */
#define CONTROL_MESSAGE_BYTES 256u
#define CONTROL_PATTERNS_BYTES 128u	/* of a subscription's patterns, for listings */

enum control_op {
	CONTROL_SUBS_LIST = 1,
	CONTROL_SUB_END,
	CONTROL_TOPIC_DROP,
};

enum control_state {
	CONTROL_PENDING = 0,	/* posted, the reactor has not finished it */
	CONTROL_ENDED,		/* drops only: subscriptions ended, memory still in use */
	CONTROL_DONE,		/* answered; the admin thread owns the command again */
	CONTROL_ABANDONED,	/* the admin thread stopped waiting: the reactor frees it */
};

/* One live subscription, as a listing shows it. topic is compared and read (name,
 * partitions) by the admin thread, which alone destroys topics. */
struct control_sub_info {
	const struct topic *topic;
	struct sub_stats stats;		/* serial, since, bytes out, ... */
	uint32_t conn;			/* connection slot on its reactor */
	uint32_t sub_id;		/* the client's subscription_id */
	uint64_t delivered;		/* frames gathered */
	uint64_t lag_events, lag_bytes;	/* at the last 100 ms check (worst partition) */
	uint64_t acked_offset;
	int64_t connected_ns;		/* the connection's accept */
	uint32_t npatterns;
	bool filter, shm, wild;
	char client_name[NET_CLIENT_NAME_MAX];
	char patterns[CONTROL_PATTERNS_BYTES];	/* space-separated, cut at the bound */
};

struct control_cmd {
	enum control_op op;
	_Atomic int state;			/* enum control_state */
	const struct topic *topic;		/* LIST filter (NULL = all), DROP */
	uint64_t serial;			/* SUB_END */
	char message[CONTROL_MESSAGE_BYTES];	/* SUB_END, DROP: the Error's reason */
	struct control_sub_info *subs;		/* LIST: cap entries, the admin's */
	uint32_t cap;
	const struct topic **producers;		/* LIST: conns_cap entries */
	uint32_t nproducers;
	uint32_t conns_cap;			/* of producers (LIST) or sending (DROP) */
	/* Answers, valid once the state is ENDED (DROP) or DONE. */
	uint32_t n;
	uint32_t total;				/* LIST: live subscriptions matching */
	/* Reactor-private while a drop is followed. */
	uint32_t *sending;			/* slots that were sending at the drop */
	uint32_t nsending;
	int64_t check_ns;
};

struct control_queue {
	ck_ring_t ring;
	ck_ring_buffer_t buf[CONTROL_QUEUE_SLOTS];
	/* Reactor-private: drops being followed until DONE. */
	struct control_cmd *drops[CONTROL_DROPS_MAX];
	uint32_t ndrops;
} __attribute__((aligned(64)));

struct control {
	uint32_t n;
	struct control_queue *q;	/* n, one per reactor */
	struct io_uring ring;		/* the admin thread's, for MSG_RING wake-ups */
	bool have_ring;
};

struct net_server;
struct net_engine;
struct subscription;

/* Allocates n queues. Returns 0 or -ENOMEM. */
int control_init(struct control *c, uint32_t n);

/* Frees the queues (after the reactors stopped; commands still queued are the admin's). */
void control_free(struct control *c);

/* Allocates a command (zeroed, PENDING) with room for its answers, so a reactor never
 * allocates for one: LIST cap subscriptions and conns_cap producers; DROP conns_cap
 * sending slots. conns_cap must be the reactor's connection slots (--max-connections).
 * NULL on ENOMEM. Admin thread. */
struct control_cmd *control_cmd_new(enum control_op op, uint32_t cap, uint32_t conns_cap);

/* Frees a command the admin thread owns (DONE, or never posted). */
void control_cmd_free(struct control_cmd *cmd);

/* Queues cmd for reactor r of e and wakes it. Returns 0, or -EAGAIN when its queue is
 * full (the reactor is stuck: nothing was queued). Admin thread. */
int control_post(struct net_engine *e, uint32_t r, struct control_cmd *cmd);

/* Wakes reactor r now (the admin thread: it made room the reactor may be waiting for). */
void control_wake_reactor(struct net_engine *e, uint32_t r);

/* Waits until cmd reaches state (CONTROL_DONE, or CONTROL_ENDED for a drop), at most
 * timeout_ms. Returns 0, or -ETIMEDOUT. Admin thread. */
int control_wait(struct control_cmd *cmd, int state, int timeout_ms);

/* Gives up on a command that timed out: the reactor frees it when it answers, or the
 * caller frees it now if it already did. Never for a drop. Admin thread. */
void control_abandon(struct control_cmd *cmd);

/* After every reactor and the admin thread have stopped: frees the commands still queued
 * that the admin thread gave up on (a stopping reactor no longer runs its queue); the
 * others are the admin thread's to free. */
void control_drain(struct control *c);

/* Registers a new subscription's admin record (its serial, reactor, start). The
 * subscription's reactor, at subscribe. */
void net_control_sub_started(struct net_server *srv, struct subscription *sub, int start);

/* Copies a client's name (from Hello) into its session's record, truncated. */
void net_control_client_name(struct session_stats *st, const char *name);

/* Runs the commands queued for srv's reactor (at most CONTROL_QUEUE_SLOTS), follows its
 * drops, and copies the counters kept elsewhere into srv->stats (net/stats.h). Once per
 * turn from the idle hook, in the turn's epoch section. The reactor's thread. */
void net_control_turn_reactor(struct net_server *srv);

#endif
