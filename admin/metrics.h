/* admin/metrics.h — /metrics in the Prometheus text exposition format (version 0.0.4):
 * a HELP and TYPE line per family, counters named *_total, units in names (_bytes,
 * _seconds), labels topic/partition/reactor/subscription only (never a symbol or key).
 * Reactor and store figures are read as the request comes; partition and subscription
 * figures come from the sampler's latest sample (at most a second old). Series are
 * bounded (METRICS_SERIES_MAX per family; fanout_metrics_truncated says when cut). The
 * admin thread only. */
#ifndef FANOUT_ADMIN_METRICS_H
#define FANOUT_ADMIN_METRICS_H

#include <stddef.h>

struct admin;

#define METRICS_SERIES_MAX 100000u

/* Renders every family into a malloc'd buffer (*len bytes). Returns it, or NULL on
 * ENOMEM. */
char *metrics_render(struct admin *a, size_t *len);

/* Appends a label value escaped as the format asks (\\, \", \n) to buf; returns the
 * bytes written (never more than cap - 1). Pure (unit-tested). */
size_t metrics_escape(const char *value, char *buf, size_t cap);

#endif
