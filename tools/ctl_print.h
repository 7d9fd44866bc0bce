/* tools/ctl_print.h — the admin API's answers as human tables on stdout, for fanoutctl
 * and fanout-top. Missing members print as "-". */
#ifndef FANOUT_TOOLS_CTL_PRINT_H
#define FANOUT_TOOLS_CTL_PRINT_H

#include <jansson.h>

void ctl_print_topics(const json_t *topics);	/* an array of topic records */
void ctl_print_topic(const json_t *topic);	/* one record, with its stats if present */
void ctl_print_topic_stats(const json_t *stats);
void ctl_print_subs(const json_t *subs);
void ctl_print_rules(const json_t *rules);
void ctl_print_object(const json_t *o);		/* key: value lines */
/* The /api/v1/stats overview; at most max_rows topics and subscriptions each (0 = all). */
void ctl_print_overview_rows(const json_t *o, int max_rows);
void ctl_print_overview(const json_t *o);

/* A rate or size with a unit suffix (k, M, G) into buf. */
const char *ctl_human(double v, char *buf, size_t cap);

#endif
