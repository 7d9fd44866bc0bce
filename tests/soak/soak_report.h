/* tests/soak/soak_report.h — the end-of-run summary: one JSON object on stdout (every
 * count, the seed, ok), and on stderr PASS or FAIL with each failing count named.
 * Driver only, after soak_run. */
#ifndef FANOUT_TESTS_SOAK_REPORT_H
#define FANOUT_TESTS_SOAK_REPORT_H

#include <stdbool.h>

#include "tests/soak/soak_run.h"

/* Prints the summary; returns true when the soak passed. */
bool soak_report(const struct soak_run *r);

#endif
