/* ingest/rules.h — routing rules (the seed's routing_rules table), applied at ingest: the
 * first enabled rule, in (priority, name) order, whose source topic and routing-key
 * pattern match the published event and whose conditions (a content filter) hold decides
 * the topic the event is stored in and its routing key, rendered from a template.
 *
 * A rule set is compiled once, from fanout.v1.RoutingRule messages (admin plane) or from
 * a JSON file (ingest/rules_json.h), and is immutable afterwards: compiling allocates
 * (control plane, any thread); rules_apply never allocates or writes to the set, so one
 * compiled set may be used from any number of threads. Replacing a set in use is the
 * owner's business: build the new one, switch the pointer the reactors read, free the old
 * one once no reactor can still be inside rules_apply with it.
 *
 * Routing-key templates are literal text and {field} placeholders:
 *   {symbol}         market_data.symbol | coordination_decision/execution.instrument_id
 *   {exchange}       market_data.exchange, else {venue}
 *   {venue}          execution.venue, else metadata.venue
 *   {instrument_id}  coordination_decision/execution.instrument_id
 *   {action}         coordination_decision.action
 *   {order_id}       execution.order_id
 *   {decision_id}    coordination_decision.decision_id
 *   {currency}       market_data.currency
 *   {data_type}      "market_data", "coordination_decision" or "execution"
 *   {source_service} metadata.source_service
 *   {key}            the event's own routing key (may be several tokens)
 *   {topic}          the event's own topic (its dots, if any, separate tokens)
 * Every placeholder but {key} and {topic} must be exactly one routing-key token for the
 * event: a value that is empty, or holds '.', whitespace, a control byte, '*' or '>' is an
 * error for that event (rules_apply returns -EINVAL), never a silent skip to the next
 * rule: the rule matched, so the publisher's event is wrong for the routing it asked for.
 * The rendered key must also pass pattern_key_check (<= 255 bytes, <= 32 tokens). */
#ifndef FANOUT_INGEST_RULES_H
#define FANOUT_INGEST_RULES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "core/log.h"
#include "core/pattern.h"
#include "core/topic.h"
#include "fanout.pb-c.h"
#include "ingest/event_view.h"

#define RULES_MAX 1024u			/* rules in one set */
#define RULES_NAME_BYTES_MAX 100u	/* seed: rule_name max_length 100 */
#define RULES_TEMPLATE_BYTES_MAX PATTERN_BYTES_MAX
#define RULES_TEMPLATE_PARTS_MAX 128u	/* a 255-byte template holds at most 86 parts */
#define RULES_ERROR_BYTES 320u		/* as struct publish_error's message */

/* A template placeholder. */
enum rules_field {
	RULES_F_SYMBOL,
	RULES_F_EXCHANGE,
	RULES_F_VENUE,
	RULES_F_INSTRUMENT_ID,
	RULES_F_ACTION,
	RULES_F_ORDER_ID,
	RULES_F_DECISION_ID,
	RULES_F_CURRENCY,
	RULES_F_DATA_TYPE,
	RULES_F_SOURCE_SERVICE,
	RULES_F_KEY,
	RULES_F_TOPIC,
	RULES_F_COUNT
};

/* One piece of a compiled template: literal bytes of the template text, or a field. */
struct rules_part {
	uint8_t is_literal;
	uint8_t field;			/* enum rules_field, when !is_literal */
	uint8_t off, len;		/* literal: [off, off+len) of the template text */
};

struct rules_rule {
	char name[RULES_NAME_BYTES_MAX + 1];
	char source_topic[TOPIC_NAME_MAX + 1];	/* "" = any topic */
	char target_topic[TOPIC_NAME_MAX + 1];
	char template_text[RULES_TEMPLATE_BYTES_MAX + 1];	/* "" = keep the key */
	bool has_pattern;			/* false = any key (">") */
	bool has_conditions;			/* false = always (conditions empty) */
	bool enabled;
	int32_t priority;			/* lower runs first */
	uint32_t nparts;
	struct pattern pattern;
	struct filter conditions;		/* compiled; freed by rules_free */
	struct rules_part parts[RULES_TEMPLATE_PARTS_MAX];
};

/* A compiled, immutable rule set. rules[0..n_enabled) are the enabled rules in the order
 * they are tried (priority ascending, then name bytewise); the disabled ones follow,
 * validated but never applied. */
struct rules_set {
	uint32_t n;
	uint32_t n_enabled;
	struct rules_rule rules[];
};

/* What rules_apply decided; caller-owned, filled without allocating. */
struct rules_result {
	bool changed;			/* a rule applied: topic and key below are set */
	const char *rule;		/* the deciding rule's name (in the set), or NULL */
	const char *topic;		/* its target topic (in the set), or NULL */
	char key[PATTERN_BYTES_MAX + 1];
	char error[RULES_ERROR_BYTES];	/* why, when rules_apply returned -EINVAL */
};

/* Compiles n rule messages into a new set (*out). Every rule is validated, enabled or
 * not: name 1..100 bytes and unique; source_topic empty or a valid topic; source_pattern
 * empty or a valid pattern; target_topic a valid topic; routing_key_template empty or a
 * valid template (known placeholders, balanced braces, literal text that can form a key);
 * conditions accepted by filter_compile. n <= RULES_MAX; n == 0 gives an empty set.
 * Returns 0; -EINVAL with err naming the rule and field
 * ("rules[2] 'nasdaq': source_pattern '*.>.x': ..."); or -ENOMEM. err is errlen bytes,
 * always terminated. Control plane: allocates; any thread. */
int rules_compile(struct rules_set **out, Fanout__V1__RoutingRule *const *msgs, size_t n,
		  char *err, size_t errlen);

/* Writes "rules[index] 'name': <message>" (or "rules[index]: ..." without a name) into
 * err, the one format every rule error has. Returns -EINVAL. */
int rules_vfail(char *err, size_t errlen, size_t index, const char *name, const char *fmt,
		va_list ap);

/* Frees a set from rules_compile (or rules_from_json/rules_load_file); NULL is fine. */
void rules_free(struct rules_set *s);

/* Routes one event that wire_check_event accepted (distribution set, data_type filled).
 * fields: the event's index fields (event_view_fields) for conditions, or NULL to have them
 * computed here, only if a rule with conditions is reached; either way the event is not
 * changed. A NULL set routes nothing.
 * Rules do not cascade: the first matching rule decides, and its result is not matched
 * again. Returns 0 with out->changed false when no enabled rule matches (the event keeps
 * its topic and key; out->rule and out->topic are NULL, out->key is not written); 0 with
 * out->changed true, out->rule, out->topic (the rule's target, valid as long as the set)
 * and out->key (rendered, or the event's key for an empty template) when one does;
 * -EINVAL with out->rule and out->error ("rule 'x': {exchange} is empty for this event")
 * when the deciding rule cannot render a valid key for this event. Never allocates; any
 * thread. */
int rules_apply(const struct rules_set *s, const struct event_view *v,
		const struct log_fields *fields, struct rules_result *out);

/* Checks that [s, s+len) can be one routing-key token: non-empty, no '.', no whitespace
 * or control byte, no '*' or '>'. Returns 0, or -EINVAL with *why a static reason.
 * Pure; any thread (also used by ingest/split.c). */
int rules_token_check(const char *s, size_t len, const char **why);

/* The lower-case short name of a DataType ("market_data"), or "" when it has none. */
const char *rules_data_type_name(Fanout__V1__DataType t);

#endif
