/*
 * report.h - findings rendered for CI systems: SARIF 2.1.0 (code
 * scanning), JUnit XML (test tabs) and GitHub workflow annotations.
 *
 * Any producer of struct sl_finding (lint now; plan and gates later) uses
 * these, so every check shows up the same way in every CI.
 */
#ifndef SL_REPORT_H
#define SL_REPORT_H

#include <jansson.h>
#include <stddef.h>

struct sl_buf;
struct sl_finding;
struct sl_lint_rule;

/* A SARIF 2.1.0 log with one run; rules lists the rule metadata to embed. */
json_t *sl_report_sarif(const char *tool_version, const struct sl_lint_rule *rules,
			const struct sl_finding *f, size_t n);
/* JUnit XML: one testcase per file; a file with an error finding fails. */
void sl_report_junit(struct sl_buf *out, const char *suite, const char *const *files,
		     size_t nfiles, const struct sl_finding *f, size_t n);
/* GitHub Actions workflow commands (::error file=...,line=...::msg). */
void sl_report_github(struct sl_buf *out, const struct sl_finding *f, size_t n);

#endif
