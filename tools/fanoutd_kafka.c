/* tools/fanoutd_kafka.c — Kafka ingest through the server's own socket (see
 * fanoutd_kafka.h). One thread; per source a librdkafka consumer; per assigned Kafka
 * partition a protocol connection to the server (tools/client.h) as an idempotent
 * producer, and the FIFO of the offsets it has sent and not yet seen answered. */
#include "tools/fanoutd_kafka.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "admin/event_json.h"
#include "core/arena.h"
#include "core/clock.h"
#include "tools/client.h"
#include "tools/kafka_conf.h"
#include "tools/kafka_stat.h"

#define KAFKA_COMMIT_NS   (100 * 1000000ll)	/* a commit at least this often */
#define KAFKA_RETRY_NS    (200 * 1000000ll)	/* a refused batch is tried again after */
#define KAFKA_BURST       512u		/* messages taken per poll round */
#define KAFKA_POLL_MS     20
#define KAFKA_CONNECT_MS  5000
#define KAFKA_ACK_WAIT_MS 10000		/* a full window waits this long for an answer */
#define KAFKA_DRAIN_MS    2000		/* at a revoke or the stop: answers awaited */
#define KAFKA_SAY_NS      1000000000ll	/* one line a second per source, at most */
#define KAFKA_ARENA_BYTES (4u << 20)	/* a JSON event's decoded fields */
#define KAFKA_STAT_NS     (250 * 1000000ll)	/* the snapshots the admin plane shows */
#define KAFKA_PROBE_MS    100		/* brokers down: a metadata request's wait */

static_assert(KAFKA_STAT_PARTS_MAX == KAFKA_PARTS_MAX, "a snapshot per partition served");

/* Guards every fanoutd_kafka's stat (the admin thread reads them while this module's
 * thread writes them; the stop frees them). */
static pthread_mutex_t kafka_stat_lock = PTHREAD_MUTEX_INITIALIZER;

struct kafka_part {
	struct client c;
	bool open;		/* its connection is up, the producer's Hello answered */
	bool assigned;
	bool paused;		/* waiting to consume again from retry_offset */
	int64_t retry_offset, retry_at_ns;
	int64_t fifo[KAFKA_WINDOW];	/* offsets sent and not all answered, in order */
	bool answered[KAFKA_WINDOW];	/* fifo[i] was answered (answers may overtake
					 * each other: an Error before earlier acks) */
	uint32_t head, n;
	uint32_t max_frame;	/* the server's largest frame (HelloResult) */
	int64_t seen;		/* the offset after the last message handled; -1 none */
	int64_t committed;	/* the last offset committed; -1 none */
	uint32_t acked;		/* answered since the last commit */
};

struct kafka_source {
	struct fanoutd_kafka *k;
	const struct config_kafka_source *cfg;
	rd_kafka_t *rk;
	struct kafka_part *parts;	/* KAFKA_PARTS_MAX */
	struct arena arena;
	int64_t commit_at_ns, said_ns;
	uint64_t unsaid;
	uint64_t stored, refused, bad;	/* messages: answered, refused for good, not
					 * an event */
	uint64_t not_durable;		/* NOT_DURABLE answers (--fsync batch) */
	bool brokers_down;		/* librdkafka: all brokers down (kafka_error) */
	int64_t stat_at_ns;		/* the next snapshot */
	struct kafka_stat_source *stat;	/* k->stat's entry for this source */
};

static void kafka_say(struct kafka_source *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void kafka_commit_as(struct kafka_source *s, bool force, bool sync);

/* Says one line about source s, at most one a second (the rest counted). */
static void kafka_say(struct kafka_source *s, const char *fmt, ...)
{
	int64_t now = clock_monotonic_ns();
	char line[512];
	va_list ap;

	if (now - s->said_ns < KAFKA_SAY_NS && s->said_ns) {
		s->unsaid++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fanoutd: kafka %s: %s%s\n", s->cfg->kafka_topic, line,
		s->unsaid ? " (and more not logged)" : "");
	s->said_ns = now;
	s->unsaid = 0;
}

/* The offset the group may commit for p: everything before it is answered. */
static int64_t kafka_position(const struct kafka_part *kp)
{
	return kp->n ? kp->fifo[kp->head] : kp->seen;
}

static void kafka_part_close(struct kafka_part *kp)
{
	if (kp->open)
		client_close(&kp->c);
	kp->open = false;
	kp->n = 0;
	kp->head = 0;
	memset(kp->answered, 0, sizeof(kp->answered));
}

/* Pauses, seeks (offset >= 0) and resumes partition p as asked. Returns 0, or -EIO when
 * the seek failed (then nothing is resumed). */
static int kafka_one(rd_kafka_t *rk, const char *topic, int32_t p, int64_t offset,
		     bool pause, bool resume)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *e = NULL;
	int rc = 0;

	rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
	if (pause)
		rd_kafka_pause_partitions(rk, l);
	if (offset >= 0) {
		e = rd_kafka_seek_partitions(rk, l, 1000);
		if (e || l->elems[0].err)
			rc = -EIO;
		if (e)
			rd_kafka_error_destroy(e);
	}
	if (resume && rc == 0)
		rd_kafka_resume_partitions(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	return rc;
}

/* Stops p until delay has passed, then consumes again from offset: the batches sent
 * after it are forgotten (sent again then, and answered from the producer's records). */
static void kafka_retry(struct kafka_source *s, int32_t p, int64_t offset, int64_t delay_ns)
{
	struct kafka_part *kp = &s->parts[p];

	kp->n = 0;
	kp->head = 0;
	memset(kp->answered, 0, sizeof(kp->answered));
	kp->seen = offset;	/* nothing from it on is committed meanwhile */
	kp->paused = true;
	kp->retry_offset = offset;
	kp->retry_at_ns = clock_monotonic_ns() + delay_ns;
	kafka_one(s->rk, s->cfg->kafka_topic, p, -1, true, false);
}

/* Connects p's producer: "kafka.<group>.<topic>.<p>", epoch 1 (taking it over from a
 * connection of an earlier run). Returns 0 or -errno. */
static int kafka_part_open(struct kafka_source *s, int32_t p)
{
	struct kafka_part *kp = &s->parts[p];
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	char id[400];	/* config_kafka_source keeps it within a producer id */
	int rc;

	snprintf(id, sizeof(id), "kafka.%s.%s.%d", s->cfg->group, s->cfg->kafka_topic, p);
	rc = client_connect(&kp->c, s->k->socket, KAFKA_CONNECT_MS);
	if (rc < 0) {
		kafka_say(s, "cannot reach the server at %s: %s", s->k->socket, strerror(-rc));
		return rc;
	}
	h.protocol_version = 1;
	h.client_name = "fanoutd-kafka";
	h.producer_id = id;
	h.producer_epoch = 1;
	h.token = s->k->token[0] ? s->k->token : NULL;
	rc = client_hello_msg(&kp->c, &h, KAFKA_CONNECT_MS, &m);
	if (rc < 0) {
		kafka_say(s, "partition %d: the server refused producer %s: %s", p, id,
			  m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			  m->error->message : strerror(-rc));
		if (m)
			client_free_msg(m);
		client_close(&kp->c);
		return rc;
	}
	kp->max_frame = m->hello && m->hello->max_frame_bytes ? m->hello->max_frame_bytes
							       : UINT32_MAX;
	client_free_msg(m);
	kp->open = true;
	return 0;
}

/* Whether an Error for a batch means "try again later" (else it is final: the event can
 * never be stored as it is). Anything the operator or time can fix waits: nothing is
 * skipped for want of a topic, a right or room. */
static bool kafka_transient(Fanout__V1__ErrorCode code)
{
	switch (code) {
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE:	/* too old: stored before */
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE:
		return false;
	default:
		return true;
	}
}

/* Where offset off is in p's FIFO, or -1. */
static int kafka_slot(const struct kafka_part *kp, int64_t off)
{
	for (uint32_t i = 0; i < kp->n; i++) {
		uint32_t at = (kp->head + i) % KAFKA_WINDOW;

		if (kp->fifo[at] == off)
			return (int)at;
	}
	return -1;
}

/* The batch of offset off is answered for good (stored, or refused for good); the FIFO
 * pops what is answered at its head. An answer for a batch forgotten at a retry changes
 * nothing (false). */
static bool kafka_done(struct kafka_part *kp, int64_t off)
{
	int at = kafka_slot(kp, off);

	if (at < 0)
		return false;
	kp->answered[at] = true;
	while (kp->n && kp->answered[kp->head]) {
		kp->answered[kp->head] = false;
		kp->head = (kp->head + 1) % KAFKA_WINDOW;
		kp->n--;
		kp->acked++;
	}
	return true;
}

/* Reads p's answers, waiting up to wait_ms for the first. Returns 0, or -errno when the
 * connection broke (then closed, and p set to consume again from what is unanswered). */
static int kafka_answers(struct kafka_source *s, int32_t p, int wait_ms)
{
	struct kafka_part *kp = &s->parts[p];

	while (kp->open) {
		Fanout__V1__ServerMessage *m = NULL;
		int rc = client_recv(&kp->c, &m, wait_ms);
		int64_t off;

		wait_ms = 0;
		if (rc == -ETIMEDOUT)
			return 0;
		if (rc < 0) {
			off = kafka_position(kp);
			kafka_say(s, "partition %d: connection to the server lost: %s", p,
				  strerror(-rc));
			kafka_part_close(kp);
			if (off >= 0)
				kafka_retry(s, p, off, KAFKA_RETRY_NS);
			return rc;
		}
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK) {
			const Fanout__V1__PublishAck *a = m->publish_ack;

			off = (int64_t)a->sequence - 1;
			/* An ack without an offset: the event was not written (its Error
			 * follows). The producer's record keeps it missing, so a retry writes
			 * it. */
			if (a->n_offsets != 1 || a->offsets[0] == UINT64_MAX) {
				if (kafka_slot(kp, off) >= 0) {
					kafka_say(s, "partition %d offset %lld: not stored; consumed "
						  "again from it shortly", p, (long long)off);
					kafka_retry(s, p, kp->fifo[kp->head], KAFKA_RETRY_NS);
				}
			} else if (kafka_done(kp, off)) {
				s->stored++;	/* once: a stale answer has no slot */
			}
		} else if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR &&
			   m->error->code == FANOUT__V1__ERROR_CODE__ERROR_CODE_NOT_DURABLE) {
			/* --fsync batch: stored, the sync failed. The event is in the log; the
			 * commit goes on (README: what a failed sync means for Kafka). */
			s->not_durable++;
			kafka_say(s, "partition %d: %s", p, m->error->message);
		} else if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR &&
			   m->error->sequence &&
			   kafka_slot(kp, (int64_t)m->error->sequence - 1) >= 0) {
			off = (int64_t)m->error->sequence - 1;
			if (kafka_transient(m->error->code)) {
				int64_t delay = m->error->retry_after_ms ?
					(int64_t)m->error->retry_after_ms * 1000000 :
					KAFKA_RETRY_NS;

				kafka_say(s, "partition %d offset %lld: refused for now (%s); "
					  "consumed again shortly", p, (long long)off,
					  m->error->message);
				/* From the oldest unanswered: those after it are sent again too,
				 * and answered from the producer's records. */
				kafka_retry(s, p, kp->fifo[kp->head], delay);
			} else {
				kafka_say(s, "partition %d offset %lld: refused: %s", p,
					  (long long)off, m->error->message);
				s->refused++;
				kafka_done(kp, off);
			}
		}
		client_free_msg(m);
	}
	return 0;
}

/* The event in message m for s's topic, into *ev (its parts in *owned or the arena).
 * Returns 0 or -EINVAL (not an event: said why). */
static int kafka_event(struct kafka_source *s, const rd_kafka_message_t *m,
		       Fanout__V1__Event **ev, Fanout__V1__Event *json_ev, json_t **j)
{
	char err[160];

	*ev = NULL;
	*j = NULL;
	if (!m->payload || m->len == 0) {
		kafka_say(s, "partition %d offset %lld: empty message skipped", m->partition,
			  (long long)m->offset);
		return -EINVAL;
	}
	if (s->cfg->format == CONFIG_KAFKA_PROTOBUF) {
		*ev = fanout__v1__event__unpack(NULL, m->len, m->payload);
		if (!*ev) {
			kafka_say(s, "partition %d offset %lld: not an Event (protobuf) message; "
				  "skipped", m->partition, (long long)m->offset);
			return -EINVAL;
		}
		return 0;
	}
	json_error_t je;

	*j = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES, &je);
	arena_reset(&s->arena);
	fanout__v1__event__init(json_ev);
	if (!*j || event_from_json(*j, json_ev, &s->arena, err, sizeof(err)) < 0) {
		kafka_say(s, "partition %d offset %lld: not a JSON event (%s); skipped",
			  m->partition, (long long)m->offset, *j ? err : je.text);
		json_decref(*j);
		*j = NULL;
		return -EINVAL;
	}
	*ev = json_ev;
	return 0;
}

/* A message skipped while batches before it are unanswered: an entry already answered,
 * so the commit passes it only once they are. */
static void kafka_skip(struct kafka_part *kp, int64_t off)
{
	uint32_t at = (kp->head + kp->n) % KAFKA_WINDOW;

	kp->fifo[at] = off;
	kp->answered[at] = true;
	kp->n++;
	kp->seen = off + 1;
}

/* Waits for p's window to have room, KAFKA_ACK_WAIT_MS at most (and not past the stop):
 * a server that stops answering has the connection closed and p sought back. */
static void kafka_wait_room(struct kafka_source *s, int32_t p)
{
	struct kafka_part *kp = &s->parts[p];
	int64_t end = clock_monotonic_ns() + (int64_t)KAFKA_ACK_WAIT_MS * 1000000;

	while (kp->n == KAFKA_WINDOW && kp->open && !atomic_load(&s->k->stop) &&
	       clock_monotonic_ns() < end)
		(void)kafka_answers(s, p, 100);
	if (kp->n == KAFKA_WINDOW && kp->open) {
		int64_t from = kp->fifo[kp->head];

		kafka_say(s, "partition %d: no answer from the server for offset %lld; "
			  "reconnecting", p, (long long)from);
		kafka_part_close(kp);
		kafka_retry(s, p, from, KAFKA_RETRY_NS);
	}
}

/* Publishes m's event as batch offset + 1 of its partition's producer. */
static void kafka_message(struct kafka_source *s, const rd_kafka_message_t *m)
{
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__Event json_ev, *ev;
	struct kafka_part *kp;
	json_t *j;
	char *topic = NULL;
	bool own_d = false;
	int rc;

	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			kafka_say(s, "%s", rd_kafka_message_errstr(m));
		return;
	}
	if (m->partition < 0 || (uint32_t)m->partition >= KAFKA_PARTS_MAX) {
		/* Paused, never skipped: its offsets stay uncommitted for another member. */
		kafka_say(s, "partition %d: beyond the %u this server consumes; paused",
			  m->partition, KAFKA_PARTS_MAX);
		(void)kafka_one(s->rk, s->cfg->kafka_topic, m->partition, -1, true, false);
		return;
	}
	kp = &s->parts[m->partition];
	if (kp->paused)
		return;	/* fetched before the pause: consumed again after it */
	if (!kp->open && kafka_part_open(s, m->partition) < 0) {
		kafka_retry(s, m->partition, m->offset, KAFKA_RETRY_NS);
		return;
	}
	if (kp->n == KAFKA_WINDOW)	/* the window is full: wait for answers, bounded */
		kafka_wait_room(s, m->partition);
	if (kp->acked >= KAFKA_COMMIT_AT)	/* within a burst too: restarts send less */
		kafka_commit_as(s, true, false);
	if (!kp->open || kp->paused)
		return;	/* sought back: consumed again */
	if (m->len + 64 > kp->max_frame) {	/* the server would close on it */
		kafka_say(s, "partition %d offset %lld: %zu bytes, over the server's frame "
			  "limit (%u); skipped", m->partition, (long long)m->offset, m->len,
			  kp->max_frame);
		s->bad++;
		if (kp->n == 0)
			kp->seen = m->offset + 1;
		else	/* answered once those before it are */
			kafka_skip(kp, m->offset);
		return;
	}
	if (kafka_event(s, m, &ev, &json_ev, &j) < 0) {
		s->bad++;
		if (kp->n == 0)
			kp->seen = m->offset + 1;
		else
			kafka_skip(kp, m->offset);
		return;
	}
	/* The source's topic, whatever the event named. */
	if (!ev->distribution) {
		ev->distribution = &d;
		own_d = true;
	}
	topic = ev->distribution->topic;
	ev->distribution->topic = (char *)s->cfg->topic;
	rc = client_publish(&kp->c, (uint64_t)m->offset + 1, &ev, 1);
	ev->distribution->topic = topic;
	if (own_d)
		ev->distribution = NULL;
	if (j)
		json_decref(j);
	else
		fanout__v1__event__free_unpacked(ev, NULL);
	if (rc < 0) {
		int64_t from = kp->n ? kp->fifo[kp->head] : m->offset;

		kafka_say(s, "partition %d: cannot send to the server: %s", m->partition,
			  strerror(-rc));
		kafka_part_close(kp);
		kafka_retry(s, m->partition, from, KAFKA_RETRY_NS);
		return;
	}
	kp->fifo[(kp->head + kp->n) % KAFKA_WINDOW] = m->offset;
	kp->answered[(kp->head + kp->n) % KAFKA_WINDOW] = false;
	kp->n++;
	kp->seen = m->offset + 1;
}

/* Commits each partition's position when due (every KAFKA_COMMIT_NS, or once
 * KAFKA_COMMIT_AT answers wait), or at once with force; sync waits for the answer. */
static void kafka_commit_as(struct kafka_source *s, bool force, bool sync)
{
	int64_t now = clock_monotonic_ns();
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	bool due = force || now >= s->commit_at_ns;

	for (uint32_t p = 0; !due && p < KAFKA_PARTS_MAX; p++)
		due = s->parts[p].acked >= KAFKA_COMMIT_AT;
	if (!due)
		return;
	s->commit_at_ns = now + KAFKA_COMMIT_NS;
	l = rd_kafka_topic_partition_list_new(4);
	for (uint32_t p = 0; p < KAFKA_PARTS_MAX; p++) {
		struct kafka_part *kp = &s->parts[p];
		int64_t pos = kafka_position(kp);

		/* A synchronous commit (a revoke, the stop) sends every position: an
		 * asynchronous one before may have failed unseen. */
		if (kp->assigned && pos >= 0 && (pos > kp->committed || (sync && pos > 0)))
			rd_kafka_topic_partition_list_add(l, s->cfg->kafka_topic, (int32_t)p)
				->offset = pos;
	}
	if (l->cnt > 0) {
		/* Asynchronous while running (a commit is a round trip to the coordinator,
		 * and one lost only means more sent again after a crash, each answered from
		 * the records); synchronous at a revoke or the stop. */
		err = rd_kafka_commit(s->rk, l, !sync);
		if (err)
			kafka_say(s, "commit: %s (tried again)", rd_kafka_err2str(err));
		for (int i = 0; i < l->cnt; i++) {
			struct kafka_part *kp = &s->parts[l->elems[i].partition];

			kp->acked = 0;	/* asked for; kafka_committed hears how it went */
			if (sync && !err && !l->elems[i].err &&
			    l->elems[i].offset > kp->committed)
				kp->committed = l->elems[i].offset;
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Waits (bounded) for every partition's answers, then commits. */
static void kafka_drain(struct kafka_source *s, int ms)
{
	int64_t end = clock_monotonic_ns() + (int64_t)ms * 1000000;

	for (uint32_t p = 0; p < KAFKA_PARTS_MAX; p++)
		while (s->parts[p].open && s->parts[p].n && clock_monotonic_ns() < end)
			(void)kafka_answers(s, (int32_t)p, 50);
	kafka_commit_as(s, true, true);
}

/* An asynchronous commit's answer (served by the consumer poll, on this thread): the
 * positions it took are committed; one that failed is sent again with the next. */
static void kafka_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			    rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct kafka_source *s = opaque;

	(void)rk;
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		kafka_say(s, "commit: %s (sent again with the next)", rd_kafka_err2str(err));
	for (int i = 0; l && i < l->cnt; i++) {
		int32_t p = l->elems[i].partition;

		if (!err && !l->elems[i].err && p >= 0 && (uint32_t)p < KAFKA_PARTS_MAX &&
		    l->elems[i].offset > s->parts[p].committed)
			s->parts[p].committed = l->elems[i].offset;
	}
}

static void kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka_source *s = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++) {
			int32_t p = parts->elems[i].partition;

			if (p < 0 || (uint32_t)p >= KAFKA_PARTS_MAX)
				continue;
			kafka_part_close(&s->parts[p]);
			s->parts[p] = (struct kafka_part){ .assigned = true, .seen = -1,
							   .committed = -1 };
		}
		if ((err = rd_kafka_assign(rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR)
			kafka_say(s, "cannot take the partitions assigned: %s",
				  rd_kafka_err2str(err));
		return;
	}
	/* Revoked (or an error): what is answered is committed before another member
	 * takes the partitions over. */
	kafka_drain(s, KAFKA_DRAIN_MS);
	for (uint32_t p = 0; p < KAFKA_PARTS_MAX; p++) {
		kafka_part_close(&s->parts[p]);
		s->parts[p].assigned = false;
		s->parts[p].paused = false;
	}
	rd_kafka_assign(rk, NULL);
}

/* Partitions whose pause is over consume again from their retry offset. */
/* While every broker is said to be down (kafka_error): asks one for the topic's
 * metadata, at most every KAFKA_STAT_NS for KAFKA_PROBE_MS; an answer means they are
 * back (librdkafka says nothing when they are). */
static void kafka_probe(struct kafka_source *s)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t;

	if (!s->brokers_down || !(t = rd_kafka_topic_new(s->rk, s->cfg->kafka_topic, NULL)))
		return;
	if (rd_kafka_metadata(s->rk, 0, t, &md, KAFKA_PROBE_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->brokers_down = false;
		kafka_say(s, "a Kafka broker answers again");
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
}

/* Refreshes the source's snapshot when due: counts, and per partition served its
 * position, commit and the high watermark librdkafka has from its last fetch (a cached
 * value: no request to the broker). */
static void kafka_stat_update(struct kafka_source *s)
{
	struct kafka_stat_source *st = s->stat;
	int64_t now = clock_monotonic_ns();

	if (now < s->stat_at_ns)
		return;
	s->stat_at_ns = now + KAFKA_STAT_NS;
	kafka_probe(s);
	pthread_mutex_lock(&kafka_stat_lock);
	st->stored = s->stored;
	st->refused = s->refused;
	st->skipped = s->bad;
	st->not_durable = s->not_durable;
	st->brokers_down = s->brokers_down;
	for (uint32_t p = 0; p < KAFKA_PARTS_MAX; p++) {
		const struct kafka_part *kp = &s->parts[p];
		struct kafka_stat_part *sp = &st->parts[p];
		int64_t lo = -1, hi = -1;

		sp->assigned = kp->assigned;
		if (!kp->assigned)
			continue;
		if (p >= st->nparts)
			st->nparts = p + 1;
		sp->position = kafka_position(kp) >= 0 ? kafka_position(kp) : kp->committed;
		sp->committed = kp->committed;
		if (rd_kafka_get_watermark_offsets(s->rk, s->cfg->kafka_topic, (int32_t)p, &lo,
						   &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
			hi = -1;
		sp->high = hi;
	}
	pthread_mutex_unlock(&kafka_stat_lock);
}

static void kafka_resume_due(struct kafka_source *s)
{
	int64_t now = clock_monotonic_ns();

	for (uint32_t p = 0; p < KAFKA_PARTS_MAX; p++) {
		struct kafka_part *kp = &s->parts[p];

		if (!kp->paused || now < kp->retry_at_ns)
			continue;
		if (!kp->open && kafka_part_open(s, (int32_t)p) < 0) {
			kp->retry_at_ns = now + KAFKA_RETRY_NS;
			continue;
		}
		if (kafka_one(s->rk, s->cfg->kafka_topic, (int32_t)p, kp->retry_offset, false,
			      true) < 0) {	/* stays paused: nothing read past the offset */
			kafka_say(s, "partition %d: cannot seek back to %lld yet", (int)p,
				  (long long)kp->retry_offset);
			kp->retry_at_ns = now + KAFKA_RETRY_NS;
			continue;
		}
		kp->paused = false;
	}
}

static void *kafka_thread(void *arg)
{
	struct fanoutd_kafka *k = arg;

	while (!atomic_load(&k->stop)) {
		for (uint32_t i = 0; i < k->n; i++) {
			struct kafka_source *s = &k->src[i];
			int wait = k->n == 1 ? KAFKA_POLL_MS : KAFKA_POLL_MS / 4;

			for (uint32_t b = 0; b < KAFKA_BURST; b++) {
				rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, b ? 0 : wait);

				if (!m)
					break;
				kafka_message(s, m);
				rd_kafka_message_destroy(m);
			}
			for (uint32_t p = 0; p < KAFKA_PARTS_MAX; p++)
				if (s->parts[p].open && s->parts[p].n)
					(void)kafka_answers(s, (int32_t)p, 0);
			kafka_resume_due(s);
			kafka_commit_as(s, false, false);
			kafka_stat_update(s);
		}
	}
	for (uint32_t i = 0; i < k->n; i++)
		kafka_drain(&k->src[i], KAFKA_DRAIN_MS);
	return NULL;
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 4)	/* warnings and worse; librdkafka repeats itself otherwise */
		fprintf(stderr, "fanoutd: kafka: %s: %s\n", fac, buf);
}

/* librdkafka's errors (served by the consumer poll, on this thread). Every broker down
 * is said, and shown (fanout_kafka_brokers_down) until one answers (kafka_probe). */
static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_source *s = opaque;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		s->stat_at_ns = 0;	/* shown, and probed, at once */
		if (!s->brokers_down)
			kafka_say(s, "every Kafka broker is unreachable (%s); local publishing "
				  "goes on, consuming resumes when one answers", reason);
		s->brokers_down = true;
		return;
	}
	kafka_say(s, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int kafka_source_start(struct fanoutd_kafka *k, struct kafka_source *s,
			      const struct config *cfg, const struct config_kafka_source *src)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_resp_err_t err;
	char why[512];

	s->k = k;
	s->cfg = src;
	s->stat = &k->stat[s - k->src];
	s->stat->kafka_topic = src->kafka_topic;
	s->stat->topic = src->topic;
	s->stat->group = src->group;
	s->parts = calloc(KAFKA_PARTS_MAX, sizeof(*s->parts));
	if (!s->parts || arena_init(&s->arena, KAFKA_ARENA_BYTES) < 0) {
		rd_kafka_conf_destroy(c);
		return -ENOMEM;
	}
	if (kafka_conf_set(c, "kafka", "bootstrap.servers", cfg->kafka_brokers) < 0 ||
	    kafka_conf_set(c, "kafka", "group.id", src->group) < 0 ||
	    kafka_conf_set(c, "kafka", "client.id", "fanoutd") < 0 ||
	    kafka_conf_set(c, "kafka", "enable.auto.commit", "false") < 0 ||
	    kafka_conf_set(c, "kafka", "enable.auto.offset.store", "false") < 0 ||
	    kafka_conf_set(c, "kafka", "auto.offset.reset", src->latest ? "latest" : "earliest") < 0 ||
	    kafka_conf_set(c, "kafka", "log.connection.close", "false") < 0) {
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	if (kafka_conf_options(c, "kafka", cfg) < 0) {	/* the operator's last */
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	rd_kafka_conf_set_log_cb(c, kafka_log);
	rd_kafka_conf_set_rebalance_cb(c, kafka_rebalance);
	rd_kafka_conf_set_offset_commit_cb(c, kafka_committed);
	rd_kafka_conf_set_error_cb(c, kafka_error);
	rd_kafka_conf_set_opaque(c, s);
	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, why, sizeof(why));
	if (!s->rk) {
		fprintf(stderr, "fanoutd: kafka: cannot make a consumer: %s\n", why);
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	rd_kafka_poll_set_consumer(s->rk);
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, src->kafka_topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(s->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err) {
		fprintf(stderr, "fanoutd: kafka: cannot subscribe to %s: %s\n", src->kafka_topic,
			rd_kafka_err2str(err));
		return -EINVAL;
	}
	if (!k->quiet)
		fprintf(stderr, "fanoutd: kafka: %s (group %s, %s) -> topic %s, from %s\n",
			src->kafka_topic, src->group,
			src->format == CONFIG_KAFKA_JSON ? "JSON" : "protobuf Event", src->topic,
			cfg->kafka_brokers);
	return 0;
}

static void kafka_source_free(struct kafka_source *s)
{
	if (s->rk) {
		rd_kafka_consumer_close(s->rk);	/* leaves the group: a revoke, drained */
		for (uint32_t p = 0; s->parts && p < KAFKA_PARTS_MAX; p++)
			kafka_part_close(&s->parts[p]);
		rd_kafka_destroy(s->rk);
	}
	free(s->parts);
	arena_free(&s->arena);
	memset(s, 0, sizeof(*s));
}

/* --auth required: the bootstrap file's token (fanoutd made it before this). */
static int kafka_token(struct fanoutd_kafka *k, const char *path)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(k->token, sizeof(k->token), f)) {
		if (f)
			fclose(f);
		fprintf(stderr, "fanoutd: kafka: no token in --auth-bootstrap %s\n", path);
		return -ENOENT;
	}
	fclose(f);
	k->token[strcspn(k->token, "\r\n")] = '\0';
	return 0;
}

int fanoutd_kafka_start(struct fanoutd_kafka *k, const struct config *cfg, const char *socket)
{
	int rc = 0;

	memset(k, 0, sizeof(*k));
	k->quiet = cfg->quiet;
	if (cfg->nkafka == 0)
		return 0;
	snprintf(k->socket, sizeof(k->socket), "%s", socket);
	if (cfg->auth_required && (rc = kafka_token(k, cfg->auth_bootstrap)) < 0)
		return rc;
	k->src = calloc(cfg->nkafka, sizeof(*k->src));
	pthread_mutex_lock(&kafka_stat_lock);
	k->stat = calloc(cfg->nkafka, sizeof(*k->stat));
	pthread_mutex_unlock(&kafka_stat_lock);
	if (!k->src || !k->stat) {
		fanoutd_kafka_stop(k);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->nkafka && rc == 0; i++, k->n++)
		rc = kafka_source_start(k, &k->src[i], cfg, &cfg->kafka[i]);
	if (rc == 0 && (rc = -pthread_create(&k->thread, NULL, kafka_thread, k)) == 0)
		k->started = true;
	if (rc < 0)
		fanoutd_kafka_stop(k);
	return rc;
}

void fanoutd_kafka_stop(struct fanoutd_kafka *k)
{
	atomic_store(&k->stop, true);
	if (k->started)
		pthread_join(k->thread, NULL);
	for (uint32_t i = 0; i < k->n; i++) {
		struct kafka_source *s = &k->src[i];

		if (!k->quiet && s->rk)
			fprintf(stderr, "fanoutd: kafka %s: %llu events stored, %llu refused, "
				"%llu messages not events, %llu not synced\n", s->cfg->kafka_topic,
				(unsigned long long)s->stored, (unsigned long long)s->refused,
				(unsigned long long)s->bad, (unsigned long long)s->not_durable);
		kafka_source_free(s);
	}
	free(k->src);
	explicit_bzero(k->token, sizeof(k->token));
	pthread_mutex_lock(&kafka_stat_lock);	/* the admin thread may be reading stat */
	free(k->stat);
	memset(k, 0, sizeof(*k));
	pthread_mutex_unlock(&kafka_stat_lock);
}

char *fanoutd_kafka_metrics(void *arg)
{
	struct fanoutd_kafka *k = arg;
	char *text;

	pthread_mutex_lock(&kafka_stat_lock);
	text = kafka_stat_metrics(k->stat, k->stat ? k->n : 0);
	pthread_mutex_unlock(&kafka_stat_lock);
	return text;
}

json_t *fanoutd_kafka_json(void *arg)
{
	struct fanoutd_kafka *k = arg;
	json_t *body;

	pthread_mutex_lock(&kafka_stat_lock);
	body = kafka_stat_json(k->stat, k->stat ? k->n : 0);
	pthread_mutex_unlock(&kafka_stat_lock);
	return body;
}
