/*
 * querylog.h - a captured workload: the statements an application ran, read
 * from one of three files that production systems already write.
 *
 *   sql    statements separated by ';', split by the backend driver's own
 *          splitter, so strings, comments and trigger bodies are respected;
 *          a file without any ';' holds one statement per line;
 *   pglog  a PostgreSQL server log written with log_statement = all and/or
 *          log_min_duration_statement, stderr format with any
 *          log_line_prefix: "LOG:  statement: ...", "LOG:  duration: 1.2 ms
 *          statement: ...", "LOG:  execute <name>: ..." with the
 *          "DETAIL:  parameters: $1 = '...'" line that follows it
 *          substituted as literals; continuation lines start with a tab;
 *   pgss   a pg_stat_statements CSV export (RFC 4180, a header naming a
 *          `query` column; `calls` is read when present).  Its queries are
 *          normalised ($1 for every constant): they are flagged so that the
 *          caller checks them without running them.
 *
 * The reader only reads: it needs no connection, prints nothing, and fails
 * with SL_USAGE naming the file, the line and the cause.  It is exercised
 * by tests/fuzz/fuzz_querylog.c.
 */
#ifndef SL_QUERYLOG_H
#define SL_QUERYLOG_H

#include <stddef.h>

struct sl_error;
struct sl_stmt_list;

enum sl_qfmt { SL_QFMT_AUTO, SL_QFMT_SQL, SL_QFMT_PGLOG, SL_QFMT_PGSS };

/* One statement of the workload. */
struct sl_query {
	char *sql;          /* one statement, trimmed, without its ';' (owned) */
	int line;           /* 1-based line of the file where it starts */
	long count;         /* occurrences it stands for: 1, or pgss' calls */
	int normalized;     /* $n placeholders left: check by PREPARE, never run */
};

struct sl_querylog {
	enum sl_qfmt format;    /* the format read (never AUTO after a load) */
	struct sl_query *v;
	size_t n, cap;
};

/* A driver's splitter (struct sl_db_driver.split). */
typedef int (*sl_split_fn)(const char *sql, size_t len, struct sl_stmt_list *out,
			   struct sl_error *err);

/*
 * Read len bytes of data, reported as the file `name`, in format fmt
 * (SL_QFMT_AUTO: sl_querylog_detect).  split is the target backend's
 * splitter; it splits SQL files and the statements of a log line that
 * carries several ("BEGIN; UPDATE ...; COMMIT").  At most limit statements
 * are kept (0: all).  On success *out owns every string; on failure it is
 * left empty and err holds file, line and cause (SL_USAGE).
 */
int sl_querylog_parse(struct sl_querylog *out, const char *name, const char *data, size_t len,
		      enum sl_qfmt fmt, sl_split_fn split, size_t limit, struct sl_error *err);
/* The same for the file at path (unreadable: SL_USAGE naming it). */
int sl_querylog_load(struct sl_querylog *out, const char *path, enum sl_qfmt fmt,
		     sl_split_fn split, size_t limit, struct sl_error *err);
void sl_querylog_free(struct sl_querylog *log);

/*
 * The format of data: pgss when its first line is a CSV header with a
 * `query` column, pglog when a line carries PostgreSQL's "LOG:  statement: ",
 * "LOG:  execute " or "LOG:  duration: " marker, else sql.
 */
enum sl_qfmt sl_querylog_detect(const char *data, size_t len);
const char *sl_qfmt_name(enum sl_qfmt f);
/* "sql", "pglog", "pgss" (or "auto"); -1 when s names none. */
int sl_qfmt_parse(const char *s, enum sl_qfmt *out);

/*
 * What replaying a statement means, decided from its keywords outside
 * strings, quoted identifiers and comments:
 *   READ    SELECT, VALUES, TABLE, WITH ... SELECT: run as is, rows compared;
 *   SHOW    SHOW, EXPLAIN (without ANALYZE): run as is, output not compared
 *           (plans differ between schemas by design);
 *   WRITE   everything else: run inside a transaction that is rolled back
 *           (a SELECT ... INTO, FOR UPDATE, or a WITH holding an INSERT,
 *           UPDATE, DELETE or MERGE is a write);
 *   SKIP    transaction control, session settings, cursors, COPY, and what
 *           cannot run inside a transaction: not replayed (*why says so).
 */
enum sl_qkind { SL_QK_READ, SL_QK_SHOW, SL_QK_WRITE, SL_QK_SKIP };
enum sl_qkind sl_query_kind(const char *sql, const char **why);
const char *sl_qkind_name(enum sl_qkind k);
/* Whether sql holds a $n placeholder outside strings and comments. */
int sl_query_has_params(const char *sql);

#endif
