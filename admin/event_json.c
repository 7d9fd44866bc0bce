/* admin/event_json.c — Event <-> JSON by walking protobuf-c's descriptors, so the JSON
 * keys are the .proto names by construction and a field added to the contract needs no
 * code here. Only the field types fanout.proto uses are handled (no bytes). */
#include "admin/event_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/frame.h"

/* Longest field path in an error message; longer ones are cut, which only shortens the
 * message. */
#define PATH_MAX_BYTES 160

struct from_ctx {
	struct arena *a;
	char *err;
	size_t errlen;
};

static void *field_ptr(const ProtobufCMessage *m, unsigned off)
{
	return (char *)m + off;
}

/* Size of one element of a repeated field of this type. */
static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return sizeof(void *);	/* string, message */
	}
}

/* ---- Event -> JSON ------------------------------------------------------------------ */

static json_t *msg_to_json(const ProtobufCMessage *m);

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *slot)
{
	const ProtobufCEnumValue *ev;
	uint64_t u;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)slot);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)slot);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)slot);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		u = *(const uint64_t *)slot;
		/* json_int_t is signed 64-bit; offsets and times never get this far. */
		return u > INT64_MAX ? json_real((double)u) : json_integer((json_int_t)u);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)slot);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)slot);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)slot);
	case PROTOBUF_C_TYPE_ENUM:
		/* An open proto3 enum may carry a number this build does not know. */
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)slot);
		return ev ? json_string(ev->name) : json_integer(*(const int *)slot);
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)slot ? *(char *const *)slot : "");
	case PROTOBUF_C_TYPE_MESSAGE:
		return msg_to_json(*(const ProtobufCMessage *const *)slot);
	default:
		return NULL;
	}
}

static json_t *repeated_to_json(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	size_t n = *(const size_t *)field_ptr(m, f->quantifier_offset);
	const char *elems = *(const char *const *)field_ptr(m, f->offset);
	size_t esize = elem_size(f->type);
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		if (json_array_append_new(arr, value_to_json(f, elems + i * esize))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *msg_to_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v;

		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)field_ptr(m, f->quantifier_offset) != f->id)
			continue;	/* not the member of the oneof that is set */
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			v = repeated_to_json(f, m);
		else if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(void **)field_ptr(m, f->offset))
			continue;	/* unset submessage: absent, unlike an empty one */
		else
			v = value_to_json(f, field_ptr(m, f->offset));
		if (json_object_set_new(o, f->name, v))	/* also fails, and frees, on v NULL */
			goto err;
	}
	return o;
err:
	json_decref(o);
	return NULL;
}

json_t *event_to_json(const Fanout__V1__Event *e)
{
	return msg_to_json(&e->base);
}

/* ---- JSON -> Event ------------------------------------------------------------------ */

static int fail(struct from_ctx *c, const char *path, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct from_ctx *c, const char *path, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->errlen == 0)
		return rc;
	n = snprintf(c->err, c->errlen, "%s: ", path[0] ? path : "event");
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Writes a field path into dst (PATH_MAX_BYTES); a path too long is cut short. */
static void path_join(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_join(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, PATH_MAX_BYTES, fmt, ap);
	va_end(ap);
}

static const char *json_kind(const json_t *j)
{
	static const char *const kinds[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
		[JSON_REAL] = "a real", [JSON_TRUE] = "true", [JSON_FALSE] = "false",
		[JSON_NULL] = "null",
	};

	return kinds[json_typeof(j)];
}

/* Bytes of the prefix every value name of d shares, up to and including its last '_':
 * "DATA_TYPE_" for DataType. What follows is the short form accepted on input. */
static size_t enum_prefix_len(const ProtobufCEnumDescriptor *d)
{
	const char *first = d->values[0].name;
	size_t len = strlen(first), cut = 0;

	for (unsigned i = 1; i < d->n_values; i++) {
		size_t k = 0;

		while (k < len && first[k] == d->values[i].name[k])
			k++;
		len = k;
	}
	for (size_t k = 0; k < len; k++)
		if (first[k] == '_')
			cut = k + 1;
	return cut;
}

/* The error for an unknown enum name, with an example of both accepted forms. */
static int enum_unknown(struct from_ctx *c, const ProtobufCEnumDescriptor *d, size_t pre,
			const char *s, const char *path)
{
	const char *example = d->values[d->n_values - 1].name;
	char lower[64];
	size_t k;

	for (k = 0; example[pre + k] && k < sizeof(lower) - 1; k++)
		lower[k] = (char)tolower((unsigned char)example[pre + k]);
	lower[k] = '\0';
	return fail(c, path, -EINVAL, "\"%s\" is not a %s name (expected e.g. \"%s\" or \"%s\")",
		    s, d->short_name, example, lower);
}

static int enum_from_json(struct from_ctx *c, const ProtobufCFieldDescriptor *f,
			  const json_t *val, int *slot, const char *path)
{
	const ProtobufCEnumDescriptor *d = f->descriptor;
	const ProtobufCEnumValue *ev = NULL;

	if (json_is_integer(val)) {
		json_int_t n = json_integer_value(val);

		if (n >= INT32_MIN && n <= INT32_MAX)
			ev = protobuf_c_enum_descriptor_get_value(d, (int)n);
		if (!ev)
			return fail(c, path, -EINVAL, "%lld is not a %s value", (long long)n,
				    d->short_name);
	} else if (json_is_string(val)) {
		const char *s = json_string_value(val);
		size_t pre = enum_prefix_len(d);

		ev = protobuf_c_enum_descriptor_get_value_by_name(d, s);
		for (unsigned i = 0; !ev && i < d->n_values; i++)
			if (strcasecmp(d->values[i].name + pre, s) == 0)
				ev = &d->values[i];
		if (!ev)
			return enum_unknown(c, d, pre, s, path);
	} else {
		return fail(c, path, -EINVAL, "expected a %s name, got %s", d->short_name,
			    json_kind(val));
	}
	*slot = ev->value;
	return 0;
}

/* Integer fields: range-checked against the field's C type. */
static int int_from_json(struct from_ctx *c, const ProtobufCFieldDescriptor *f,
			 const json_t *val, void *slot, const char *path)
{
	json_int_t n;

	if (!json_is_integer(val))
		return fail(c, path, -EINVAL, "expected an integer, got %s", json_kind(val));
	n = json_integer_value(val);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		if (n < INT32_MIN || n > INT32_MAX)
			goto range;
		*(int32_t *)slot = (int32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		if (n < 0 || n > UINT32_MAX)
			goto range;
		*(uint32_t *)slot = (uint32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		if (n < 0)
			goto range;
		*(uint64_t *)slot = (uint64_t)n;
		return 0;
	default:	/* the signed 64-bit types */
		*(int64_t *)slot = n;
		return 0;
	}
range:
	return fail(c, path, -EINVAL, "%lld is out of range", (long long)n);
}

static int string_from_json(struct from_ctx *c, const json_t *val, char **slot,
			    const char *path)
{
	size_t len;
	char *s;

	if (!json_is_string(val))
		return fail(c, path, -EINVAL, "expected a string, got %s", json_kind(val));
	len = json_string_length(val);
	/* protobuf-c strings end at the first NUL; refuse rather than truncate. */
	if (strlen(json_string_value(val)) != len)
		return fail(c, path, -EINVAL, "string contains a NUL character");
	s = arena_alloc(c->a, len + 1);
	if (!s)
		return fail(c, path, -ENOMEM, "out of memory (arena full)");
	memcpy(s, json_string_value(val), len + 1);
	*slot = s;
	return 0;
}

static int msg_from_json(struct from_ctx *c, const ProtobufCMessageDescriptor *d,
			 const json_t *obj, ProtobufCMessage *m, const char *path);

static int value_from_json(struct from_ctx *c, const ProtobufCFieldDescriptor *f,
			   const json_t *val, void *slot, const char *path)
{
	const ProtobufCMessageDescriptor *sub;
	ProtobufCMessage *m;

	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(val))
			return fail(c, path, -EINVAL, "expected a number, got %s", json_kind(val));
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)slot = (float)json_number_value(val);
		else
			*(double *)slot = json_number_value(val);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(val))
			return fail(c, path, -EINVAL, "expected true or false, got %s", json_kind(val));
		*(protobuf_c_boolean *)slot = json_is_true(val);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return enum_from_json(c, f, val, slot, path);
	case PROTOBUF_C_TYPE_STRING:
		return string_from_json(c, val, slot, path);
	case PROTOBUF_C_TYPE_MESSAGE:
		sub = f->descriptor;
		m = arena_alloc(c->a, sub->sizeof_message);
		if (!m)
			return fail(c, path, -ENOMEM, "out of memory (arena full)");
		sub->message_init(m);
		*(ProtobufCMessage **)slot = m;
		return msg_from_json(c, sub, val, m, path);
	case PROTOBUF_C_TYPE_BYTES:
		return fail(c, path, -EINVAL, "bytes fields are not supported");
	default:
		return int_from_json(c, f, val, slot, path);
	}
}

static int repeated_from_json(struct from_ctx *c, const ProtobufCFieldDescriptor *f,
			      const json_t *val, ProtobufCMessage *m, const char *path)
{
	size_t n, esize = elem_size(f->type);
	char sub[PATH_MAX_BYTES];
	char *elems = NULL;
	int rc;

	if (!json_is_array(val))
		return fail(c, path, -EINVAL, "expected an array, got %s", json_kind(val));
	n = json_array_size(val);
	if (n && !(elems = arena_alloc(c->a, n * esize)))
		return fail(c, path, -ENOMEM, "out of memory (arena full)");
	for (size_t i = 0; i < n; i++) {
		path_join(sub, "%s[%zu]", path, i);
		rc = value_from_json(c, f, json_array_get(val, i), elems + i * esize, sub);
		if (rc)
			return rc;
	}
	*(size_t *)field_ptr(m, f->quantifier_offset) = n;
	*(char **)field_ptr(m, f->offset) = elems;
	return 0;
}

/* Marks f as the member of its oneof that is set; two members given is an error. */
static int oneof_claim(struct from_ctx *c, const ProtobufCMessageDescriptor *d,
		       const ProtobufCFieldDescriptor *f, ProtobufCMessage *m, const char *path)
{
	uint32_t *which = field_ptr(m, f->quantifier_offset);
	const ProtobufCFieldDescriptor *other;

	if (*which && *which != f->id) {
		other = protobuf_c_message_descriptor_get_field(d, *which);
		return fail(c, path, -EINVAL, "only one of a oneof may be set, and %s already is",
			    other ? other->name : "another");
	}
	*which = f->id;
	return 0;
}

static int msg_from_json(struct from_ctx *c, const ProtobufCMessageDescriptor *d,
			 const json_t *obj, ProtobufCMessage *m, const char *path)
{
	char sub[PATH_MAX_BYTES];
	const char *key;
	json_t *val;
	int rc;

	if (!json_is_object(obj))
		return fail(c, path, -EINVAL, "expected an object, got %s", json_kind(obj));
	json_object_foreach((json_t *)obj, key, val) {
		const ProtobufCFieldDescriptor *f;

		path_join(sub, "%s%s%s", path, path[0] ? "." : "", key);
		f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		if (!f)
			return fail(c, sub, -EINVAL, "unknown field (not in %s)", d->short_name);
		if (json_is_null(val))
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && (rc = oneof_claim(c, d, f, m, sub)))
			return rc;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			rc = repeated_from_json(c, f, val, m, sub);
		else
			rc = value_from_json(c, f, val, field_ptr(m, f->offset), sub);
		if (rc)
			return rc;
		/* proto2 and proto3 `optional` scalars also need their has_ flag. */
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)field_ptr(m, f->quantifier_offset) = 1;
	}
	return 0;
}

/* data_type as the payload implies, for input that leaves it out. */
static Fanout__V1__DataType data_type_of(Fanout__V1__Event__PayloadCase pc)
{
	switch (pc) {
	case FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA:
		return FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION:
		return FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION;
	case FANOUT__V1__EVENT__PAYLOAD_EXECUTION:
		return FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
	default:
		return FANOUT__V1__DATA_TYPE__DATA_TYPE_UNSPECIFIED;
	}
}

int event_from_json(const json_t *j, Fanout__V1__Event *out, struct arena *a,
		    char *err, size_t errlen)
{
	struct from_ctx c = { .a = a, .err = err, .errlen = errlen };
	const json_t *dt;
	int rc;

	if (errlen)
		err[0] = '\0';
	fanout__v1__event__init(out);
	rc = msg_from_json(&c, &fanout__v1__event__descriptor, j, &out->base, "");
	if (rc)
		return rc;
	dt = json_object_get(j, "data_type");
	if (!dt || json_is_null(dt))
		out->data_type = data_type_of(out->payload_case);
	return 0;
}

Fanout__V1__ServerMessage *event_frame_unpack(const uint8_t *frame, size_t len)
{
	Fanout__V1__ServerMessage *m;
	struct frame_view fv;

	if (frame_parse(frame, len, UINT32_MAX >> 1, &fv) <= 0)
		return NULL;
	m = fanout__v1__server_message__unpack(NULL, fv.len, fv.body);
	if (m && m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
		fanout__v1__server_message__free_unpacked(m, NULL);
		m = NULL;
	}
	return m;
}
