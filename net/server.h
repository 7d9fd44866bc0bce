/* net/server.h — the TCP server on one reactor: sessions indexed by connection slot,
 * the publish path, and the list of sessions with something to send. With several
 * reactors (net/engine.h) each runs one: it appends to the partitions it owns (its own
 * publishers' events and those other reactors hand it), hands the rest to their owners,
 * and routes the logs its subscribers read, woken when their tails move.
 * Single-threaded: the reactor's thread, except net_server_free on the main thread after
 * every reactor stopped. */
#ifndef FANOUT_NET_SERVER_H
#define FANOUT_NET_SERVER_H

#include <signal.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/budget.h"
#include "core/config.h"
#include "core/reactor.h"
#include "core/topic.h"
#include "ingest/publish.h"
#include "ingest/route.h"
#include "net/interest.h"
#include "net/latency.h"
#include "net/route_cache.h"
#include "net/session.h"
#include "net/stats.h"

/* A partition with exact-key subscriptions: its new entries are handed to the key index. */
struct net_watch {
	struct log *log;
	struct topic *topic;
	uint32_t partition;
	uint32_t refs;			/* indexed subscriptions on its topic */
	struct log_cursor routed;	/* entries below were handed to the key index */
};

/* A topic's wildcard subscriptions, routed through the route cache. */
/* A subscription that ended owing audit-required events: end[p] is partition p's bound
 * (the tail, or past its newest audit-required event, when it ended). */
struct net_audit_end {
	struct subscription *sub;
	uint64_t *end;
};

struct net_wild {
	struct topic *topic;
	uint64_t gen;			/* changes with every subscription that comes or goes */
	uint32_t n, cap;
	struct subscription **subs;
};

struct net_engine;
struct net_tls;

#define SERVER_TEST_KILL_ENV "FANOUT_TEST_KILL_AT_SEQUENCE"

struct net_server {
	struct reactor reactor;
	uint32_t id;			/* this reactor's number */
	struct net_engine *eng;		/* the other reactors (lanes, wake-ups) */
	struct topic_table *topics;
	const struct config *cfg;
	struct publish_ctx publish;
	struct executor *sync_exec;	/* --fsync batch: acks wait for its syncs; else NULL */
	_Atomic bool named_pending;	/* a FAILOVER consumer here is to take over */
	/* A batch an idempotent producer sends again: where its events were stored
	 * (producer_begin), PUBLISH_BATCH_MAX entries each. */
	uint64_t *known;
	uint32_t *known_part;
	/* Test hook (SERVER_TEST_KILL_ENV): the server SIGKILLs itself right after storing
	 * this sequence of an idempotent producer (its other reactors' events not yet
	 * appended): a crash mid-batch, on purpose. 0 = off. */
	uint64_t test_kill_seq;
	struct route_ctx route;		/* split and routing rules for publish */
	uint32_t *waiting;		/* slots of sessions with unanswered batches */
	uint32_t nwaiting;
	struct session_batch **orphans;	/* batches of closed sessions other reactors
					 * still append: freed when done */
	uint32_t norphans, orphans_cap;
	uint64_t xr_applied;		/* events other reactors handed this one */
	uint32_t xr_next;		/* the lane net_xr_apply starts with */
	struct arena arena;		/* decoding client frames, reset per frame */
	struct arena match_arena;	/* decoding log frames to match keys, reset per frame */
	struct session *sessions;	/* one per reactor slot */
	uint32_t *active;		/* slots of sessions needing a flush check */
	uint32_t nactive;
	/* Some open connection has priority (a subscription to a topic of priority > 0, or
	 * a recent publish to one): flushes go by priority and the reactor prioritises its
	 * input. Set by session_priority_update and on such a publish, cleared before each
	 * police pass (which sets it again for those that still have priority). */
	bool priority_any;
	uint64_t flush_turn;		/* net_flush_active's calls (session.flushed_turn) */
	uint32_t *open;			/* slots of every open session: the police pass
					 * walks these, not every slot */
	uint32_t nopen;
	char bound[80];			/* the address actually listened on */
	int64_t police_at_ns;		/* next lag and close-deadline pass */
	struct interest interest;	/* exact keys -> indexed subscriptions */
	struct net_watch *watches;	/* partitions the key index routes */
	uint32_t nwatches, watches_cap;
	struct net_wild *wilds;		/* topics with wildcard subscriptions */
	uint32_t nwilds, wilds_cap;
	uint64_t wild_gen;		/* the last generation handed out */
	struct route_cache route_cache;	/* key -> wildcard subscriptions */
	uint64_t route_offered[TOPIC_PARTITIONS_MAX];	/* sub_overflow's argument */
	void **route_scratch;		/* one answer being computed */
	uint32_t route_scratch_cap;
	/* What clients make this reactor hold, bounded by --reactor-memory-bytes; also its
	 * memory report (read-only for other threads: net_server_budget). */
	struct budget budget;
	struct net_stats stats;		/* read by the admin plane (net/stats.h) */
	struct net_latency latency;	/* sampled receive → send times (net/latency.h), read
					 * by the admin plane too */
	struct net_latency latency_priority;	/* the same for frames of topics with a
						 * priority above 0 only (also in latency) */
	/* Audit-required events (net/audit.h): the queue to the admin thread, the slots of
	 * it promised to sends in flight, and subscriptions that ended owing such events,
	 * whose backlogs are walked a bounded step per police pass (net_server_audit_end). */
	struct audit_queue *audit;
	uint32_t audit_reserved;
	struct net_audit_end *audit_ends;
	uint32_t naudit_ends, audit_ends_cap;
	/* TLS on TCP connections (net/tls.h) when the engine has a context: one per slot,
	 * in use while tls[slot].ssl. Plaintext scratch, NET_TLS_RECORD_BYTES each: one
	 * decrypted record being parsed, and one for sealing (a parse may send at once). */
	struct net_tls *tls;
	uint8_t *tls_scratch, *tls_seal;
	int64_t tls_said_ns;		/* the last TLS failure logged */
	uint64_t tls_unsaid;		/* failures since, not logged */
};

/* Sets up reactor id of eng and listens on listen. rules may be NULL. Returns 0 or
 * -errno. The reactor's own thread. */
int net_server_init(struct net_server *srv, struct net_engine *eng, uint32_t id,
		    const char *listen, struct topic_table *topics, const struct config *cfg,
		    const struct rules_set *rules);

/* Serves until *stop, then drains pending sends (bounded by drain_ms). Returns 0 or -errno. */
int net_server_run(struct net_server *srv, volatile sig_atomic_t *stop, int drain_ms);

void net_server_free(struct net_server *srv);

/* Sends bytes of msg on c for its session: straight to the reactor, or sealed by c's
 * TLS session (then sent by copy, and session_sent hears of it once all of its
 * ciphertext is out). flags as reactor_send's. Returns 0 or -errno. */
int net_server_send(struct net_server *srv, struct reactor_conn *c, struct msghdr *msg,
		    size_t bytes, unsigned flags);

/* Audit queue slots a gather may fill now (net/audit.h). */
uint32_t net_server_audit_room(const struct net_server *srv);

/* Queues audit records the caller had room for (net_server_audit_room), stamping at_ns
 * and, unless 0, kind; reserved of them were promised to a send and are released. */
void net_server_audit_push(struct net_server *srv, struct audit_rec *r, uint32_t n,
			   uint8_t kind, uint32_t reserved);

/* Takes an ending subscription (still watched, if indexed) and frees it: at once when it
 * owes no audit-required event, else once its backlog has been walked and each owed
 * event recorded AUDIT_FAILED. */
void net_server_audit_end(struct net_server *srv, struct subscription *sub);

/* Frees the ended subscriptions of tp (being removed) still walking their backlogs. */
void net_server_audit_drop(struct net_server *srv, const struct topic *tp);

/* Puts a session on the active list (idempotent). */
void net_server_activate(struct net_server *srv, struct session *s);

/* Puts a session with unanswered batches on the waiting list (idempotent): each turn
 * its events are handed over and its finished batches answered. */
void net_server_wait(struct net_server *srv, struct session *s);

/* Hands t's remaining remote events to their owners, in order, as far as the lanes have
 * room. Returns true when a lane was full. */
bool net_server_handoff(struct net_server *srv, struct publish_ticket *t);

/* A closing session's batch that other reactors still append: the server frees it once
 * they are done. */
void net_server_orphan(struct net_server *srv, struct session_batch *b);

/* Registers an indexed subscription's keys with the key index and watches its topic's
 * partitions. Returns 0 or -ENOMEM (nothing registered). */
int net_server_watch(struct net_server *srv, struct subscription *sub);

/* Undoes net_server_watch. */
void net_server_unwatch(struct net_server *srv, struct subscription *sub);

/* Reactor srv's memory budget and counters, for any thread to read (relaxed loads of
 * the _Atomic fields; core/budget.h): the admin plane's /metrics, fanoutd's log line. */
static inline const struct budget *net_server_budget(const struct net_server *srv)
{
	return &srv->budget;
}

/* Logs an informational line unless the server runs --quiet. */
void net_server_info(const struct net_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
