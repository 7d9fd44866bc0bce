/* tests/unit/admin/ws_sub_test.c — a WebSocket subscription's cursors (admin/ws_sub.c) and
 * snapshot (admin/ws_snap.c) over a real two-partition topic in a temporary directory:
 * start positions, round robin over partitions with patterns, a snapshot before the
 * stream, topics joining and leaving, the lag in bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ws_sub.h"
#include "core/epoch.h"
#include "core/keyhash.h"
#include "core/latest.h"

struct fixture {
	char dir[64];
	struct topic_table topics;
	struct topic *tp, *other;
	uint64_t budget;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };

	if (!f || epoch_register() < 0)
		return -1;
	strcpy(f->dir, "/tmp/fanout-ws-sub-test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0 ||
	    topic_create(&f->topics, "t", 1, 2, &f->tp) < 0 ||
	    topic_create(&f->topics, "u", 1, 1, &f->other) < 0)
		return -1;
	f->budget = 1 << 20;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	topic_table_close(&f->topics);
	epoch_unregister();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Appends a stored-event frame with routing key key to partition p (recorded in its
 * last-value table, as publish does). Returns its offset. */
static uint64_t append(struct topic *tp, uint32_t p, const char *key)
{
	struct log *log = tp->part[p].log;
	size_t k = strlen(key), n = 0;
	struct log_fields fl = { .key_hash = keyhash_bytes(key, k),
				 .data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA };
	uint8_t body[200], *dst;
	uint64_t at;

	body[n++] = 0x0a;	/* ServerMessage.event */
	body[n++] = (uint8_t)(k + 4);
	body[n++] = 0x22;	/* Event.distribution */
	body[n++] = (uint8_t)(k + 2);
	body[n++] = 0x22;	/* Distribution.routing_key */
	body[n++] = (uint8_t)k;
	memcpy(body + n, key, k);
	n += k;
	assert_int_equal(log_reserve(log, (uint32_t)(1 + n), &dst, &at), 0);
	dst[0] = (uint8_t)n;
	memcpy(dst + 1, body, n);
	log_commit(log, &fl);
	log_publish(log);
	assert_int_equal(latest_put(&tp->part[p].latest, fl.key_hash, (const char *)dst + 7,
				    (uint32_t)k, at), 0);
	return at;
}

static struct ws_sub *open_sub(struct fixture *f, const char *pattern, enum ws_start start,
			       bool snapshot)
{
	struct ws_sub_req req = { .id = 3, .start = start, .snapshot = snapshot };
	struct topic *tps[1] = { f->tp };
	struct ws_sub *s;
	const char *why;

	if (pattern) {
		assert_int_equal(pattern_compile(&req.patterns[0], pattern, strlen(pattern), &why), 0);
		req.npatterns = 1;
	}
	assert_int_equal(filter_compile(&req.filter, NULL, &why), 0);
	assert_int_equal(ws_sub_open(&s, tps, 1, &req, &f->budget), 0);
	return s;
}

/* What the subscription sends next, as "partition/offset" strings; "" when none. */
static const char *next(struct ws_sub *s)
{
	static char out[32];
	struct log_ref ref;
	const struct ws_part *part;
	uint32_t scanned = 0;

	const struct log *log;
	struct log_ref at;

	if (ws_sub_next(s, 64, &scanned, &ref, &part) != 1)
		return "";
	/* Which offset: the entry's (a snapshot's event is not where the cursor is). */
	log = part->tp->part[part->p].log;
	for (uint64_t o = log_first(log); o < log_tail(log); o++)
		if (log_read(log, o, &at) == 0 && at.entry == ref.entry) {
			snprintf(out, sizeof(out), "%u/%llu", part->p, (unsigned long long)o);
			return out;
		}
	return "?";
}

static void earliest_with_a_pattern(void **state)
{
	struct fixture *f = *state;
	struct ws_sub *s;

	append(f->tp, 0, "AAPL.X.trade");
	append(f->tp, 0, "MSFT.X.trade");
	append(f->tp, 0, "AAPL.Y.trade");
	append(f->tp, 1, "AAPL.Z.trade");
	s = open_sub(f, "AAPL.>", WS_START_EARLIEST, false);
	assert_int_equal(s->nparts, 2);
	/* round robin, one event at a time; MSFT skipped */
	assert_string_equal(next(s), "0/0");
	assert_string_equal(next(s), "1/0");
	assert_string_equal(next(s), "0/2");
	assert_string_equal(next(s), "");
	assert_int_equal(s->skipped, 1);
	assert_int_equal(ws_sub_lag_bytes(s), 0);
	append(f->tp, 1, "AAPL.Z.trade");
	assert_true(ws_sub_lag_bytes(s) > 0);
	assert_string_equal(next(s), "1/1");
	ws_sub_free(s);
}

static void latest_then_live(void **state)
{
	struct fixture *f = *state;
	struct ws_sub *s;

	append(f->tp, 0, "AAPL.X.trade");
	s = open_sub(f, NULL, WS_START_LATEST, false);
	assert_string_equal(next(s), "");
	append(f->tp, 0, "GOOG.X.trade");
	assert_string_equal(next(s), "0/1");
	ws_sub_free(s);
}

/* The newest event of each key before the start, in offset order per partition, then
 * the stream; its memory back in the budget once sent. */
static void snapshot_first(void **state)
{
	struct fixture *f = *state;
	uint64_t budget = f->budget;
	struct ws_sub *s;

	append(f->tp, 0, "AAPL.X.trade");	/* 0/0: replaced by 0/2 */
	append(f->tp, 0, "MSFT.X.trade");	/* 0/1 */
	append(f->tp, 0, "AAPL.X.trade");	/* 0/2 */
	append(f->tp, 1, "AAPL.Y.trade");	/* 1/0 */
	s = open_sub(f, NULL, WS_START_LATEST, true);
	assert_true(f->budget < budget);
	append(f->tp, 0, "GOOG.X.trade");	/* 0/3: live */
	assert_string_equal(next(s), "0/1");
	assert_string_equal(next(s), "0/2");
	assert_string_equal(next(s), "1/0");
	assert_string_equal(next(s), "0/3");
	assert_string_equal(next(s), "");
	assert_int_equal(f->budget, budget);
	ws_sub_free(s);

	/* A budget too small for it: refused, nothing kept. */
	f->budget = 8;
	{
		struct ws_sub_req req = { .start = WS_START_LATEST, .snapshot = true };
		struct topic *tps[1] = { f->tp };
		const char *why;

		assert_int_equal(filter_compile(&req.filter, NULL, &why), 0);
		assert_int_equal(ws_sub_open(&s, tps, 1, &req, &f->budget), -ENOBUFS);
		assert_null(s);
		assert_int_equal(f->budget, 8);
		filter_free(&req.filter);
	}
	f->budget = budget;
}

static void topics_join_and_leave(void **state)
{
	struct fixture *f = *state;
	struct ws_sub *s = open_sub(f, NULL, WS_START_LATEST, false);

	s->every = true;
	append(f->other, 0, "AAPL.X.trade");	/* before it joins: sent from its start */
	assert_int_equal(ws_sub_add_topic(&s, f->other), 1);
	assert_int_equal(ws_sub_add_topic(&s, f->other), 0);	/* once */
	assert_int_equal(s->nparts, 3);
	assert_string_equal(next(s), "0/0");
	assert_true(s->parts[2].tp == f->other);
	assert_true(ws_sub_drop_topic(s, f->other));
	assert_false(ws_sub_drop_topic(s, f->other));
	assert_int_equal(s->nparts, 2);
	ws_sub_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(earliest_with_a_pattern, setup, teardown),
		cmocka_unit_test_setup_teardown(latest_then_live, setup, teardown),
		cmocka_unit_test_setup_teardown(snapshot_first, setup, teardown),
		cmocka_unit_test_setup_teardown(topics_join_and_leave, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
