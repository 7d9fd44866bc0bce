/* tests/integration/rules_test.c — routing rules and the coordination_completed split
 * through a real fanoutd started with --rules: events are re-routed to another topic with
 * a templated key when source topic, pattern and conditions match; the lowest priority
 * wins; a disabled rule does nothing; a rule that cannot render its key rejects the whole
 * batch with an Error naming the rule; a coordination_completed becomes one
 * coordination_decision event per decision ("AAPL.decision.buy"), acknowledged as one
 * entry per decision; a malformed one gets an Error naming the field; a bad rules file
 * stops fanoutd at start-up with a clear message, and a good one is counted in its log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;

#define DT_DECISION FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION
#define EARLIEST FANOUT__V1__START_POSITION__START_POSITION_EARLIEST
#define LATEST FANOUT__V1__START_POSITION__START_POSITION_LATEST
#define INVALID FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT

/* Deliberately not in priority order: the file's order must not matter. Six rules, five
 * enabled. */
static const char rules_json[] =
	"[\n"
	" {\"name\": \"nasdaq-rest\", \"source_topic\": \"md\", \"source_pattern\": \"*.NASDAQ.>\",\n"
	"  \"target_topic\": \"nasdaq-rest\", \"priority\": 20},\n"
	" {\"name\": \"nasdaq-big\", \"source_topic\": \"md\", \"source_pattern\": \"*.NASDAQ.>\",\n"
	"  \"target_topic\": \"nasdaq\", \"routing_key_template\": \"{symbol}.{exchange}.big\",\n"
	"  \"priority\": 10, \"conditions\": {\"min_price\": 120, \"currencies\": [\"USD\"]}},\n"
	" {\"name\": \"off\", \"source_topic\": \"md\", \"target_topic\": \"never\",\n"
	"  \"priority\": -100, \"enabled\": false},\n"
	" {\"name\": \"needs-currency\", \"source_topic\": \"strict\", \"target_topic\": \"strict-out\",\n"
	"  \"routing_key_template\": \"{currency}.{symbol}\"},\n"
	" {\"name\": \"sells\", \"source_topic\": \"coord-routed\", \"source_pattern\": \"*.decision.sell\",\n"
	"  \"target_topic\": \"sells\", \"routing_key_template\": \"{action}.{instrument_id}\",\n"
	"  \"conditions\": {\"min_confidence\": 0.5}},\n"
	" {\"name\": \"decision-venue\", \"source_topic\": \"coord-strict\",\n"
	"  \"target_topic\": \"out\", \"routing_key_template\": \"{venue}.{instrument_id}\"}\n"
	"]\n";

/* ---- events ------------------------------------------------------------------------ */

struct md_ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	char key[64];
};

static Fanout__V1__Event *md_event(struct md_ev *v, const char *id, const char *topic,
				   const char *symbol, const char *exchange, double price,
				   const char *currency)
{
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__market_data__init(&v->md);
	snprintf(v->key, sizeof(v->key), "%s.%s.trade", symbol, exchange);
	v->e.event_id = (char *)id;
	v->e.timestamp_ns = clock_realtime_ns();
	v->e.distribution = &v->d;
	v->d.topic = (char *)topic;
	v->d.routing_key = v->key;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e.market_data = &v->md;
	v->md.symbol = (char *)symbol;
	v->md.exchange = (char *)exchange;
	v->md.price = price;
	v->md.volume = 100;
	v->md.currency = (char *)currency;
	return &v->e;
}

#define CC_MAX 4u

struct cc_ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__Metadata m;
	Fanout__V1__CoordinationCompleted cc;
	Fanout__V1__CoordinationDecision dec[CC_MAX];
	Fanout__V1__CoordinationDecision *decp[CC_MAX];
	char ids[CC_MAX][16];
};

/* A coordination_completed from the coordination engine with n decisions; instruments
 * and actions as given, decision ids "d1".."dn". */
static Fanout__V1__Event *cc_event(struct cc_ev *v, const char *id, const char *topic, size_t n,
				   const char *const *instruments, const char *const *actions)
{
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__metadata__init(&v->m);
	fanout__v1__coordination_completed__init(&v->cc);
	v->e.event_id = (char *)id;
	v->e.timestamp_ns = clock_realtime_ns();
	v->e.distribution = &v->d;
	v->e.metadata = &v->m;
	v->m.source_service = "coordination-engine-service";
	v->d.topic = (char *)topic;
	v->d.routing_key = "";		/* not used: each decision gets its own */
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED;
	v->e.coordination_completed = &v->cc;
	v->cc.coordination_id = "coord_20250621_001";
	assert_true(n <= CC_MAX);
	for (size_t i = 0; i < n; i++) {
		Fanout__V1__CoordinationDecision *c = &v->dec[i];

		fanout__v1__coordination_decision__init(c);
		snprintf(v->ids[i], sizeof(v->ids[i]), "d%zu", i + 1);
		c->decision_id = v->ids[i];
		c->instrument_id = (char *)instruments[i];
		c->action = (char *)actions[i];
		c->quantity = 100 * (int64_t)(i + 1);
		c->confidence = 0.85;
		v->decp[i] = c;
	}
	v->cc.n_decisions = n;
	v->cc.decisions = v->decp;
	return &v->e;
}

/* Publishes one batch and returns the answer (a PublishAck or an Error). */
static Fanout__V1__ServerMessage *publish(struct client *c, uint64_t seq,
					  Fanout__V1__Event **events, size_t n)
{
	assert_int_equal(client_publish(c, seq, events, n), 0);
	return recv_msg(c, 5000);
}

/* Publishes and checks the ack: n_want entries, the offsets given (partitions are 0:
 * every topic here has one). */
static void publish_ok(struct client *c, uint64_t seq, Fanout__V1__Event **events, size_t n,
		       const uint64_t *offsets, size_t n_want)
{
	Fanout__V1__ServerMessage *m = publish(c, seq, events, n);

	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("batch %llu: error %d: %s", (unsigned long long)seq, m->error->code,
			 m->error->message);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	assert_int_equal(m->publish_ack->sequence, seq);
	assert_int_equal(m->publish_ack->n_offsets, n_want);
	assert_int_equal(m->publish_ack->n_partitions, n_want);
	for (size_t i = 0; i < n_want; i++) {
		assert_int_equal(m->publish_ack->partitions[i], 0);
		if (m->publish_ack->offsets[i] != offsets[i])
			fail_msg("batch %llu: ack[%zu] offset %llu, want %llu",
				 (unsigned long long)seq, i,
				 (unsigned long long)m->publish_ack->offsets[i],
				 (unsigned long long)offsets[i]);
	}
	client_free_msg(m);
}

/* Publishes a batch that must be refused with an INVALID_EVENT naming want. */
static void publish_refused(struct client *c, uint64_t seq, Fanout__V1__Event **events,
			    size_t n, const char *want)
{
	Fanout__V1__ServerMessage *m = publish(c, seq, events, n);

	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("batch %llu: expected an Error naming '%s', got case %d",
			 (unsigned long long)seq, want, m->body_case);
	assert_int_equal(m->error->code, INVALID);
	assert_int_equal(m->error->sequence, seq);
	assert_false(m->error->closing);
	if (!strstr(m->error->message, want))
		fail_msg("batch %llu: error '%s' lacks '%s'", (unsigned long long)seq,
			 m->error->message, want);
	client_free_msg(m);
}

/* ---- subscribing ------------------------------------------------------------------- */

/* Subscribes a fresh connection to topic from the earliest offset and checks it holds
 * exactly the keys given, in order (offsets 0, 1, ...); returns the connection with the
 * last event left in *last (or NULL) for further checks; free both. */
static void expect_topic(struct server *srv, const char *topic, const char *const *keys,
			 size_t n, struct client *c, Fanout__V1__ServerMessage **events)
{
	const char *none[1] = { NULL };
	Fanout__V1__ServerMessage *m;

	server_connect(srv, c);
	assert_int_equal(client_subscribe(c, 1, topic, none, 0, EARLIEST, 0, &m), 0);
	client_free_msg(m);
	for (size_t i = 0; i < n; i++) {
		m = recv_msg(c, 5000);
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("%s: expected event %zu ('%s'), got message case %d", topic, i,
				 keys[i], m->body_case);
		assert_string_equal(m->event->distribution->topic, topic);
		if (strcmp(m->event->distribution->routing_key, keys[i]) != 0)
			fail_msg("%s: event %zu has key '%s', want '%s'", topic, i,
				 m->event->distribution->routing_key, keys[i]);
		assert_int_equal(m->event->distribution->offset, i);
		events[i] = m;
	}
	ping_pong(c, 1);	/* and nothing else */
}

static void free_events(Fanout__V1__ServerMessage **events, size_t n)
{
	for (size_t i = 0; i < n; i++)
		client_free_msg(events[i]);
}

/* Writes the rules file into the server's temp dir; returns its path (static). */
static const char *write_rules(struct server *srv, const char *name, const char *text)
{
	static char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", srv->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void start_with_rules(struct server *srv)
{
	const char *path;

	server_setup(srv, g_argc, g_argv);
	path = write_rules(srv, "rules.json", rules_json);
	server_start(srv, (const char *const[]){ "--rules", path, NULL });
}

/* ---- the tests --------------------------------------------------------------------- */

static void rules_reroute_by_priority_conditions_and_template(void **state)
{
	struct server srv;
	struct client pub, c;
	struct md_ev v[6];
	Fanout__V1__Event *batch[6];
	Fanout__V1__ServerMessage *got[4];

	(void)state;
	start_with_rules(&srv);
	server_connect(&srv, &pub);
	/* nasdaq-big (priority 10) beats nasdaq-rest (20) when its conditions hold; then
	 * nasdaq-rest takes what is left of NASDAQ; "off" (-100, disabled) takes nothing. */
	batch[0] = md_event(&v[0], "e0", "md", "AAPL", "NASDAQ", 150.0, "USD");	/* big */
	batch[1] = md_event(&v[1], "e1", "md", "MSFT", "NASDAQ", 100.0, "USD");	/* price */
	batch[2] = md_event(&v[2], "e2", "md", "IBM", "NYSE", 200.0, "USD");	/* no rule */
	batch[3] = md_event(&v[3], "e3", "md", "NVDA", "NASDAQ", 900.0, "EUR");	/* currency */
	batch[4] = md_event(&v[4], "e4", "md", "TSLA", "NASDAQ", 120.0, "USD");	/* bound */
	batch[5] = md_event(&v[5], "e5", "md-other", "AMZN", "NASDAQ", 500.0, "USD");	/* topic */
	/* One ack entry per event, in batch order, each the offset in its final topic. */
	publish_ok(&pub, 1, batch, 6, (const uint64_t[]){ 0, 0, 0, 1, 1, 0 }, 6);

	expect_topic(&srv, "nasdaq", (const char *const[]){ "AAPL.NASDAQ.big", "TSLA.NASDAQ.big" },
		     2, &c, got);
	assert_string_equal(got[0]->event->event_id, "e0");	/* the payload is untouched */
	assert_string_equal(got[0]->event->market_data->symbol, "AAPL");
	assert_true(got[0]->event->market_data->price == 150.0);
	assert_true(got[0]->event->receive_time_ns > 0);
	free_events(got, 2);
	client_close(&c);
	expect_topic(&srv, "nasdaq-rest",
		     (const char *const[]){ "MSFT.NASDAQ.trade", "NVDA.NASDAQ.trade" }, 2, &c, got);
	free_events(got, 2);	/* empty template: the key is kept */
	client_close(&c);
	expect_topic(&srv, "md", (const char *const[]){ "IBM.NYSE.trade" }, 1, &c, got);
	free_events(got, 1);
	client_close(&c);
	expect_topic(&srv, "md-other", (const char *const[]){ "AMZN.NASDAQ.trade" }, 1, &c, got);
	free_events(got, 1);
	client_close(&c);
	expect_topic(&srv, "never", NULL, 0, &c, got);	/* the disabled rule: nothing */
	client_close(&c);
	client_close(&pub);
	server_teardown(&srv);
}

static void rule_errors_name_the_rule_and_store_nothing(void **state)
{
	struct server srv;
	struct client pub, c;
	struct md_ev v[3];
	struct cc_ev cv;
	Fanout__V1__Event *batch[3];
	Fanout__V1__ServerMessage *got[2];

	(void)state;
	start_with_rules(&srv);
	server_connect(&srv, &pub);
	/* needs-currency renders "{currency}.{symbol}": events[1] has no currency. */
	batch[0] = md_event(&v[0], "s0", "strict", "AAPL", "X", 1.0, "USD");
	batch[1] = md_event(&v[1], "s1", "strict", "MSFT", "X", 1.0, "");
	publish_refused(&pub, 1, batch, 2,
			"events[1]: rule 'needs-currency': {currency} is empty for this event");
	/* A key token that cannot be one: '.' in the symbol. */
	batch[1] = md_event(&v[1], "s1", "strict", "BRK.B", "X", 1.0, "USD");
	v[1].d.routing_key = "BRK-B.X.trade";
	publish_refused(&pub, 2, batch, 2,
			"events[1]: rule 'needs-currency': {symbol} 'BRK.B' contains '.'");
	/* A split product meets the rules too, and its error names the decision. */
	batch[1] = cc_event(&cv, "cc-strict", "coord-strict", 2,
			    (const char *const[]){ "AAPL", "MSFT" },
			    (const char *const[]){ "buy", "sell" });
	publish_refused(&pub, 3, batch, 2, "events[1].coordination_completed.decisions[0]: "
			"rule 'decision-venue': {venue} is empty for this event");
	cv.m.venue = "XNAS";	/* metadata.venue stands in for a decision's venue */
	/* All or nothing: none of the refused batches stored anything, and a good one does. */
	publish_ok(&pub, 4, batch, 2, (const uint64_t[]){ 0, 0, 1 }, 3);
	expect_topic(&srv, "strict-out", (const char *const[]){ "USD.AAPL" }, 1, &c, got);
	free_events(got, 1);
	client_close(&c);
	expect_topic(&srv, "out", (const char *const[]){ "XNAS.AAPL", "XNAS.MSFT" }, 2, &c, got);
	assert_int_equal(got[1]->event->data_type, DT_DECISION);
	free_events(got, 2);
	client_close(&c);
	expect_topic(&srv, "strict", NULL, 0, &c, got);
	client_close(&c);
	client_close(&pub);
	server_teardown(&srv);
}

static void coordination_completed_becomes_decisions(void **state)
{
	static const char *const keys[3] = { "AAPL.decision.buy", "MSFT.decision.sell",
					     "TSLA.decision.hold" };
	struct server srv;
	struct client pub, sub, c;
	struct cc_ev cv, empty;
	struct md_ev v;
	Fanout__V1__Event *batch[3];
	Fanout__V1__ServerMessage *got[3], *m;
	const char *pattern[1] = { "*.decision.*" };

	(void)state;
	start_with_rules(&srv);
	server_connect(&srv, &sub);
	assert_int_equal(client_subscribe(&sub, 7, "coordination", pattern, 1, LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&srv, &pub);
	/* [market event, coordination_completed with 3 decisions, an empty one]: the ack
	 * has 1 + 3 + 0 entries, in that order. */
	batch[0] = md_event(&v, "m0", "md-side", "IBM", "NYSE", 10.0, "USD");
	batch[1] = cc_event(&cv, "uuid-1", "coordination", 3,
			    (const char *const[]){ "AAPL", "MSFT", "TSLA" },
			    (const char *const[]){ "buy", "sell", "hold" });
	batch[2] = cc_event(&empty, "uuid-2", "coordination", 0, NULL, NULL);
	publish_ok(&pub, 1, batch, 3, (const uint64_t[]){ 0, 0, 1, 2 }, 4);
	for (size_t i = 0; i < 3; i++) {
		char id[32];

		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->data_type, DT_DECISION);
		assert_int_equal(m->event->payload_case,
				 FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION);
		assert_string_equal(m->event->distribution->routing_key, keys[i]);
		assert_string_equal(m->event->distribution->topic, "coordination");
		assert_int_equal(m->event->distribution->offset, i);
		snprintf(id, sizeof(id), "uuid-1/d%zu", i + 1);
		assert_string_equal(m->event->event_id, id);
		assert_string_equal(m->event->coordination_decision->coordination_id,
				    "coord_20250621_001");
		assert_int_equal(m->event->coordination_decision->quantity, 100 * (i + 1));
		assert_string_equal(m->event->metadata->source_service,
				    "coordination-engine-service");
		client_free_msg(m);
	}
	ping_pong(&sub, 2);
	/* Products meet the rules: "sells" moves confident sells from coord-routed. */
	batch[0] = cc_event(&cv, "uuid-3", "coord-routed", 3,
			    (const char *const[]){ "AAPL", "MSFT", "TSLA" },
			    (const char *const[]){ "buy", "sell", "sell" });
	cv.dec[2].confidence = 0.4;	/* below min_confidence: stays */
	publish_ok(&pub, 2, batch, 1, (const uint64_t[]){ 0, 0, 1 }, 3);
	expect_topic(&srv, "sells", (const char *const[]){ "sell.MSFT" }, 1, &c, got);
	assert_string_equal(got[0]->event->event_id, "uuid-3/d2");
	free_events(got, 1);
	client_close(&c);
	expect_topic(&srv, "coord-routed",
		     (const char *const[]){ "AAPL.decision.buy", "TSLA.decision.sell" }, 2, &c, got);
	free_events(got, 2);
	client_close(&c);
	client_close(&sub);
	client_close(&pub);
	server_teardown(&srv);
}

static void malformed_coordination_completed_is_refused(void **state)
{
	struct server srv;
	struct client pub, c;
	struct cc_ev cv;
	struct md_ev v;
	Fanout__V1__Event *batch[2];
	Fanout__V1__ServerMessage *got[4];

	(void)state;
	start_with_rules(&srv);
	server_connect(&srv, &pub);
	batch[0] = md_event(&v, "m0", "coordination", "IBM", "NYSE", 10.0, "USD");
	batch[1] = cc_event(&cv, "bad-1", "coordination", 3,
			    (const char *const[]){ "AAPL", "", "TSLA" },
			    (const char *const[]){ "buy", "sell", "hold" });
	publish_refused(&pub, 1, batch, 2,
			"events[1].coordination_completed.decisions[1].instrument_id: required");
	cv.dec[1].instrument_id = "BRK.B";
	publish_refused(&pub, 2, batch, 2, "events[1].coordination_completed.decisions[1]."
			"instrument_id: contains '.', so it cannot be one routing-key token");
	cv.dec[1].instrument_id = "MSFT";
	cv.cc.coordination_id = "";
	publish_refused(&pub, 3, batch, 2,
			"events[1].coordination_completed.coordination_id: required");
	cv.cc.coordination_id = "c";
	cv.d.topic = "bad topic";	/* checked on each product, named by the parent */
	{
		Fanout__V1__ServerMessage *m = publish(&pub, 4, batch, 2);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC);
		assert_non_null(strstr(m->error->message, "events[1].distribution.topic 'bad topic'"));
		client_free_msg(m);
	}
	cv.d.topic = "coordination";
	/* Nothing of the refused batches was stored: the good batch starts at offset 0. */
	publish_ok(&pub, 5, batch, 2, (const uint64_t[]){ 0, 1, 2, 3 }, 4);
	expect_topic(&srv, "coordination",
		     (const char *const[]){ "IBM.NYSE.trade", "AAPL.decision.buy",
					    "MSFT.decision.sell", "TSLA.decision.hold" }, 4, &c, got);
	free_events(got, 4);
	client_close(&c);
	client_close(&pub);
	server_teardown(&srv);
}

/* ---- start-up ---------------------------------------------------------------------- */

/* Runs fanoutd with args (after the binary) and its stderr on a pipe; *fd gets the read
 * end. Returns the pid. */
static pid_t spawn(const char *const *args, int *fd)
{
	const char *argv[16];
	int p[2], n = 0;
	pid_t pid;

	argv[n++] = g_argv[1] ? g_argv[1] : getenv("FANOUTD");
	assert_non_null(argv[0]);
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* Reads fd until EOF or until want appears (bounded by 10 s) into buf. */
/* What fanoutd prints at start-up, kept whole: beside the line a test wants, it may warn
 * about every hot directory it finds on the machine (core/hotdir.c), a line each. */
#define RULES_TEST_OUT_BYTES (256u << 10)

static void read_until(int fd, char *buf, size_t cap, const char *want)
{
	int64_t deadline = clock_monotonic_ns() + 10ll * 1000000000;
	size_t len = 0;

	buf[0] = '\0';
	while (len + 1 < cap && clock_monotonic_ns() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = read(fd, buf + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		if (want && strstr(buf, want))
			break;
	}
}

/* Waits (bounded) for pid to exit; returns its exit code, or -1 if it had to be killed. */
static int wait_exit(pid_t pid)
{
	int64_t deadline = clock_monotonic_ns() + 10ll * 1000000000;
	int status;

	while (clock_monotonic_ns() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* fanoutd with these rules must exit 2 and say want on stderr, before creating data. */
static void expect_refused(struct server *srv, const char *rules_path, const char *want,
			   const char *extra)
{
	static char out[RULES_TEST_OUT_BYTES];
	char data[300];
	int fd;
	pid_t pid;

	snprintf(data, sizeof(data), "%s/refused-data", srv->dir);
	pid = spawn((const char *const[]){ "--listen", "127.0.0.1:0", "--data-dir", data,
					   "--rules", rules_path, extra, NULL }, &fd);
	read_until(fd, out, sizeof(out), NULL);
	close(fd);
	assert_int_equal(wait_exit(pid), 2);
	if (!strstr(out, want))
		fail_msg("fanoutd said '%s', want '%s'", out, want);
	if (!extra)
		assert_int_equal(access(data, F_OK), -1);	/* refused before the data dir */
}

static void bad_rules_files_stop_fanoutd(void **state)
{
	struct server srv;
	char want[400];
	const char *path;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	path = write_rules(&srv, "bad-rule.json",
			   "[{\"name\": \"a\", \"target_topic\": \"t\"},\n"
			   " {\"name\": \"b\", \"target_topic\": \"t\", \"source_pattern\": \"x.>.y\"}]\n");
	snprintf(want, sizeof(want), "fanoutd: --rules: %s: rules[1] 'b': source_pattern 'x.>.y':",
		 path);
	expect_refused(&srv, path, want, NULL);
	path = write_rules(&srv, "bad-json.json", "[{\"name\": \"a\",\n \"target_topic\": }]\n");
	snprintf(want, sizeof(want), "fanoutd: --rules: %s:2:", path);
	expect_refused(&srv, path, want, NULL);
	path = write_rules(&srv, "bad-template.json",
			   "[{\"name\": \"t\", \"target_topic\": \"x\", "
			   "\"routing_key_template\": \"{sym}.x\"}]");
	expect_refused(&srv, path, "rules[0] 't': routing_key_template '{sym}.x': unknown "
		       "placeholder {sym}", NULL);
	snprintf(want, sizeof(want), "%s/missing.json", srv.dir);
	expect_refused(&srv, want, "missing.json: No such file or directory", NULL);
	/* Without auto-create, a rule's target must exist. */
	path = write_rules(&srv, "target.json",
			   "[{\"name\": \"to-nowhere\", \"target_topic\": \"nowhere\"}]");
	expect_refused(&srv, path, "rule 'to-nowhere': target_topic 'nowhere' does not exist "
		       "and --no-auto-create is set", "--no-auto-create");
	server_teardown(&srv);
}

static void good_rules_file_is_counted_in_the_log(void **state)
{
	struct server srv;
	static char out[RULES_TEST_OUT_BYTES];
	char data[300], want[400];
	const char *path;
	int fd;
	pid_t pid;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	path = write_rules(&srv, "rules.json", rules_json);
	snprintf(data, sizeof(data), "%s/data", srv.dir);
	pid = spawn((const char *const[]){ "--listen", "127.0.0.1:0", "--data-dir", data,
					   "--rules", path, NULL }, &fd);
	read_until(fd, out, sizeof(out), "listening on");
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid), 0);
	close(fd);
	snprintf(want, sizeof(want), "fanoutd: routing rules: 6 loaded from %s (5 enabled)", path);
	if (!strstr(out, want))
		fail_msg("fanoutd said '%s', want '%s'", out, want);
	server_teardown(&srv);
}

/* Subscribes a fresh connection to topic (created if need be) from the earliest offset. */
static void subscribe_topic(struct server *srv, struct client *c, const char *topic)
{
	Fanout__V1__ServerMessage *m;

	server_connect(srv, c);
	assert_int_equal(client_subscribe(c, 1, topic, NULL, 0, EARLIEST, 0, &m), 0);
	client_free_msg(m);
}

/* Publishes one "rl" event (id seq) and waits for its ack. */
static void publish_rl(struct client *pub, uint64_t seq)
{
	struct md_ev v;
	char id[32];
	Fanout__V1__Event *e;
	Fanout__V1__ServerMessage *m;

	snprintf(id, sizeof(id), "rl-%llu", (unsigned long long)seq);
	e = md_event(&v, id, "rl", "AAPL", "NYSE", 10.0, "USD");
	m = publish(pub, seq, &e, 1);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
}

/* Publishes until an event arrives on c (bounded: 100 tries, 100 ms apart). Returns the
 * next sequence to use. */
static uint64_t publish_until_routed(struct client *pub, struct client *c, uint64_t seq)
{
	for (int i = 0; i < 100; i++) {
		Fanout__V1__ServerMessage *m = NULL;

		publish_rl(pub, seq++);
		if (client_recv(c, &m, 100) == 0) {
			assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
			client_free_msg(m);
			return seq;
		}
	}
	fail_msg("the reloaded rule never took effect");
	return seq;
}

/* Reads what c has until 200 ms of silence. */
static void drain(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;

	while (client_recv(c, &m, 200) == 0)
		client_free_msg(m);
}

/* SIGHUP reads --rules again: a good file takes over for the next batches on every
 * reactor; a bad one is refused and the rules in force stay. */
static void rules_reload_on_sighup(void **state)
{
	static const char to_a[] = "[{\"name\": \"r\", \"source_topic\": \"rl\", "
				   "\"target_topic\": \"rl-a\"}]";
	static const char to_b[] = "[{\"name\": \"r\", \"source_topic\": \"rl\", "
				   "\"target_topic\": \"rl-b\"}]";
	struct server srv;
	struct client pub, a, b;
	const char *path;
	uint64_t seq = 1;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	path = write_rules(&srv, "reload.json", to_a);
	server_start(&srv, (const char *const[]){ "--rules", path, "--reactors", "2", NULL });
	subscribe_topic(&srv, &a, "rl-a");
	subscribe_topic(&srv, &b, "rl-b");
	server_connect(&srv, &pub);
	seq = publish_until_routed(&pub, &a, seq);	/* rule a in force */
	write_rules(&srv, "reload.json", to_b);
	assert_int_equal(kill(srv.pid, SIGHUP), 0);
	seq = publish_until_routed(&pub, &b, seq);	/* rule b took over */
	drain(&a);
	publish_rl(&pub, seq++);
	drain(&b);
	ping_pong(&a, 3);	/* rule a is gone: nothing more for rl-a */
	write_rules(&srv, "reload.json", "[{\"name\": ");	/* broken */
	assert_int_equal(kill(srv.pid, SIGHUP), 0);
	usleep(300 * 1000);
	seq = publish_until_routed(&pub, &b, seq);	/* b still in force, server alive */
	ping_pong(&a, 4);
	client_close(&pub);
	client_close(&a);
	client_close(&b);
	assert_int_equal(WEXITSTATUS(server_stop(&srv, SIGTERM)), 0);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rules_reroute_by_priority_conditions_and_template),
		cmocka_unit_test(rule_errors_name_the_rule_and_store_nothing),
		cmocka_unit_test(coordination_completed_becomes_decisions),
		cmocka_unit_test(malformed_coordination_completed_is_refused),
		cmocka_unit_test(bad_rules_files_stop_fanoutd),
		cmocka_unit_test(good_rules_file_is_counted_in_the_log),
		cmocka_unit_test(rules_reload_on_sighup),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
