/* tests/integration/tls_test.c — TLS (--tls-cert/--tls-key) on the admin API (HTTPS)
 * and on the TCP protocol (tls://) through a real server, with a CA and certificates the
 * test makes with the openssl command: a client trusting the CA reaches it (tokens and
 * all, fanoutctl too) and publishes and subscribes over TLS, every event in order; a
 * client trusting another CA, or a certificate for another name, is refused before
 * anything is sent; a plain HTTP request to the HTTPS port gets no answer, and a plain
 * protocol client on the TLS port is cut while TLS clients go on; a certificate without
 * its key does not start. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/integration/admin_util.h"
#include "tools/client.h"
#include "tools/http_client.h"

static int g_argc;
static char **g_argv;
static struct server g_srv;
static const char *g_fanoutctl;
static char g_dir[300];

/* Runs a shell command line in g_dir; fails the test unless it exits 0. */
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	int n;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && (", g_dir);
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof(cmd) - (size_t)n, ") >>openssl.log 2>&1");
	if (system(cmd) != 0)
		fail_msg("command failed (see %s/openssl.log): %s", g_dir, cmd);
}

/* A CA (NAME.pem, NAME.key). */
static void make_ca(const char *name)
{
	sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
	   "%s.key -out %s.pem -days 2 -subj /CN=%s", name, name, name);
}

/* A server certificate (NAME.pem, NAME.key) for subjectAltName san, signed by ca. */
static void make_cert(const char *name, const char *ca, const char *san)
{
	sh("printf 'subjectAltName=%s\\n' >%s.ext && openssl req -newkey ec -pkeyopt "
	   "ec_paramgen_curve:P-256 -nodes -keyout %s.key -out %s.csr -subj /CN=fanoutd && "
	   "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -out "
	   "%s.pem -days 2 -extfile %s.ext && chmod 600 %s.key", san, name, name, name, name,
	   ca, ca, name, name, name);
}

static void start_tls(const char *cert)
{
	char c[400], k[400];
	const char *args[] = { "--tls-cert", c, "--tls-key", k, NULL };

	snprintf(c, sizeof(c), "%s/%s.pem", g_dir, cert);
	snprintf(k, sizeof(k), "%s/%s.key", g_dir, cert);
	server_start(&g_srv, args);
}

/* GET path over https to host (NULL: the server's address as it gave it; else host and
 * its port) with FANOUT_TLS_CA = ca (NULL: unset). Returns the status or -errno. */
static int get_https_to(const char *host, const char *ca, const char *path)
{
	char url[128], capath[400];
	struct http_response r;
	int rc;

	if (host)
		snprintf(url, sizeof(url), "https://%s:%s", host, strrchr(g_srv.http, ':') + 1);
	else
		snprintf(url, sizeof(url), "https://%s", g_srv.http);
	if (ca) {
		snprintf(capath, sizeof(capath), "%s/%s.pem", g_dir, ca);
		setenv("FANOUT_TLS_CA", capath, 1);
	} else {
		unsetenv("FANOUT_TLS_CA");
	}
	rc = http_request(url, "GET", path, NULL, NULL, 0, 5000, &r);
	if (rc == 0)
		rc = r.status;
	http_response_free(&r);
	unsetenv("FANOUT_TLS_CA");
	return rc;
}

static int get_https(const char *ca, const char *path)
{
	return get_https_to(NULL, ca, path);
}

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	snprintf(g_dir, sizeof(g_dir), "%s", g_srv.dir);
	make_ca("ca");
	make_ca("other-ca");
	make_cert("srv", "ca", "IP:127.0.0.1,DNS:localhost");
	make_cert("elsewhere", "ca", "DNS:elsewhere.example");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

static void trusted_ca_reaches_the_api(void **state)
{
	char url[128], cmd[1200];
	struct http_response r;

	(void)state;
	start_tls("srv");
	assert_int_equal(get_https("ca", "/healthz"), 200);
	assert_int_equal(get_https("ca", "/api/v1/topics"), 200);
	assert_int_equal(get_https_to("localhost", "ca", "/healthz"), 200);	/* by DNS name */
	/* POST over TLS: a body both ways. */
	snprintf(url, sizeof(url), "https://%s", g_srv.http);
	{
		char capath[400];

		snprintf(capath, sizeof(capath), "%s/ca.pem", g_dir);
		setenv("FANOUT_TLS_CA", capath, 1);
	}
	assert_int_equal(http_request(url, "POST", "/api/v1/topics", NULL,
				      "{\"topic_name\": \"secure/fills\"}", 30, 5000, &r), 0);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(r.body, "secure/fills"));
	http_response_free(&r);
	/* fanoutctl with an https:// server. */
	snprintf(cmd, sizeof(cmd), "'%s' --server '%s' topics ls >'%s/ctl.out' 2>&1", g_fanoutctl,
		 url, g_dir);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	unsetenv("FANOUT_TLS_CA");
	sh("grep -q secure/fills ctl.out");
}

static void wrong_certificates_are_refused(void **state)
{
	struct http_response r;
	int rc;

	(void)state;
	start_tls("srv");
	/* Another CA: refused in the handshake, nothing sent. */
	assert_int_equal(get_https("other-ca", "/healthz"), -EKEYREJECTED);
	/* Plain HTTP to the HTTPS port: no HTTP answer. */
	rc = http_request(g_srv.http, "GET", "/healthz", NULL, NULL, 0, 3000, &r);
	assert_true(rc < 0 || r.status != 200);
	http_response_free(&r);
	server_stop(&g_srv, SIGTERM);
	/* The right CA, but a certificate for another name (and no address). */
	start_tls("elsewhere");
	assert_int_equal(get_https("ca", "/healthz"), -EKEYREJECTED);
	assert_int_equal(get_https_to("localhost", "ca", "/healthz"), -EKEYREJECTED);
	/* Without a trusted CA at all (the system's do not know ours). */
	assert_int_equal(get_https(NULL, "/healthz"), -EKEYREJECTED);
}

/* A sample of the HTTPS /metrics (trusting ca), summed over its reactors' lines. */
static double https_metric(const char *name)
{
	char url[128], capath[400];
	struct http_response r;
	double sum = 0;

	snprintf(url, sizeof(url), "https://%s", g_srv.http);
	snprintf(capath, sizeof(capath), "%s/ca.pem", g_dir);
	setenv("FANOUT_TLS_CA", capath, 1);
	assert_int_equal(http_request(url, "GET", "/metrics", NULL, NULL, 0, 5000, &r), 0);
	assert_int_equal(r.status, 200);
	for (const char *p = r.body; (p = strstr(p, name)); p++)
		if ((p == r.body || p[-1] == '\n') && p[strlen(name)] == '{')
			sum += strtod(strchr(p, '}') + 1, NULL);
	http_response_free(&r);
	return sum;
}

/* A protocol client over TLS to the server, trusting ca (NULL: none). */
static int connect_tls(struct client *c, const char *ca)
{
	char addr[128], capath[400];
	int rc;

	snprintf(addr, sizeof(addr), "tls://%s", g_srv.addr);
	if (ca) {
		snprintf(capath, sizeof(capath), "%s/%s.pem", g_dir, ca);
		setenv("FANOUT_TLS_CA", capath, 1);
	} else {
		unsetenv("FANOUT_TLS_CA");
	}
	rc = client_connect(c, addr, 5000);
	unsetenv("FANOUT_TLS_CA");
	return rc;
}

/* Publish and subscribe over TLS: every event arrives, in order, intact; large sends
 * (many frames gathered into one) and small answers alike. */
static void the_protocol_speaks_tls(void **state)
{
	enum { N = 20000 };
	struct client pub, sub;
	Fanout__V1__ServerMessage *m = NULL;
	uint64_t next = 0;

	(void)state;
	start_tls("srv");
	assert_int_equal(connect_tls(&sub, "ca"), 0);
	assert_int_equal(client_hello(&sub, "tls-sub", 5000, &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&sub, 1, "secure/ticks", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m),
			 0);
	client_free_msg(m);
	assert_int_equal(connect_tls(&pub, "ca"), 0);
	assert_int_equal(client_hello(&pub, "tls-pub", 5000, &m), 0);
	client_free_msg(m);
	publish_range(&pub, "secure/ticks", 0, N, 50, NULL);
	while (next < N) {
		m = recv_msg(&sub, 10000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, next);
		assert_string_equal(m->event->distribution->topic, "secure/ticks");
		client_free_msg(m);
		next++;
	}
	ping_pong(&sub, 7);	/* nothing else came */
	assert_true(https_metric("fanout_reactor_tls_handshakes_total") >= 2);
	assert_true(https_metric("fanout_reactor_tls_failures_total") == 0);
	client_close(&pub);
	client_close(&sub);
}

/* A plain protocol client on the TLS port gets nothing (not even a HelloResult) and
 * is cut; clients that do not trust the certificate refuse it before sending anything;
 * the server serves TLS clients all along. */
static void plain_and_untrusting_clients_are_refused(void **state)
{
	struct client plain, good, bad;
	Fanout__V1__ServerMessage *m = NULL;

	(void)state;
	start_tls("srv");
	server_connect(&g_srv, &plain);
	assert_true(client_hello(&plain, "plain", 3000, &m) < 0);
	assert_null(m);
	client_close(&plain);
	assert_int_equal(connect_tls(&bad, "other-ca"), -EKEYREJECTED);
	assert_int_equal(connect_tls(&bad, NULL), -EKEYREJECTED);
	assert_int_equal(connect_tls(&good, "ca"), 0);
	assert_int_equal(client_hello(&good, "tls", 5000, &m), 0);
	client_free_msg(m);
	ping_pong(&good, 1);
	assert_true(https_metric("fanout_reactor_tls_failures_total") >= 3);
	client_close(&good);
	server_stop(&g_srv, SIGTERM);
	/* A certificate for another name: refused by the client. */
	start_tls("elsewhere");
	assert_int_equal(connect_tls(&bad, "ca"), -EKEYREJECTED);
}

static void a_certificate_needs_its_key(void **state)
{
	char c[400], k[400];

	(void)state;
	snprintf(c, sizeof(c), "%s/srv.pem", g_dir);
	snprintf(k, sizeof(k), "%s/missing.key", g_dir);
	{
		const char *args[] = { g_srv.binary, "--tls-cert", c, "--data-dir", g_dir, NULL };

		assert_int_equal(server_run_to_exit(args), 2);
	}
	{
		const char *args[] = { g_srv.binary, "--tls-cert", c, "--tls-key", k, "--http",
				       "127.0.0.1:0", "--data-dir", g_dir, NULL };

		assert_int_not_equal(server_run_to_exit(args), 0);	/* unreadable key */
	}
	/* A key that is not the certificate's, on the default address: no start (never an
	 * admin API quietly off). */
	snprintf(k, sizeof(k), "%s/other-ca.key", g_dir);
	{
		const char *args[] = { g_srv.binary, "--tls-cert", c, "--tls-key", k,
				       "--listen", "127.0.0.1:0", "--data-dir", g_dir, NULL };

		assert_int_equal(server_run_to_exit(args), 1);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(trusted_ca_reaches_the_api, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_certificates_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_certificate_needs_its_key, setup, teardown),
		cmocka_unit_test_setup_teardown(the_protocol_speaks_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(plain_and_untrusting_clients_are_refused, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);	/* OpenSSL writes with write() */
	g_argc = argc;
	g_argv = argv;
	g_fanoutctl = argc > 2 ? argv[2] : "fanoutctl";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
