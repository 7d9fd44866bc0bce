/* admin/audit_file.c — the spill file's lines (admin/audit_file.h). */
#include "admin/audit_file.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "admin/audit.h"
#include "net/audit.h"

json_t *audit_row_to_json(const struct audit_row *r)
{
	if (r->ack)
		return json_pack("{s:b, s:s, s:i, s:I, s:I}", "ack", 1, "sub", r->sub,
				 "partition", (int)r->partition, "offset", (json_int_t)r->offset,
				 "at_ns", (json_int_t)r->at_ns);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:f}", "id", r->id,
			 "event_id", r->event_id, "topic", r->topic, "key", r->key, "sub", r->sub,
			 "partition", (int)r->partition, "offset", (json_int_t)r->offset,
			 "at_ns", (json_int_t)r->at_ns, "status", (int)r->status,
			 "delivery_ms", isnan(r->delivery_ms) ? -1.0 : r->delivery_ms);
}

static void audit_copy(char *dst, size_t cap, const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	snprintf(dst, cap, "%s", s ? s : "");
}

int audit_row_from_json(const char *line, size_t len, struct audit_row *r)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(j))
		goto out;
	r->ack = json_is_true(json_object_get(j, "ack"));
	audit_copy(r->sub, sizeof(r->sub), j, "sub");
	r->partition = (uint32_t)json_integer_value(json_object_get(j, "partition"));
	r->offset = (uint64_t)json_integer_value(json_object_get(j, "offset"));
	r->at_ns = json_integer_value(json_object_get(j, "at_ns"));
	if (r->ack) {
		r->status = AUDIT_ACKED;
		rc = r->sub[0] ? 0 : -1;
		goto out;
	}
	audit_copy(r->id, sizeof(r->id), j, "id");
	audit_copy(r->event_id, sizeof(r->event_id), j, "event_id");
	audit_copy(r->topic, sizeof(r->topic), j, "topic");
	audit_copy(r->key, sizeof(r->key), j, "key");
	r->status = (uint8_t)json_integer_value(json_object_get(j, "status"));
	r->delivery_ms = json_number_value(json_object_get(j, "delivery_ms"));
	if (r->delivery_ms < 0)
		r->delivery_ms = NAN;
	if (r->id[0] && r->event_id[0] && r->topic[0] && r->key[0] && r->sub[0] &&
	    (r->status == AUDIT_DELIVERED || r->status == AUDIT_FAILED))
		rc = 0;
out:
	json_decref(j);
	return rc;
}

uint64_t audit_file_whole_lines(FILE *f, uint64_t size)
{
	uint64_t end = size;
	char buf[4096];

	while (end > 0) {
		size_t n = end < sizeof(buf) ? (size_t)end : sizeof(buf);

		if (fseeko(f, (off_t)(end - n), SEEK_SET) != 0 || fread(buf, 1, n, f) != n)
			return size;	/* unreadable: kept whole (a replay stops at a bad line) */
		for (size_t i = n; i-- > 0;)
			if (buf[i] == '\n') {
				end = end - n + i + 1;
				goto cut;
			}
		end -= n;
	}
cut:
	if (end < size && ftruncate(fileno(f), (off_t)end) < 0)
		return size;
	return end;
}

FILE *audit_file_compact(FILE *f, const char *path, uint64_t from, uint64_t size)
{
	char tmp[600], buf[65536];
	uint64_t left = size - from;
	FILE *out;
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	/* "w+": after the rename this very stream is the file, read and written (its
	 * writers seek to the end first), so nothing can fail between the two. */
	if (n < 0 || (size_t)n >= sizeof(tmp) || from > size || fflush(f) != 0 ||
	    fseeko(f, (off_t)from, SEEK_SET) != 0 || !(out = fopen(tmp, "w+")))
		return NULL;
	while (left > 0) {
		size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);

		if (fread(buf, 1, k, f) != k || fwrite(buf, 1, k, out) != k)
			break;
		left -= k;
	}
	if (left > 0 || fflush(out) != 0 || fdatasync(fileno(out)) != 0 ||
	    rename(tmp, path) != 0) {
		fclose(out);
		unlink(tmp);
		clearerr(f);
		return NULL;
	}
	fclose(f);
	return out;
}
