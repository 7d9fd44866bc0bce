/* tests/fuzz/ws_msg_fuzz.c — admin/ws_msg.c: a WebSocket client's message (any bytes)
 * parsed with and without an endpoint's preset, and a query parameter (key '=' value from
 * the same bytes) set into a subscribe payload then parsed as the handshake does.
 *
 * Input: the message; the query's key is the input up to its first '=', its value the
 * rest (NUL-terminated copies).
 * Checks: ws_msg_parse returns 0 (a subscribe: topic, patterns and filter as parsed,
 * freed after) or -1 with a non-empty field and message, both terminated inside their
 * buffers; ws_query_set returns 0 or -1 naming the key's field; a data envelope around
 * any event text has exactly the length it says. Never a crash, a leak or an
 * out-of-bounds access. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ws_msg.h"
#include "fuzz_util.h"

#define CHECK(c) FUZZ_CHECK(c, "%s", #c)

static void check_error(const struct ws_msg_error *err)
{
	CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL);
	CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	CHECK(err->field[0] != '\0');
	CHECK(err->message[0] != '\0');
}

static void parse(const uint8_t *data, size_t size, const json_t *preset)
{
	struct ws_client_msg m;
	struct ws_msg_error err;

	if (ws_msg_parse((const char *)data, size, preset, &m, &err) < 0) {
		check_error(&err);
		return;
	}
	if (m.type == WS_MSG_SUBSCRIBE) {
		CHECK(m.sub.npatterns <= WS_PATTERNS_MAX);
		CHECK(memchr(m.sub.topic, '\0', sizeof(m.sub.topic)) != NULL);
		ws_sub_req_free(&m.sub);
	}
}

static void query(const uint8_t *data, size_t size)
{
	const uint8_t *eq = memchr(data, '=', size);
	size_t kl = eq ? (size_t)(eq - data) : size;
	char *key = strndup((const char *)data, kl);
	char *value = strndup(eq ? (const char *)eq + 1 : "", eq ? size - kl - 1 : 0);
	json_t *payload = json_object();
	struct ws_msg_error err;
	struct ws_sub_req req;

	if (key && value && payload) {
		if (ws_query_set(payload, key, value, &err) < 0)
			check_error(&err);
		else if (ws_sub_parse(payload, NULL, "query", &req, &err) < 0)
			check_error(&err);
		else
			ws_sub_req_free(&req);
	}
	json_decref(payload);
	free(key);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *preset = json_pack("{s:[s], s:[s]}", "data_types", "execution", "symbols", "AAPL");
	size_t len = 0;
	char *w;

	parse(data, size, NULL);
	parse(data, size, preset);
	query(data, size);
	if (ws_msg_data_wrap(NULL, 0, (uint32_t)size, (const char *)data, size,
			     "2026-12-06T00:00:00Z", &len) == -ENOSPC && (w = malloc(len))) {
		CHECK(ws_msg_data_wrap(w, len, (uint32_t)size, (const char *)data, size,
				       "2026-12-06T00:00:00Z", &len) == 0);
		CHECK(len > size && w[len] == '\0');
		CHECK(memmem(w, len, data, size) != NULL);
		free(w);
	}
	json_decref(preset);
	return 0;
}
