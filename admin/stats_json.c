/* admin/stats_json.c — see stats_json.h. */
#include "admin/stats_json.h"
#include "net/named.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

json_t *stats_time_json(int64_t ns)
{
	char buf[STORE_TIME_BYTES];

	store_time(ns, buf, sizeof(buf));
	return json_string(buf);
}

/* The fields a partition and a topic share. */
static json_t *stats_part_json(const struct admin_part_sample *p, bool partition)
{
	uint64_t events = partition ? p->next - p->first : p->next;
	json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:I}",
			      "msgRateIn", p->rate_in, "msgThroughputIn", p->tput_in,
			      "msgRateOut", p->rate_out, "msgThroughputOut", p->tput_out,
			      "msgInCounter", (json_int_t)p->in_events,
			      "bytesInCounter", (json_int_t)p->in_bytes,
			      "msgOutCounter", (json_int_t)p->out_events,
			      "bytesOutCounter", (json_int_t)p->out_bytes,
			      "storageSize", (json_int_t)(p->bytes + events * sizeof(struct log_entry)),
			      "averageMsgSize", events ? (double)p->bytes / (double)events : 0.0,
			      "segments", (json_int_t)p->segments);

	if (o && partition) {
		json_object_set_new(o, "firstOffset", json_integer((json_int_t)p->first));
		json_object_set_new(o, "nextOffset", json_integer((json_int_t)p->next));
		json_object_set_new(o, "diskOffset", json_integer((json_int_t)p->persisted));
		json_object_set_new(o, "syncedOffset", json_integer((json_int_t)p->synced));
		json_object_set_new(o, "ownerReactor", json_integer(p->owner));
		json_object_set_new(o, "retentionDeletedEvents",
				    json_integer((json_int_t)p->retired_events));
		json_object_set_new(o, "retentionDeletedBytes",
				    json_integer((json_int_t)p->retired_bytes));
	}
	return o;
}

/* A subscription's type as the admin API names it (Pulsar's names). */
static const char *stats_sub_type(uint8_t type)
{
	switch (type) {
	case NAMED_SHARED: return "Shared";
	case NAMED_FAILOVER: return "Failover";
	case NAMED_KEY_SHARED: return "Key_Shared";
	default: return "Exclusive";
	}
}

json_t *stats_sub_json(const struct admin *a, const struct admin_sub_sample *s)
{
	const struct control_sub_info *in = &s->info;
	static const char *const starts[] = { "latest", "earliest", "offset", "timestamp" };
	int st = in->stats.start >= 0 && in->stats.start <= 3 ? in->stats.start : 0;
	uint64_t unacked = in->delivered - in->stats.delivered_at_ack;
	json_t *consumer = json_pack("{s:s, s:o, s:f, s:f, s:I, s:i}",
				     "consumerName", in->client_name,
				     "connectedSince", stats_time_json(in->connected_ns),
				     "msgRateOut", s->rate_out, "msgThroughputOut", s->tput_out,
				     "unackedMessages", (json_int_t)unacked,
				     "connection", (int)in->conn);

	json_t *o;

	(void)a;
	o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:b, s:b, s:s, s:o,"
			 " s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:[o]}",
			 "id", s->id, "topic", in->topic->name, "reactor", (int)in->stats.reactor,
			 "subscriptionId", (int)in->sub_id, "patterns", in->patterns,
			 "start", starts[st], "filter", in->filter, "shm", in->shm,
			 "type", stats_sub_type(in->stats.type),
			 "connectedSince", stats_time_json(in->stats.since_ns),
			 "msgRateOut", s->rate_out, "msgThroughputOut", s->tput_out,
			 "msgOutCounter", (json_int_t)in->delivered,
			 "bytesOutCounter", (json_int_t)in->stats.bytes_out,
			 "msgBacklog", (json_int_t)in->lag_events,
			 "backlogSize", (json_int_t)in->lag_bytes,
			 "unackedMessages", (json_int_t)unacked,
			 "lastAckedOffset", (json_int_t)in->acked_offset,
			 "consumerName", in->client_name, "consumers", consumer);
	if (o) {	/* durable: its cursor outlives the connection (net/named.h) */
		json_object_set_new(o, "subscriptionName", in->stats.name[0] ?
				    json_string(in->stats.name) : json_null());
		json_object_set_new(o, "durable", json_boolean(in->stats.name[0] != 0));
		if (in->stats.name[0])
			json_object_set_new(o, "delivery", json_string(in->stats.at_most_once ?
					    "at_most_once" : "at_least_once"));
		if (in->stats.type == NAMED_FAILOVER)	/* sent nothing until the active one goes */
			json_object_set_new(o, "standby", json_boolean(in->stats.standby));
	}
	return o;
}

json_t *stats_topic_json(const struct admin *a, const struct topic *tp,
			 const struct admin_topic_sample *ts)
{
	struct admin_part_sample zero = { 0 };
	json_t *o = stats_part_json(ts ? &ts->total : &zero, false);
	json_t *parts = json_object(), *subs = json_object();
	char key[16];

	if (!o || !parts || !subs) {
		json_decref(o);
		json_decref(parts);
		json_decref(subs);
		return NULL;
	}
	json_object_set_new(o, "partitionCount", json_integer(tp->partitions));
	json_object_set_new(o, "backlogSize", json_integer(ts ? (json_int_t)ts->backlog_bytes : 0));
	json_object_set_new(o, "msgBacklog", json_integer(ts ? (json_int_t)ts->backlog_events : 0));
	json_object_set_new(o, "producerCount", json_integer(ts ? ts->producers : 0));
	json_object_set_new(o, "subscriptionCount", json_integer(ts ? ts->subscriptions : 0));
	for (uint32_t p = 0; p < tp->partitions; p++) {
		const struct log_fault *q = tp->part[p].quarantine;
		json_t *po = stats_part_json(ts ? &ts->parts[p] : &zero, true);

		if (po && q)	/* not served until repaired (README, "Quarantined partitions") */
			json_object_set_new(po, "quarantined", json_pack("{s:s, s:s, s:I}",
					    "file", q->file, "what", q->what,
					    "offset", (json_int_t)q->offset));
		snprintf(key, sizeof(key), "%u", p);
		json_object_set_new(parts, key, po);
	}
	for (uint32_t i = 0; ts && i < a->cur.nsubs; i++)
		if (a->cur.subs[i].info.topic == tp)
			json_object_set_new(subs, a->cur.subs[i].id,
					    stats_sub_json(a, &a->cur.subs[i]));
	json_object_set_new(o, "partitions", parts);
	json_object_set_new(o, "subscriptions", subs);
	json_object_set_new(o, "sampledAt", stats_time_json(a->cur.real_ns));
	return o;
}

static json_t *stats_reactors_json(const struct admin *a)
{
	json_t *arr = json_array();

	for (uint32_t r = 0; arr && a->cur.reactors && r < a->eng->n; r++) {
		const struct admin_reactor_sample *rs = &a->cur.reactors[r];

		json_array_append_new(arr, json_pack(
			"{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "reactor", (int)r,
			"eventsIn", (json_int_t)rs->events_in, "deliveries", (json_int_t)rs->deliveries,
			"bytesSent", (json_int_t)rs->bytes_sent, "sends", (json_int_t)rs->sends,
			"wakeups", (json_int_t)rs->wakeups, "connections", (json_int_t)rs->connections,
			"turns", (json_int_t)rs->turns, "msgRateIn", rs->rate_in,
			"msgRateOut", rs->rate_out, "busy", rs->busy));
	}
	return arr;
}

json_t *stats_overview_json(const struct admin *a)
{
	json_t *topics = json_array(), *subs = json_array();

	for (uint32_t i = 0; topics && i < a->cur.ntopics; i++) {
		const struct admin_topic_sample *ts = &a->cur.topics[i];

		json_array_append_new(topics, json_pack(
			"{s:s, s:i, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:i, s:i}",
			"topic", ts->tp->name, "partitions", (int)ts->tp->partitions,
			"msgRateIn", ts->total.rate_in, "msgThroughputIn", ts->total.tput_in,
			"msgRateOut", ts->total.rate_out, "msgThroughputOut", ts->total.tput_out,
			"msgBacklog", (json_int_t)ts->backlog_events,
			"backlogSize", (json_int_t)ts->backlog_bytes,
			"storageSize", (json_int_t)ts->total.bytes, "subscriptions",
			(int)ts->subscriptions, "producers", (int)ts->producers));
	}
	for (uint32_t i = 0; subs && i < a->cur.nsubs; i++)
		json_array_append_new(subs, stats_sub_json(a, &a->cur.subs[i]));
	return json_pack("{s:o, s:o, s:o, s:o, s:b, s:o}", "sampledAt",
			 stats_time_json(a->cur.real_ns), "reactors", stats_reactors_json(a),
			 "topics", topics, "subscriptions", subs, "subscriptionsTruncated",
			 a->cur.subs_truncated, "startedAt", stats_time_json(a->start_real_ns));
}

const char *stats_topic_text(const struct admin *a, struct admin_topic_sample *ts)
{
	if (!ts->stats_json) {
		json_t *o = stats_topic_json(a, ts->tp, ts);

		ts->stats_json = o ? json_dumps(o, JSON_COMPACT) : NULL;
		ts->stats_len = ts->stats_json ? strlen(ts->stats_json) : 0;
		json_decref(o);
	}
	return ts->stats_json;
}
