/* tests/unit/ingest/split_test.c — ingest/split.c: a coordination_completed event into one
 * coordination_decision event per decision (the seed's example, order, an empty list),
 * errors naming the decision, and the bounds: arena space and room in the batch. */
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

#include "core/arena.h"
#include "ingest/publish.h"
#include "ingest/split.h"
#include "view_util.h"

/* What ingest requires of a stored event: the view of its packed bytes passes
 * wire_check_event. */
static int check(const Fanout__V1__Event *e, size_t index, struct publish_error *err)
{
	struct event_view v;
	uint8_t *bytes;
	int rc = view_of(e, &v, &bytes, index, err);

	if (rc == 0)
		rc = wire_check_event(&v, index, err);
	free(bytes);
	return rc;
}

#define ARENA_BYTES (1u << 20)
#define MANY 8u

/* A coordination_completed event with up to MANY decisions, on the caller's stack. */
struct parent {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__Metadata m;
	Fanout__V1__CoordinationCompleted cc;
	Fanout__V1__CoordinationSummary summary;
	Fanout__V1__CoordinationDecision dec[MANY];
	Fanout__V1__CoordinationDecision *decp[MANY];
	Fanout__V1__PortfolioImpact impact;
	char ids[MANY][32];
};

static char *reasoning[] = {
	"Strong signal with low portfolio correlation",
	"Within risk budget limits",
	"Aligns with portfolio diversification goals",
};
static char *workflows[] = { "execution", "risk" };

/* The seed's example event, with n decisions: the first is decision_001 AAPL buy. */
static void seed_parent(struct parent *p, size_t n)
{
	static const char *const instruments[MANY] = { "AAPL", "MSFT", "TSLA", "NVDA",
							"AMZN", "META", "GOOG", "IBM" };
	static const char *const actions[MANY] = { "buy", "sell", "hold", "Buy",
						   "buy", "sell", "buy", "sell" };

	memset(p, 0, sizeof(*p));
	fanout__v1__event__init(&p->e);
	fanout__v1__distribution__init(&p->d);
	fanout__v1__metadata__init(&p->m);
	fanout__v1__coordination_completed__init(&p->cc);
	fanout__v1__coordination_summary__init(&p->summary);
	fanout__v1__portfolio_impact__init(&p->impact);
	p->e.event_id = "uuid";
	p->e.timestamp_ns = 1750500000000000000;	/* 2025-06-21T10:00:00Z */
	p->e.distribution = &p->d;
	p->e.metadata = &p->m;
	p->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED;
	p->e.coordination_completed = &p->cc;
	p->d.topic = "coordination";
	p->d.routing_key = "coord.completed";
	p->d.n_target_workflows = 2;
	p->d.target_workflows = workflows;
	p->d.priority = 7;
	p->d.delivery_guarantee = FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_EXACTLY_ONCE;
	p->m.source_service = "coordination-engine-service";
	p->m.audit_required = true;
	p->cc.coordination_id = "coord_20250621_001";
	p->cc.summary = &p->summary;
	p->summary.total_signals_processed = 5;
	p->summary.decisions_generated = 3;
	p->impact.position_change = 0.02;
	p->impact.weight_change = 0.015;
	p->impact.risk_contribution_change = 0.008;
	p->impact.correlation_impact = 0.12;
	assert_true(n <= MANY);
	for (size_t i = 0; i < n; i++) {
		Fanout__V1__CoordinationDecision *c = &p->dec[i];

		fanout__v1__coordination_decision__init(c);
		snprintf(p->ids[i], sizeof(p->ids[i]), "decision_%03zu", i + 1);
		c->decision_id = p->ids[i];
		c->instrument_id = (char *)instruments[i];
		c->action = (char *)actions[i];
		c->quantity = 100 * (int64_t)(i + 1);
		c->priority = 1;
		c->confidence = 0.85;
		c->n_reasoning = 3;
		c->reasoning = reasoning;
		c->portfolio_impact = &p->impact;
		p->decp[i] = c;
	}
	p->cc.n_decisions = n;
	p->cc.decisions = p->decp;
}

struct fixture {
	struct arena arena;
	Fanout__V1__Event *out[MANY + 1];
	struct parent p;
	struct publish_error err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || arena_init(&f->arena, ARENA_BYTES) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	arena_free(&f->arena);
	free(f);
	return 0;
}

static void seed_example_becomes_one_routed_decision(void **state)
{
	struct fixture *f = *state;
	Fanout__V1__Event *e;
	Fanout__V1__Event *back;
	uint8_t buf[4096];
	size_t n = 99, len;

	seed_parent(&f->p, 1);
	assert_int_equal(split_coordination(&f->p.e, 0, &f->arena, f->out, MANY, &n, &f->err), 0);
	assert_int_equal(n, 1);
	e = f->out[0];
	assert_string_equal(e->event_id, "uuid/decision_001");
	assert_string_equal(e->distribution->routing_key, "AAPL.decision.buy");
	assert_string_equal(e->distribution->topic, "coordination");
	assert_int_equal(e->data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION);
	assert_int_equal(e->payload_case, FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION);
	assert_true(e->timestamp_ns == 1750500000000000000);
	assert_int_equal(e->distribution->priority, 7);
	assert_int_equal(e->distribution->delivery_guarantee,
			 FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_EXACTLY_ONCE);
	assert_int_equal(e->distribution->n_target_workflows, 2);
	assert_string_equal(e->distribution->target_workflows[1], "risk");
	assert_ptr_equal(e->metadata, &f->p.m);
	assert_ptr_not_equal(e->coordination_decision, &f->p.dec[0]);	/* a copy */
	assert_string_equal(e->coordination_decision->coordination_id, "coord_20250621_001");
	assert_string_equal(f->p.dec[0].coordination_id, "");		/* parent untouched */
	assert_string_equal(e->coordination_decision->decision_id, "decision_001");
	assert_int_equal(e->coordination_decision->quantity, 100);
	assert_true(e->coordination_decision->confidence == 0.85);
	assert_int_equal(e->coordination_decision->n_reasoning, 3);
	assert_true(e->coordination_decision->portfolio_impact->correlation_impact == 0.12);
	assert_true(f->arena.used > 0);
	/* What ingest does next: wire_check_event accepts it ... */
	assert_int_equal(check(e, 0, &f->err), 0);
	/* ... and it encodes and decodes as the message the log will hold. */
	len = fanout__v1__event__get_packed_size(e);
	assert_true(len < sizeof(buf));
	assert_int_equal(fanout__v1__event__pack(e, buf), len);
	back = fanout__v1__event__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_string_equal(back->event_id, "uuid/decision_001");
	assert_string_equal(back->coordination_decision->reasoning[2],
			    "Aligns with portfolio diversification goals");
	assert_string_equal(back->metadata->source_service, "coordination-engine-service");
	fanout__v1__event__free_unpacked(back, NULL);
}

static void decisions_keep_their_order(void **state)
{
	static const char *const keys[5] = { "AAPL.decision.buy", "MSFT.decision.sell",
					     "TSLA.decision.hold", "NVDA.decision.Buy",
					     "AMZN.decision.buy" };
	struct fixture *f = *state;
	char id[32];
	size_t n = 0;

	seed_parent(&f->p, 5);
	f->p.e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_COMPLETED;
	assert_int_equal(split_coordination(&f->p.e, 3, &f->arena, f->out, MANY, &n, &f->err), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "uuid/decision_%03zu", i + 1);
		assert_string_equal(f->out[i]->event_id, id);
		assert_string_equal(f->out[i]->distribution->routing_key, keys[i]);	/* case kept */
		assert_int_equal(f->out[i]->coordination_decision->quantity, 100 * (i + 1));
		assert_int_equal(check(f->out[i], 3, &f->err), 0);
	}
	assert_ptr_not_equal(f->out[0]->distribution, f->out[1]->distribution);
}

static void empty_decisions_yield_no_events(void **state)
{
	struct fixture *f = *state;
	size_t n = 99;

	seed_parent(&f->p, 0);
	f->out[0] = NULL;
	assert_int_equal(split_coordination(&f->p.e, 0, &f->arena, f->out, MANY, &n, &f->err), 0);
	assert_int_equal(n, 0);
	assert_null(f->out[0]);
	assert_int_equal(f->arena.used, 0);
}

/* A mutation of the seed parent (3 decisions) and the error it must produce. */
struct bad_case {
	void (*mutate)(struct parent *p);
	int rc;
	const char *want;
};

static void no_instrument(struct parent *p) { p->dec[2].instrument_id = ""; }
static void no_decision_id(struct parent *p) { p->dec[1].decision_id = ""; }
static void no_action(struct parent *p) { p->dec[2].action = ""; }
static void dotted_instrument(struct parent *p) { p->dec[0].instrument_id = "BRK.B"; }
static void spaced_action(struct parent *p) { p->dec[1].action = "strong buy"; }
static void wildcard_action(struct parent *p) { p->dec[2].action = "*"; }
static void null_decision(struct parent *p) { p->decp[1] = NULL; }
static void no_coordination_id(struct parent *p) { p->cc.coordination_id = ""; }
static void no_event_id(struct parent *p) { p->e.event_id = ""; }
static void no_distribution(struct parent *p) { p->e.distribution = NULL; }
static void wrong_type(struct parent *p) { p->e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION; }
static void long_id(struct parent *p)
{
	static char id[PUBLISH_ID_BYTES_MAX + 1];

	memset(id, 'e', PUBLISH_ID_BYTES_MAX - 12);	/* + "/decision_001" = 129 bytes */
	p->e.event_id = id;
}
static void long_instrument(struct parent *p)
{
	static char id[PUBLISH_ID_BYTES_MAX + 2];

	memset(id, 'I', PUBLISH_ID_BYTES_MAX + 1);
	p->dec[0].instrument_id = id;
}
static void too_many(struct parent *p) { p->cc.n_decisions = SPLIT_DECISIONS_MAX + 1; }
static void not_completed(struct parent *p)
{
	p->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
	p->e.coordination_decision = &p->dec[0];
}

static const struct bad_case bad_cases[] = {
	{ no_instrument, -EINVAL, "events[5].coordination_completed.decisions[2].instrument_id: "
				  "required" },
	{ no_decision_id, -EINVAL, "events[5].coordination_completed.decisions[1].decision_id: "
				   "required, 1..128 bytes" },
	{ no_action, -EINVAL, "events[5].coordination_completed.decisions[2].action: required" },
	{ dotted_instrument, -EINVAL, "events[5].coordination_completed.decisions[0]."
				      "instrument_id: contains '.', so it cannot be one routing-key "
				      "token" },
	{ spaced_action, -EINVAL, "events[5].coordination_completed.decisions[1].action: contains "
				  "whitespace or a control byte, so it cannot be one routing-key token" },
	{ wildcard_action, -EINVAL, "events[5].coordination_completed.decisions[2].action: "
				    "contains a wildcard ('*' or '>'), so it cannot be one "
				    "routing-key token" },
	{ null_decision, -EINVAL, "events[5].coordination_completed.decisions[1]: missing" },
	{ no_coordination_id, -EINVAL, "events[5].coordination_completed.coordination_id: "
				       "required, 1..128 bytes" },
	{ no_event_id, -EINVAL, "events[5].event_id: required, 1..128 bytes" },
	{ no_distribution, -EINVAL, "events[5].distribution: required" },
	{ wrong_type, -EINVAL, "events[5].data_type: 3 does not match the payload" },
	{ long_id, -EINVAL, "events[5].coordination_completed.decisions[0].decision_id: the "
			    "event_id 'eeee" },
	{ long_instrument, -EINVAL, "events[5].coordination_completed.decisions[0].instrument_id: "
				    "longer than 128 bytes" },
	{ too_many, -EINVAL, "events[5].coordination_completed.decisions: 4097 decisions exceed "
			     "the limit of 4096" },
	{ not_completed, -EINVAL, "events[5]: not a coordination_completed event" },
};

static void bad_events_name_the_decision(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t n = 99;
		int rc;

		seed_parent(&f->p, 3);
		c->mutate(&f->p);
		memset(&f->err, 0, sizeof(f->err));
		rc = split_coordination(&f->p.e, 5, &f->arena, f->out, MANY, &n, &f->err);
		if (rc != c->rc || strncmp(f->err.message, c->want, strlen(c->want)) != 0)
			fail_msg("case %zu: rc %d '%s', want %d '%s'", i, rc, f->err.message, c->rc,
				 c->want);
		assert_int_equal(f->err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
		assert_int_equal(n, 0);
		assert_int_equal(f->arena.used, 0);	/* validated before building */
	}
}

static void arena_exhaustion_is_a_clean_error(void **state)
{
	struct fixture *f = *state;
	struct arena small;
	size_t n = 99, need;

	seed_parent(&f->p, MANY);
	/* Measure what MANY decisions take, then give one byte less. */
	assert_int_equal(split_coordination(&f->p.e, 0, &f->arena, f->out, MANY, &n, &f->err), 0);
	need = f->arena.used;
	assert_int_equal(n, MANY);
	assert_int_equal(arena_init(&small, need - 1), 0);
	small.used = 0;
	assert_int_equal(split_coordination(&f->p.e, 2, &small, f->out, MANY, &n, &f->err), -ENOMEM);
	assert_int_equal(n, 0);
	assert_int_equal(small.used, 0);	/* rolled back */
	assert_int_equal(f->err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL);
	assert_string_equal(f->err.message, "events[2].coordination_completed: out of scratch "
			    "memory at decision 7 of 8");
	/* Space used before the call survives a failure; enough space succeeds. */
	arena_free(&small);
	assert_int_equal(arena_init(&small, need + 64), 0);
	assert_non_null(arena_alloc(&small, 64));
	assert_int_equal(small.used, 64);
	assert_int_equal(split_coordination(&f->p.e, 2, &small, f->out, MANY, &n, &f->err), 0);
	assert_int_equal(n, MANY);
	arena_free(&small);
}

static void batch_room_is_enforced(void **state)
{
	struct fixture *f = *state;
	size_t n = 99;

	seed_parent(&f->p, 3);
	assert_int_equal(split_coordination(&f->p.e, 1, &f->arena, f->out, 2, &n, &f->err), -ENOSPC);
	assert_int_equal(n, 0);
	assert_int_equal(f->arena.used, 0);
	assert_int_equal(f->err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_string_equal(f->err.message, "events[1].coordination_completed: 3 decisions do not "
			    "fit in the batch (room for 2 more events)");
	assert_int_equal(split_coordination(&f->p.e, 1, &f->arena, f->out, 3, &n, &f->err), 0);
	assert_int_equal(n, 3);
}

static void only_completed_events_need_splitting(void **state)
{
	struct fixture *f = *state;

	seed_parent(&f->p, 1);
	assert_true(split_needed(&f->p.e));
	f->p.e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
	f->p.e.coordination_decision = &f->p.dec[0];
	assert_false(split_needed(&f->p.e));
	f->p.e.payload_case = FANOUT__V1__EVENT__PAYLOAD__NOT_SET;
	assert_false(split_needed(&f->p.e));
}

/* Resets the arena between tests so each measures its own use. */
static int reset(void **state)
{
	struct fixture *f = *state;

	arena_reset(&f->arena);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(seed_example_becomes_one_routed_decision, reset),
		cmocka_unit_test_setup(decisions_keep_their_order, reset),
		cmocka_unit_test_setup(empty_decisions_yield_no_events, reset),
		cmocka_unit_test_setup(bad_events_name_the_decision, reset),
		cmocka_unit_test_setup(arena_exhaustion_is_a_clean_error, reset),
		cmocka_unit_test_setup(batch_room_is_enforced, reset),
		cmocka_unit_test_setup(only_completed_events_need_splitting, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
