/* net/mem_report.h — the periodic memory line of fanoutd: each reactor's budget
 * (core/budget.h) and its partitions' last-value tables, read from another thread the way
 * the admin plane's /metrics reads them (relaxed loads of counters the owners write).
 * Main thread (or any thread that is not a reactor: it takes the topic table's lock). */
#ifndef FANOUT_NET_MEM_REPORT_H
#define FANOUT_NET_MEM_REPORT_H

#include <stdio.h>

#include "core/topic.h"
#include "net/engine.h"

/* Writes one line per reactor to out:
 *   fanoutd: reactor 0 memory: 1.2 MiB of 256.0 MiB (peak 3.4): input 1.0, answers 0.1,
 *   tickets 0.1, snapshots 0.0, rings 0.0, subscriptions 0.0; 0 growths refused, 0 cut at
 *   the budget, 0 cut at the frame deadline; last-value tables: 1200 keys in 4 partitions
 *   (at most 262144 each), 0 evicted, 0 hash collisions, 0.1 MiB */
void mem_report_log(const struct net_engine *e, struct topic_table *topics, FILE *out);

#endif
