/* tests/unit/admin/audit_file_test.c — the audit spill file's lines: rows (delivered,
 * failed, ack) through JSON and back exactly; lines that are not rows refused; a file cut
 * back to whole lines; the part the store has had dropped, the rest kept and appendable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/audit.h"
#include "admin/audit_file.h"
#include "net/audit.h"

static void round_trip(const struct audit_row *in, struct audit_row *out)
{
	json_t *j = audit_row_to_json(in);
	char *line = json_dumps(j, JSON_COMPACT);

	assert_non_null(line);
	assert_null(strchr(line, '\n'));	/* one line */
	assert_int_equal(audit_row_from_json(line, strlen(line), out), 0);
	free(line);
	json_decref(j);
}

static void rows_round_trip(void **state)
{
	struct audit_row d = { .status = AUDIT_DELIVERED, .partition = 3, .offset = 1ull << 40,
			       .at_ns = 1764925200123456789ll, .delivery_ms = 0.125 }, f, k, out;

	(void)state;
	strcpy(d.id, "019aedbd-56fb-7000-8000-000000000001");
	strcpy(d.sub, "mabc-7");
	strcpy(d.event_id, "ev \"quoted\" é");
	strcpy(d.key, "AAPL.O1");
	strcpy(d.topic, "execution/fills");
	round_trip(&d, &out);
	assert_false(out.ack);
	assert_int_equal(out.status, AUDIT_DELIVERED);
	assert_int_equal(out.partition, 3);
	assert_true(out.offset == 1ull << 40);
	assert_true(out.at_ns == d.at_ns);
	assert_true(out.delivery_ms == 0.125);
	assert_string_equal(out.id, d.id);
	assert_string_equal(out.sub, d.sub);
	assert_string_equal(out.event_id, d.event_id);
	assert_string_equal(out.key, d.key);
	assert_string_equal(out.topic, d.topic);

	f = d;
	f.status = AUDIT_FAILED;
	f.delivery_ms = NAN;
	round_trip(&f, &out);
	assert_int_equal(out.status, AUDIT_FAILED);
	assert_true(isnan(out.delivery_ms));

	memset(&k, 0, sizeof(k));
	k.ack = true;
	k.status = AUDIT_ACKED;
	k.partition = 1;
	k.offset = 99;
	k.at_ns = 5;
	strcpy(k.sub, "mabc-7");
	round_trip(&k, &out);
	assert_true(out.ack);
	assert_int_equal(out.status, AUDIT_ACKED);
	assert_int_equal(out.offset, 99);
	assert_string_equal(out.sub, "mabc-7");
}

static void other_lines_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "{", "[]", "{\"id\": \"x\"", "{}", "{\"ack\": true}",
		"{\"id\":\"a\",\"event_id\":\"e\",\"topic\":\"t\",\"key\":\"k\",\"sub\":\"s\","
		"\"status\":3}",	/* a row is delivered or failed */
		"{\"id\":\"a\",\"event_id\":\"e\",\"topic\":\"t\",\"sub\":\"s\",\"status\":1}",
	};
	struct audit_row out;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(audit_row_from_json(bad[i], strlen(bad[i]), &out), -1);
}

static FILE *file_with(const char *path, const char *text)
{
	FILE *f = fopen(path, "w+");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fflush(f), 0);
	return f;
}

static long file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (long)sb.st_size;
}

static void cut_back_to_whole_lines(void **state)
{
	char path[] = "/tmp/fanout-audit-file-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	f = file_with(path, "one\ntwo\nthr");
	assert_int_equal(audit_file_whole_lines(f, 11), 8);
	assert_int_equal(file_size(path), 8);
	fclose(f);
	f = file_with(path, "one\ntwo\n");
	assert_int_equal(audit_file_whole_lines(f, 8), 8);	/* whole already */
	fclose(f);
	f = file_with(path, "no newline at all");
	assert_int_equal(audit_file_whole_lines(f, 17), 0);
	assert_int_equal(file_size(path), 0);
	fclose(f);
	unlink(path);
}

static void compaction_keeps_the_rest(void **state)
{
	char path[] = "/tmp/fanout-audit-file-XXXXXX", tmp[64], buf[64];
	int fd = mkstemp(path);
	FILE *f, *g;
	size_t n;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	f = file_with(path, "line-1\nline-2\nline-3\n");
	g = audit_file_compact(f, path, 7, 21);	/* the store has had line 1 */
	assert_non_null(g);
	assert_int_equal(file_size(path), 14);
	assert_int_equal(fseeko(g, 0, SEEK_END), 0);	/* appends go on after the rest */
	assert_true(fputs("line-4\n", g) >= 0);
	assert_int_equal(fseeko(g, 0, SEEK_SET), 0);
	n = fread(buf, 1, sizeof(buf) - 1, g);
	buf[n] = '\0';
	assert_string_equal(buf, "line-2\nline-3\nline-4\n");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);	/* renamed, nothing left behind */
	assert_null(audit_file_compact(g, path, 30, 21));	/* nonsense: kept as it was */
	assert_int_equal(file_size(path), 21);
	fclose(g);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_round_trip),
		cmocka_unit_test(other_lines_are_refused),
		cmocka_unit_test(cut_back_to_whole_lines),
		cmocka_unit_test(compaction_keeps_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
