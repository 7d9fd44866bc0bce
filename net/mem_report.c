/* net/mem_report.c — fanoutd's periodic memory line (see mem_report.h). */
#include "net/mem_report.h"

#include "core/budget.h"
#include "core/latest.h"
#include "net/server.h"

static double mem_mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static void mem_report_one(const struct budget *b, uint32_t id, const struct latest_totals *lt,
			   uint32_t keys_max, FILE *out)
{
	fprintf(out, "fanoutd: reactor %u memory: %.1f MiB of %.1f MiB (peak %.1f):", id,
		mem_mib(budget_read(&b->used)), mem_mib(b->limit), mem_mib(budget_read(&b->peak)));
	for (int k = 0; k < BUDGET_KINDS; k++)
		fprintf(out, "%s %s %.1f", k ? "," : "", budget_kind_name((enum budget_kind)k),
			mem_mib(budget_read(&b->used_by[k])));
	fprintf(out, "; %llu growths refused, %llu cut at the budget, %llu cut at the frame "
		"deadline; last-value tables: %llu keys in %llu partitions (at most %u each), "
		"%llu evicted, %llu hash collisions, %.1f MiB\n",
		(unsigned long long)budget_read(&b->refused),
		(unsigned long long)budget_read(&b->budget_cuts),
		(unsigned long long)budget_read(&b->deadline_cuts),
		(unsigned long long)lt->keys, (unsigned long long)lt->partitions, keys_max,
		(unsigned long long)lt->evictions, (unsigned long long)lt->collisions,
		mem_mib(lt->bytes));
}

void mem_report_log(const struct net_engine *e, struct topic_table *topics, FILE *out)
{
	for (uint32_t i = 0; i < e->n; i++) {
		struct latest_totals lt;

		if (!e->servers[i])
			continue;
		topic_table_latest_totals(topics, i, &lt);
		mem_report_one(net_server_budget(e->servers[i]), i, &lt, topics->latest_keys_max, out);
	}
	fflush(out);
}
