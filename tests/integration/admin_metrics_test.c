/* tests/integration/admin_metrics_test.c — /metrics of a server under traffic, checked
 * line by line against the Prometheus text format's rules by a strict parser here (and by
 * promtool check metrics when installed: tools/test installs it), with the figures it
 * must show (exact event counts per partition, per reactor, per subscription); and
 * --log-format json: every line the server writes is a JSON object. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/integration/admin_util.h"
#include "tools/http_client.h"

#define SERIES_MAX 4096

static int g_argc;
static char **g_argv;

struct family {
	char name[128];
	char type[16];
	bool help, samples_done;
};

struct exposition {
	struct family fam[512];
	int nfam;
	char *series[SERIES_MAX];	/* name{labels}, for duplicates */
	int nseries;
};

static bool metric_name_ok(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

static struct family *family_of(struct exposition *x, const char *name, size_t n)
{
	for (int i = 0; i < x->nfam; i++)
		if (strlen(x->fam[i].name) == n && memcmp(x->fam[i].name, name, n) == 0)
			return &x->fam[i];
	return NULL;
}

/* The histogram family a series name belongs to, or NULL. Its buckets must carry an le
 * label (their order and their +Inf are checked by delivery_latency_histogram). */
static struct family *histogram_of(struct exposition *x, const char *name, size_t n,
				   int lineno)
{
	static const char *const suffix[] = { "_bucket", "_sum", "_count" };

	for (size_t i = 0; i < 3; i++) {
		size_t k = strlen(suffix[i]);
		struct family *f;

		if (n <= k || memcmp(name + n - k, suffix[i], k) != 0)
			continue;
		f = family_of(x, name, n - k);
		if (!f || strcmp(f->type, "histogram") != 0)
			return NULL;
		if (i == 0 && strncmp(name + n, "{le=\"", 5) != 0)
			fail_msg("line %d: a bucket without its le label", lineno);
		return f;
	}
	return NULL;
}

/* "# HELP name text" or "# TYPE name type". */
static void check_comment(struct exposition *x, const char *l, int lineno)
{
	char kind[8], name[128], rest[256] = "";
	struct family *f;

	if (sscanf(l, "# %7s %127s %255[^\n]", kind, name, rest) < 2)
		fail_msg("line %d: malformed comment '%s'", lineno, l);
	if (!metric_name_ok(name, strlen(name)))
		fail_msg("line %d: bad metric name '%s'", lineno, name);
	f = family_of(x, name, strlen(name));
	if (strcmp(kind, "HELP") == 0) {
		if (f)
			fail_msg("line %d: second HELP for %s", lineno, name);
		assert_true(x->nfam < 512);
		f = &x->fam[x->nfam++];
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->help = rest[0] != '\0';
		if (!f->help)
			fail_msg("line %d: empty HELP for %s", lineno, name);
		return;
	}
	if (strcmp(kind, "TYPE") != 0 || !f || f->type[0])
		fail_msg("line %d: TYPE without a HELP first, or twice: '%s'", lineno, l);
	if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram"))
		fail_msg("line %d: type '%s' (this server has counters, gauges and histograms)",
			 lineno, rest);
	if (strcmp(rest, "counter") == 0 && (strlen(name) < 6 ||
					     strcmp(name + strlen(name) - 6, "_total")))
		fail_msg("line %d: counter %s does not end in _total", lineno, name);
	snprintf(f->type, sizeof(f->type), "%s", rest);
	for (int i = 0; i < x->nfam; i++)	/* the families before are over */
		if (&x->fam[i] != f)
			x->fam[i].samples_done = true;
}

/* {name="value",...}: returns the character after '}', failing on anything else. */
static const char *check_labels(const char *p, int lineno)
{
	assert_true(*p == '{');
	p++;
	while (*p != '}') {
		const char *n = p;

		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p == n || isdigit((unsigned char)*n) || p[0] != '=' || p[1] != '"')
			fail_msg("line %d: bad label name at '%s'", lineno, n);
		if ((p - n == 6 && memcmp(n, "symbol", 6) == 0) || (p - n == 3 && !memcmp(n, "key", 3)))
			fail_msg("line %d: per-symbol or per-key label", lineno);
		for (p += 2; *p != '"'; p++) {
			if (!*p || *p == '\n')
				fail_msg("line %d: unterminated label value", lineno);
			if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
				fail_msg("line %d: bad escape in label value", lineno);
			if (*p == '\\')
				p++;
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			fail_msg("line %d: expected ',' or '}' at '%s'", lineno, p);
	}
	return p + 1;
}

static void check_sample(struct exposition *x, const char *l, int lineno)
{
	const char *p = l, *end;
	struct family *f;
	double v;

	while (*p && *p != '{' && *p != ' ')
		p++;
	if (!metric_name_ok(l, (size_t)(p - l)))
		fail_msg("line %d: bad metric name in '%s'", lineno, l);
	f = family_of(x, l, (size_t)(p - l));
	if (!f)	/* a histogram's series: NAME_bucket, NAME_sum, NAME_count */
		f = histogram_of(x, l, (size_t)(p - l), lineno);
	if (!f || !f->type[0] || f->samples_done)
		fail_msg("line %d: sample without its family's HELP and TYPE just before: '%s'",
			 lineno, l);
	if (*p == '{')
		p = check_labels(p, lineno);
	if (*p != ' ')
		fail_msg("line %d: expected a space before the value", lineno);
	assert_true(x->nseries < SERIES_MAX);
	x->series[x->nseries] = strndup(l, (size_t)(p - l));
	for (int i = 0; i < x->nseries; i++)
		if (strcmp(x->series[i], x->series[x->nseries]) == 0)
			fail_msg("line %d: duplicate series %s", lineno, x->series[i]);
	x->nseries++;
	v = strtod(p + 1, (char **)&end);
	if (end == p + 1 || *end || isnan(v) || (strcmp(f->type, "counter") == 0 && v < 0))
		fail_msg("line %d: bad value '%s'", lineno, p + 1);
}

/* The whole exposition, strictly. */
static void check_exposition(char *text)
{
	struct exposition *x = calloc(1, sizeof(*x));
	int lineno = 0;

	assert_non_null(x);
	assert_true(text[0] && text[strlen(text) - 1] == '\n');
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		lineno++;
		if (l[0] == '#')
			check_comment(x, l, lineno);
		else
			check_sample(x, l, lineno);
	}
	for (int i = 0; i < x->nseries; i++)
		free(x->series[i]);
	free(x);
}

/* The value of the one sample whose line starts with prefix, e.g. "name{a=\"b\"} ". */
static double sample(const char *text, const char *prefix)
{
	char want[300];
	const char *p;

	snprintf(want, sizeof(want), "\n%s", prefix);
	p = strstr(text, want);
	if (!p)
		fail_msg("no sample '%s'", prefix);
	return atof(p + strlen(want));
}

static char *get_metrics(struct server *s)
{
	struct http_response r;
	char *text;

	assert_int_equal(http_request(s->http, "GET", "/metrics", NULL, NULL, 0, 5000, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.content_type, "text/plain"));
	text = strdup(r.body);
	http_response_free(&r);
	return text;
}

static void metrics_follow_the_format_and_the_traffic(void **state)
{
	struct server s;
	struct client sub, pub;
	Fanout__V1__ServerMessage *m;
	char *text, *copy;
	double in = 0, out = 0;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, (const char *const[]){ "--reactors", "2", "--partitions", "2", NULL });
	server_connect(&s, &sub);
	assert_int_equal(client_subscribe(&sub, 1, "m/d", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&s, &pub);
	publish_range(&pub, "m/d", 0, 3000, 40, NULL);
	for (int i = 0; i < 3000; i++)
		client_free_msg(recv_msg(&sub, 10000));
	admin_sleep_ms(1300);	/* a sample after the traffic */
	text = get_metrics(&s);
	copy = strdup(text);
	check_exposition(copy);
	free(copy);
	metrics_promtool_check(text);
	for (int p = 0; p < 2; p++) {
		char pre[200];

		snprintf(pre, sizeof(pre), "fanout_partition_events_in_total{topic=\"m/d\","
			 "partition=\"%d\"} ", p);
		in += sample(text, pre);
		snprintf(pre, sizeof(pre), "fanout_partition_events_out_total{topic=\"m/d\","
			 "partition=\"%d\"} ", p);
		out += sample(text, pre);
	}
	assert_true(in == 3000 && out == 3000);
	assert_true(sample(text, "fanout_reactor_events_in_total{reactor=\"0\"} ") +
		    sample(text, "fanout_reactor_events_in_total{reactor=\"1\"} ") == 3000);
	assert_true(sample(text, "fanout_reactor_deliveries_total{reactor=\"0\"} ") +
		    sample(text, "fanout_reactor_deliveries_total{reactor=\"1\"} ") == 3000);
	assert_true(sample(text, "fanout_subscriptions ") == 1);
	assert_non_null(strstr(text, "\nfanout_subscription_lag_events{topic=\"m/d\","
			       "subscription=\""));
	assert_true(sample(text, "process_resident_memory_bytes ") > 0);
	assert_true(sample(text, "process_open_fds ") > 0);
	assert_true(sample(text, "fanout_store_up{backend=\"sqlite\"} ") == 1);
	free(text);
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* fanout_delivery_latency_seconds (admin/latency.h): its buckets in order of le, none
 * fewer than the one before, +Inf equal to _count; returns _count, *sum its _sum. */
static double latency_buckets(const char *text, double *sum)
{
	const char *p = text;
	double le_prev = -1, n_prev = 0, count;
	int buckets = 0;
	bool inf = false;

	while ((p = strstr(p, "\nfanout_delivery_latency_seconds_bucket{le=\""))) {
		char le[32];
		double n;

		p += strlen("\nfanout_delivery_latency_seconds_bucket{le=\"");
		assert_int_equal(sscanf(p, "%31[^\"]\"} %lf", le, &n), 2);
		assert_false(inf);	/* +Inf is the last */
		inf = strcmp(le, "+Inf") == 0;
		if (!inf) {
			assert_true(atof(le) > le_prev);
			le_prev = atof(le);
		}
		assert_true(n >= n_prev);	/* cumulative */
		n_prev = n;
		buckets++;
	}
	assert_true(inf && buckets >= 10);
	count = sample(text, "fanout_delivery_latency_seconds_count ");
	*sum = sample(text, "fanout_delivery_latency_seconds_sum ");
	assert_true(n_prev == count);
	return count;
}

/* The sampled receive -> send histogram grows with deliveries (1 in 64 per reactor, the
 * first frame of each too), in /metrics and in /api/v1/latency; its figures are sane. No
 * timing is asserted: only shapes and counts. */
static void delivery_latency_histogram(void **state)
{
	enum { SUBS = 3, EVENTS = 3200 };
	struct server s;
	struct client sub[SUBS], pub;
	Fanout__V1__ServerMessage *m;
	char *text;
	double count0, count, sum, deliveries = 0;
	json_t *j, *curve;
	json_int_t prev = 0;
	size_t i;
	json_t *pt;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, (const char *const[]){ "--reactors", "2", "--partitions", "2", NULL });
	text = get_metrics(&s);
	count0 = latency_buckets(text, &sum);
	assert_true(count0 == 0 && sum == 0);	/* nothing delivered yet */
	free(text);
	for (int k = 0; k < SUBS; k++) {
		server_connect(&s, &sub[k]);
		assert_int_equal(client_subscribe(&sub[k], 1, "lat/t", NULL, 0,
			FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
		client_free_msg(m);
	}
	server_connect(&s, &pub);
	publish_range(&pub, "lat/t", 0, EVENTS, 40, NULL);
	for (int k = 0; k < SUBS; k++)
		for (int e = 0; e < EVENTS; e++)
			client_free_msg(recv_msg(&sub[k], 10000));
	text = get_metrics(&s);
	for (int r = 0; r < 2; r++) {
		char pre[100];

		snprintf(pre, sizeof(pre), "fanout_reactor_deliveries_total{reactor=\"%d\"} ", r);
		deliveries += sample(text, pre);
	}
	assert_true(deliveries == SUBS * EVENTS);
	count = latency_buckets(text, &sum);
	/* Each reactor samples its first frame and every 64th after. */
	assert_true(count >= deliveries / 64 - 2 && count <= deliveries / 64 + 2);
	assert_true(sum > 0 && sum / count < 60);	/* seconds, on a loaded machine too */
	free(text);

	j = api_expect(&s, "GET", "/api/v1/latency", NULL, 200);
	assert_string_equal(json_string_value(json_object_get(j, "source")),
			    "server receive -> send");
	assert_int_equal(json_integer_value(json_object_get(j, "sampleEvery")), 64);
	assert_true((double)json_integer_value(json_object_get(j, "count")) == count);
	assert_true(json_integer_value(json_object_get(j, "p50Ns")) > 0);
	assert_true(json_integer_value(json_object_get(j, "p50Ns")) <=
		    json_integer_value(json_object_get(j, "p90Ns")));
	assert_true(json_integer_value(json_object_get(j, "p90Ns")) <=
		    json_integer_value(json_object_get(j, "p99Ns")));
	assert_true(json_integer_value(json_object_get(j, "p99Ns")) <=
		    json_integer_value(json_object_get(j, "p999Ns")));
	assert_true(json_integer_value(json_object_get(j, "p999Ns")) <=
		    json_integer_value(json_object_get(j, "maxNs")));
	assert_true(json_integer_value(json_object_get(j, "maxNs")) < 60000000000ll);
	curve = json_object_get(j, "curve");
	assert_true(json_array_size(curve) >= 8);
	json_array_foreach(curve, i, pt) {	/* a percentile curve never falls */
		assert_true(json_integer_value(json_object_get(pt, "ns")) >= prev);
		prev = json_integer_value(json_object_get(pt, "ns"));
	}
	json_decref(j);
	for (int k = 0; k < SUBS; k++)
		client_close(&sub[k]);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* The input bytes the reactors' budgets hold, summed over both reactors. */
static double input_used(const char *text)
{
	double used = 0;

	for (int r = 0; r < 2; r++) {
		char pre[200];

		snprintf(pre, sizeof(pre), "fanout_reactor_memory_used_bytes{reactor=\"%d\","
			 "kind=\"input\"} ", r);
		used += sample(text, pre);
	}
	return used;
}

/* The memory families follow what clients make the server hold: its budget and limit, a
 * connection cut at --frame-deadline-ms, the last-value tables' keys. */
static void metrics_show_memory_budgets(void **state)
{
	static const uint8_t partial[] = { 0, 1, 0, 0, 0x0a, 0x05 };	/* 65536 announced */
	struct server s;
	struct client pub, stall;
	char *text;
	double before, held, after;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, (const char *const[]){ "--reactors", "2", "--partitions", "2",
		"--reactor-memory-bytes", "8388608", "--frame-deadline-ms", "300", NULL });
	server_connect(&s, &pub);
	publish_range(&pub, "m/mem", 0, 500, 25, NULL);
	text = get_metrics(&s);
	before = input_used(text);
	free(text);
	server_connect(&s, &stall);
	assert_int_equal(write(stall.fd, partial, sizeof(partial)), (ssize_t)sizeof(partial));
	admin_sleep_ms(100);
	text = get_metrics(&s);
	held = input_used(text);
	free(text);
	admin_sleep_ms(1500);	/* past the deadline and the 100 ms police pass */
	text = get_metrics(&s);
	metrics_promtool_check(text);
	for (int r = 0; r < 2; r++) {
		char pre[200];

		snprintf(pre, sizeof(pre), "fanout_reactor_memory_limit_bytes{reactor=\"%d\"} ", r);
		assert_true(sample(text, pre) == 8388608);
	}
	after = input_used(text);
	printf("# input bytes held: %.0f before the stalled frame, %.0f with it, %.0f after its "
	       "cut\n", before, held, after);
	assert_true(held >= before + 65536);	/* the announced frame is charged */
	assert_true(after == before);		/* and its bytes went with it */
	assert_true(sample(text, "fanout_reactor_connections_cut_total{reactor=\"0\","
			   "reason=\"deadline\"} ") +
		    sample(text, "fanout_reactor_connections_cut_total{reactor=\"1\","
			   "reason=\"deadline\"} ") == 1);
	assert_true(sample(text, "fanout_latest_keys ") == 25);
	assert_true(sample(text, "fanout_latest_bytes ") > 0);
	assert_true(sample(text, "fanout_latest_evictions_total ") == 0);
	free(text);
	client_close(&stall);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* Reads fd until EOF (bounded) into buf. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	int64_t deadline = clock_monotonic_ns() + 15ll * 1000000000;
	size_t len = 0;

	while (len + 1 < cap && clock_monotonic_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(fd, buf + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return len;
}

static void log_format_json(void **state)
{
	struct server s;
	char data[300], ready[300], *out = malloc(4 << 20), *end;
	int fds[2], status, lines = 0, listening = 0;
	pid_t pid;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	snprintf(data, sizeof(data), "%s/data", s.dir);
	snprintf(ready, sizeof(ready), "%s/ready", s.dir);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		execl(s.binary, s.binary, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		      "--data-dir", data, "--ready-file", ready, "--log-format", "json", NULL);
		_exit(127);
	}
	close(fds[1]);
	for (int i = 0; i < 500 && access(ready, F_OK) != 0; i++)
		admin_sleep_ms(10);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(out);
	read_all(fds[0], out, 4 << 20);	/* the logger child writes, then EOF */
	close(fds[0]);
	/* Whole lines only: a start-up can log a great deal (the hot-dir sweep names every
	 * directory it keeps), and a line cut by the bound is not the server's fault. */
	end = strrchr(out, '\n');
	if (end)
		end[1] = '\0';
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
		json_error_t err;
		json_t *o = json_loads(l, 0, &err);
		const char *level = json_string_value(json_object_get(o, "level"));
		const char *ts = json_string_value(json_object_get(o, "ts"));
		const char *msg = json_string_value(json_object_get(o, "msg"));

		if (!o || !level || !ts || !msg)
			fail_msg("not a JSON log line: '%s'", l);
		assert_true(strcmp(level, "info") == 0 || strcmp(level, "warn") == 0 ||
			    strcmp(level, "error") == 0);
		assert_int_equal(strlen(ts), 24);
		assert_int_equal(ts[23], 'Z');
		listening += strstr(msg, "listening on") != NULL;
		lines++;
		json_decref(o);
	}
	assert_true(lines >= 4);
	assert_true(listening >= 1);
	free(out);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(metrics_follow_the_format_and_the_traffic),
		cmocka_unit_test(metrics_show_memory_budgets),
		cmocka_unit_test(delivery_latency_histogram),
		cmocka_unit_test(log_format_json),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
