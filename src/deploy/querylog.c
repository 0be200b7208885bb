/*
 * querylog.c - reading captured workloads (see querylog.h).
 *
 * Written by hand: the three formats are small, and no library in Debian
 * reads PostgreSQL's stderr log (pgBadger is Perl).  The only SQL lexing
 * done here is what replay needs: where strings, quoted identifiers,
 * comments and dollar-quoted bodies start and end, so that placeholders
 * and keywords are found outside them.
 */
#include "querylog.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sl_qfmt_name(enum sl_qfmt f)
{
	switch (f) {
	case SL_QFMT_SQL: return "sql";
	case SL_QFMT_PGLOG: return "pglog";
	case SL_QFMT_PGSS: return "pgss";
	default: return "auto";
	}
}

int sl_qfmt_parse(const char *s, enum sl_qfmt *out)
{
	static const enum sl_qfmt all[] = { SL_QFMT_AUTO, SL_QFMT_SQL, SL_QFMT_PGLOG, SL_QFMT_PGSS };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(s, sl_qfmt_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	return -1;
}

const char *sl_qkind_name(enum sl_qkind k)
{
	return k == SL_QK_READ ? "read" : k == SL_QK_SHOW ? "show" : k == SL_QK_WRITE ? "write" : "skip";
}

void sl_querylog_free(struct sl_querylog *log)
{
	for (size_t i = 0; i < log->n; i++)
		free(log->v[i].sql);
	free(log->v);
	memset(log, 0, sizeof(*log));
}

/* ---- lexing ------------------------------------------------------------ */

static int ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/*
 * At s[i]: the offset just past the string, quoted identifier, comment or
 * dollar-quoted body that starts there, or i itself when none does.  An
 * unterminated one runs to n (the server will say what is wrong with it).
 * E'...' strings honour backslash escapes; block comments nest, as in
 * PostgreSQL.
 */
static size_t skip_quoted(const char *s, size_t i, size_t n)
{
	char c = s[i];
	if (c == '\'') {
		int esc = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
			  (i < 2 || !ident_char((unsigned char)s[i - 2]));
		for (i++; i < n; i++) {
			if (esc && s[i] == '\\' && i + 1 < n) {
				i++;
			} else if (s[i] == '\'') {
				if (i + 1 < n && s[i + 1] == '\'')
					i++;
				else
					return i + 1;
			}
		}
		return n;
	}
	if (c == '"') {
		for (i++; i < n; i++)
			if (s[i] == '"') {
				if (i + 1 < n && s[i + 1] == '"')
					i++;
				else
					return i + 1;
			}
		return n;
	}
	if (c == '-' && i + 1 < n && s[i + 1] == '-') {
		while (i < n && s[i] != '\n')
			i++;
		return i;
	}
	if (c == '/' && i + 1 < n && s[i + 1] == '*') {
		int depth = 1;
		for (i += 2; i < n && depth;) {
			if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
				depth++;
				i += 2;
			} else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
				depth--;
				i += 2;
			} else {
				i++;
			}
		}
		return i;
	}
	if (c == '$' && (i == 0 || !ident_char((unsigned char)s[i - 1]))) {
		size_t j = i + 1;
		if (j < n && (isalpha((unsigned char)s[j]) || s[j] == '_' || (unsigned char)s[j] >= 0x80))
			while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_' || (unsigned char)s[j] >= 0x80))
				j++;
		if (j < n && s[j] == '$') {
			size_t tag = j - i + 1; /* "$tag$" */
			const char *end = memmem(s + j + 1, n - j - 1, s + i, tag);
			return end ? (size_t)(end - s) + tag : n;
		}
	}
	return i;
}

/* A $n placeholder at s[i]: its number (1..65535), else 0; *end past it. */
static int placeholder_at(const char *s, size_t i, size_t n, size_t *end)
{
	if (s[i] != '$' || i + 1 >= n || !isdigit((unsigned char)s[i + 1]) ||
	    (i > 0 && ident_char((unsigned char)s[i - 1])))
		return 0;
	long v = 0;
	size_t j = i + 1;
	while (j < n && isdigit((unsigned char)s[j])) {
		if (v < 100000)
			v = v * 10 + (s[j] - '0');
		j++;
	}
	*end = j;
	return v >= 1 && v <= 65535 ? (int)v : 0;
}

int sl_query_has_params(const char *sql)
{
	size_t n = strlen(sql), end;
	for (size_t i = 0; i < n;) {
		size_t q = skip_quoted(sql, i, n);
		if (q != i) {
			i = q;
			continue;
		}
		if (placeholder_at(sql, i, n, &end))
			return 1;
		i++;
	}
	return 0;
}

/*
 * Tokens outside strings and comments: words (keywords and identifiers,
 * upper-cased into word) and single punctuation characters.  Returns the
 * token's first character, 'w' for a word, 0 at the end.
 */
struct lex {
	const char *s;
	size_t i, n;
	char word[32];
};

static int lex_next(struct lex *x)
{
	while (x->i < x->n) {
		size_t q = skip_quoted(x->s, x->i, x->n);
		if (q != x->i) {
			char c = x->s[x->i];
			x->i = q;
			if (c == '\'' || c == '"' || c == '$')
				return c; /* a literal or quoted name: a token */
			continue;  /* a comment */
		}
		unsigned char c = (unsigned char)x->s[x->i];
		if (isspace(c)) {
			x->i++;
			continue;
		}
		if (isalpha(c) || c == '_' || c >= 0x80) {
			size_t k = 0;
			while (x->i < x->n && ident_char((unsigned char)x->s[x->i])) {
				if (k + 1 < sizeof(x->word))
					x->word[k++] = (char)toupper((unsigned char)x->s[x->i]);
				x->i++;
			}
			x->word[k] = '\0';
			return 'w';
		}
		x->i++;
		return c;
	}
	return 0;
}

static int is_word(const struct lex *x, int t, const char *w)
{
	return t == 'w' && !strcmp(x->word, w);
}

/* Statements that are not replayed, by first word, and why. */
static const struct {
	const char *word, *why;
} skipped[] = {
	{ "BEGIN", "transaction control" }, { "START", "transaction control" },
	{ "COMMIT", "transaction control" }, { "END", "transaction control" },
	{ "ROLLBACK", "transaction control" }, { "ABORT", "transaction control" },
	{ "SAVEPOINT", "transaction control" }, { "RELEASE", "transaction control" },
	{ "PREPARE", "session command" }, { "EXECUTE", "session command" },
	{ "DEALLOCATE", "session command" }, { "SET", "session setting" },
	{ "RESET", "session setting" }, { "DISCARD", "session command" },
	{ "LISTEN", "session command" }, { "UNLISTEN", "session command" },
	{ "NOTIFY", "session command" }, { "LOAD", "session command" },
	{ "DECLARE", "cursor" }, { "FETCH", "cursor" }, { "MOVE", "cursor" },
	{ "CLOSE", "cursor" }, { "COPY", "COPY cannot be replayed from a log" },
	{ "VACUUM", "maintenance" }, { "ANALYZE", "maintenance" }, { "ANALYSE", "maintenance" },
	{ "CHECKPOINT", "maintenance" }, { "CLUSTER", "maintenance" },
	{ "REINDEX", "maintenance" }, { "LOCK", "explicit lock" },
	{ "PRAGMA", "session setting" }, { "ATTACH", "session command" },
	{ "DETACH", "session command" },
};

enum sl_qkind sl_query_kind(const char *sql, const char **why)
{
	struct lex x = { sql, 0, strlen(sql), "" };
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	int t = lex_next(&x);
	while (t == '(')
		t = lex_next(&x);
	if (t != 'w') {
		*why = "not a statement";
		return SL_QK_SKIP;
	}
	char first[32];
	memcpy(first, x.word, sizeof(first));
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		if (!strcmp(first, skipped[i].word)) {
			*why = skipped[i].why;
			return SL_QK_SKIP;
		}
	if (!strcmp(first, "SHOW"))
		return SL_QK_SHOW;
	if (!strcmp(first, "EXPLAIN")) {
		/* EXPLAIN ANALYZE runs the statement: a write unless shown otherwise */
		int depth = 0;
		for (int k = 0; k < 64 && (t = lex_next(&x)); k++) {
			if (t == '(')
				depth++;
			else if (t == ')')
				depth--;
			else if (is_word(&x, t, "ANALYZE") || is_word(&x, t, "ANALYSE"))
				return SL_QK_WRITE;
			else if (t == 'w' && !depth && strcmp(x.word, "VERBOSE") && strcmp(x.word, "QUERY") &&
				 strcmp(x.word, "PLAN"))
				break;
		}
		return SL_QK_SHOW;
	}
	int concurrently = 0, no_tx = 0;
	if (!strcmp(first, "CREATE") || !strcmp(first, "DROP") || !strcmp(first, "ALTER")) {
		t = lex_next(&x);
		no_tx = is_word(&x, t, "DATABASE") || is_word(&x, t, "TABLESPACE") || is_word(&x, t, "SYSTEM") ||
			is_word(&x, t, "SUBSCRIPTION");
	}
	int read = !strcmp(first, "SELECT") || !strcmp(first, "VALUES") || !strcmp(first, "TABLE") ||
		   !strcmp(first, "WITH");
	int prev_for = 0;
	while ((t = lex_next(&x))) {
		if (t != 'w') {
			prev_for = 0;
			continue;
		}
		if (!strcmp(x.word, "CONCURRENTLY"))
			concurrently = 1;
		if (read && (!strcmp(x.word, "INTO") || !strcmp(x.word, "INSERT") || !strcmp(x.word, "UPDATE") ||
			     !strcmp(x.word, "DELETE") || !strcmp(x.word, "MERGE") ||
			     (prev_for && (!strcmp(x.word, "SHARE") || !strcmp(x.word, "NO") || !strcmp(x.word, "KEY")))))
			read = 0; /* SELECT INTO, a data-modifying WITH, FOR UPDATE / SHARE */
		prev_for = !strcmp(x.word, "FOR");
	}
	if (no_tx || (concurrently && (!strcmp(first, "CREATE") || !strcmp(first, "DROP") ||
					  !strcmp(first, "ALTER")))) {
		*why = "cannot run inside a transaction";
		return SL_QK_SKIP;
	}
	return read ? SL_QK_READ : SL_QK_WRITE;
}

/* ---- building the list --------------------------------------------------- */

struct reader {
	struct sl_querylog *out;
	const char *name;
	sl_split_fn split;
	size_t limit;
	struct sl_error *err;
};

static int full(const struct reader *r)
{
	return r->limit && r->out->n >= r->limit;
}

/* Append sql[0..len) trimmed (and without a trailing ';'); empty: nothing. */
static void push(struct reader *r, const char *sql, size_t len, int line, long count)
{
	while (len && (isspace((unsigned char)*sql) || *sql == ';'))
		sql++, len--;
	while (len && (isspace((unsigned char)sql[len - 1]) || sql[len - 1] == ';'))
		len--;
	if (!len || full(r))
		return;
	struct sl_querylog *o = r->out;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = sl_realloc(o->v, o->cap * sizeof(*o->v));
	}
	struct sl_query *q = &o->v[o->n++];
	q->sql = sl_strndup(sql, len);
	q->line = line;
	q->count = count;
	q->normalized = 0;
}

/*
 * Split text with the driver's splitter and push each statement.  With
 * lenient set (a log line), text the splitter rejects is pushed whole: the
 * server will reject it the same way, on both schemas.
 */
static int push_split(struct reader *r, const char *text, size_t len, int line, int lenient,
		      long count)
{
	struct sl_stmt_list l = { 0 };
	struct sl_error e;
	sl_error_clear(&e);
	if (r->split(text, len, &l, &e)) {
		sl_stmt_list_free(&l);
		if (lenient) {
			push(r, text, len, line, count);
			return 0;
		}
		sl_err_at(r->err, SL_USAGE, r->name, line - 1 + (e.line ? e.line : 1), e.column, "%s",
			  e.message);
		return -1;
	}
	for (size_t i = 0; i < l.n; i++)
		push(r, text + l.v[i].off, l.v[i].len, lenient ? line : line - 1 + l.v[i].line, count);
	sl_stmt_list_free(&l);
	return 0;
}

/* ---- pg_stat_statements CSV ------------------------------------------------ */

struct csv {
	const char *s;
	size_t i, n;
	int line;
};

/*
 * Read one RFC 4180 record into fields (each owned).  Returns 1 with a
 * record, 0 at the end, -1 on a malformed one (err filled).
 */
static int csv_record(struct csv *c, struct sl_strvec *fields, struct reader *r, int *start_line)
{
	sl_strvec_free(fields);
	if (c->i >= c->n)
		return 0;
	*start_line = c->line;
	struct sl_buf f = SL_BUF_INIT;
	for (;;) {
		sl_buf_reset(&f);
		if (c->i < c->n && c->s[c->i] == '"') {
			int open_line = c->line;
			c->i++;
			for (;;) {
				if (c->i >= c->n) {
					sl_buf_free(&f);
					return sl_err_at(r->err, SL_USAGE, r->name, open_line, 0,
							 "a quoted CSV field is never closed");
				}
				char ch = c->s[c->i++];
				if (ch == '"') {
					if (c->i < c->n && c->s[c->i] == '"') {
						sl_buf_addc(&f, '"');
						c->i++;
						continue;
					}
					break;
				}
				if (ch == '\n')
					c->line++;
				sl_buf_addc(&f, ch);
			}
			if (c->i < c->n && c->s[c->i] == '\r')
				c->i++;
			if (c->i < c->n && c->s[c->i] != ',' && c->s[c->i] != '\n') {
				sl_buf_free(&f);
				return sl_err_at(r->err, SL_USAGE, r->name, c->line, 0,
						 "text after the closing quote of a CSV field");
			}
		} else {
			while (c->i < c->n && c->s[c->i] != ',' && c->s[c->i] != '\n')
				sl_buf_addc(&f, c->s[c->i++]);
			if (f.len && f.s[f.len - 1] == '\r')
				f.s[--f.len] = '\0';
		}
		sl_strvec_push(fields, f.s);
		if (c->i >= c->n)
			break;
		if (c->s[c->i++] == '\n') {
			c->line++;
			break;
		}
	}
	sl_buf_free(&f);
	return 1;
}

static int column_of(const struct sl_strvec *header, const char *name)
{
	for (size_t i = 0; i < header->n; i++) {
		const char *h = header->v[i];
		while (isspace((unsigned char)*h))
			h++;
		size_t l = strlen(h);
		while (l && isspace((unsigned char)h[l - 1]))
			l--;
		if (l == strlen(name) && !strncasecmp(h, name, l))
			return (int)i;
	}
	return -1;
}

static int read_pgss(struct reader *r, const char *data, size_t len)
{
	struct csv c = { data, 0, len, 1 };
	struct sl_strvec header = SL_STRVEC_INIT, rec = SL_STRVEC_INIT;
	int line, rc = -1;
	int got = csv_record(&c, &header, r, &line);
	if (got < 0)
		goto out;
	int qcol = got ? column_of(&header, "query") : -1;
	int ccol = got ? column_of(&header, "calls") : -1;
	if (qcol < 0) {
		sl_err_at(r->err, SL_USAGE, r->name, 1, 0,
			  "no `query` column in the CSV header (a pg_stat_statements export needs one)");
		goto out;
	}
	int need = qcol > ccol ? qcol : ccol;
	while (!full(r) && (got = csv_record(&c, &rec, r, &line)) > 0) {
		if (rec.n == 1 && !rec.v[0][0])
			continue; /* a blank line */
		if ((int)rec.n <= need) {
			sl_err_at(r->err, SL_USAGE, r->name, line, 0,
				  "this CSV record has %zu field(s); the header names %zu", rec.n, header.n);
			goto out;
		}
		long calls = 1;
		if (ccol >= 0) {
			const char *v = rec.v[ccol];
			char *end;
			errno = 0;
			long long k = strtoll(v, &end, 10);
			while (isspace((unsigned char)*end))
				end++;
			if (!*v || *end || errno || k < 0) {
				sl_err_at(r->err, SL_USAGE, r->name, line, 0,
					  "calls is '%.40s', not a count", v);
				goto out;
			}
			calls = k > 0 ? (k > 1000000000000LL ? 1000000000000L : (long)k) : 1;
		}
		/* one statement per row; split anyway, so that a crafted row
		 * ("UPDATE ...; COMMIT") cannot end the replay's transaction */
		if (push_split(r, rec.v[qcol], strlen(rec.v[qcol]), line, 1, calls))
			goto out;
	}
	rc = got < 0 ? -1 : 0;
out:
	sl_strvec_free(&header);
	sl_strvec_free(&rec);
	return rc;
}

/* ---- PostgreSQL stderr log ------------------------------------------------- */

/* Severity markers of a stderr log line: "<prefix>SEV:  message". */
static const char *const severities[] = {
	"LOG", "DETAIL", "STATEMENT", "ERROR", "HINT", "CONTEXT", "WARNING", "NOTICE", "INFO",
	"FATAL", "PANIC", "QUERY", "LOCATION", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5",
};

/*
 * Find the severity of a log line: the earliest "SEV:  " that starts the
 * line or follows a non-word character.  Returns its index in severities
 * (-1: a line without one) with *body just past the marker and *plen the
 * length of the prefix before it.
 */
static int severity_of(const char *l, size_t n, const char **body, size_t *plen)
{
	int best = -1;
	size_t at = n;
	for (size_t k = 0; k < sizeof(severities) / sizeof(severities[0]); k++) {
		size_t sl = strlen(severities[k]);
		size_t from = 0;
		while (from + sl + 3 <= n && from < at) {
			const char *p = memmem(l + from, n - from, severities[k], sl);
			size_t off = p ? (size_t)(p - l) : n;
			if (off >= at || off + sl + 3 > n)
				break;
			if (!memcmp(p + sl, ":  ", 3) && (off == 0 || !isalnum((unsigned char)p[-1]))) {
				at = off;
				best = (int)k;
				*body = p + sl + 3;
				break;
			}
			from = off + 1;
		}
	}
	*plen = at;
	return best;
}

/* The process id of a prefix: its first "[digits]", or "" (one writer). */
static void pid_of(const char *prefix, size_t n, char pid[16])
{
	pid[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (prefix[i] != '[')
			continue;
		size_t j = i + 1;
		while (j < n && isdigit((unsigned char)prefix[j]))
			j++;
		if (j > i + 1 && j < n && prefix[j] == ']' && j - i - 1 < 16) {
			memcpy(pid, prefix + i + 1, j - i - 1);
			pid[j - i - 1] = '\0';
			return;
		}
	}
}

/*
 * Per backend process: the statement of its last message when that was an
 * `execute` still waiting for its "DETAIL:  parameters:" line.
 */
#define PENDING_SLOTS 256
struct pending {
	char pid[16];
	long query;        /* index in out->v, -1: none */
};

static struct pending *pending_slot(struct pending *p, size_t *used, const char *pid)
{
	for (size_t i = 0; i < *used; i++)
		if (!strcmp(p[i].pid, pid))
			return &p[i];
	size_t k = *used < PENDING_SLOTS ? (*used)++ : (size_t)(pid[0] % PENDING_SLOTS);
	snprintf(p[k].pid, sizeof(p[k].pid), "%s", pid);
	p[k].query = -1;
	return &p[k];
}

/* Append v as an SQL string literal (E'' when it holds a backslash, so it
 * reads the same whatever standard_conforming_strings says). */
static void add_literal(struct sl_buf *b, const char *v)
{
	int bs = strchr(v, '\\') != NULL;
	if (bs)
		sl_buf_addc(b, 'E');
	sl_buf_addc(b, '\'');
	for (const char *p = v; *p; p++) {
		if (*p == '\'' || (bs && *p == '\\'))
			sl_buf_addc(b, *p);
		sl_buf_addc(b, *p);
	}
	sl_buf_addc(b, '\'');
}

/*
 * Parse "$1 = '42', $2 = NULL, $3 = 'it''s'" into vals (index = number - 1,
 * NULL for SQL NULL; set[k] says it was given).  Returns the highest number
 * given, or -1 when the text is not in that shape.
 */
static int parse_params(const char *s, size_t n, struct sl_strvec *vals, struct sl_buf *isset)
{
	size_t i = 0;
	int max = 0;
	while (i < n) {
		size_t end;
		int k = placeholder_at(s, i, n, &end);
		if (!k || end + 3 > n || memcmp(s + end, " = ", 3) != 0)
			return -1;
		i = end + 3;
		char *v = NULL;
		if (n - i >= 4 && !memcmp(s + i, "NULL", 4)) {
			i += 4;
		} else if (i < n && s[i] == '\'') {
			struct sl_buf b = SL_BUF_INIT;
			for (i++;; i++) {
				if (i >= n) {
					sl_buf_free(&b);
					return -1;
				}
				if (s[i] == '\'') {
					if (i + 1 < n && s[i + 1] == '\'') {
						i++;
					} else {
						i++;
						break;
					}
				}
				sl_buf_addc(&b, s[i]);
			}
			v = sl_buf_detach(&b);
		} else {
			return -1;
		}
		while (vals->n < (size_t)k) {
			sl_strvec_push_owned(vals, NULL);
			sl_buf_addc(isset, 0);
		}
		free(vals->v[k - 1]);
		vals->v[k - 1] = v;
		isset->s[k - 1] = 1;
		if (k > max)
			max = k;
		if (i >= n)
			break;
		if (n - i < 2 || s[i] != ',' || s[i + 1] != ' ')
			return -1;
		i += 2;
	}
	return max;
}

/* sql with each given $n replaced by its value as a literal (owned). */
static char *substitute(const char *sql, const struct sl_strvec *vals, const struct sl_buf *isset)
{
	struct sl_buf b = SL_BUF_INIT;
	size_t n = strlen(sql), end;
	for (size_t i = 0; i < n;) {
		size_t q = skip_quoted(sql, i, n);
		if (q != i) {
			sl_buf_add(&b, sql + i, q - i);
			i = q;
			continue;
		}
		int k = placeholder_at(sql, i, n, &end);
		if (k && (size_t)k <= vals->n && isset->s[k - 1]) {
			if (vals->v[k - 1])
				add_literal(&b, vals->v[k - 1]);
			else
				sl_buf_adds(&b, "NULL");
			i = end;
			continue;
		}
		sl_buf_addc(&b, sql[i++]);
	}
	return sl_buf_detach(&b);
}

/* "duration: 1.234 ms  " at the start of s: its length, else 0. */
static size_t duration_len(const char *s, size_t n)
{
	if (n < 10 || memcmp(s, "duration: ", 10) != 0)
		return 0;
	size_t i = 10;
	while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.'))
		i++;
	if (n - i < 3 || memcmp(s + i, " ms", 3) != 0)
		return 0;
	i += 3;
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

/*
 * One whole log message (first line and its tab-continued lines, joined
 * with '\n'): push its statement, or attach a parameters line to the
 * execute it follows.
 */
static int log_message(struct reader *r, const char *m, size_t n, int line,
		       struct pending *pend, size_t *npend)
{
	const char *body = m;
	size_t plen;
	int sev = severity_of(m, n, &body, &plen);
	if (sev < 0)
		return 0;
	char pid[16];
	pid_of(m, plen, pid);
	struct pending *p = pending_slot(pend, npend, pid);
	size_t bl = n - (size_t)(body - m);
	if (!strcmp(severities[sev], "DETAIL")) {
		static const char key[] = "parameters: ";
		if (p->query >= 0 && bl > sizeof(key) - 1 && !memcmp(body, key, sizeof(key) - 1)) {
			struct sl_strvec vals = SL_STRVEC_INIT;
			struct sl_buf isset = SL_BUF_INIT;
			struct sl_query *q = &r->out->v[p->query];
			if (parse_params(body + sizeof(key) - 1, bl - (sizeof(key) - 1), &vals, &isset) > 0) {
				char *s = substitute(q->sql, &vals, &isset);
				free(q->sql);
				q->sql = s;
			}
			sl_strvec_free(&vals);
			sl_buf_free(&isset);
		}
		p->query = -1;
		return 0;
	}
	p->query = -1;
	if (strcmp(severities[sev], "LOG") != 0 || full(r))
		return 0;
	size_t d = duration_len(body, bl);
	body += d;
	bl -= d;
	static const char stmt[] = "statement: ", exec[] = "execute ";
	if (bl >= sizeof(stmt) - 1 && !memcmp(body, stmt, sizeof(stmt) - 1))
		return push_split(r, body + sizeof(stmt) - 1, bl - (sizeof(stmt) - 1), line, 1, 1);
	if (bl < sizeof(exec) - 1 || memcmp(body, exec, sizeof(exec) - 1) != 0)
		return 0; /* a bare duration, parse, bind, connections... */
	const char *name = body + sizeof(exec) - 1;
	size_t rest = bl - (sizeof(exec) - 1);
	if (rest >= 11 && !memcmp(name, "fetch from ", 11))
		return 0; /* more rows of a portal already logged */
	const char *colon = memmem(name, rest, ": ", 2);
	if (!colon)
		return 0;
	const char *sql = colon + 2;
	size_t before = r->out->n;
	push(r, sql, n - (size_t)(sql - m), line, 1);
	if (r->out->n > before)
		p->query = (long)before;
	return 0;
}

static int read_pglog(struct reader *r, const char *data, size_t len)
{
	struct pending *pend = sl_calloc(PENDING_SLOTS, sizeof(*pend));
	size_t npend = 0;
	struct sl_buf msg = SL_BUF_INIT;
	int msg_line = 0, line = 0, rc = 0;
	for (size_t i = 0; i <= len && rc == 0;) {
		size_t e = i;
		while (e < len && data[e] != '\n')
			e++;
		size_t l = e - i;
		if (l && data[i + l - 1] == '\r')
			l--;
		line++;
		int cont = i < len && data[i] == '\t';
		if (cont && msg_line) {
			sl_buf_addc(&msg, '\n');
			sl_buf_add(&msg, data + i + 1, l - 1);
		} else {
			if (msg_line)
				rc = log_message(r, msg.s, msg.len, msg_line, pend, &npend);
			msg_line = 0;
			if (full(r) && !(l && memmem(data + i, l, "DETAIL:  ", 9)))
				break;
			sl_buf_reset(&msg);
			sl_buf_add(&msg, data + i, l);
			msg_line = i < len ? line : 0;
		}
		i = e + 1;
	}
	if (rc == 0 && msg_line && msg.len)
		rc = log_message(r, msg.s, msg.len, msg_line, pend, &npend);
	sl_buf_free(&msg);
	free(pend);
	if (rc == 0 && r->out->n == 0)
		return sl_err_at(r->err, SL_USAGE, r->name, 0, 0,
				 "no statements found in this PostgreSQL log (no \"LOG:  statement:\", "
				 "\"duration: ... statement:\" or \"execute ...:\" lines)");
	return rc;
}

/* ---- SQL files --------------------------------------------------------- */

/* Whether a ';' stands outside strings, quoted names and comments. */
static int has_semicolon(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t q = skip_quoted(s, i, n);
		if (q != i) {
			i = q;
			continue;
		}
		if (s[i++] == ';')
			return 1;
	}
	return 0;
}

/*
 * A file without a single ';' holds one statement per line (a list of
 * queries pasted from a monitoring tool): each non-blank line is split on
 * its own, so that a syntax error names its line.
 */
static int read_lines(struct reader *r, const char *data, size_t len)
{
	int line = 1;
	for (size_t i = 0; i < len && !full(r); line++) {
		size_t e = i;
		while (e < len && data[e] != '\n')
			e++;
		if (push_split(r, data + i, e - i, line, 0, 1))
			return -1;
		i = e + 1;
	}
	return 0;
}

/* ---- detection and entry points ------------------------------------------ */

static int header_word(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		s++, n -= 2;
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

enum sl_qfmt sl_querylog_detect(const char *data, size_t len)
{
	if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
		data += 3, len -= 3;
	const char *nl = memchr(data, '\n', len);
	size_t first = nl ? (size_t)(nl - data) : len;
	if (first && data[first - 1] == '\r')
		first--;
	int words = 1, query = 0;
	for (size_t i = 0; i <= first && words;) {
		size_t e = i;
		while (e < first && data[e] != ',')
			e++;
		size_t a = i, b = e;
		while (a < b && isspace((unsigned char)data[a]))
			a++;
		while (b > a && isspace((unsigned char)data[b - 1]))
			b--;
		words = header_word(data + a, b - a);
		if (words && (b - a == 5 || b - a == 7)) {
			size_t off = b - a == 7;
			query |= !strncasecmp(data + a + off, "query", 5);
		}
		i = e + 1;
	}
	if (words && query)
		return SL_QFMT_PGSS;
	static const char *const markers[] = { "LOG:  statement: ", "LOG:  execute ", "LOG:  duration: " };
	size_t scan = len < (4u << 20) ? len : (4u << 20);
	for (size_t k = 0; k < 3; k++)
		if (memmem(data, scan, markers[k], strlen(markers[k])))
			return SL_QFMT_PGLOG;
	return SL_QFMT_SQL;
}

int sl_querylog_parse(struct sl_querylog *out, const char *name, const char *data, size_t len,
		      enum sl_qfmt fmt, sl_split_fn split, size_t limit, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *nul = memchr(data, '\0', len);
	if (nul)
		return sl_err_at(err, SL_USAGE, name, sl_line_of(data, (size_t)(nul - data)), 0,
				 "a NUL byte: this is not a text file");
	if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
		data += 3, len -= 3;
	if (fmt == SL_QFMT_AUTO)
		fmt = sl_querylog_detect(data, len);
	out->format = fmt;
	struct reader r = { out, name, split, limit, err };
	int rc;
	if (fmt == SL_QFMT_PGSS)
		rc = read_pgss(&r, data, len);
	else if (fmt == SL_QFMT_PGLOG)
		rc = read_pglog(&r, data, len);
	else if (!has_semicolon(data, len))
		rc = read_lines(&r, data, len);
	else
		rc = push_split(&r, data, len, 1, 0, 1);
	if (rc == 0 && out->n == 0)
		rc = sl_err_at(err, SL_USAGE, name, 0, 0, "no statements to replay");
	if (rc) {
		sl_querylog_free(out);
		return -1;
	}
	out->format = fmt;
	for (size_t i = 0; i < out->n; i++)
		out->v[i].normalized = sl_query_has_params(out->v[i].sql);
	return 0;
}

int sl_querylog_load(struct sl_querylog *out, const char *path, enum sl_qfmt fmt,
		     sl_split_fn split, size_t limit, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	struct sl_buf b = SL_BUF_INIT;
	if (sl_buf_read_file(&b, path)) {
		int e = errno;
		sl_buf_free(&b);
		return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot read the queries: %s", strerror(e));
	}
	int rc = sl_querylog_parse(out, path, b.s, b.len, fmt, split, limit, err);
	sl_buf_free(&b);
	return rc;
}
