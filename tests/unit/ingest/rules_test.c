/* tests/unit/ingest/rules_test.c — ingest/rules.c: compiling rules from JSON and from
 * RoutingRule messages (every kind of bad rule names the rule and the field), the order
 * rules are tried in, source topic/pattern matching, conditions evaluated through
 * core/filter on the fields event_view_fields computes, template rendering for every
 * placeholder, and the events no rule touches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/keyhash.h"
#include "ingest/publish.h"
#include "ingest/rules.h"
#include "ingest/rules_json.h"
#include "view_util.h"

#define MD   FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA
#define DEC  FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION
#define EXEC FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION

/* One event with every submessage it may need, on the caller's stack. */
struct ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__Metadata m;
	Fanout__V1__MarketData md;
	Fanout__V1__CoordinationDecision cd;
	Fanout__V1__ExecutionData ex;
};

static void ev_base(struct ev *v, const char *topic, const char *key)
{
	memset(v, 0, sizeof(*v));
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__metadata__init(&v->m);
	fanout__v1__market_data__init(&v->md);
	fanout__v1__coordination_decision__init(&v->cd);
	fanout__v1__execution_data__init(&v->ex);
	v->e.event_id = "e-1";
	v->e.distribution = &v->d;
	v->d.topic = (char *)topic;
	v->d.routing_key = (char *)key;
}

static void ev_market(struct ev *v, const char *topic, const char *key, const char *symbol,
		      const char *exchange, const char *currency, double price)
{
	ev_base(v, topic, key);
	v->e.data_type = MD;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e.market_data = &v->md;
	v->md.symbol = (char *)symbol;
	v->md.exchange = (char *)exchange;
	v->md.currency = (char *)currency;
	v->md.price = price;
	v->md.volume = 100;
}

static void ev_decision(struct ev *v, const char *topic, const char *key, const char *instrument,
			const char *action, const char *decision_id, double confidence)
{
	ev_base(v, topic, key);
	v->e.data_type = DEC;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
	v->e.coordination_decision = &v->cd;
	v->cd.instrument_id = (char *)instrument;
	v->cd.action = (char *)action;
	v->cd.decision_id = (char *)decision_id;
	v->cd.confidence = confidence;
	v->cd.quantity = 10;
}

static void ev_execution(struct ev *v, const char *topic, const char *key, const char *order_id,
			 const char *instrument, const char *venue)
{
	ev_base(v, topic, key);
	v->e.data_type = EXEC;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	v->e.execution = &v->ex;
	v->ex.order_id = (char *)order_id;
	v->ex.instrument_id = (char *)instrument;
	v->ex.venue = (char *)venue;
	v->ex.price = 10;
	v->ex.quantity = 5;
}

static void ev_metadata(struct ev *v, const char *source_service, const char *venue)
{
	v->e.metadata = &v->m;
	v->m.source_service = (char *)source_service;
	v->m.venue = (char *)venue;
}

/* Compiles JSON text that must be good. */
static struct rules_set *compile(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	struct rules_set *s = NULL;
	char err[RULES_ERROR_BYTES];
	int rc;

	if (!j)
		fail_msg("test JSON: %s: %s", jerr.text, text);
	rc = rules_from_json(&s, j, err, sizeof(err));
	json_decref(j);
	if (rc != 0)
		fail_msg("rules_from_json: %d: %s", rc, err);
	assert_non_null(s);
	return s;
}

/* rules_apply on the view ingest makes of v (data_type filled as wire_check_event does). */
static int apply(const struct rules_set *s, struct ev *v, const struct log_fields *f,
		 struct rules_result *r)
{
	struct publish_error err;
	struct event_view view;
	uint8_t *bytes;
	int rc;

	if (view_of(&v->e, &view, &bytes, 0, &err) < 0)
		fail_msg("scan: %s", err.message);
	(void)wire_check_event(&view, 0, &err);
	rc = rules_apply(s, &view, f, r);
	free(bytes);
	return rc;
}

/* The index fields ingest computes for v. */
static void fields_of(struct ev *v, struct log_fields *f)
{
	struct publish_error err;
	struct event_view view;
	uint8_t *bytes;

	if (view_of(&v->e, &view, &bytes, 0, &err) < 0)
		fail_msg("scan: %s", err.message);
	(void)wire_check_event(&view, 0, &err);
	event_view_fields(&view, 0, f);
	free(bytes);
}

/* Applies s to v and returns what it did; the result must say changed. */
static const struct rules_result *route(const struct rules_set *s, struct ev *v)
{
	static struct rules_result r;
	int rc;

	memset(&r, 0x5a, sizeof(r));
	rc = apply(s, v, NULL, &r);
	if (rc != 0)
		fail_msg("rules_apply: %d: %s", rc, r.error);
	assert_true(r.changed);
	assert_non_null(r.rule);
	return &r;
}

/* ---- compiling --------------------------------------------------------------------- */

static const char good_rules[] =
	"[\n"
	" {\"name\": \"nasdaq-trades\", \"source_topic\": \"market-data\",\n"
	"  \"source_pattern\": \"*.NASDAQ.>\", \"target_topic\": \"nasdaq\",\n"
	"  \"routing_key_template\": \"{symbol}.{exchange}.trade\", \"priority\": 5,\n"
	"  \"conditions\": {\"symbols\": [\"AAPL\", \"MSFT\"], \"data_types\": [\"market_data\"],\n"
	"                 \"min_price\": 100, \"max_price\": {\"value\": 1000.5}}},\n"
	" {\"name\": \"big-buys\", \"target_topic\": \"decisions.big\", \"priority\": -3,\n"
	"  \"conditions\": {\"actions\": [\"buy\"], \"min_confidence\": 0.8,\n"
	"                 \"data_types\": [\"DATA_TYPE_COORDINATION_DECISION\"]}},\n"
	" {\"name\": \"archive\", \"target_topic\": \"archive\", \"routing_key_template\":\n"
	"  \"{data_type}.{key}\", \"priority\": 5, \"source_pattern\": null},\n"
	" {\"name\": \"off\", \"target_topic\": \"nowhere\", \"priority\": -100, \"enabled\": false},\n"
	" {\"name\": \"execs\", \"target_topic\": \"exec\", \"priority\": 1,\n"
	"  \"routing_key_template\": \"{venue}.{order_id}\",\n"
	"  \"conditions\": {\"data_types\": [\"Execution\", 3], \"order_ids\": [\"o-1\"],\n"
	"                 \"portfolio_ids\": [\"pf-1\", \"pf-2\"],\n"
	"                 \"exchanges\": [\"XNYS\"], \"currencies\": [], \"min_volume\": 1}}\n"
	"]\n";

static void good_file_loads_in_priority_then_name_order(void **state)
{
	static const char *const order[] = { "big-buys", "execs", "archive", "nasdaq-trades", "off" };
	char path[] = "/tmp/rules_test_XXXXXX", err[RULES_ERROR_BYTES];
	struct rules_set *s = NULL;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good_rules, strlen(good_rules)), (ssize_t)strlen(good_rules));
	close(fd);
	assert_int_equal(rules_load_file(&s, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(s->n, 5);
	assert_int_equal(s->n_enabled, 4);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(s->rules[i].name, order[i]);
	assert_false(s->rules[4].enabled);
	assert_true(s->rules[3].has_pattern);
	assert_true(s->rules[3].has_conditions);
	assert_true(s->rules[3].conditions.has_max_price);
	assert_true(s->rules[3].conditions.max_price == 1000.5);
	assert_false(s->rules[2].has_pattern);	/* null = not set */
	assert_false(s->rules[2].has_conditions);
	assert_int_equal(s->rules[1].conditions.data_types, 1u << EXEC);
	assert_int_equal(s->rules[1].conditions.portfolio_ids.n, 2);	/* a rule condition too */
	assert_int_equal(s->rules[0].priority, -3);
	rules_free(s);
}

struct bad_case {
	const char *json;
	const char *want[3];	/* substrings of the error */
};

static const struct bad_case bad_cases[] = {
	{ "[{\"target_topic\": \"t\"}]", { "rules[0]: name: required" } },
	{ "[{\"name\": \"\", \"target_topic\": \"t\"}]", { "rules[0]: name: required" } },
	{ "[{\"name\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\", \"target_topic\": \"t\"}]",
	  { "rules[0]: name: required, 1..100 bytes" } },
	{ "[{\"name\": 7, \"target_topic\": \"t\"}]", { "rules[0]: name: expected a string" } },
	{ "[{\"name\": \"a\", \"target_topic\": \"t\"}, {\"name\": \"b\", \"target_topic\": \"t\"},"
	  " {\"name\": \"a\", \"target_topic\": \"u\"}]",
	  { "rules[2] 'a': name: duplicate of rules[0]" } },
	{ "[{\"name\": \"r1\", \"source_topic\": \"bad topic\", \"target_topic\": \"t\"}]",
	  { "rules[0] 'r1': source_topic 'bad topic':", "letters, digits" } },
	{ "[{\"name\": \"r1\", \"source_topic\": \"/abs\", \"target_topic\": \"t\"}]",
	  { "rules[0] 'r1': source_topic '/abs':" } },
	{ "[{\"name\": \"r2\", \"source_pattern\": \"a.>.b\", \"target_topic\": \"t\"}]",
	  { "rules[0] 'r2': source_pattern 'a.>.b':" } },
	{ "[{\"name\": \"r2\", \"source_pattern\": \"a..b\", \"target_topic\": \"t\"}]",
	  { "rules[0] 'r2': source_pattern 'a..b': has an empty token" } },
	{ "[{\"name\": \"r3\"}]", { "rules[0] 'r3': target_topic: required" } },
	{ "[{\"name\": \"r3\", \"target_topic\": \"a..b\"}]",
	  { "rules[0] 'r3': target_topic 'a..b':", "'..'" } },
	{ "[{\"name\": \"r4\", \"target_topic\": \"t\", \"routing_key_template\": \"{sym}.x\"}]",
	  { "rules[0] 'r4': routing_key_template '{sym}.x': unknown placeholder {sym}" } },
	{ "[{\"name\": \"r4\", \"target_topic\": \"t\", \"routing_key_template\": \"{}\"}]",
	  { "rules[0] 'r4': routing_key_template '{}': unknown placeholder {}" } },
	{ "[{\"name\": \"r4\", \"target_topic\": \"t\", \"routing_key_template\": \"{symbol.x\"}]",
	  { "rules[0] 'r4': routing_key_template '{symbol.x': unbalanced '{' at byte 0" } },
	{ "[{\"name\": \"r4\", \"target_topic\": \"t\", \"routing_key_template\": \"a.{sy{symbol}\"}]",
	  { "rules[0] 'r4': routing_key_template", "unbalanced '{' at byte 2" } },
	{ "[{\"name\": \"r4\", \"target_topic\": \"t\", \"routing_key_template\": \"{symbol}}.x\"}]",
	  { "rules[0] 'r4': routing_key_template '{symbol}}.x': unbalanced '}' at byte 8" } },
	{ "[{\"name\": \"r5\", \"target_topic\": \"t\", \"routing_key_template\": \"{symbol}..x\"}]",
	  { "rules[0] 'r5': routing_key_template '{symbol}..x': cannot form a routing key",
	    "empty token" } },
	{ "[{\"name\": \"r5\", \"target_topic\": \"t\", \"routing_key_template\": \"*.{symbol}\"}]",
	  { "rules[0] 'r5': routing_key_template", "wildcard" } },
	{ "[{\"name\": \"r5\", \"target_topic\": \"t\", \"routing_key_template\": \"{symbol} x\"}]",
	  { "rules[0] 'r5': routing_key_template", "whitespace" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": {\"min_price\": 5,"
	  " \"max_price\": 1}}]",
	  { "rules[0] 'r6': conditions: min_price is greater than max_price" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": {\"symbols\": [\"A\", \"\"]}}]",
	  { "rules[0] 'r6': conditions: symbols: a value is empty" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": {\"symbols\": [\"A\", 3]}}]",
	  { "rules[0] 'r6': conditions.symbols[1]: expected a string" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": {\"data_types\": [\"quote\"]}}]",
	  { "rules[0] 'r6': conditions.data_types[0]: unknown data type 'quote'" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\":"
	  " {\"data_types\": [\"coordination_completed\"]}}]",
	  { "rules[0] 'r6': conditions: data_types: unknown or unstorable data type" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": {\"min_price\": \"1\"}}]",
	  { "rules[0] 'r6': conditions.min_price: expected a number" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": {\"symbol\": [\"A\"]}}]",
	  { "rules[0] 'r6': conditions.symbol: unknown key" } },
	{ "[{\"name\": \"r6\", \"target_topic\": \"t\", \"conditions\": [\"A\"]}]",
	  { "rules[0] 'r6': conditions: expected an object" } },
	{ "[{\"name\": \"r7\", \"target_topic\": \"t\", \"priority\": 1.5}]",
	  { "rules[0] 'r7': priority: expected a 32-bit integer" } },
	{ "[{\"name\": \"r7\", \"target_topic\": \"t\", \"priority\": 4294967296}]",
	  { "rules[0] 'r7': priority: expected a 32-bit integer" } },
	{ "[{\"name\": \"r7\", \"target_topic\": \"t\", \"enabled\": \"yes\"}]",
	  { "rules[0] 'r7': enabled: expected true or false" } },
	{ "[{\"name\": \"r8\", \"target_topic\": \"t\", \"rule_name\": \"x\"}]",
	  { "rules[0] 'r8': rule_name: unknown key" } },
	{ "[{\"name\": \"ok\", \"target_topic\": \"t\"}, 5]",
	  { "rules[1]: expected an object, got an integer" } },
	{ "{\"name\": \"r9\"}", { "rules: expected an array of rule objects, got an object" } },
	/* The first bad rule in array order is named, whatever kind of error each has. */
	{ "[{\"name\": \"a\"}, {\"name\": \"b\", \"target_topic\": 5}]",
	  { "rules[0] 'a': target_topic: required" } },
	{ "[{\"name\": \"a\", \"target_topic\": \"t\"}, {\"name\": \"b\", \"target_topic\": 5},"
	  " {\"name\": \"c\"}]",
	  { "rules[1] 'b': target_topic: expected a string, got an integer" } },
};

static void bad_rules_name_the_rule_and_field(void **state)
{
	char err[RULES_ERROR_BYTES];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		json_t *j = json_loads(c->json, 0, NULL);
		struct rules_set *s = (struct rules_set *)&err;	/* must be reset to NULL */
		int rc;

		assert_non_null(j);
		memset(err, 0, sizeof(err));
		rc = rules_from_json(&s, j, err, sizeof(err));
		json_decref(j);
		if (rc != -EINVAL)
			fail_msg("case %zu: rc %d, want -EINVAL (%s)", i, rc, err);
		assert_null(s);
		for (size_t k = 0; k < 3 && c->want[k]; k++)
			if (!strstr(err, c->want[k]))
				fail_msg("case %zu: error '%s' lacks '%s'", i, err, c->want[k]);
	}
}

static void bad_files_are_reported_with_their_path(void **state)
{
	char path[] = "/tmp/rules_test_XXXXXX", err[RULES_ERROR_BYTES], want[64];
	static const char text[] = "[\n {\"name\": \"a\",\n  \"target_topic\": }\n]\n";
	struct rules_set *s = NULL;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(rules_load_file(&s, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3:", path);
	assert_non_null(strstr(err, want));
	/* A bad rule in a file: the path, then the rule and field. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[{\"name\": \"q\"}]", 15), 15);
	close(fd);
	assert_int_equal(rules_load_file(&s, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: rules[0] 'q': target_topic: required", path);
	assert_string_equal(err, want);
	unlink(path);
	assert_int_equal(rules_load_file(&s, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_null(s);
	assert_int_equal(rules_load_file(&s, "/tmp", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/tmp: not a regular file");
	assert_null(s);
}

static void rule_count_is_bounded(void **state)
{
	char err[RULES_ERROR_BYTES], name[16];
	json_t *arr = json_array();
	struct rules_set *s = NULL;

	(void)state;
	for (unsigned i = 0; i < RULES_MAX; i++) {
		snprintf(name, sizeof(name), "r%04u", i);
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "target_topic", "t"));
	}
	assert_int_equal(rules_from_json(&s, arr, err, sizeof(err)), 0);
	assert_int_equal(s->n, RULES_MAX);
	rules_free(s);
	json_array_append_new(arr, json_pack("{s:s, s:s}", "name", "one-more", "target_topic", "t"));
	assert_int_equal(rules_from_json(&s, arr, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rules: 1025 rules exceed the limit of 1024");
	assert_null(s);
	json_decref(arr);
}

static void proto_rules_compile_and_fail_like_json(void **state)
{
	Fanout__V1__RoutingRule a = FANOUT__V1__ROUTING_RULE__INIT, b = a, c = a;
	Fanout__V1__Filter f = FANOUT__V1__FILTER__INIT;
	Fanout__V1__Bound lo = FANOUT__V1__BOUND__INIT;
	Fanout__V1__RoutingRule *msgs[3] = { &a, &b, &c };
	char *syms[] = { "AAPL" };
	char err[RULES_ERROR_BYTES];
	struct rules_set *s = NULL;
	struct ev v;

	(void)state;
	a.name = "z-first";
	a.target_topic = "hot";
	a.enabled = true;
	a.conditions = &f;
	f.n_symbols = 1;
	f.symbols = syms;
	lo.value = 100;
	f.min_price = &lo;
	b.name = "a-second";
	b.target_topic = "rest";
	b.enabled = true;
	b.priority = 1;
	c.name = "proto-default";
	c.target_topic = "never";	/* enabled = false: proto3's default */
	assert_int_equal(rules_compile(&s, msgs, 3, err, sizeof(err)), 0);
	assert_int_equal(s->n_enabled, 2);
	assert_string_equal(s->rules[0].name, "z-first");
	assert_string_equal(s->rules[2].name, "proto-default");
	ev_market(&v, "md", "AAPL.X", "AAPL", "X", "USD", 150);
	assert_string_equal(route(s, &v)->topic, "hot");
	assert_ptr_equal(route(s, &v)->topic, s->rules[0].target_topic);	/* the set's */
	v.md.price = 99;
	assert_string_equal(route(s, &v)->topic, "rest");
	rules_free(s);

	b.source_pattern = "a.*b";
	assert_int_equal(rules_compile(&s, msgs, 3, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rules[1] 'a-second': source_pattern 'a.*b':"));
	assert_null(s);
	msgs[1] = NULL;
	assert_int_equal(rules_compile(&s, msgs, 3, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rules[1]: missing");
	assert_int_equal(rules_compile(&s, msgs, 0, err, sizeof(err)), 0);
	assert_int_equal(s->n, 0);
	assert_int_equal(apply(s, &v, NULL, &(struct rules_result){ 0 }), 0);
	rules_free(s);
}

/* ---- applying ---------------------------------------------------------------------- */

static void lower_priority_runs_first_then_name(void **state)
{
	struct rules_set *s = compile(
		"[{\"name\": \"b\", \"target_topic\": \"tb\", \"priority\": 2},"
		" {\"name\": \"a\", \"target_topic\": \"ta\", \"priority\": 2},"
		" {\"name\": \"c\", \"target_topic\": \"tc\", \"priority\": 3},"
		" {\"name\": \"neg\", \"target_topic\": \"tn\", \"priority\": -1,"
		"  \"source_topic\": \"only-this\"}]");
	struct ev v;

	(void)state;
	ev_market(&v, "md", "AAPL.X", "AAPL", "X", "USD", 1);
	assert_string_equal(route(s, &v)->rule, "a");	/* priority 2 ties: name decides */
	assert_string_equal(route(s, &v)->topic, "ta");
	v.d.topic = "only-this";
	assert_string_equal(route(s, &v)->rule, "neg");
	assert_string_equal(route(s, &v)->topic, "tn");
	rules_free(s);
}

static void source_topic_and_pattern_select_events(void **state)
{
	struct rules_set *s = compile(
		"[{\"name\": \"nasdaq\", \"source_topic\": \"market-data\","
		"  \"source_pattern\": \"*.NASDAQ.>\", \"target_topic\": \"nasdaq\"},"
		" {\"name\": \"any-topic-decision\", \"source_pattern\": \"*.decision.*\","
		"  \"target_topic\": \"decisions\", \"priority\": 1}]");
	struct rules_result r;
	struct ev v;

	(void)state;
	ev_market(&v, "market-data", "AAPL.NASDAQ.trade", "AAPL", "NASDAQ", "USD", 1);
	assert_string_equal(route(s, &v)->topic, "nasdaq");
	v.d.routing_key = "AAPL.NYSE.trade";		/* pattern fails */
	assert_int_equal(apply(s, &v, NULL, &r), 0);
	assert_false(r.changed);
	v.d.routing_key = "AAPL.NASDAQ.trade";
	v.d.topic = "market-data2";			/* topic fails */
	assert_int_equal(apply(s, &v, NULL, &r), 0);
	assert_false(r.changed);
	v.d.topic = "market-dat";
	assert_int_equal(apply(s, &v, NULL, &r), 0);
	assert_false(r.changed);
	ev_decision(&v, "whatever", "AAPL.decision.buy", "AAPL", "buy", "d1", 0.5);
	assert_string_equal(route(s, &v)->topic, "decisions");
	v.d.routing_key = "AAPL.decision.buy.now";
	assert_int_equal(apply(s, &v, NULL, &r), 0);
	assert_false(r.changed);
	rules_free(s);
}

static void conditions_are_evaluated_with_filters(void **state)
{
	struct rules_set *s = compile(
		"[{\"name\": \"big-aapl\", \"target_topic\": \"big\", \"conditions\":"
		"  {\"symbols\": [\"AAPL\"], \"min_price\": 100, \"currencies\": [\"USD\"]}},"
		" {\"name\": \"confident-buys\", \"target_topic\": \"buys\", \"priority\": 1,"
		"  \"conditions\": {\"actions\": [\"buy\"], \"min_confidence\": 0.8}},"
		" {\"name\": \"execs\", \"target_topic\": \"exec\", \"priority\": 2,"
		"  \"conditions\": {\"data_types\": [\"execution\"], \"exchanges\": [\"XNYS\"]}},"
		" {\"name\": \"empty-conditions\", \"target_topic\": \"rest\", \"priority\": 9,"
		"  \"conditions\": {}}]");
	struct log_fields f;
	struct rules_result r;
	struct ev v;

	(void)state;
	assert_false(s->rules[3].has_conditions);	/* {} is no condition */
	ev_market(&v, "md", "AAPL.X", "AAPL", "X", "USD", 150);
	assert_string_equal(route(s, &v)->rule, "big-aapl");
	v.md.price = 99.5;
	assert_string_equal(route(s, &v)->rule, "empty-conditions");
	v.md.price = 100;				/* bounds are inclusive */
	assert_string_equal(route(s, &v)->rule, "big-aapl");
	v.md.currency = "EUR";
	assert_string_equal(route(s, &v)->rule, "empty-conditions");
	v.md.currency = "USD";
	v.md.symbol = "MSFT";
	assert_string_equal(route(s, &v)->rule, "empty-conditions");

	ev_decision(&v, "dec", "AAPL.decision.buy", "AAPL", "buy", "d1", 0.9);
	assert_string_equal(route(s, &v)->rule, "confident-buys");
	v.cd.confidence = 0.7;
	assert_string_equal(route(s, &v)->rule, "empty-conditions");
	v.cd.confidence = 0.9;
	v.cd.action = "sell";
	assert_string_equal(route(s, &v)->rule, "empty-conditions");

	ev_execution(&v, "exec-in", "o1", "o-1", "TSLA", "XNYS");
	assert_string_equal(route(s, &v)->rule, "execs");
	v.ex.venue = "";
	assert_string_equal(route(s, &v)->rule, "empty-conditions");
	ev_metadata(&v, "oms", "XNYS");			/* metadata.venue stands in */
	assert_string_equal(route(s, &v)->rule, "execs");

	/* Caller-supplied fields are used as given, not recomputed. */
	fields_of(&v, &f);
	assert_int_equal(apply(s, &v, &f, &r), 0);
	assert_string_equal(r.rule, "execs");
	f.venue_hash = keyhash_bytes("XNAS", 4);
	assert_int_equal(apply(s, &v, &f, &r), 0);
	assert_string_equal(r.rule, "empty-conditions");
	rules_free(s);
}

struct render_case {
	const char *template_text;
	int kind;			/* 0 market, 1 decision, 2 execution */
	const char *want;
};

static const struct render_case render_cases[] = {
	{ "{symbol}.{exchange}.trade", 0, "AAPL.NASDAQ.trade" },
	{ "{symbol}", 1, "MSFT" },			/* instrument_id of a decision */
	{ "{symbol}", 2, "TSLA" },			/* instrument_id of an execution */
	{ "{exchange}", 0, "NASDAQ" },
	{ "{exchange}", 2, "XNYS" },			/* no exchange: the venue */
	{ "{exchange}", 1, "META-VENUE" },		/* no venue either: metadata.venue */
	{ "{venue}", 2, "XNYS" },
	{ "{venue}", 0, "META-VENUE" },
	{ "{instrument_id}.x", 1, "MSFT.x" },
	{ "{instrument_id}", 2, "TSLA" },
	{ "a.{action}.b", 1, "a.buy.b" },
	{ "{order_id}", 2, "o-77" },
	{ "{decision_id}", 1, "dec_9" },
	{ "{currency}", 0, "USD" },
	{ "{data_type}", 0, "market_data" },
	{ "{data_type}", 1, "coordination_decision" },
	{ "{data_type}", 2, "execution" },
	{ "{source_service}.{data_type}", 0, "md-feed.market_data" },
	{ "archive.{key}", 0, "archive.AAPL.NASDAQ.trade" },	/* several tokens */
	{ "{topic}/{symbol}", 0, "md.us/equities/AAPL" },	/* the topic's dots too */
	{ "{topic}.{key}", 2, "md.us/equities.o.77" },
	{ "lit", 0, "lit" },
	{ "{symbol}{currency}-x", 0, "AAPLUSD-x" },
};

static void every_placeholder_renders(void **state)
{
	char text[512];
	struct ev v;

	(void)state;
	for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
		const struct render_case *c = &render_cases[i];
		struct rules_set *s;
		const struct rules_result *r;

		snprintf(text, sizeof(text),
			 "[{\"name\": \"r\", \"target_topic\": \"out\", \"routing_key_template\": \"%s\"}]",
			 c->template_text);
		s = compile(text);
		if (c->kind == 0)
			ev_market(&v, "md.us/equities", "AAPL.NASDAQ.trade", "AAPL", "NASDAQ", "USD", 1);
		else if (c->kind == 1)
			ev_decision(&v, "md.us/equities", "MSFT.decision.buy", "MSFT", "buy", "dec_9", 1);
		else
			ev_execution(&v, "md.us/equities", "o.77", "o-77", "TSLA", "XNYS");
		ev_metadata(&v, "md-feed", "META-VENUE");
		r = route(s, &v);
		if (strcmp(r->key, c->want) != 0)
			fail_msg("case %zu '%s': got '%s', want '%s'", i, c->template_text, r->key,
				 c->want);
		assert_string_equal(r->topic, "out");
		rules_free(s);
	}
}

struct value_error_case {
	const char *template_text;
	const char *want;
};

static const struct value_error_case value_error_cases[] = {
	{ "{exchange}.x", "rule 'r': {exchange} is empty for this event" },
	{ "{currency}", "rule 'r': {currency} is empty for this event" },
	{ "{action}", "rule 'r': {action} is empty for this event" },	/* not a decision */
	{ "{source_service}", "rule 'r': {source_service} is empty for this event" },
	{ "{symbol}.x", "rule 'r': {symbol} 'BRK.B' contains '.' for this event" },
	{ "{order_id}", "rule 'r': {order_id} is empty for this event" },
};

static void missing_or_bad_values_are_errors(void **state)
{
	char text[512];
	struct rules_result r;
	struct ev v;

	(void)state;
	for (size_t i = 0; i < sizeof(value_error_cases) / sizeof(value_error_cases[0]); i++) {
		const struct value_error_case *c = &value_error_cases[i];
		struct rules_set *s;

		snprintf(text, sizeof(text),
			 "[{\"name\": \"r\", \"target_topic\": \"out\", \"routing_key_template\": \"%s\"},"
			 " {\"name\": \"later\", \"target_topic\": \"later\", \"priority\": 1}]",
			 c->template_text);
		s = compile(text);
		ev_market(&v, "md", "BRK.B.X", "BRK.B", "", "", 1);
		assert_int_equal(apply(s, &v, NULL, &r), -EINVAL);
		assert_false(r.changed);
		assert_string_equal(r.rule, "r");	/* not skipped to "later" */
		if (strcmp(r.error, c->want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, r.error, c->want);
		rules_free(s);
	}
}

static void bad_characters_and_long_keys_are_errors(void **state)
{
	static char big[201];
	struct rules_set *s = compile(
		"[{\"name\": \"r\", \"target_topic\": \"out\","
		"  \"routing_key_template\": \"{source_service}.{symbol}\"}]");
	struct rules_result r;
	struct ev v;

	(void)state;
	ev_market(&v, "md", "k", "AAPL", "X", "USD", 1);
	ev_metadata(&v, "a b", "");
	assert_int_equal(apply(s, &v, NULL, &r), -EINVAL);
	assert_string_equal(r.error, "rule 'r': {source_service} contains whitespace or a control "
			    "byte for this event");
	v.m.source_service = "a*";
	assert_int_equal(apply(s, &v, NULL, &r), -EINVAL);
	assert_string_equal(r.error, "rule 'r': {source_service} 'a*' contains a wildcard ('*' or "
			    "'>') for this event");
	memset(big, 'S', 200);
	v.m.source_service = big;
	v.md.symbol = big;	/* 200 + 1 + 200 bytes */
	assert_int_equal(apply(s, &v, NULL, &r), -EINVAL);
	assert_non_null(strstr(r.error, "longer than 255 bytes"));
	v.md.symbol = "AAPL";
	assert_string_equal(route(s, &v)->key + 200, ".AAPL");
	rules_free(s);

	/* Every part fine, the whole not a key: {topic} ending in '.', {key} of 32 tokens. */
	s = compile("[{\"name\": \"t\", \"target_topic\": \"out\","
		    "  \"routing_key_template\": \"{topic}.{symbol}\"},"
		    " {\"name\": \"k\", \"target_topic\": \"out\", \"source_topic\": \"md\","
		    "  \"routing_key_template\": \"x.{key}\"}]");
	ev_market(&v, "md.", "AAPL", "AAPL", "X", "USD", 1);
	assert_int_equal(apply(s, &v, NULL, &r), -EINVAL);
	assert_string_equal(r.error, "rule 't': routing key 'md..AAPL' has an empty token");
	v.d.topic = "md";
	v.d.routing_key = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E.F";
	assert_int_equal(apply(s, &v, NULL, &r), -EINVAL);
	assert_string_equal(r.rule, "k");
	assert_non_null(strstr(r.error, "has more than 32 tokens"));
	v.d.routing_key = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E";
	assert_string_equal(route(s, &v)->key, "x.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E");
	rules_free(s);
}

static void unmatched_events_are_unchanged(void **state)
{
	struct rules_set *s = compile(
		"[{\"name\": \"only-decisions\", \"target_topic\": \"d\","
		"  \"routing_key_template\": \"{action}\","
		"  \"conditions\": {\"data_types\": [\"coordination_decision\"]}}]");
	struct rules_result r;
	struct ev v;

	(void)state;
	ev_market(&v, "md", "AAPL.X", "AAPL", "X", "USD", 1);
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(apply(s, &v, NULL, &r), 0);
	assert_false(r.changed);
	assert_null(r.rule);
	assert_string_equal(r.error, "");
	assert_string_equal(v.d.topic, "md");
	assert_string_equal(v.d.routing_key, "AAPL.X");
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(apply(NULL, &v, NULL, &r), 0);	/* no rule set at all */
	assert_false(r.changed);
	assert_null(r.rule);
	rules_free(s);
}

static void empty_template_keeps_the_key(void **state)
{
	struct rules_set *s = compile("[{\"name\": \"move\", \"target_topic\": \"elsewhere\"}]");
	const struct rules_result *r;
	struct ev v;

	(void)state;
	ev_market(&v, "md", "AAPL.NASDAQ.trade", "AAPL", "X", "USD", 1);
	r = route(s, &v);
	assert_string_equal(r->topic, "elsewhere");
	assert_string_equal(r->key, "AAPL.NASDAQ.trade");
	rules_free(s);
}

static void disabled_rules_are_ignored(void **state)
{
	struct rules_set *s = compile(
		"[{\"name\": \"off\", \"target_topic\": \"never\", \"priority\": -5, \"enabled\": false},"
		" {\"name\": \"on\", \"target_topic\": \"yes\", \"priority\": 5, \"enabled\": true},"
		" {\"name\": \"default-on\", \"target_topic\": \"also\", \"priority\": 6}]");
	struct ev v;

	(void)state;
	assert_int_equal(s->n_enabled, 2);
	ev_market(&v, "md", "AAPL.X", "AAPL", "X", "USD", 1);
	assert_string_equal(route(s, &v)->rule, "on");
	rules_free(s);
	s = compile("[{\"name\": \"off\", \"target_topic\": \"never\", \"enabled\": false}]");
	{
		struct rules_result r;

		assert_int_equal(apply(s, &v, NULL, &r), 0);
		assert_false(r.changed);
	}
	rules_free(s);
}

static void token_check_and_type_names(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(rules_token_check("AAPL", 4, &why), 0);
	assert_int_equal(rules_token_check("", 0, &why), -EINVAL);
	assert_string_equal(why, "is empty");
	assert_int_equal(rules_token_check("A.B", 3, &why), -EINVAL);
	assert_string_equal(why, "contains '.'");
	assert_int_equal(rules_token_check("A\tB", 3, &why), -EINVAL);
	assert_int_equal(rules_token_check("A>", 2, &why), -EINVAL);
	assert_string_equal(rules_data_type_name(MD), "market_data");
	assert_string_equal(rules_data_type_name(FANOUT__V1__DATA_TYPE__DATA_TYPE_UNSPECIFIED), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_file_loads_in_priority_then_name_order),
		cmocka_unit_test(bad_rules_name_the_rule_and_field),
		cmocka_unit_test(bad_files_are_reported_with_their_path),
		cmocka_unit_test(rule_count_is_bounded),
		cmocka_unit_test(proto_rules_compile_and_fail_like_json),
		cmocka_unit_test(lower_priority_runs_first_then_name),
		cmocka_unit_test(source_topic_and_pattern_select_events),
		cmocka_unit_test(conditions_are_evaluated_with_filters),
		cmocka_unit_test(every_placeholder_renders),
		cmocka_unit_test(missing_or_bad_values_are_errors),
		cmocka_unit_test(bad_characters_and_long_keys_are_errors),
		cmocka_unit_test(unmatched_events_are_unchanged),
		cmocka_unit_test(empty_template_keeps_the_key),
		cmocka_unit_test(disabled_rules_are_ignored),
		cmocka_unit_test(token_check_and_type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
