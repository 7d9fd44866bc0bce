/* core/topic_quota.c — topics a connection may create (core/topic_quota.h). */
#include "core/topic_quota.h"

#include <assert.h>
#include <errno.h>

#define TOPIC_QUOTA_NS_PER_S 1000000000ll

void topic_quota_init(struct topic_quota *q, uint32_t max, uint32_t rate)
{
	*q = (struct topic_quota){ .max = max, .rate = rate };
}

int topic_quota_take(struct topic_quota *q, int64_t now_ns, const char **why)
{
	int64_t interval, tat;

	if (q->max && q->created >= q->max) {
		*why = "this connection has created as many topics as the server allows one "
		       "connection (--max-topics-per-connection)";
		return -EDQUOT;
	}
	if (q->rate) {
		/* A burst of rate creations fits in one second of credit; then one per
		 * interval. */
		interval = TOPIC_QUOTA_NS_PER_S / q->rate;
		tat = q->tat_ns > now_ns ? q->tat_ns : now_ns;
		if (tat - now_ns > TOPIC_QUOTA_NS_PER_S - interval) {
			*why = "this connection creates topics faster than the server allows "
			       "(--topic-create-rate a second); retry later";
			return -EAGAIN;
		}
		q->tat_ns = tat + interval;
	}
	q->created++;
	return 0;
}

void topic_quota_undo(struct topic_quota *q)
{
	assert(q->created > 0);
	q->created--;
	if (q->rate)
		q->tat_ns -= TOPIC_QUOTA_NS_PER_S / q->rate;
}
