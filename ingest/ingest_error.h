/* ingest/ingest_error.h — what ingest tells a publisher about a refused batch: the
 * protocol's error code and a message naming the event and field. A leaf header. */
#ifndef FANOUT_INGEST_INGEST_ERROR_H
#define FANOUT_INGEST_INGEST_ERROR_H

#include "fanout.pb-c.h"

struct publish_error {
	Fanout__V1__ErrorCode code;
	char message[320];
	uint32_t retry_after_ms;	/* RATE_LIMITED: when it would fit */
};

#endif
