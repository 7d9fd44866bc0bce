/* admin/api_producers.c — GET /api/v1/producers and /api/v1/producers/{id}: the
 * idempotent producers the server keeps records for (net/producer.h): epoch in force,
 * batches remembered and in flight, sequences; and GET /api/v1/kafka, the Kafka sources
 * that publish as such producers. */
#include <string.h>

#include "admin/admin.h"
#include "admin/http.h"
#include "admin/router.h"
#include "net/engine.h"
#include "net/producer.h"

static json_t *producer_json(const struct producer_info *in)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "producerId", in->id, "epoch", (json_int_t)in->epoch,
			 "batchesRemembered", (json_int_t)in->remembered,
			 "batchesInFlight", (json_int_t)in->in_flight,
			 "lastSequence", (json_int_t)in->last_sequence,
			 "oldestRememberedSequence", (json_int_t)in->oldest_sequence,
			 "forgottenThrough", (json_int_t)in->floor,
			 "settledAtStart", (json_int_t)in->settled,
			 "heldAtSequence", (json_int_t)in->held);
}

int api_producers_list(struct admin_req *r, struct admin_reply *rep)
{
	struct producer_info in;
	json_t *list = json_array();

	for (uint32_t i = 0; producer_info_at(&r->a->eng->producers, i, &in) == 0; i++)
		json_array_append_new(list, producer_json(&in));
	return admin_ok(rep, 200, json_pack("{s:I, s:o}", "count",
					    (json_int_t)json_array_size(list), "producers", list));
}

int api_producer_get(struct admin_req *r, struct admin_reply *rep)
{
	const char *id = r->path.seg[3];
	struct producer_info in;

	for (uint32_t i = 0; producer_info_at(&r->a->eng->producers, i, &in) == 0; i++)
		if (strcmp(in.id, id) == 0)
			return admin_ok(rep, 200, producer_json(&in));
	return admin_error(rep, 404, "NOT_FOUND", NULL, "no producer '%.64s' (a producer "
			   "exists once a Hello named it)", id);
}

/* GET /api/v1/kafka: the Kafka sources (tools/fanoutd_kafka.c, through admin_extend):
 * per source its counts and per Kafka partition the position, commit and lag. */
int api_kafka(struct admin_req *r, struct admin_reply *rep)
{
	const struct admin_ext *ext = atomic_load_explicit(&r->a->ext, memory_order_acquire);
	json_t *body;

	if (!ext || !ext->kafka)
		return admin_ok(rep, 200, json_pack("{s:[]}", "sources"));
	body = ext->kafka(ext->arg);
	if (!body)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	return admin_ok(rep, 200, body);
}
