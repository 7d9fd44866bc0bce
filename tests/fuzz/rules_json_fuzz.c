/* tests/fuzz/rules_json_fuzz.c — ingest/rules_json.c and ingest/rules.c: arbitrary text
 * parsed as JSON (jansson; duplicate keys refused as `fanoutd --rules` does, NUL bytes in
 * strings allowed so the rules' own NUL check is reached, any top-level value) and
 * compiled with rules_from_json; a compiled set then routes a few fixed events.
 *
 * Input: the JSON text.
 * Checks: rules_from_json returns 0 with a set or -EINVAL/-ENOMEM without one, and then a
 * non-empty message terminated inside the caller's buffer (ASan: the buffer is exactly
 * errlen bytes); a 7-byte buffer gets the same error, cut; rules_apply on a compiled set
 * returns 0 (a changed event gets a valid topic and a key pattern_key_check accepts) or
 * -EINVAL with a terminated reason. Never a crash, a leak or an out-of-bounds access. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/topic.h"
#include "fuzz_util.h"
#include "ingest/rules_json.h"

#define MD   FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA
#define DEC  FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION
#define EXEC FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION

/* One event of each stored type, with every field a template or condition can read. */
struct rules_fuzz_events {
	Fanout__V1__Event e[3];
	Fanout__V1__Distribution d[3];
	Fanout__V1__Metadata m;
	Fanout__V1__MarketData md;
	Fanout__V1__CoordinationDecision cd;
	Fanout__V1__ExecutionData ex;
};

static void events_init(struct rules_fuzz_events *v)
{
	static const char *const topics[3] = { "market-data", "coordination/decisions",
					       "execution.fills" };
	static const char *const keys[3] = { "AAPL.NASDAQ.trade", "AAPL.decision.buy",
					     "o-1.fill" };

	memset(v, 0, sizeof(*v));
	fanout__v1__metadata__init(&v->m);
	v->m.source_service = "engine";
	v->m.venue = "XNYS";
	for (int i = 0; i < 3; i++) {
		fanout__v1__event__init(&v->e[i]);
		fanout__v1__distribution__init(&v->d[i]);
		v->e[i].event_id = "e-1";
		v->e[i].distribution = &v->d[i];
		v->e[i].metadata = &v->m;
		v->d[i].topic = (char *)topics[i];
		v->d[i].routing_key = (char *)keys[i];
	}
	fanout__v1__market_data__init(&v->md);
	v->md.symbol = "AAPL";
	v->md.exchange = "NASDAQ";
	v->md.currency = "USD";
	v->md.price = 150.25;
	v->md.volume = 100;
	v->e[0].data_type = MD;
	v->e[0].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e[0].market_data = &v->md;
	fanout__v1__coordination_decision__init(&v->cd);
	v->cd.instrument_id = "AAPL";
	v->cd.action = "buy";
	v->cd.decision_id = "d-1";
	v->cd.confidence = 0.9;
	v->cd.quantity = 10;
	v->e[1].data_type = DEC;
	v->e[1].payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
	v->e[1].coordination_decision = &v->cd;
	fanout__v1__execution_data__init(&v->ex);
	v->ex.order_id = "o-1";
	v->ex.instrument_id = "MSFT";
	v->ex.venue = "ARCA";
	v->ex.price = 10;
	v->ex.quantity = 5;
	v->e[2].data_type = EXEC;
	v->e[2].payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	v->e[2].execution = &v->ex;
}

static void rules_check_apply(const struct rules_set *s)
{
	static struct rules_fuzz_events v;
	static bool ready;
	struct rules_result r;
	const char *why = NULL;

	if (!ready) {
		events_init(&v);
		ready = true;
	}
	for (int i = 0; i < 3; i++) {
		int rc;

		memset(&r, 0x5a, sizeof(r));
		rc = rules_apply(s, &v.e[i], NULL, &r);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rules_apply returned %d", rc);
		if (rc < 0) {
			FUZZ_CHECK(memchr(r.error, '\0', sizeof(r.error)) && r.error[0],
				   "rules_apply failed without a terminated reason");
			continue;
		}
		if (!r.changed)
			continue;
		FUZZ_CHECK(r.rule && r.topic, "a changed event without its rule and topic");
		FUZZ_CHECK(topic_name_check(r.topic, strlen(r.topic), &why) == 0,
			   "rule '%s' routes to an invalid topic: %s", r.rule, why);
		FUZZ_CHECK(memchr(r.key, '\0', sizeof(r.key)) != NULL, "key not terminated");
		FUZZ_CHECK(pattern_key_check(r.key, strlen(r.key), &why) == 0,
			   "rule '%s' rendered an invalid key '%s': %s", r.rule, r.key, why);
	}
}

/* rules_from_json into an error buffer of exactly errlen bytes. */
static int rules_compile_json(const json_t *j, size_t errlen, struct rules_set **s, char **err)
{
	int rc;

	*err = malloc(errlen);
	FUZZ_CHECK(*err != NULL, "out of memory");
	memset(*err, 0x5a, errlen);
	rc = rules_from_json(s, j, *err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM, "rules_from_json returned %d", rc);
	FUZZ_CHECK((rc == 0) == (*s != NULL), "rc %d with %s set", rc, *s ? "a" : "no");
	if (rc < 0)
		FUZZ_CHECK(memchr(*err, '\0', errlen) != NULL && (errlen == 1 || (*err)[0]),
			   "error message empty or not terminated");
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size,
			       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	struct rules_set *s = NULL, *s2 = NULL;
	char *err = NULL, *err2 = NULL;
	int rc, rc2;

	if (!j)
		return 0;	/* jansson's business, not ours */
	rc = rules_compile_json(j, RULES_ERROR_BYTES, &s, &err);
	if (rc == 0) {
		rules_check_apply(s);
	} else {
		rc2 = rules_compile_json(j, 7, &s2, &err2);
		FUZZ_CHECK(rc2 == rc && strncmp(err, err2, 6) == 0,
			   "a short buffer changed the error: '%s' / '%s'", err, err2);
		free(err2);
	}
	rules_free(s);
	free(err);
	json_decref(j);
	return 0;
}
