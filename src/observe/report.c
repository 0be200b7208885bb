/*
 * report.c - SARIF, JUnit and GitHub renderings of findings (see report.h).
 *
 * The XML and workflow-command escaping is written by hand: each is a few
 * characters, and pulling in an XML library for five entities would not
 * pay for itself.
 */
#include "report.h"
#include "../analyze/lint.h"
#include "../core/buf.h"

#include <string.h>

static const char *sarif_level(int sev)
{
	return sev == SL_SEV_ERROR ? "error" : sev == SL_SEV_WARNING ? "warning" : "note";
}

json_t *sl_report_sarif(const char *tool_version, const struct sl_lint_rule *rules,
			const struct sl_finding *f, size_t n)
{
	json_t *jrules = json_array();
	size_t nrules = 0;
	for (const struct sl_lint_rule *r = rules; r->id; r++, nrules++) {
		json_t *o = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:[s]}}",
				      "id", r->id, "name", r->id,
				      "shortDescription", "text", r->summary,
				      "help", "text", r->hint,
				      "defaultConfiguration", "level", sarif_level(r->severity),
				      "properties", "tags", sl_rule_class_name(r->cls));
		json_array_append_new(jrules, o);
	}
	json_t *results = json_array();
	for (size_t i = 0; i < n; i++) {
		size_t idx = (size_t)(f[i].rule - rules);
		json_t *loc = json_pack("{s:{s:{s:s}, s:{s:i, s:i}}}",
					"physicalLocation",
					"artifactLocation", "uri", f[i].file,
					"region", "startLine", f[i].line, "startColumn", f[i].column);
		json_t *res = json_pack("{s:s, s:I, s:s, s:{s:s}, s:[o]}",
					"ruleId", f[i].rule->id, "ruleIndex", (json_int_t)(idx < nrules ? idx : 0),
					"level", sarif_level(f[i].severity),
					"message", "text", f[i].message,
					"locations", loc);
		json_array_append_new(results, res);
	}
	return json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o}]}",
			 "$schema", "https://json.schemastore.org/sarif-2.1.0.json",
			 "version", "2.1.0",
			 "runs",
			 "tool", "driver", "name", "sluice", "version", tool_version,
			 "informationUri", "https://github.com/sluice-dev/sluice",
			 "rules", jrules,
			 "results", results);
}

static void xml_escape(struct sl_buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sl_buf_adds(out, "&amp;"); break;
		case '<': sl_buf_adds(out, "&lt;"); break;
		case '>': sl_buf_adds(out, "&gt;"); break;
		case '"': sl_buf_adds(out, "&quot;"); break;
		case '\'': sl_buf_adds(out, "&apos;"); break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				sl_buf_addc(out, ' ');
			else
				sl_buf_addc(out, *s);
		}
	}
}

void sl_report_junit(struct sl_buf *out, const char *suite, const char *const *files,
		     size_t nfiles, const struct sl_finding *f, size_t n)
{
	size_t failures = 0;
	for (size_t k = 0; k < nfiles; k++)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(f[i].file, files[k]) && f[i].severity == SL_SEV_ERROR) {
				failures++;
				break;
			}
	sl_buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	sl_buf_adds(out, "  <testsuite name=\"");
	xml_escape(out, suite);
	sl_buf_printf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n", nfiles, failures);
	for (size_t k = 0; k < nfiles; k++) {
		struct sl_buf errs = SL_BUF_INIT, other = SL_BUF_INIT;
		size_t nerr = 0;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(f[i].file, files[k]) != 0)
				continue;
			struct sl_buf *b = f[i].severity == SL_SEV_ERROR ? &errs : &other;
			nerr += f[i].severity == SL_SEV_ERROR;
			sl_buf_printf(b, "%s:%d:%d: %s [%s] %s\n", f[i].file, f[i].line, f[i].column,
				      sl_severity_name(f[i].severity), f[i].rule->id, f[i].message);
		}
		sl_buf_adds(out, "    <testcase classname=\"sluice.lint\" name=\"");
		xml_escape(out, files[k]);
		sl_buf_adds(out, "\">\n");
		if (nerr) {
			sl_buf_printf(out, "      <failure message=\"%zu error finding(s)\" type=\"lint\">", nerr);
			xml_escape(out, errs.s);
			sl_buf_adds(out, "</failure>\n");
		}
		if (other.len) {
			sl_buf_adds(out, "      <system-out>");
			xml_escape(out, other.s);
			sl_buf_adds(out, "</system-out>\n");
		}
		sl_buf_adds(out, "    </testcase>\n");
		sl_buf_free(&errs);
		sl_buf_free(&other);
	}
	sl_buf_adds(out, "  </testsuite>\n</testsuites>\n");
}

/* Workflow-command escaping: properties also escape ':' and ','. */
static void gh_escape(struct sl_buf *out, const char *s, int property)
{
	for (; *s; s++) {
		if (*s == '%')
			sl_buf_adds(out, "%25");
		else if (*s == '\r')
			sl_buf_adds(out, "%0D");
		else if (*s == '\n')
			sl_buf_adds(out, "%0A");
		else if (property && *s == ':')
			sl_buf_adds(out, "%3A");
		else if (property && *s == ',')
			sl_buf_adds(out, "%2C");
		else
			sl_buf_addc(out, *s);
	}
}

void sl_report_github(struct sl_buf *out, const struct sl_finding *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *cmd = f[i].severity == SL_SEV_ERROR ? "error"
				  : f[i].severity == SL_SEV_WARNING ? "warning" : "notice";
		sl_buf_printf(out, "::%s file=", cmd);
		gh_escape(out, f[i].file, 1);
		sl_buf_printf(out, ",line=%d,col=%d,title=", f[i].line, f[i].column);
		gh_escape(out, f[i].rule->id, 1);
		sl_buf_adds(out, "::");
		gh_escape(out, f[i].message, 0);
		sl_buf_adds(out, ". ");
		gh_escape(out, f[i].rule->hint, 0);
		sl_buf_addc(out, '\n');
	}
}
