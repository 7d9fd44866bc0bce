/* tests/fuzz/rules_json_fuzz.c — ingest/rules_json.c and ingest/rules.c: arbitrary text
 * parsed as JSON (jansson; duplicate keys refused as `fanoutd --rules` does, NUL bytes in
 * strings allowed so the rules' own NUL check is reached, any top-level value) and
 * compiled with rules_from_json; a compiled set then routes three fixed events and one
 * built from the bytes after the JSON.
 *
 * Input: one JSON value, then (optionally) a fourth event: a type byte, length-prefixed
 * strings (topic, routing key, symbol, venue, currency, action, decision and order ids)
 * and a price.
 * Checks: rules_from_json returns 0 with a set or -EINVAL/-ENOMEM without one, and then a
 * non-empty message terminated inside the caller's buffer (ASan: the buffer is exactly
 * errlen bytes); a 7-byte buffer gets the same error, cut; rules_apply on a compiled set
 * (on the events wire_check_event accepts, as ingest does) returns 0 (a changed event
 * gets a valid topic and a key pattern_key_check accepts) or -EINVAL with a terminated
 * reason. Never a crash, a leak or an out-of-bounds access. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/topic.h"
#include "fuzz_util.h"
#include "ingest/rules_json.h"
#include "ingest/wire_scan.h"

#define MD   FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA
#define DEC  FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION
#define EXEC FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION

/* One event of each stored type with every field a template or condition can read, and
 * a fourth whose type and strings come from the input. */
#define RULES_FUZZ_EVENTS 4
#define RULES_FUZZ_STRINGS 8

struct rules_fuzz_events {
	Fanout__V1__Event e[RULES_FUZZ_EVENTS];
	Fanout__V1__Distribution d[RULES_FUZZ_EVENTS];
	Fanout__V1__Metadata m;
	Fanout__V1__MarketData md[2];
	Fanout__V1__CoordinationDecision cd[2];
	Fanout__V1__ExecutionData ex[2];
	char s[RULES_FUZZ_STRINGS][256];	/* the fourth event's strings */
};

/* Event i of the given type, payload k of its kind; strings filled in by the caller. */
static void event_init(struct rules_fuzz_events *v, int i, Fanout__V1__DataType type, int k)
{
	fanout__v1__event__init(&v->e[i]);
	fanout__v1__distribution__init(&v->d[i]);
	v->e[i].event_id = "e-1";
	v->e[i].distribution = &v->d[i];
	v->e[i].metadata = &v->m;
	v->e[i].data_type = type;
	switch (type) {
	case MD:
		fanout__v1__market_data__init(&v->md[k]);
		v->md[k].price = 150.25;
		v->md[k].volume = 100;
		v->e[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		v->e[i].market_data = &v->md[k];
		break;
	case DEC:
		fanout__v1__coordination_decision__init(&v->cd[k]);
		v->cd[k].confidence = 0.9;
		v->cd[k].quantity = 10;
		v->e[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
		v->e[i].coordination_decision = &v->cd[k];
		break;
	default:
		fanout__v1__execution_data__init(&v->ex[k]);
		v->ex[k].price = 10;
		v->ex[k].quantity = 5;
		v->e[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
		v->e[i].execution = &v->ex[k];
		break;
	}
}

static void events_fixed(struct rules_fuzz_events *v)
{
	memset(v, 0, sizeof(*v));
	fanout__v1__metadata__init(&v->m);
	v->m.source_service = "engine";
	v->m.venue = "XNYS";
	event_init(v, 0, MD, 0);
	v->d[0].topic = "market-data";
	v->d[0].routing_key = "AAPL.NASDAQ.trade";
	v->md[0].symbol = "AAPL";
	v->md[0].exchange = "NASDAQ";
	v->md[0].currency = "USD";
	event_init(v, 1, DEC, 0);
	v->d[1].topic = "coordination/decisions";
	v->d[1].routing_key = "AAPL.decision.buy";
	v->cd[0].instrument_id = "AAPL";
	v->cd[0].action = "buy";
	v->cd[0].decision_id = "d-1";
	event_init(v, 2, EXEC, 0);
	v->d[2].topic = "execution.fills";
	v->d[2].routing_key = "o-1.fill";
	v->ex[0].order_id = "o-1";
	v->ex[0].instrument_id = "MSFT";
	v->ex[0].venue = "ARCA";
}

/* A string of the fourth event: a length byte and that many bytes of the input. */
static char *event_string(struct rules_fuzz_events *v, int k, struct fuzz_in *in)
{
	size_t got;
	const uint8_t *b = fuzz_take(in, fuzz_u8(in), &got);

	memcpy(v->s[k], b, got);
	v->s[k][got] = '\0';
	return v->s[k];
}

/* The fourth event, from the bytes after the JSON: payload strings anything, topic and
 * key replaced by fixed ones unless valid (so that most such events reach the rules). */
static void event_from_input(struct rules_fuzz_events *v, struct fuzz_in *in)
{
	static const Fanout__V1__DataType types[3] = { MD, DEC, EXEC };
	const char *why;
	char *t;

	event_init(v, 3, types[fuzz_u8(in) % 3], 1);
	t = event_string(v, 0, in);
	v->d[3].topic = topic_name_check(t, strlen(t), &why) == 0 ? t : "market-data";
	t = event_string(v, 1, in);
	v->d[3].routing_key = pattern_key_check(t, strlen(t), &why) == 0 ? t : "AAPL.NASDAQ.trade";
	v->md[1].symbol = v->cd[1].instrument_id = v->ex[1].instrument_id = event_string(v, 2, in);
	v->md[1].exchange = v->ex[1].venue = event_string(v, 3, in);
	v->md[1].currency = event_string(v, 4, in);
	v->cd[1].action = event_string(v, 5, in);
	v->cd[1].decision_id = event_string(v, 6, in);
	v->ex[1].order_id = event_string(v, 7, in);
	v->md[1].price = v->ex[1].price = v->cd[1].confidence = (double)fuzz_u16(in) / 64;
}

/* Routes e as ingest would: packed, scanned into a view, checked, then rules_apply (only
 * when the checks pass: rules_apply's precondition). */
static void rules_check_one(const struct rules_set *s, const Fanout__V1__Event *e, size_t i)
{
	static uint8_t buf[8192];
	struct publish_error perr;
	struct event_view v;
	struct rules_result r;
	const char *why = NULL;
	size_t len = protobuf_c_message_get_packed_size(&e->base);
	int rc;

	FUZZ_CHECK(len <= sizeof(buf), "event of %zu bytes", len);
	protobuf_c_message_pack(&e->base, buf);
	if (wire_scan_event(buf, len, &v, i, &perr) < 0 || v.fallback ||
	    wire_check_event(&v, i, &perr) < 0)
		return;
	memset(&r, 0x5a, sizeof(r));
	rc = rules_apply(s, &v, NULL, &r);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rules_apply returned %d", rc);
	if (rc < 0) {
		FUZZ_CHECK(memchr(r.error, '\0', sizeof(r.error)) && r.error[0],
			   "rules_apply failed without a terminated reason");
		return;
	}
	if (!r.changed)
		return;
	FUZZ_CHECK(r.rule && r.topic, "a changed event without its rule and topic");
	FUZZ_CHECK(topic_name_check(r.topic, strlen(r.topic), &why) == 0,
		   "rule '%s' routes to an invalid topic: %s", r.rule, why);
	FUZZ_CHECK(memchr(r.key, '\0', sizeof(r.key)) != NULL, "key not terminated");
	FUZZ_CHECK(pattern_key_check(r.key, strlen(r.key), &why) == 0,
		   "rule '%s' rendered an invalid key '%s': %s", r.rule, r.key, why);
}

static void rules_check_apply(const struct rules_set *s, struct fuzz_in *in)
{
	static struct rules_fuzz_events v;

	events_fixed(&v);
	event_from_input(&v, in);
	for (int i = 0; i < RULES_FUZZ_EVENTS; i++)
		rules_check_one(s, &v.e[i], (size_t)i);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
			       JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &jerr);
	struct rules_set *s = NULL, *s2 = NULL;
	char *err = NULL, *err2 = NULL;
	struct fuzz_in rest;
	int rc, rc2;

	if (!j)
		return 0;	/* jansson's business, not ours */
	FUZZ_CHECK(jerr.position >= 0 && (size_t)jerr.position <= size, "jansson read %d of %zu",
		   jerr.position, size);
	rest.p = data + jerr.position;
	rest.n = size - (size_t)jerr.position;
	rc = rules_compile_json(j, RULES_ERROR_BYTES, &s, &err);
	if (rc == 0) {
		rules_check_apply(s, &rest);
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
