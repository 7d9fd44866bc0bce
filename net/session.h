/* net/session.h — one client connection's protocol state: reassembling frames from the
 * byte stream, answering each ClientMessage, queueing control frames, and assembling
 * each send from control frames plus log memory.
 * Single-threaded: every function runs on the reactor owning the connection. */
#ifndef FANOUT_NET_SESSION_H
#define FANOUT_NET_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/config.h"
#include "core/reactor.h"
#include "core/topic_quota.h"
#include "ingest/publish.h"
#include "net/access.h"
#include "net/stats.h"
#include "net/subscriber.h"

#define SESSION_CTL_MIN     (4u << 10)	/* control frame buffer, at its first use */
#define SESSION_CTL_KEEP    (256u << 10)	/* an emptied buffer larger than this is freed */
#define SESSION_CTL_MAX     (8u << 20)	/* queued answers a peer may leave unread */
#define SESSION_IOV_MAX     256u		/* iovecs per send */
#define SESSION_AUDIT_MAX   64u		/* audit-required frames per send (net/audit.h) */
#define SESSION_ACK_HOLD    8u		/* Acks held while such a send is unfinished */
#define SESSION_SEND_BYTES  (256u << 10)	/* bytes gathered per send */
#define SESSION_PRIORITY_PUB_NS 1000000000ll	/* a priority topic's publisher keeps its
						 * priority this long after its last batch */
#define SESSION_STAGE_MIN   (64u << 10)
#define SESSION_HOLD_BYTES  (256u << 10)	/* held input that pauses receiving */
#define SESSION_BATCHES_MAX 64u		/* publish batches a connection has unanswered */
#define SESSION_SINK_TURN_BYTES (4u << 20)	/* copied into one ring per turn, at most */
#define SESSION_SINK_REPORT_NS (10 * 1000 * 1000 * 1000ll)	/* a ring's readers logged */
/* Ring descriptors waiting in one answer buffer for its send (two per ring): a
 * connection's rings, at most, with their SubscribeResults unsent. */
#define SESSION_PASS_FDS_MAX (2u * CONFIG_SHM_RINGS_MAX)
#define SESSION_HOLD_MAX    (16u << 20)	/* beyond a frame: what may still arrive after
					 * the pause (receives already in flight) */
#define SESSION_HEARTBEAT_MIN_MS 100u	/* the police pass runs every 100 ms */
#define SESSION_HEARTBEAT_MAX_MS 60000u
#define SESSION_HEARTBEAT_MISSES 3u	/* intervals without input before the cut */
/* An upper bound on a PublishAck for n events plus its Errors: offsets and partitions are
 * packed varints (<= 10 and 5 bytes). */
#define SESSION_ACK_BYTES(n) (1536u + (size_t)(n) * 16u)

struct net_server;
struct producer;	/* net/producer.h */

/* One publish batch: the ticket other reactors fill and what to answer. */
struct session_batch {
	struct publish_ticket ticket;
	int rc;				/* publish_batch's verdict (0 or -1) */
	uint64_t seq;			/* the batch's sequence, for the ack */
	uint64_t sync_pass;		/* --fsync batch: the executor pass its events are
					 * synced by (executor_sync_ask), 0 = not asked yet */
	int sync_failed;		/* -errno: the disk refused that sync */
	struct publish_error err;
	/* An idempotent producer's batch: the record claimed for it (net/producer.h), -1
	 * when none; written with its offsets once every event is appended. */
	struct producer *producer;
	int claim;
	bool closing;			/* its Error closes the connection */
	/* --kafka-ack kafka: each stored event's topic when it is produced to Kafka, else
	 * NULL (kafka_cap entries, from the budget, kept batch after batch); kafka: some
	 * is, and the answer waits until egress_next passes them (kafka_done: the events
	 * before it are in Kafka). */
	struct topic **kafka_topics;
	uint32_t kafka_cap, kafka_done;
	bool kafka;
	/* Acked with NOT_DURABLE, saying why: not in Kafka by kafka_by_ns, or not known (its
	 * topic deleted while it waited; answered from an idempotent producer's records,
	 * whose topics are not kept). */
	enum { SESSION_KAFKA_OK, SESSION_KAFKA_LATE, SESSION_KAFKA_GONE,
	       SESSION_KAFKA_RECORDS } kafka_late;
	int64_t kafka_by_ns;		/* CLOCK_MONOTONIC: --kafka-ack-timeout-ms */
};

/* Writes a finished batch's producer record (remaining is 0), once. */
void session_batch_record(struct session_batch *b);

/* Frees a batch's kafka_topics, giving their memory back to budget. */
void session_batch_kafka_free(struct session_batch *b, struct budget *budget);

struct session {
	struct net_server *srv;
	struct reactor_conn *conn;
	bool in_use;
	bool closing;		/* an Error said so: input ignored, close once flushed */
	int64_t close_by_ns;	/* closing: shut down at this time even if unsent */
	uint32_t heartbeat_ms;	/* agreed in Hello; 0 = no heartbeats */
	int64_t last_rx_ns, last_tx_ns;	/* CLOCK_MONOTONIC of the last bytes in and out */
	bool active;		/* on the server's active list */
	uint32_t active_pos;
	uint32_t open_pos;	/* in the server's open list */
	/* Input not handled yet: a frame split across receives, or everything that arrives
	 * while a publish waits on other reactors (paused). */
	uint8_t *stage;
	uint32_t stage_len, stage_cap;	/* stage_cap is taken from the reactor's budget */
	int64_t frame_start_ns;	/* when the partial frame held began (--frame-deadline-ms) */
	bool cutting;		/* cut for its memory or its frame deadline: closing; no
				 * growth but room for the Error (the budget's reserve) */
	bool paused;		/* frames wait for the batches ahead to be answered */
	/* Publish batches not yet answered, in order: [batch_head, batch_tail) of the
	 * free-running ring. A batch waits while other reactors append its events; the
	 * ones behind it wait for their turn to be answered. */
	struct session_batch *batches[SESSION_BATCHES_MAX];	/* allocated at first use */
	uint32_t batch_head, batch_tail;
	bool waiting;		/* on the server's waiting list */
	uint32_t waiting_pos;
	/* Control frames: ctl[fill] takes new ones while the other may be in flight. */
	uint8_t *ctl[2];
	uint32_t ctl_len[2], ctl_cap[2];	/* allocated at first use; caps from the budget */
	uint8_t fill;
	int8_t ctl_sending;	/* index of the ctl buffer in the pending send, -1 if none */
	/* Ring descriptors to pass with the first byte of ctl[i]'s send (SCM_RIGHTS), in
	 * the order of the SubscribeResults there; closed once that send is done. */
	int pass_fds[2][SESSION_PASS_FDS_MAX];
	uint8_t npass[2];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * SESSION_PASS_FDS_MAX)];
	} cmsg;			/* the pending send's control message */
	/* The pending send. */
	struct msghdr msg;
	struct iovec iov[SESSION_IOV_MAX];
	uint32_t iov_first, niov;
	size_t send_left;
	/* The pending send's audit-required frames: recorded AUDIT_DELIVERED once the
	 * kernel has taken the whole send, AUDIT_FAILED if the connection closes first.
	 * Their queue slots are reserved (net_server.audit_reserved) until then. */
	struct audit_rec audit[SESSION_AUDIT_MAX];
	uint32_t naudit;
	/* Acks that came meanwhile (a client may ack the part of a send it read): recorded
	 * after the send's deliveries, so they cover them. */
	struct audit_rec ack_hold[SESSION_ACK_HOLD];
	uint32_t nack_hold;
	/* Subscriptions. */
	struct subscription **subs;	/* each allocated: the key index points at them */
	uint32_t nsubs, subs_cap;
	uint32_t next_sub;	/* round-robin start */
	/* Topic priority (core/topic.h): the highest of its subscriptions', which orders
	 * the reactor's flushes, and whether theirs differ, which orders its gathers.
	 * Refreshed on subscribe and every police pass (session_priority_update). */
	uint8_t priority;
	bool priority_mixed;
	uint64_t flushed_turn;		/* net_server.flush_turn when it was last flushed */
	int64_t priority_pub_ns;	/* its last batch with a priority topic's event (0:
					 * none): its connection has priority for a while */
	uint64_t frames_in, events_out;
	struct topic_quota topic_quota;	/* topics it may still create */
	bool more;		/* the last gather stopped at its scan bound: flush again soon */
	struct session_stats stats;	/* for the admin plane (net/stats.h) */
	/* Hello.producer_id: the producer this connection publishes as, NULL if none;
	 * the generation its Hello got (another Hello fences this one) and the epoch. */
	struct producer *producer;
	uint64_t producer_gen, producer_epoch;
	struct event_stamp producer_stamp;	/* the batch being stored's */
	/* --auth: the token it authenticated with (net/access.h); a Hello with a bad token
	 * is answered at refuse_at_ns (held back after repeated failures, auth_fail) and
	 * nothing else it sends is read meanwhile. */
	struct access access;
	int64_t refuse_at_ns;		/* CLOCK_MONOTONIC; 0 = none pending */
};

/* A topic is being dropped: the session's batches waiting for Kafka let go of it (its
 * events are answered NOT_DURABLE: whether they reached Kafka is no longer known). */
void session_kafka_forget_topic(struct session *s, const struct topic *tp);


/* Sets up a session for a new connection (nothing allocated until it is used). Returns 0. */
int session_open(struct session *s, struct net_server *srv, struct reactor_conn *c);

/* Frees everything the session holds. */
void session_close(struct session *s);

/* Feeds received bytes: complete frames are handled, a partial one is kept. */
void session_data(struct session *s, const uint8_t *p, size_t n);

/* Hands the waiting batches' events to their owners as lanes allow, in order. Returns
 * true when a lane was full. */
bool session_handoff(struct session *s);

/* FAILOVER subscriptions of the session told to take over (net/named.h) do so. */
void session_named_turn(struct session *s);

/* Answers the batches at the head that every owner has appended, then goes on with held
 * input. Returns true while batches still wait. */
bool session_answer_batches(struct session *s);

/* A send finished with res bytes or -errno. */
void session_sent(struct session *s, int res);

/* Every ~100 ms: cuts a connection whose partial frame is older than --frame-deadline-ms
 * (FRAME_DEADLINE, its held bytes freed at once), cuts subscriptions past the lag bounds (an Error, then a close), sends
 * heartbeats and cuts peers silent for SESSION_HEARTBEAT_MISSES intervals (when Hello
 * asked for heartbeats), and shuts down closing sessions whose peer has not taken the
 * closing Error within --close-grace-ms. now_ns is CLOCK_MONOTONIC. */
void session_police(struct session *s, int64_t now_ns);

/* Refreshes s->priority, s->priority_mixed and each subscription's priority from their
 * topics, and the connection's priority (reactor_conn.priority: a subscriber of a
 * priority topic, or a publisher to one within SESSION_PRIORITY_PUB_NS), and marks the
 * server as prioritising (net_server.priority_any) when it has. Called on subscribe and
 * by session_police. */
void session_priority_update(struct session *s, int64_t now_ns);

/* Starts a send if none is pending and there is something to send. Returns true while
 * the session still needs the server's attention (subscriptions or queued output). */
bool session_flush(struct session *s);

/* Ends one of the session's subscriptions at the admin plane's request (net/control.c):
 * drops it as an Unsubscribe would and queues an Error SUBSCRIPTION_ENDED naming it and
 * why; the connection stays open. With owed, the audit-required events it was owed are
 * recorded AUDIT_FAILED (an operator's end; not a topic's removal). */
void session_end_sub(struct session *s, struct subscription *sub, const char *why, bool owed);

#endif
