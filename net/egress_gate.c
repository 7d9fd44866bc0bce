/* net/egress_gate.c — see egress_gate.h. */
#include "net/egress_gate.h"

#include "core/epoch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/reactor.h"
#include "net/engine.h"

void egress_gate_init(struct egress_gate *g, const struct config *cfg)
{
	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
}

void egress_gate_free(struct egress_gate *g)
{
	if (g->have_ring)
		io_uring_queue_exit(&g->ring);
	g->have_ring = false;
}

bool egress_gate_own(const struct egress_gate *g, const char *name)
{
	return g->cfg && g->cfg->nkafka_egress &&
	       !strncmp(name, EGRESS_SUB_PREFIX, strlen(EGRESS_SUB_PREFIX));
}

bool egress_gate_topic(const struct egress_gate *g, struct topic *tp)
{
	uint8_t v = atomic_load_explicit(&tp->egress, memory_order_relaxed);

	if (v == 0) {	/* first look: the same answer whoever computes it */
		v = 1;
		for (uint32_t i = 0; i < g->cfg->nkafka_egress; i++)
			if (!strcmp(g->cfg->kafka_egress[i].topic, tp->name))
				v = 2;
		atomic_store_explicit(&tp->egress, v, memory_order_relaxed);
	}
	return v == 2;
}

uint64_t egress_gate_lag(const struct topic *tp)
{
	uint64_t lag = 0;

	/* Acquire: the partitions' egress_next were placed before the flag. */
	if (!atomic_load_explicit(&tp->egress_ready, memory_order_acquire))
		return 0;
	for (uint32_t p = 0; p < tp->partitions; p++) {
		const struct log *log = tp->part[p].log;
		uint64_t next = atomic_load_explicit(&tp->part[p].egress_next,
						     memory_order_acquire);
		uint64_t tail = log ? log_tail(log) : next;

		lag += tail > next ? tail - next : 0;
	}
	return lag;
}

int egress_gate_admit(void *arg, struct topic *tp, struct publish_error *err)
{
	struct egress_gate *g = arg;
	uint64_t lag;

	if (!egress_gate_topic(g, tp))
		return 0;
	lag = egress_gate_lag(tp);
	if (lag < g->cfg->kafka_egress_lag_max)
		return 0;
	atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
	err->code = FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL;
	err->retry_after_ms = EGRESS_RETRY_MS;
	/* The name cut to 100 bytes: the message fits whole. */
	snprintf(err->message, sizeof(err->message), "topic %.100s has %llu events not yet in "
		 "Kafka (--kafka-ack kafka, --kafka-egress-lag-max %llu; Kafka %s); nothing of "
		 "this batch was stored; retry in %u ms", tp->name, (unsigned long long)lag,
		 (unsigned long long)g->cfg->kafka_egress_lag_max,
		 atomic_load_explicit(&g->kafka_down, memory_order_relaxed) ?
		 "is unreachable" : "is behind", EGRESS_RETRY_MS);
	return -1;
}

int egress_gate_confirm(struct net_engine *e, const char *topic, uint32_t p, uint64_t next,
			bool ready)
{
	struct topic *tp;
	int rc = 0;

	/* In a read section: the table may grow, the topic be deleted, meanwhile (both are
	 * reclaimed only after every registered thread left its section). */
	epoch_enter();
	tp = topic_find(e->topics, topic, strlen(topic));
	if (!tp || p >= tp->partitions) {
		rc = -ENOENT;
		goto out;
	}
	/* Release: whoever sees next sees the delivery it stands for. Never backwards:
	 * the egress thread is the only writer and its acks only rise. */
	if (next > atomic_load_explicit(&tp->part[p].egress_next, memory_order_relaxed))
		atomic_store_explicit(&tp->part[p].egress_next, next, memory_order_release);
	if (ready)
		atomic_store_explicit(&tp->egress_ready, true, memory_order_release);
out:
	epoch_exit();
	return rc;
}

void egress_gate_wake(struct net_engine *e)
{
	struct egress_gate *g = &e->egress;

	if (!e->cfg || !e->cfg->kafka_ack_kafka)
		return;	/* no publisher waits for the marks */
	if (!g->have_ring && io_uring_queue_init(4, &g->ring, 0) == 0)
		g->have_ring = true;
	for (uint32_t i = 0; i < e->n; i++)
		reactor_wake_from(g->have_ring ? &g->ring : NULL, e->reactors[i]);
}
