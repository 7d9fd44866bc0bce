/* tools/kafka_conf.h — setting librdkafka properties for fanoutd's Kafka clients (the
 * sources' consumers, tools/fanoutd_kafka.c, and the egress's producer,
 * tools/fanoutd_egress.c): one property, and the operator's --kafka-option list, each
 * refusal said on stderr as "fanoutd: WHO: KEY=VALUE: why". */
#ifndef FANOUT_TOOLS_KAFKA_CONF_H
#define FANOUT_TOOLS_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "core/config.h"

/* Sets k=v in c. Returns 0, or -EINVAL (said). */
int kafka_conf_set(rd_kafka_conf_t *c, const char *who, const char *k, const char *v);

/* Sets every --kafka-option KEY=VALUE of cfg (config.c checked their shape) in c.
 * Returns 0, or -EINVAL at the first librdkafka refuses (said). */
int kafka_conf_options(rd_kafka_conf_t *c, const char *who, const struct config *cfg);

#endif
