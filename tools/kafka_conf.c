/* tools/kafka_conf.c — see kafka_conf.h. */
#include "tools/kafka_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int kafka_conf_set(rd_kafka_conf_t *c, const char *who, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "fanoutd: %s: %s=%s: %s\n", who, k, v, err);
		return -EINVAL;
	}
	return 0;
}

int kafka_conf_options(rd_kafka_conf_t *c, const char *who, const struct config *cfg)
{
	for (uint32_t i = 0; i < cfg->nkafka_options; i++) {
		char key[256];
		const char *eq = strchr(cfg->kafka_options[i], '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - cfg->kafka_options[i]),
			 cfg->kafka_options[i]);
		if (kafka_conf_set(c, who, key, eq + 1) < 0)
			return -EINVAL;
	}
	return 0;
}
