/* tools/kafka_stat.c — see kafka_stat.h. Label values need no escaping: Kafka topic and
 * group names name idempotent producers here, so they are [A-Za-z0-9._-] only
 * (core/config.c checks). */
#include "tools/kafka_stat.h"

#include <stdio.h>
#include <stdlib.h>

int64_t kafka_stat_lag(const struct kafka_stat_part *p)
{
	if (!p->assigned || p->high < 0 || p->position < 0)
		return -1;
	return p->high > p->position ? p->high - p->position : 0;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one series per source: value(source). */
static void per_source(FILE *f, const struct kafka_stat_source *src, uint32_t n,
		       const char *name, const char *type, const char *help,
		       uint64_t (*value)(const struct kafka_stat_source *))
{
	family(f, name, type, help);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s{kafka_topic=\"%s\",group=\"%s\",topic=\"%s\"} %llu\n", name,
			src[i].kafka_topic, src[i].group, src[i].topic,
			(unsigned long long)value(&src[i]));
}

static uint64_t v_stored(const struct kafka_stat_source *s) { return s->stored; }
static uint64_t v_refused(const struct kafka_stat_source *s) { return s->refused; }
static uint64_t v_skipped(const struct kafka_stat_source *s) { return s->skipped; }
static uint64_t v_not_durable(const struct kafka_stat_source *s) { return s->not_durable; }
static uint64_t v_down(const struct kafka_stat_source *s) { return s->brokers_down; }

static uint64_t v_assigned(const struct kafka_stat_source *s)
{
	uint64_t n = 0;

	for (uint32_t p = 0; p < s->nparts; p++)
		n += s->parts[p].assigned;
	return n;
}

/* A gauge family with one series per assigned partition whose value is known (>= 0). */
static void per_part(FILE *f, const struct kafka_stat_source *src, uint32_t n,
		     const char *name, const char *help,
		     int64_t (*value)(const struct kafka_stat_part *))
{
	family(f, name, "gauge", help);
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t p = 0; p < src[i].nparts; p++) {
			int64_t v = src[i].parts[p].assigned ? value(&src[i].parts[p]) : -1;

			if (v >= 0)
				fprintf(f, "%s{kafka_topic=\"%s\",group=\"%s\",partition=\"%u\"} "
					"%lld\n", name, src[i].kafka_topic, src[i].group, p,
					(long long)v);
		}
	}
}

static int64_t v_position(const struct kafka_stat_part *p) { return p->position; }
static int64_t v_committed(const struct kafka_stat_part *p) { return p->committed; }
static int64_t v_high(const struct kafka_stat_part *p) { return p->high; }

char *kafka_stat_metrics(const struct kafka_stat_source *src, uint32_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (n == 0)	/* no source: no family */
		return calloc(1, 1);
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	per_source(f, src, n, "fanout_kafka_events_stored_total", "counter",
		   "Kafka messages stored in their fanout topic (or found stored before).",
		   v_stored);
	per_source(f, src, n, "fanout_kafka_events_refused_total", "counter",
		   "Kafka messages the server refused for good (invalid events).", v_refused);
	per_source(f, src, n, "fanout_kafka_messages_skipped_total", "counter",
		   "Kafka messages that are not events (bad payload, empty, over the frame "
		   "limit).", v_skipped);
	per_source(f, src, n, "fanout_kafka_events_not_durable_total", "counter",
		   "Stored Kafka messages whose sync failed (--fsync batch).", v_not_durable);
	per_source(f, src, n, "fanout_kafka_partitions_assigned", "gauge",
		   "Kafka partitions this server consumes for the source.", v_assigned);
	per_source(f, src, n, "fanout_kafka_brokers_down", "gauge",
		   "1 while librdkafka reports every broker down (local publishing goes on).",
		   v_down);
	per_part(f, src, n, "fanout_kafka_consumer_lag_messages",
		 "Messages in the Kafka partition not yet stored (high watermark - position).",
		 kafka_stat_lag);
	per_part(f, src, n, "fanout_kafka_position_offset",
		 "The next Kafka offset to store; every one before is answered.", v_position);
	per_part(f, src, n, "fanout_kafka_committed_offset",
		 "The consumer group's committed offset.", v_committed);
	per_part(f, src, n, "fanout_kafka_high_watermark_offset",
		 "The Kafka partition's high watermark at the last fetch.", v_high);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

json_t *kafka_stat_json(const struct kafka_stat_source *src, uint32_t n)
{
	json_t *list = json_array(), *body;

	if (!list)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		const struct kafka_stat_source *s = &src[i];
		json_t *parts = json_array(), *one;
		int64_t total = 0;

		for (uint32_t p = 0; parts && p < s->nparts; p++) {
			const struct kafka_stat_part *kp = &s->parts[p];
			int64_t lag = kafka_stat_lag(kp);

			if (!kp->assigned)
				continue;
			if (lag > 0)
				total += lag;
			if (json_array_append_new(parts, json_pack("{s:i, s:I, s:I, s:I, s:I}",
				"partition", (int)p, "position", (json_int_t)kp->position,
				"committed", (json_int_t)kp->committed,
				"highWatermark", (json_int_t)kp->high, "lag", (json_int_t)lag)) < 0) {
				json_decref(parts);	/* no memory: no partial answer */
				parts = NULL;
			}
		}
		one = parts ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:I, s:o}",
			"kafkaTopic", s->kafka_topic, "topic", s->topic, "group", s->group,
			"stored", (json_int_t)s->stored, "refused", (json_int_t)s->refused,
			"skipped", (json_int_t)s->skipped,
			"notDurable", (json_int_t)s->not_durable, "brokersDown", s->brokers_down,
			"lag", (json_int_t)total, "partitions", parts) : NULL;
		if (!one || json_array_append_new(list, one) < 0) {
			json_decref(list);
			return NULL;
		}
	}
	body = json_pack("{s:o}", "sources", list);
	return body;
}
