/* tests/unit/ingest/route_test.c — ingest/route.c: a batch without coordination_completed
 * passes untouched; one with them is expanded in order with every stored event mapped
 * back to the publisher's event and decision; the 8,192-event bound holds across
 * expansion; rules rewrite topic and key with errors naming the publisher's event (and
 * decision); the scratch arena is reset per batch and holds the worst case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/publish.h"
#include "ingest/route.h"
#include "ingest/rules_json.h"
#include "ingest/split.h"
#include "view_util.h"

/* An event of either kind with room for SPLIT_DECISIONS_MAX decisions, on the heap. */
struct ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__CoordinationCompleted cc;
	Fanout__V1__CoordinationDecision dec[SPLIT_DECISIONS_MAX];
	Fanout__V1__CoordinationDecision *decp[SPLIT_DECISIONS_MAX];
	char ids[SPLIT_DECISIONS_MAX][72];
};

static struct ev *md(const char *id, const char *topic, const char *key, const char *symbol)
{
	struct ev *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__market_data__init(&v->md);
	v->e.event_id = (char *)id;
	v->e.distribution = &v->d;
	v->d.topic = (char *)topic;
	v->d.routing_key = (char *)key;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e.market_data = &v->md;
	v->md.symbol = (char *)symbol;
	return v;
}

/* n decisions: instrument I<i> (or instrument), action "buy", ids "d<i>". */
static struct ev *cc(const char *id, const char *topic, size_t n, const char *instrument,
		     const char *action)
{
	struct ev *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	assert_true(n <= SPLIT_DECISIONS_MAX);
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__coordination_completed__init(&v->cc);
	v->e.event_id = (char *)id;
	v->e.distribution = &v->d;
	v->d.topic = (char *)topic;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED;
	v->e.coordination_completed = &v->cc;
	v->cc.coordination_id = "c1";
	for (size_t i = 0; i < n; i++) {
		fanout__v1__coordination_decision__init(&v->dec[i]);
		snprintf(v->ids[i], sizeof(v->ids[i]), "d%zu", i);
		v->dec[i].decision_id = v->ids[i];
		v->dec[i].instrument_id = (char *)instrument;
		v->dec[i].action = (char *)action;
		v->decp[i] = &v->dec[i];
	}
	v->cc.n_decisions = n;
	v->cc.decisions = v->decp;
	return v;
}

static struct rules_set *compile(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	struct rules_set *s = NULL;
	char err[RULES_ERROR_BYTES];

	assert_non_null(j);
	if (rules_from_json(&s, j, err, sizeof(err)) != 0)
		fail_msg("rules: %s", err);
	json_decref(j);
	return s;
}

/* The views of the last check_and_route, and their bytes. */
static struct event_view V[PUBLISH_BATCH_MAX];
static uint8_t *B[PUBLISH_BATCH_MAX];
static size_t NV;

static void views_free(void)
{
	for (size_t i = 0; i < NV; i++)
		free(B[i]);
	NV = 0;
}

/* What publish_batch does with each stored event: view it, check it, then route it. */
static int check_and_route(struct route_ctx *r, Fanout__V1__Event **events, size_t n,
			   struct publish_error *err)
{
	views_free();
	for (size_t i = 0; i < n; i++) {
		if (view_of(events[i], &V[i], &B[i], route_origin(r, i), err) < 0)
			fail_msg("scan: %s", err->message);
		NV = i + 1;
		if (wire_check_event(&V[i], route_origin(r, i), err) < 0)
			return -1;
		if (route_apply(r, &V[i], i, err) < 0)
			return -1;
	}
	return 0;
}

/* True when s lies in view i's own bytes (not copied by a rule). */
static bool in_bytes(size_t i, struct wire_str s)
{
	return (const uint8_t *)s.p >= V[i].bytes && (const uint8_t *)s.p < V[i].bytes + V[i].len;
}

static int setup(void **state)
{
	struct route_ctx *r = calloc(1, sizeof(*r));

	if (!r || route_init(r, NULL) < 0)
		return -1;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct route_ctx *r = *state;

	route_free(r);
	free(r);
	return 0;
}

static void batches_without_completed_pass_untouched(void **state)
{
	struct route_ctx *r = *state;
	struct ev *a = md("a", "t", "A.x", "A"), *b = md("b", "t", "B.x", "B");
	Fanout__V1__Event *batch[2] = { &a->e, &b->e }, **events = batch;
	struct publish_error err;
	size_t n = 2;

	r->rules = NULL;
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_ptr_equal(events, batch);	/* nothing copied */
	assert_int_equal(n, 2);
	assert_false(r->split);
	assert_int_equal(route_origin(r, 1), 1);
	assert_int_equal(route_origin(NULL, 5), 5);
	assert_int_equal(check_and_route(r, events, n, &err), 0);
	assert_string_equal(b->d.topic, "t");
	assert_string_equal(b->d.routing_key, "B.x");
	free(a);
	free(b);
}

static void completed_events_expand_in_order(void **state)
{
	static const char *const keys[6] = { "A.x", "IBM.decision.buy", "IBM.decision.buy",
					     "IBM.decision.buy", "B.x", "MSFT.decision.sell" };
	static const uint32_t origin[6] = { 0, 1, 1, 1, 2, 4 };
	static const uint16_t decision[6] = { ROUTE_NOT_SPLIT, 0, 1, 2, ROUTE_NOT_SPLIT, 0 };
	struct route_ctx *r = *state;
	struct ev *v[5] = { md("a", "t", "A.x", "A"), cc("p", "t", 3, "IBM", "buy"),
			    md("b", "t", "B.x", "B"), cc("empty", "t", 0, "X", "y"),
			    cc("q", "t", 1, "MSFT", "sell") };
	Fanout__V1__Event *batch[5], **events = batch;
	struct publish_error err;
	size_t n = 5;

	for (size_t i = 0; i < 5; i++)
		batch[i] = &v[i]->e;
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_true(r->split);
	assert_ptr_equal(events, r->events);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(events[i]->distribution->routing_key, keys[i]);
		assert_int_equal(route_origin(r, i), origin[i]);
		assert_int_equal(r->decision[i], decision[i]);
	}
	assert_ptr_equal(events[0], &v[0]->e);	/* ordinary events are not copied */
	assert_string_equal(events[3]->event_id, "p/d2");
	assert_int_equal(check_and_route(r, events, n, &err), 0);
	for (size_t i = 0; i < 5; i++)
		free(v[i]);
}

static void split_errors_name_the_publishers_event(void **state)
{
	struct route_ctx *r = *state;
	struct ev *a = md("a", "t", "A.x", "A"), *p = cc("p", "bad topic", 2, "IBM", "buy");
	Fanout__V1__Event *batch[2] = { &a->e, &p->e }, **events = batch;
	struct publish_error err;
	size_t n = 2;

	p->dec[1].action = "";
	assert_int_equal(route_split(r, &events, &n, &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_string_equal(err.message,
			    "events[1].coordination_completed.decisions[1].action: required");
	p->dec[1].action = "sell";
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(n, 3);
	/* publish_check of a product names the parent: its topic is the parent's. */
	assert_int_equal(check_and_route(r, events, n, &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC);
	assert_non_null(strstr(err.message, "events[1].distribution.topic 'bad topic'"));
	free(a);
	free(p);
}

static void expansion_is_bounded_by_the_batch_limit(void **state)
{
	struct route_ctx *r = *state;
	struct ev *x = cc("x", "t", SPLIT_DECISIONS_MAX, "IBM", "buy");
	struct ev *y = cc("y", "t", SPLIT_DECISIONS_MAX, "IBM", "sell");
	struct ev *z = md("z", "t", "Z.x", "Z"), *w = cc("w", "t", 1, "IBM", "hold");
	Fanout__V1__Event *batch[3] = { &x->e, &y->e, &z->e }, **events = batch;
	struct publish_error err;
	size_t n = 2;

	/* 2 x 4096 = 8192 events to store: exactly the limit. */
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(n, PUBLISH_BATCH_MAX);
	assert_int_equal(route_origin(r, PUBLISH_BATCH_MAX - 1), 1);
	assert_int_equal(r->decision[PUBLISH_BATCH_MAX - 1], SPLIT_DECISIONS_MAX - 1);
	/* One more ordinary event ... */
	events = batch;
	n = 3;
	assert_int_equal(route_split(r, &events, &n, &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_string_equal(err.message, "events[2]: with the decisions of its "
			    "coordination_completed events the batch holds more than 8192 events "
			    "to store");
	/* ... or one more decision. */
	batch[2] = &w->e;
	events = batch;
	n = 3;
	assert_int_equal(route_split(r, &events, &n, &err), -1);
	assert_string_equal(err.message, "events[2].coordination_completed: 1 decisions do not "
			    "fit in the batch (room for 0 more events)");
	free(x);
	free(y);
	free(z);
	free(w);
}

static void rules_rewrite_topic_and_key(void **state)
{
	struct route_ctx *r = *state;
	struct rules_set *s = compile(
		"[{\"name\": \"sells\", \"source_pattern\": \"*.decision.sell\","
		"  \"target_topic\": \"sells\", \"routing_key_template\": \"{action}.{instrument_id}\"},"
		" {\"name\": \"md\", \"source_topic\": \"md\", \"target_topic\": \"md-all\"},"
		" {\"name\": \"cur\", \"source_topic\": \"strict\", \"target_topic\": \"o\","
		"  \"routing_key_template\": \"{currency}\"}]");
	struct ev *a = md("a", "md", "A.x", "A"), *p = cc("p", "coord", 2, "IBM", "sell");
	struct ev *b = md("b", "strict", "B.x", "B");
	Fanout__V1__Event *batch[3] = { &a->e, &p->e, &b->e }, **events = batch;
	struct publish_error err;
	size_t n = 2;

	r->rules = s;
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(check_and_route(r, events, n, &err), 0);
	assert_string_equal(vstr(V[0].topic), "md-all");
	assert_string_equal(vstr(V[0].routing_key), "A.x");
	assert_true(in_bytes(0, V[0].routing_key));	/* kept, not copied */
	assert_string_equal(vstr(V[1].topic), "sells");
	assert_string_equal(vstr(V[1].routing_key), "sell.IBM");
	assert_string_equal(vstr(V[2].routing_key), "sell.IBM");
	assert_false(in_bytes(1, V[1].routing_key));
	assert_ptr_not_equal(V[1].routing_key.p, V[2].routing_key.p);
	assert_string_equal(p->d.topic, "coord");	/* the parent is not changed */
	/* A rule that cannot render: the error names the publisher's event and the rule. */
	events = batch;
	n = 3;
	a->d.topic = "md";
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(check_and_route(r, events, n, &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_string_equal(err.message, "events[2]: rule 'cur': {currency} is empty for this event");
	r->rules = NULL;
	rules_free(s);
	free(a);
	free(p);
	free(b);
}

static void product_rule_errors_name_the_decision(void **state)
{
	struct route_ctx *r = *state;
	struct rules_set *s = compile("[{\"name\": \"v\", \"target_topic\": \"o\","
				      "  \"routing_key_template\": \"{venue}\"}]");
	struct ev *p = cc("p", "coord", 2, "IBM", "sell");
	Fanout__V1__Event *batch[1] = { &p->e }, **events = batch;
	struct publish_error err;
	size_t n = 1;

	r->rules = s;
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(check_and_route(r, events, n, &err), -1);
	assert_string_equal(err.message, "events[0].coordination_completed.decisions[0]: rule 'v': "
			    "{venue} is empty for this event");
	r->rules = NULL;
	rules_free(s);
	free(p);
}

/* The largest products (128-byte event ids, 210-byte keys), each re-rendered by a rule
 * into another long key, for a full batch: the scratch arena must hold them all. */
static void scratch_holds_the_worst_case_and_is_reset(void **state)
{
	struct route_ctx *r = *state;
	struct rules_set *s = compile("[{\"name\": \"long\", \"target_topic\": \"o\","
				      "  \"routing_key_template\": \"y.{key}\"}]");
	char inst[101], action[101], parent[61];
	struct ev *x, *y;
	Fanout__V1__Event *batch[2], **events = batch;
	struct publish_error err;
	size_t n = 2, used;

	memset(inst, 'I', 100);
	inst[100] = '\0';
	memset(action, 'a', 100);
	action[100] = '\0';
	memset(parent, 'p', 60);
	parent[60] = '\0';
	x = cc(parent, "t", SPLIT_DECISIONS_MAX, inst, action);
	y = cc(parent, "t", SPLIT_DECISIONS_MAX, inst, action);
	for (size_t i = 0; i < SPLIT_DECISIONS_MAX; i++) {	/* 60 + 1 + 67 = 128 bytes */
		snprintf(x->ids[i], sizeof(x->ids[i]), "%062zu-x%03zu", i, i % 1000);
		snprintf(y->ids[i], sizeof(y->ids[i]), "%062zu-y%03zu", i, i % 1000);
	}
	batch[0] = &x->e;
	batch[1] = &y->e;
	r->rules = s;
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(n, PUBLISH_BATCH_MAX);
	assert_int_equal(strlen(events[5]->event_id), PUBLISH_ID_BYTES_MAX);
	if (check_and_route(r, events, n, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(V[n - 1].routing_key.len, 212);
	used = r->scratch.used;
	assert_true(used > 0 && used <= r->scratch.cap);
	assert_int_equal(r->scratch.failed, 0);
	/* The next batch starts from an empty arena. */
	events = batch;
	n = 0;
	assert_int_equal(route_split(r, &events, &n, &err), 0);
	assert_int_equal(r->scratch.used, 0);
	r->rules = NULL;
	rules_free(s);
	free(x);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(batches_without_completed_pass_untouched),
		cmocka_unit_test(completed_events_expand_in_order),
		cmocka_unit_test(split_errors_name_the_publishers_event),
		cmocka_unit_test(expansion_is_bounded_by_the_batch_limit),
		cmocka_unit_test(rules_rewrite_topic_and_key),
		cmocka_unit_test(product_rule_errors_name_the_decision),
		cmocka_unit_test(scratch_holds_the_worst_case_and_is_reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
