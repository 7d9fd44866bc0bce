/* tools/fanout-top — a live view of a running fanoutd: reactors, topics (by input rate)
 * and subscriptions (by lag), redrawn every --interval from GET /api/v1/stats. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tools/ctl_print.h"
#include "tools/http_client.h"

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static int top_by(const void *x, const void *y, const char *key)
{
	double a = json_number_value(json_object_get(*(json_t *const *)x, key));
	double b = json_number_value(json_object_get(*(json_t *const *)y, key));

	return a < b ? 1 : a > b ? -1 : 0;
}

static int top_by_rate(const void *x, const void *y)
{
	return top_by(x, y, "msgRateIn");
}

static int top_by_lag(const void *x, const void *y)
{
	return top_by(x, y, "msgBacklog");
}

/* Sorts a JSON array in place by cmp. */
static void top_sort(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr);
	json_t **v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

/* One frame. Returns 0, or 1 when the server could not be read. */
static int top_frame(const char *server, bool clear, int rows)
{
	struct http_response r;
	json_t *o;
	int rc = http_request_auth(server, getenv("FANOUT_TOKEN"), "GET", "/api/v1/stats", NULL,
				   NULL, 0, 5000, &r);

	if (clear)
		fputs("\033[H\033[2J", stdout);
	printf("fanout-top  %s  ", server);
	if (rc < 0 || r.status != 200 || !(o = json_loadb(r.body, r.len, 0, NULL))) {
		printf("(no answer: %s)\n", rc < 0 ? strerror(-rc) : "bad reply");
		http_response_free(&r);
		fflush(stdout);
		return 1;
	}
	printf("sampled %s\n\n", json_string_value(json_object_get(o, "sampledAt")));
	top_sort(json_object_get(o, "topics"), top_by_rate);
	top_sort(json_object_get(o, "subscriptions"), top_by_lag);
	ctl_print_overview_rows(o, rows);
	json_decref(o);
	http_response_free(&r);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *server = getenv("FANOUT_HTTP");
	double interval = 1.0;
	long iterations = -1;
	struct winsize ws;

	signal(SIGPIPE, SIG_IGN);	/* https:// (OpenSSL) writes with write() */	int rows = 20, rc = 0;

	if (!server || !*server)
		server = "127.0.0.1:7480";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
			server = argv[++i];
		} else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			interval = atof(argv[++i]);
		} else if (strcmp(argv[i], "--once") == 0) {
			iterations = 1;
		} else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
			iterations = atol(argv[++i]);
		} else {
			fprintf(stderr, "usage: fanout-top [--server HOST:PORT] [--interval SECONDS] "
				"[--once | --iterations N]\n(server: --server, $FANOUT_HTTP, else "
				"127.0.0.1:7480)\n");
			return 2;
		}
	}
	if (interval < 0.1)
		interval = 0.1;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 12)
		rows = (ws.ws_row - 12) / 2;	/* half for topics, half for subscriptions */
	signal(SIGINT, top_on_signal);
	signal(SIGTERM, top_on_signal);
	for (long n = 0; !top_stop && (iterations < 0 || n < iterations); n++) {
		if (n)
			nanosleep(&(struct timespec){ .tv_sec = (time_t)interval,
				  .tv_nsec = (long)((interval - (time_t)interval) * 1e9) }, NULL);
		rc = top_frame(server, iterations != 1, iterations == 1 ? 0 : rows);
	}
	return rc;
}
