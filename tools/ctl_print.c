/* tools/ctl_print.c — see ctl_print.h. */
#include "tools/ctl_print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : "-";
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

const char *ctl_human(double v, char *buf, size_t cap)
{
	static const char *const units[] = { "", "k", "M", "G", "T" };
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f%s" : "%.0f%s", v, units[u]);
	return buf;
}

void ctl_print_topics(const json_t *topics)
{
	size_t i;
	json_t *t;

	printf("%-40s %5s %-7s %-9s %-12s %s\n", "TOPIC", "PARTS", "ENABLED", "RETENTION",
	       "DATA_TYPE", "CREATED");
	json_array_foreach(topics, i, t)
		printf("%-40s %5d %-7s %-9s %-12s %s\n", str(t, "topic_name"),
		       (int)num(t, "partitions"), json_is_true(json_object_get(t, "enabled"))
		       ? "yes" : "no", str(t, "retention_policy"), str(t, "data_type"),
		       str(t, "created_at"));
}

void ctl_print_object(const json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		char *text;

		if (json_is_object(v) || json_is_array(v))
			continue;
		text = json_dumps(v, JSON_ENCODE_ANY);
		printf("%-24s %s\n", key, json_is_string(v) ? json_string_value(v) : text ? text : "");
		free(text);
	}
}

void ctl_print_topic_stats(const json_t *s)
{
	char a[16], b[16], c[16], d[16];
	const char *key;
	json_t *p;

	printf("in  %s events/s  %sB/s   out %s events/s  %sB/s\n",
	       ctl_human(num(s, "msgRateIn"), a, sizeof(a)),
	       ctl_human(num(s, "msgThroughputIn"), b, sizeof(b)),
	       ctl_human(num(s, "msgRateOut"), c, sizeof(c)),
	       ctl_human(num(s, "msgThroughputOut"), d, sizeof(d)));
	printf("stored %sB   backlog %.0f events (%sB)   producers %.0f   subscriptions %.0f\n",
	       ctl_human(num(s, "storageSize"), a, sizeof(a)), num(s, "msgBacklog"),
	       ctl_human(num(s, "backlogSize"), b, sizeof(b)), num(s, "producerCount"),
	       num(s, "subscriptionCount"));
	printf("%-9s %-7s %12s %12s %10s %10s %s\n", "PARTITION", "REACTOR", "NEXT_OFFSET",
	       "STORED", "IN/s", "OUT/s", "SEGMENTS");
	json_object_foreach(json_object_get(s, "partitions"), key, p)
		printf("%-9s %-7.0f %12.0f %12s %10s %10s %.0f\n", key, num(p, "ownerReactor"),
		       num(p, "nextOffset"), ctl_human(num(p, "storageSize"), a, sizeof(a)),
		       ctl_human(num(p, "msgRateIn"), b, sizeof(b)),
		       ctl_human(num(p, "msgRateOut"), c, sizeof(c)), num(p, "segments"));
}

void ctl_print_topic(const json_t *t)
{
	ctl_print_object(t);
	if (json_object_get(t, "stats")) {
		printf("\n");
		ctl_print_topic_stats(json_object_get(t, "stats"));
	}
}

void ctl_print_subs(const json_t *subs)
{
	char a[16], b[16];
	size_t i;
	json_t *s;

	printf("%-22s %-24s %-16s %-20s %9s %10s %10s %s\n", "ID", "TOPIC", "CLIENT", "PATTERNS",
	       "OUT/s", "DELIVERED", "LAG", "SINCE");
	json_array_foreach(subs, i, s) {
		if (json_object_get(s, "status") && !json_object_get(s, "msgRateOut")) {
			printf("%-22s %-24s %-16s %-20s %9s %10s %10s %s (%s)\n", str(s, "id"),
			       str(s, "topic"), str(s, "consumer_group"), "-", "-", "-", "-",
			       str(s, "created_at"), str(s, "status"));
			continue;
		}
		printf("%-22s %-24s %-16s %-20.20s %9s %10.0f %10s %s\n", str(s, "id"),
		       str(s, "topic"), str(s, "consumerName"), str(s, "patterns"),
		       ctl_human(num(s, "msgRateOut"), a, sizeof(a)), num(s, "msgOutCounter"),
		       ctl_human(num(s, "msgBacklog"), b, sizeof(b)), str(s, "connectedSince"));
	}
}

void ctl_print_rules(const json_t *rules)
{
	size_t i;
	json_t *r;

	printf("%-20s %5s %-7s %-16s %-16s %-16s %-20s %s\n", "NAME", "PRIO", "ENABLED",
	       "SOURCE_TOPIC", "PATTERN", "TARGET", "TEMPLATE", "ORIGIN");
	json_array_foreach(rules, i, r)
		printf("%-20s %5.0f %-7s %-16s %-16s %-16s %-20s %s\n", str(r, "name"),
		       num(r, "priority"), json_is_true(json_object_get(r, "enabled")) ? "yes" : "no",
		       str(r, "source_topic"), str(r, "source_pattern"), str(r, "target_topic"),
		       str(r, "routing_key_template"), str(r, "origin"));
}

void ctl_print_overview_rows(const json_t *o, int max_rows)
{
	char a[16], b[16], c[16], d[16];
	size_t i;
	json_t *v;

	printf("%-8s %10s %10s %8s %6s %6s\n", "REACTOR", "IN/s", "OUT/s", "SENT", "CONNS",
	       "BUSY");
	json_array_foreach(json_object_get(o, "reactors"), i, v)
		printf("%-8.0f %10s %10s %8s %6.0f %5.0f%%\n", num(v, "reactor"),
		       ctl_human(num(v, "msgRateIn"), a, sizeof(a)),
		       ctl_human(num(v, "msgRateOut"), b, sizeof(b)),
		       ctl_human(num(v, "bytesSent"), c, sizeof(c)), num(v, "connections"),
		       100 * num(v, "busy"));
	printf("\n%-32s %5s %10s %10s %10s %10s %5s %5s %10s\n", "TOPIC", "PARTS", "IN/s", "OUT/s",
	       "IN B/s", "OUT B/s", "PROD", "SUBS", "BACKLOG");
	json_array_foreach(json_object_get(o, "topics"), i, v) {
		if (max_rows && (int)i >= max_rows)
			break;
		printf("%-32s %5.0f %10s %10s %10s %10s %5.0f %5.0f %10.0f\n", str(v, "topic"),
		       num(v, "partitions"), ctl_human(num(v, "msgRateIn"), a, sizeof(a)),
		       ctl_human(num(v, "msgRateOut"), b, sizeof(b)),
		       ctl_human(num(v, "msgThroughputIn"), c, sizeof(c)),
		       ctl_human(num(v, "msgThroughputOut"), d, sizeof(d)), num(v, "producers"),
		       num(v, "subscriptions"), num(v, "msgBacklog"));
	}
	printf("\n");
	ctl_print_subs(json_object_get(o, "subscriptions"));
}

void ctl_print_overview(const json_t *o)
{
	ctl_print_overview_rows(o, 0);
}
