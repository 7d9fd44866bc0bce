/* tools/fanoutctl.c — the admin API from the command line: topics, subscriptions, routing
 * rules and statistics of a running fanoutd, as tables (or --json, the API's own
 * answer). The exit code says what failed (see usage). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ctl_print.h"
#include "tools/http_client.h"

enum {
	CTL_OK = 0, CTL_ERROR = 1, CTL_USAGE = 2, CTL_NOT_FOUND = 3, CTL_CONFLICT = 4,
	CTL_INVALID = 5, CTL_UNAVAILABLE = 6, CTL_UNREACHABLE = 7, CTL_DENIED = 8,
};

static const char ctl_usage[] =
	"usage: fanoutctl [--server HOST:PORT] [--token TOKEN] [--json] [--timeout MS] COMMAND\n"
	"  topics ls [--limit N] [--after NAME]\n"
	"  topics create NAME [--partitions N] [--retention 7d] [--compression LZ4]\n"
	"                     [--data-type T] [--latency-ms N] [--schema-version V] [--disabled]\n"
	"                     [--priority 0..255]   higher: served first in each reactor turn\n"
	"  topics get NAME            the record and its statistics\n"
	"  topics set NAME [--enabled|--disabled] [--retention R] [--compression C]\n"
	"                  [--data-type T] [--latency-ms N] [--schema-version V] [--priority P]\n"
	"  topics rm NAME [--force]   --force ends live subscriptions first\n"
	"  subs ls [--topic T] [--status active|stopped|any] [--limit N]\n"
	"  subs get ID\n"
	"  subs rm ID                 ends a live subscription (its client gets an Error)\n"
	"  rules ls\n"
	"  rules add FILE|-           a rule object, or an array of them (as --rules files)\n"
	"  rules rm NAME\n"
	"  rules enable NAME | rules disable NAME\n"
	"  stats [TOPIC]              the server overview, or one topic's statistics\n"
	"  tokens ls [--revoked] [--limit N]\n"
	"  tokens create NAME [--role client|reader|admin] [--publish-allow P]...\n"
	"                [--publish-deny P]... [--subscribe-allow P]... [--subscribe-deny P]...\n"
	"                [--events-per-s N] [--bytes-per-s N] [--subscriptions N]\n"
	"                [--connections N] [--rest-per-s N]\n"
	"                prints the token's text: the only time it is ever shown\n"
	"  tokens show ID | tokens revoke ID\n"
	"  tokens set ID [--role R] [--publish-allow P]... (a list given replaces it) [--... N]\n"
	"The server is --server, else $FANOUT_HTTP, else 127.0.0.1:7480. The token (sent as\n"
	"Authorization: Bearer) is --token, else $FANOUT_TOKEN.\n"
	"Exit codes: 0 done; 1 unexpected answer; 2 usage; 3 not found (404); 4 conflict\n"
	"(409); 5 refused request (400, 405, 413, 415); 6 unavailable (503: store or\n"
	"reactor); 7 server unreachable; 8 not allowed (401, 403, 429).\n";

struct ctl {
	const char *server;
	const char *token;		/* NULL: none */
	bool json;
	int timeout_ms;
};

static int ctl_exit_for(int status)
{
	switch (status) {
	case 404:
		return CTL_NOT_FOUND;
	case 409:
		return CTL_CONFLICT;
	case 400: case 405: case 413: case 415:
		return CTL_INVALID;
	case 503:
		return CTL_UNAVAILABLE;
	case 401: case 403: case 429:
		return CTL_DENIED;
	default:
		return status >= 200 && status < 300 ? CTL_OK : CTL_ERROR;
	}
}

/* Runs one request; prints errors; *out (when not NULL) receives the JSON answer of a
 * 2xx. Returns the exit code. */
static int ctl_call(const struct ctl *c, const char *method, const char *path,
		    const char *body, json_t **out)
{
	struct http_response r;
	json_error_t jerr;
	json_t *j;
	int rc = http_request_auth(c->server, c->token, method, path, NULL, body,
				   body ? strlen(body) : 0, c->timeout_ms, &r), code;

	if (out)
		*out = NULL;
	if (rc < 0) {
		fprintf(stderr, "fanoutctl: %s: %s\n", c->server, strerror(-rc));
		return CTL_UNREACHABLE;
	}
	code = ctl_exit_for(r.status);
	j = json_loadb(r.body, r.len, 0, &jerr);
	if (code != CTL_OK) {
		const char *msg = json_string_value(json_object_get(j, "message"));
		const char *err = json_string_value(json_object_get(j, "error"));
		const char *field = json_string_value(json_object_get(j, "field"));

		if (c->json)
			printf("%s\n", r.body);
		fprintf(stderr, "fanoutctl: %d %s%s%s%s: %s\n", r.status, err ? err : "error",
			field ? " (" : "", field ? field : "", field ? ")" : "", msg ? msg : r.body);
	} else if (!j) {
		fprintf(stderr, "fanoutctl: the answer is not JSON: %s\n", jerr.text);
		code = CTL_ERROR;
	} else if (c->json) {
		printf("%s\n", r.body);
	}
	http_response_free(&r);
	if (code == CTL_OK && out)
		*out = j;
	else
		json_decref(j);
	return code;
}

/* "/api/v1/<what>/<encoded name><suffix>" into buf. */
static const char *ctl_path(char *buf, size_t cap, const char *what, const char *name,
			    const char *suffix)
{
	char enc[800];

	if (http_encode_segment(name, enc, sizeof(enc)) < 0)
		enc[0] = '\0';
	snprintf(buf, cap, "/api/v1/%s/%s%s", what, enc, suffix ? suffix : "");
	return buf;
}

/* Options of topics create/set into a JSON body. Returns 0 or CTL_USAGE. */
static int ctl_topic_opts(int argc, char **argv, json_t *body, bool *force)
{
	static const struct option opts[] = {
		{ "partitions", required_argument, NULL, 'p' },
		{ "retention", required_argument, NULL, 'r' },
		{ "compression", required_argument, NULL, 'c' },
		{ "data-type", required_argument, NULL, 'd' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "priority", required_argument, NULL, 'P' },
		{ "schema-version", required_argument, NULL, 's' },
		{ "disabled", no_argument, NULL, 'D' },
		{ "enabled", no_argument, NULL, 'E' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': json_object_set_new(body, "partitions", json_integer(atoll(optarg))); break;
		case 'l': json_object_set_new(body, "latency_requirement_ms",
					      json_integer(atoll(optarg))); break;
		case 'P': json_object_set_new(body, "priority", json_integer(atoll(optarg))); break;
		case 'r': json_object_set_new(body, "retention_policy", json_string(optarg)); break;
		case 'c': json_object_set_new(body, "compression_type", json_string(optarg)); break;
		case 'd': json_object_set_new(body, "data_type", json_string(optarg)); break;
		case 's': json_object_set_new(body, "schema_version", json_string(optarg)); break;
		case 'D': json_object_set_new(body, "enabled", json_false()); break;
		case 'E': json_object_set_new(body, "enabled", json_true()); break;
		case 'f': if (force) { *force = true; break; } /* fall through */
		default: return CTL_USAGE;
		}
	}
	return optind == argc ? 0 : CTL_USAGE;
}

static int ctl_send_json(const struct ctl *c, const char *method, const char *path,
			 json_t *body, json_t **out)
{
	char *text = json_dumps(body, JSON_COMPACT);
	int rc = text ? ctl_call(c, method, path, text, out) : CTL_ERROR;

	free(text);
	return rc;
}

static int ctl_topics(const struct ctl *c, int argc, char **argv)
{
	char path[1024];
	const char *sub = argc > 0 ? argv[0] : "";
	json_t *body, *ans = NULL;
	bool force = false;
	int rc;

	if (strcmp(sub, "ls") == 0) {
		snprintf(path, sizeof(path), "/api/v1/topics?limit=%s",
			 argc > 2 && strcmp(argv[1], "--limit") == 0 ? argv[2] : "1000");
		rc = ctl_call(c, "GET", path, NULL, &ans);
		if (rc == CTL_OK && !c->json)
			ctl_print_topics(json_object_get(ans, "topics"));
	} else if (argc < 2) {
		return CTL_USAGE;
	} else if (strcmp(sub, "create") == 0 || strcmp(sub, "set") == 0) {
		body = json_object();
		if (ctl_topic_opts(argc - 1, argv + 1, body, NULL)) {
			json_decref(body);
			return CTL_USAGE;
		}
		if (sub[0] == 'c') {
			json_object_set_new(body, "topic_name", json_string(argv[1]));
			rc = ctl_send_json(c, "POST", "/api/v1/topics", body, &ans);
		} else {
			rc = ctl_send_json(c, "PATCH", ctl_path(path, sizeof(path), "topics", argv[1],
								 NULL), body, &ans);
		}
		json_decref(body);
		if (rc == CTL_OK && !c->json)
			ctl_print_topic(ans);
	} else if (strcmp(sub, "get") == 0) {
		rc = ctl_call(c, "GET", ctl_path(path, sizeof(path), "topics", argv[1], NULL), NULL,
			      &ans);
		if (rc == CTL_OK && !c->json)
			ctl_print_topic(ans);
	} else if (strcmp(sub, "rm") == 0) {
		if (ctl_topic_opts(argc - 1, argv + 1, NULL, &force))
			return CTL_USAGE;
		rc = ctl_call(c, "DELETE", ctl_path(path, sizeof(path), "topics", argv[1],
						    force ? "?force=true" : NULL), NULL, &ans);
		if (rc == CTL_OK && !c->json)
			printf("deleted %s (%lld subscriptions ended)\n", argv[1],
			       json_integer_value(json_object_get(ans, "subscriptions_ended")));
	} else {
		return CTL_USAGE;
	}
	json_decref(ans);
	return rc;
}

static int ctl_subs(const struct ctl *c, int argc, char **argv)
{
	char path[1024], enc[800];
	const char *sub = argc > 0 ? argv[0] : "";
	json_t *ans = NULL;
	int rc;

	if (strcmp(sub, "ls") == 0) {
		size_t n = (size_t)snprintf(path, sizeof(path), "/api/v1/subscriptions?limit=1000");

		for (int i = 1; i + 1 < argc; i += 2) {
			const char *key = strcmp(argv[i], "--topic") == 0 ? "topic"
					  : strcmp(argv[i], "--status") == 0 ? "status"
					  : strcmp(argv[i], "--limit") == 0 ? "limit" : NULL;

			if (!key || http_encode_segment(argv[i + 1], enc, sizeof(enc)) < 0)
				return CTL_USAGE;
			n += (size_t)snprintf(path + n, sizeof(path) - n, "&%s=%s", key, enc);
		}
		if (argc % 2 == 0)
			return CTL_USAGE;
		rc = ctl_call(c, "GET", path, NULL, &ans);
		if (rc == CTL_OK && !c->json)
			ctl_print_subs(json_object_get(ans, "subscriptions"));
	} else if (argc != 2) {
		return CTL_USAGE;
	} else if (strcmp(sub, "get") == 0) {
		rc = ctl_call(c, "GET", ctl_path(path, sizeof(path), "subscriptions", argv[1], NULL),
			      NULL, &ans);
		if (rc == CTL_OK && !c->json)
			ctl_print_object(ans);
	} else if (strcmp(sub, "rm") == 0) {
		rc = ctl_call(c, "DELETE", ctl_path(path, sizeof(path), "subscriptions", argv[1],
						    NULL), NULL, &ans);
		if (rc == CTL_OK && !c->json)
			printf("%s %s\n", argv[1], json_is_true(json_object_get(ans, "ended"))
			       ? "ended" : "record deleted");
	} else {
		return CTL_USAGE;
	}
	json_decref(ans);
	return rc;
}

/* rules add: each object of the file (or the file's one object) is POSTed in turn. */
static int ctl_rules_add(const struct ctl *c, const char *file)
{
	json_error_t jerr;
	json_t *j = strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &jerr)
					   : json_load_file(file, 0, &jerr), *v, *ans;
	size_t i;
	int rc = CTL_OK;

	if (!j) {
		fprintf(stderr, "fanoutctl: %s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
		return CTL_USAGE;
	}
	if (json_is_object(j)) {
		json_t *arr = json_array();

		json_array_append_new(arr, j);
		j = arr;
	}
	json_array_foreach(j, i, v) {
		rc = ctl_send_json(c, "POST", "/api/v1/rules", v, &ans);
		if (rc != CTL_OK)
			break;
		if (!c->json)
			printf("added %s\n", json_string_value(json_object_get(ans, "name")));
		json_decref(ans);
	}
	json_decref(j);
	return rc;
}

static int ctl_rules(const struct ctl *c, int argc, char **argv)
{
	char path[1024];
	const char *sub = argc > 0 ? argv[0] : "";
	json_t *ans = NULL;
	int rc;

	if (strcmp(sub, "ls") == 0 && argc == 1) {
		rc = ctl_call(c, "GET", "/api/v1/rules", NULL, &ans);
		if (rc == CTL_OK && !c->json)
			ctl_print_rules(json_object_get(ans, "rules"));
		json_decref(ans);
		return rc;
	}
	if (argc != 2)
		return CTL_USAGE;
	if (strcmp(sub, "add") == 0)
		return ctl_rules_add(c, argv[1]);
	if (strcmp(sub, "rm") == 0)
		rc = ctl_call(c, "DELETE", ctl_path(path, sizeof(path), "rules", argv[1], NULL), NULL,
			      &ans);
	else if (strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0)
		rc = ctl_call(c, "POST", ctl_path(path, sizeof(path), "rules", argv[1],
						  sub[0] == 'e' ? "/enable" : "/disable"), NULL, &ans);
	else
		return CTL_USAGE;
	if (rc == CTL_OK && !c->json)
		printf("%s %s\n", argv[1], sub[0] == 'r' ? "removed" : sub[0] == 'e' ? "enabled"
										   : "disabled");
	json_decref(ans);
	return rc;
}

static int ctl_stats(const struct ctl *c, int argc, char **argv)
{
	char path[1024];
	json_t *ans = NULL;
	int rc;

	if (argc > 1)
		return CTL_USAGE;
	rc = ctl_call(c, "GET", argc ? ctl_path(path, sizeof(path), "topics", argv[0], "/stats")
				     : "/api/v1/stats", NULL, &ans);
	if (rc == CTL_OK && !c->json) {
		if (argc)
			ctl_print_topic_stats(ans);
		else
			ctl_print_overview(ans);
	}
	json_decref(ans);
	return rc;
}

/* Appends optarg to body[list][key] ({"allow": [...], "deny": [...]}). */
static void ctl_token_pattern(json_t *body, const char *list, const char *key)
{
	json_t *l = json_object_get(body, list), *arr;

	if (!l) {
		l = json_object();
		json_object_set_new(body, list, l);
	}
	arr = json_object_get(l, key);
	if (!arr) {
		arr = json_array();
		json_object_set_new(l, key, arr);
	}
	json_array_append_new(arr, json_string(optarg));
}

/* A limit option: body.limits[key] = optarg (a number). Returns 0 or CTL_USAGE. */
static int ctl_token_limit(json_t *body, const char *key)
{
	json_t *l = json_object_get(body, "limits");
	char *end;
	long long v = strtoll(optarg, &end, 10);

	if (!optarg[0] || *end || v < 0)
		return CTL_USAGE;
	if (!l) {
		l = json_object();
		json_object_set_new(body, "limits", l);
	}
	json_object_set_new(l, key, json_integer(v));
	return 0;
}

/* Options of tokens create/set into a JSON body. Returns 0 or CTL_USAGE. */
static int ctl_token_opts(int argc, char **argv, json_t *body)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "publish-allow", required_argument, NULL, 'a' },
		{ "publish-deny", required_argument, NULL, 'd' },
		{ "subscribe-allow", required_argument, NULL, 'A' },
		{ "subscribe-deny", required_argument, NULL, 'D' },
		{ "events-per-s", required_argument, NULL, 'e' },
		{ "bytes-per-s", required_argument, NULL, 'b' },
		{ "subscriptions", required_argument, NULL, 's' },
		{ "connections", required_argument, NULL, 'c' },
		{ "rest-per-s", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	int o, rc = 0;

	optind = 1;
	while (rc == 0 && (o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r': json_object_set_new(body, "role", json_string(optarg)); break;
		case 'a': ctl_token_pattern(body, "publish", "allow"); break;
		case 'd': ctl_token_pattern(body, "publish", "deny"); break;
		case 'A': ctl_token_pattern(body, "subscribe", "allow"); break;
		case 'D': ctl_token_pattern(body, "subscribe", "deny"); break;
		case 'e': rc = ctl_token_limit(body, "events_per_s"); break;
		case 'b': rc = ctl_token_limit(body, "bytes_per_s"); break;
		case 's': rc = ctl_token_limit(body, "subscriptions"); break;
		case 'c': rc = ctl_token_limit(body, "connections"); break;
		case 'R': rc = ctl_token_limit(body, "rest_per_s"); break;
		default: return CTL_USAGE;
		}
	}
	return rc == 0 && optind == argc ? 0 : CTL_USAGE;
}

static void ctl_print_token(const json_t *t)
{
	printf("%-12s  %-20s  %-6s  %s%s\n", json_string_value(json_object_get(t, "id")),
	       json_string_value(json_object_get(t, "name")),
	       json_string_value(json_object_get(t, "role")),
	       json_is_string(json_object_get(t, "revokedAt")) ? "revoked " : "",
	       json_string_value(json_object_get(t, "revokedAt")) ?
	       json_string_value(json_object_get(t, "revokedAt")) : "");
}

/* tokens create / set: the body from the options, POSTed or PATCHed. */
static int ctl_tokens_write(const struct ctl *c, int argc, char **argv)
{
	char path[256];
	bool create = strcmp(argv[0], "create") == 0;
	json_t *body = json_object(), *ans = NULL;
	int rc = ctl_token_opts(argc - 1, argv + 1, body);

	if (rc) {
		json_decref(body);
		return rc;
	}
	if (create)
		json_object_set_new(body, "name", json_string(argv[1]));
	rc = ctl_send_json(c, create ? "POST" : "PATCH", create ? "/api/v1/tokens"
			   : ctl_path(path, sizeof(path), "tokens", argv[1], NULL), body, &ans);
	json_decref(body);
	if (rc == CTL_OK && !c->json && create) {
		/* stdout gets the text alone (for scripts); the rest goes to stderr. */
		fprintf(stderr, "token %s (%s, role %s): keep the text below, it is not shown "
			"again\n", json_string_value(json_object_get(ans, "id")), argv[1],
			json_string_value(json_object_get(ans, "role")));
		printf("%s\n", json_string_value(json_object_get(ans, "token")));
	} else if (rc == CTL_OK && !c->json) {
		ctl_print_object(ans);
	}
	json_decref(ans);
	return rc;
}

static int ctl_tokens(const struct ctl *c, int argc, char **argv)
{
	char path[256];
	const char *sub = argc > 0 ? argv[0] : "";
	json_t *ans = NULL, *v;
	size_t i;
	int rc;

	if (strcmp(sub, "ls") == 0) {
		bool revoked = argc > 1 && strcmp(argv[1], "--revoked") == 0;

		snprintf(path, sizeof(path), "/api/v1/tokens?limit=1000%s",
			 revoked ? "&includeRevoked=true" : "");
		rc = ctl_call(c, "GET", path, NULL, &ans);
		if (rc == CTL_OK && !c->json) {
			json_array_foreach(json_object_get(ans, "bootstrap"), i, v)
				ctl_print_token(v);
			json_array_foreach(json_object_get(ans, "tokens"), i, v)
				ctl_print_token(v);
		}
	} else if (argc < 2) {
		return CTL_USAGE;
	} else if (strcmp(sub, "create") == 0 || strcmp(sub, "set") == 0) {
		return ctl_tokens_write(c, argc, argv);
	} else if (argc != 2) {
		return CTL_USAGE;
	} else if (strcmp(sub, "show") == 0 || strcmp(sub, "revoke") == 0) {
		rc = ctl_call(c, sub[0] == 's' ? "GET" : "DELETE",
			      ctl_path(path, sizeof(path), "tokens", argv[1], NULL), NULL, &ans);
		if (rc == CTL_OK && !c->json && sub[0] == 's')
			ctl_print_object(ans);
		else if (rc == CTL_OK && !c->json)
			printf("%s revoked\n", argv[1]);
	} else {
		return CTL_USAGE;
	}
	json_decref(ans);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl c = { .server = getenv("FANOUT_HTTP"), .token = getenv("FANOUT_TOKEN"),
			 .timeout_ms = 10000 };
	int i = 1, rc;

	/* https:// writes through OpenSSL's write(): a server that closes while a body is
	 * being sent is an error to report, not a signal to die of. */
	signal(SIGPIPE, SIG_IGN);
	if (!c.server || !*c.server)
		c.server = "127.0.0.1:7480";
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c.json = true;
		else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			c.server = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			c.token = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			c.timeout_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--help") == 0)
			return fputs(ctl_usage, stdout), CTL_OK;
		else
			break;
	}
	if (i >= argc)
		rc = CTL_USAGE;
	else if (strcmp(argv[i], "topics") == 0)
		rc = ctl_topics(&c, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "subs") == 0)
		rc = ctl_subs(&c, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "rules") == 0)
		rc = ctl_rules(&c, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "stats") == 0)
		rc = ctl_stats(&c, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "tokens") == 0)
		rc = ctl_tokens(&c, argc - i - 1, argv + i + 1);
	else
		rc = CTL_USAGE;
	if (rc == CTL_USAGE)
		fputs(ctl_usage, stderr);
	return rc;
}
