/* admin/sampler.c — see sampler.h. Counters "since start": a partition's in-counters
 * count from its state at the first sample (topics recovered at start-up) or from zero
 * (topics made later); out-counters are the reactors' (they start at zero). */
#include "admin/sampler.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/live.h"
#include "admin/log.h"
#include "core/clock.h"
#include "net/server.h"

static int sampler_name_cmp(const char *name, const struct admin_topic_sample *t)
{
	return strcmp(name, t->tp->name);
}

/* Binary search of a sample's topics by name. */
static struct admin_topic_sample *sampler_find(const struct admin_sample *s, const char *name)
{
	uint32_t lo = 0, hi = s->ntopics;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = sampler_name_cmp(name, &s->topics[mid]);

		if (c == 0)
			return &s->topics[mid];
		if (c > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct admin_topic_sample *sampler_topic(const struct admin *a, const char *name)
{
	return sampler_find(&a->cur, name);
}

static void sampler_free_sample(struct admin_sample *s)
{
	for (uint32_t i = 0; i < s->ntopics; i++) {
		free(s->topics[i].parts);
		free(s->topics[i].stats_json);
	}
	free(s->topics);
	free(s->subs);
	free(s->reactors);
	memset(s, 0, sizeof(*s));
}

/* A snapshot of the table's topics (sorted by name); *n of them. */
static struct topic **sampler_list(struct admin *a, uint32_t *n)
{
	uint32_t cap = a->topics->count + 64;

	for (int tries = 0; tries < 4; tries++) {
		struct topic **list = malloc(cap * sizeof(*list));

		if (!list)
			return NULL;
		*n = topic_table_list(a->topics, list, cap);
		if (*n <= cap)
			return list;
		free(list);
		cap = *n + 64;	/* grew meanwhile */
	}
	return NULL;
}

static double sampler_rate(uint64_t now, uint64_t before, double dt)
{
	return dt > 0 && now >= before ? (double)(now - before) / dt : 0;
}

/* One partition now, against its previous figures (prev may be NULL). */
static void sampler_part(const struct topic *tp, uint32_t p, struct admin_part_sample *ps,
			 const struct admin_part_sample *prev, bool first_sample, double dt)
{
	const struct topic_partition *part = &tp->part[p];
	const struct log *log = part->log;

	ps->owner = part->owner;
	if (!log)
		return;	/* quarantined (core/topic.h): not served, nothing to count */
	ps->next = log_tail(log);
	ps->first = log_first(log);
	ps->persisted = log_persisted(log);
	ps->synced = log_synced(log);
	ps->bytes = log_bytes_behind(log, ps->first);	/* stored now: retention's leave */
	ps->total_bytes = log_bytes_total(log);		/* appended, in all */
	/* Retention's retired segments stay in the array (this thread's first_seg). */
	ps->segments = atomic_load_explicit(&log->nsegs, memory_order_acquire) - log->first_seg;
	ps->retired_events = atomic_load_explicit(&log->retired_events, memory_order_relaxed);
	ps->retired_bytes = atomic_load_explicit(&log->retired_bytes, memory_order_relaxed);
	for (uint32_t r = 0; r < tp->reactors; r++) {
		ps->out_events += atomic_load_explicit(&part->out[r].events, memory_order_relaxed);
		ps->out_bytes += atomic_load_explicit(&part->out[r].bytes, memory_order_relaxed);
	}
	if (prev) {
		ps->base_next = prev->base_next;
		ps->base_bytes = prev->base_bytes;
	} else if (first_sample) {
		ps->base_next = ps->next;
		ps->base_bytes = ps->total_bytes;
	}
	ps->in_events = ps->next >= ps->base_next ? ps->next - ps->base_next : 0;
	ps->in_bytes = ps->total_bytes >= ps->base_bytes ? ps->total_bytes - ps->base_bytes : 0;
	if (!prev)
		return;
	ps->rate_in = sampler_rate(ps->in_events, prev->in_events, dt);
	ps->tput_in = sampler_rate(ps->in_bytes, prev->in_bytes, dt);
	ps->rate_out = sampler_rate(ps->out_events, prev->out_events, dt);
	ps->tput_out = sampler_rate(ps->out_bytes, prev->out_bytes, dt);
}

static void sampler_sum(struct admin_part_sample *t, const struct admin_part_sample *p)
{
	t->next += p->next - p->first;	/* the total: events in the log */
	t->bytes += p->bytes;
	t->segments += p->segments;
	t->in_events += p->in_events;
	t->in_bytes += p->in_bytes;
	t->out_events += p->out_events;
	t->out_bytes += p->out_bytes;
	t->rate_in += p->rate_in;
	t->tput_in += p->tput_in;
	t->rate_out += p->rate_out;
	t->tput_out += p->tput_out;
}

static int sampler_topics(struct admin *a, struct admin_sample *s, double dt)
{
	uint32_t n;
	struct topic **list = sampler_list(a, &n);

	if (!list)
		return -1;
	s->topics = calloc(n ? n : 1, sizeof(*s->topics));
	if (!s->topics) {
		free(list);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct admin_topic_sample *ts = &s->topics[s->ntopics];
		const struct admin_topic_sample *prev = sampler_find(&a->cur, list[i]->name);

		if (prev && prev->tp != list[i])
			prev = NULL;	/* deleted and made again: a new topic */
		ts->tp = list[i];
		ts->parts = calloc(list[i]->partitions, sizeof(*ts->parts));
		if (!ts->parts)
			break;
		if (prev) {
			ts->stored = prev->stored;
			ts->row_in_events = prev->row_in_events;
			ts->row_in_bytes = prev->row_in_bytes;
			ts->row_out_events = prev->row_out_events;
			ts->row_out_bytes = prev->row_out_bytes;
		}
		for (uint32_t p = 0; p < list[i]->partitions; p++) {
			sampler_part(list[i], p, &ts->parts[p], prev ? &prev->parts[p] : NULL,
				     a->cur.mono_ns == 0, dt);
			sampler_sum(&ts->total, &ts->parts[p]);
		}
		s->ntopics++;
	}
	free(list);
	return 0;
}

/* Subscriptions and producers per topic, from the reactors' lists. */
static void sampler_subs(struct admin *a, struct admin_sample *s)
{
	if (live_subs(a, NULL, &s->subs, &s->nsubs, &s->subs_truncated) < 0)
		return;	/* a reactor did not answer: this sample has no subscriptions */
	for (uint32_t i = 0; i < s->nsubs; i++) {
		struct admin_topic_sample *ts = sampler_find(s, s->subs[i].info.topic->name);

		if (!ts || ts->tp != s->subs[i].info.topic)
			continue;
		ts->subscriptions++;
		ts->backlog_events += s->subs[i].info.lag_events;
		ts->backlog_bytes += s->subs[i].info.lag_bytes;
	}
	for (uint32_t r = 0; r < a->eng->n; r++) {
		const struct control_cmd *cmd = a->lists[r];

		for (uint32_t i = 0; cmd && i < cmd->nproducers; i++) {
			struct admin_topic_sample *ts = sampler_find(s, cmd->producers[i]->name);

			if (ts && ts->tp == cmd->producers[i])
				ts->producers++;
		}
	}
}

static void sampler_reactors(struct admin *a, struct admin_sample *s, double dt)
{
	s->reactors = calloc(a->eng->n, sizeof(*s->reactors));
	for (uint32_t r = 0; s->reactors && r < a->eng->n; r++) {
		const struct net_stats *st = &a->eng->servers[r]->stats;
		struct admin_reactor_sample *rs = &s->reactors[r];
		const struct admin_reactor_sample *p = a->cur.reactors ? &a->cur.reactors[r] : NULL;

		rs->events_in = net_stat_get(&st->events_in);
		rs->batches_in = net_stat_get(&st->batches_in);
		rs->batches_rejected = net_stat_get(&st->batches_rejected);
		rs->deliveries = net_stat_get(&st->deliveries);
		rs->bytes_sent = net_stat_get(&st->bytes_sent);
		rs->sends = net_stat_get(&st->sends);
		rs->wakeups = net_stat_get(&st->wakeups);
		rs->turns = net_stat_get(&st->turns);
		rs->wait_ns = net_stat_get(&st->wait_ns);
		rs->connections = net_stat_get(&st->connections);
		rs->controls = net_stat_get(&st->controls);
		if (!p || dt <= 0)
			continue;
		rs->rate_in = sampler_rate(rs->events_in, p->events_in, dt);
		rs->rate_out = sampler_rate(rs->deliveries, p->deliveries, dt);
		rs->busy = 1.0 - sampler_rate(rs->wait_ns, p->wait_ns, dt) / 1e9;
		rs->busy = rs->busy < 0 ? 0 : rs->busy > 1 ? 1 : rs->busy;
	}
}

void sampler_topic_stored(struct admin *a, const struct topic *tp, bool stored)
{
	struct admin_topic_sample *ts = sampler_find(&a->cur, tp->name);

	if (ts && ts->tp == tp)
		ts->stored = stored;
}

void sampler_topic_forget(struct admin *a, const struct topic *tp)
{
	struct admin_sample *s = &a->cur;
	struct admin_topic_sample *ts = sampler_find(s, tp->name);
	uint32_t k = 0;

	if (ts && ts->tp == tp) {	/* the others stay sorted by name */
		free(ts->parts);
		free(ts->stats_json);
		memmove(ts, ts + 1, (size_t)(s->topics + s->ntopics - (ts + 1)) * sizeof(*ts));
		s->ntopics--;
	}
	for (uint32_t i = 0; i < s->nsubs; i++)	/* and by serial */
		if (s->subs[i].info.topic != tp)
			s->subs[k++] = s->subs[i];
	s->nsubs = k;
}

/* Inserts a topic the store lacks, with the seed's defaults. Returns the store_rc. */
static int sampler_insert_topic(struct admin *a, const struct topic *tp)
{
	struct store_topic t = { .partitions = tp->partitions, .enabled = !topic_disabled(tp),
				 .latency_requirement_ms = 100, .priority = topic_priority(tp) };
	int rc;

	/* In the shared store at the watch's last look: gone from it since means deleted on
	 * another node (the watch deletes it here), not a topic to add back. */
	if (watch_knows(a, tp->name))
		return STORE_OK;
	memcpy(t.name, tp->name, tp->name_len + 1);
	strcpy(t.retention_policy, "7d");
	strcpy(t.compression_type, "LZ4");
	rc = store_topic_insert(&a->store, &t);
	return rc == STORE_CONFLICT ? STORE_OK : rc;	/* it was there already */
}

void sampler_store_topics(struct admin *a)
{
	uint32_t n;
	struct topic **list;

	if (!a->store.up)
		return;
	list = sampler_list(a, &n);
	for (uint32_t i = 0; list && i < n; i++) {
		struct admin_topic_sample *ts = sampler_find(&a->cur, list[i]->name);

		if (ts && ts->tp == list[i] && ts->stored)
			continue;
		if (sampler_insert_topic(a, list[i]) != STORE_OK)
			break;	/* down, or a bug logged by the next management call */
		if (ts && ts->tp == list[i])
			ts->stored = true;
	}
	free(list);
}

/* The subscriptions row for a live subscription. */
static void sampler_sub_row(const struct admin *a, const struct admin_sub_sample *s,
			    struct store_sub *row, char *filters, size_t cap, const char *now)
{
	/* fanout.v1.StartPosition: LATEST 0, EARLIEST 1, OFFSET 2, TIMESTAMP 3. The seed's
	 * column knows three: a time resolves to message ids (offsets) at the subscribe. */
	static const char *const starts[] = { "Latest", "Earliest", "MessageId", "MessageId" };
	const struct control_sub_info *in = &s->info;
	int st = in->stats.start >= 0 && in->stats.start <= 3 ? in->stats.start : 0;
	json_t *f;
	size_t n;

	memset(row, 0, sizeof(*row));
	snprintf(row->subscription_id, sizeof(row->subscription_id), "%s", s->id);
	snprintf(row->topic_name, sizeof(row->topic_name), "%s", in->topic->name);
	snprintf(row->subscription_name, sizeof(row->subscription_name), "%.60s/%u",
		 in->client_name[0] ? in->client_name : "connection", in->sub_id);
	strcpy(row->subscription_type, "Exclusive");
	snprintf(row->consumer_group, sizeof(row->consumer_group), "%s", in->client_name);
	/* jansson, not a format string: a pattern may hold '"' or '\\'. */
	f = json_pack("{s:s, s:b, s:b}", "patterns", in->patterns, "content_filter", in->filter,
		      "shm", in->shm);
	n = f ? json_dumpb(f, filters, cap - 1, JSON_COMPACT) : 0;
	if (n == 0 || n >= cap - 1)
		snprintf(filters, cap, "{}");
	else
		filters[n] = '\0';
	json_decref(f);
	row->filters = filters;
	strcpy(row->start_position, starts[st]);
	strcpy(row->delivery_guarantee, "at_least_once");
	strcpy(row->status, "active");
	snprintf(row->node_id, sizeof(row->node_id), "%s", a->node_id);
	store_time(in->stats.since_ns, row->created_at, sizeof(row->created_at));
	snprintf(row->last_activity, sizeof(row->last_activity), "%s", now);
}

/* Records started subscriptions and the end of those gone since the last sample. */
static void sampler_store_subs(struct admin *a, struct admin_sample *s, const char *now)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < a->cur.nsubs; i++) {	/* both sorted by serial */
		const struct admin_sub_sample *old = &a->cur.subs[i];

		while (j < s->nsubs && s->subs[j].info.stats.serial < old->info.stats.serial)
			j++;
		if (j < s->nsubs && s->subs[j].info.stats.serial == old->info.stats.serial)
			continue;
		if (old->stored && a->nstops < ADMIN_STOPS_MAX)
			memcpy(a->stops[a->nstops++], old->id, ADMIN_ID_BYTES);
	}
	for (uint32_t i = a->nstops; a->store.up && i-- > 0;) {
		int rc = store_sub_status(&a->store, a->stops[i], "stopped", now);

		if (rc == STORE_OK || rc == STORE_NOT_FOUND)
			memcpy(a->stops[i], a->stops[--a->nstops], ADMIN_ID_BYTES);
	}
	for (uint32_t i = 0; a->store.up && i < s->nsubs; i++) {
		struct store_sub row;
		char filters[CONTROL_PATTERNS_BYTES * 2 + 64];

		if (s->subs[i].stored)
			continue;
		sampler_sub_row(a, &s->subs[i], &row, filters, sizeof(filters), now);
		s->subs[i].stored = store_sub_upsert(&a->store, &row) == STORE_OK;
	}
}

/* Queues one distribution_stats row per topic for the interval since its last row (since
 * the start for the first: counters start at zero, see the top). */
static void sampler_rows(struct admin *a, struct admin_sample *s, const char *now);

void sampler_tick(struct admin *a)
{
	struct admin_sample s = { .mono_ns = clock_monotonic_ns(), .real_ns = clock_realtime_ns() };
	double dt = a->cur.mono_ns ? (double)(s.mono_ns - a->cur.mono_ns) / 1e9 : 0;
	char now[STORE_TIME_BYTES];

	store_time(s.real_ns, now, sizeof(now));
	if (sampler_topics(a, &s, dt) < 0) {
		sampler_free_sample(&s);
		return;
	}
	sampler_subs(a, &s);
	sampler_reactors(a, &s, dt);
	admin_latency_tick(a);
	if (a->store.up) {
		for (uint32_t i = 0; i < s.ntopics; i++)	/* before their subscriptions */
			if (!s.topics[i].stored &&
			    sampler_insert_topic(a, s.topics[i].tp) == STORE_OK)
				s.topics[i].stored = true;
		sampler_store_subs(a, &s, now);
	}
	if (a->next_row_ns == 0)	/* the first row a whole interval after the start */
		a->next_row_ns = s.mono_ns + (int64_t)a->cfg->stats_interval_s * 1000000000;
	if (s.mono_ns >= a->next_row_ns) {
		sampler_rows(a, &s, now);
		a->next_row_ns = s.mono_ns + (int64_t)a->cfg->stats_interval_s * 1000000000;
	}
	sampler_free_sample(&a->cur);
	a->cur = s;
	sampler_flush_rows(a, false);
}

/* Appends a row, dropping the oldest when the queue is full (said once per outage). */
static void sampler_push(struct admin *a, const struct store_stat_row *row)
{
	struct admin_statq *q = &a->statq;

	if (!q->rows) {
		q->cap = a->cfg->stats_queue_rows;
		q->rows = calloc(q->cap, sizeof(*q->rows));
		if (!q->rows)
			return;
	}
	if (q->n == q->cap) {
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->dropped++;
		if (!q->drop_logged)
			admin_log(ADMIN_LOG_WARN, "statistics: %u rows wait for the store; the "
				  "oldest are being dropped (--stats-queue-rows)", q->cap);
		q->drop_logged = true;
	}
	q->rows[(q->head + q->n) % q->cap] = *row;
	q->n++;
}

static void sampler_rows(struct admin *a, struct admin_sample *s, const char *now)
{
	for (uint32_t i = 0; i < s->ntopics; i++) {
		struct admin_topic_sample *ts = &s->topics[i];
		struct store_stat_row row = { .active_subscriptions = ts->subscriptions };

		snprintf(row.timestamp, sizeof(row.timestamp), "%s", now);
		memcpy(row.topic_name, ts->tp->name, ts->tp->name_len + 1);
		row.messages_received = ts->total.in_events - ts->row_in_events;
		row.bytes_received = ts->total.in_bytes - ts->row_in_bytes;
		row.messages_distributed = ts->total.out_events - ts->row_out_events;
		row.bytes_distributed = ts->total.out_bytes - ts->row_out_bytes;
		sampler_push(a, &row);
		ts->row_in_events = ts->total.in_events;
		ts->row_in_bytes = ts->total.in_bytes;
		ts->row_out_events = ts->total.out_events;
		ts->row_out_bytes = ts->total.out_bytes;
	}
}

void sampler_flush_rows(struct admin *a, bool final)
{
	struct admin_statq *q = &a->statq;
	struct store_stat_row batch[ADMIN_STATS_FLUSH_ROWS];

	if (final) {
		char now[STORE_TIME_BYTES];

		store_time(clock_realtime_ns(), now, sizeof(now));
		sampler_rows(a, &a->cur, now);	/* the interval cut short by the stop */
	}
	while (q->n > 0 && a->store.up) {
		uint32_t k = q->n < ADMIN_STATS_FLUSH_ROWS ? q->n : ADMIN_STATS_FLUSH_ROWS;

		for (uint32_t i = 0; i < k; i++)
			batch[i] = q->rows[(q->head + i) % q->cap];
		if (store_stats_insert(&a->store, batch, k) != STORE_OK)
			return;	/* kept; the store's outage is logged by the store */
		q->head = (q->head + k) % q->cap;
		q->n -= k;
		q->written += k;
	}
	if (q->n == 0)
		q->drop_logged = false;
}

void sampler_free(struct admin *a)
{
	sampler_free_sample(&a->cur);
	admin_latency_free(a);
	free(a->statq.rows);
	memset(&a->statq, 0, sizeof(a->statq));
}
