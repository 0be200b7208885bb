/*
 * lint.h - static analysis of migration SQL on libpg_query parse trees.
 *
 * Each statement of a script is parsed by libpg_query (the real
 * PostgreSQL parser) into protobuf structs and checked by rules that find
 * destructive, backward-incompatible, lock-heavy and badly typed changes.
 * Where a rule means what one of squawk's rules means it carries squawk's
 * id, so a team's ignore lists survive the switch.
 *
 * A linter remembers what earlier scripts of the same run created (tables,
 * column types), so an index on a table created two files earlier is not a
 * locking problem, and int -> bigint is recognised as widening.  Applied
 * migrations can be fed with sl_linter_learn() to build that picture
 * without reporting on them.
 */
#ifndef SL_LINT_H
#define SL_LINT_H

#include <stddef.h>
#include <stdio.h>

struct sl_error;
struct sl_ydoc;
struct sl_ynode;
struct sl_strvec;

enum sl_severity { SL_SEV_OFF = -1, SL_SEV_INFO = 0, SL_SEV_WARNING, SL_SEV_ERROR };

enum sl_rule_class {
	SL_RC_SYNTAX,          /* the script does not parse */
	SL_RC_DESTRUCTIVE,     /* loses data */
	SL_RC_INCOMPATIBLE,    /* breaks readers or writers of the old shape */
	SL_RC_LOCKING,         /* blocks traffic or rewrites a table */
	SL_RC_HYGIENE,         /* types that age badly */
	SL_RC_ML,              /* what feature and model contracts say */
};

struct sl_lint_rule {
	const char *id;
	enum sl_rule_class cls;
	enum sl_severity severity;   /* default */
	const char *summary;
	const char *hint;            /* the safe pattern */
};

extern const struct sl_lint_rule sl_lint_rules[];
const struct sl_lint_rule *sl_lint_rule_find(const char *id);
const char *sl_severity_name(enum sl_severity s);
const char *sl_rule_class_name(enum sl_rule_class c);

struct sl_finding {
	const struct sl_lint_rule *rule;
	enum sl_severity severity;   /* after configuration and mode */
	const char *file;            /* owned by the linter */
	int line, column;
	char *message;
};

struct sl_lint_config {
	int forward_only;            /* destructive/incompatible become errors */
	struct { char *rule; enum sl_severity severity; } *overrides;
	size_t noverrides;
};

/* Read the `lint:` section ({mode, rules: {id: error|warning|info|off}}). */
int sl_lint_config_load(struct sl_lint_config *out, const struct sl_ydoc *doc,
			const struct sl_ynode *node, struct sl_error *err);
void sl_lint_config_free(struct sl_lint_config *c);

struct sl_linter;
struct sl_linter *sl_linter_new(const struct sl_lint_config *cfg);
void sl_linter_free(struct sl_linter *l);

/*
 * Check one script.  sql is len bytes of file, starting at file line
 * first_line.  Findings accumulate in the linter.  A script that does not
 * parse is a "syntax-error" finding (never a failure of this call).
 */
void sl_linter_check(struct sl_linter *l, const char *file, const char *sql, size_t len,
		     int first_line);
/* The same for a script read from fp, a window at a time: memory does not
 * grow with its size.  -1 on a read error (errno). */
int sl_linter_check_stream(struct sl_linter *l, const char *file, FILE *fp);
/* Remember what a script creates, without findings (applied migrations). */
void sl_linter_learn(struct sl_linter *l, const char *sql, size_t len);

/* Feature and model contracts for the ML rules (borrowed; NULL: none). */
struct sl_contracts;
void sl_linter_set_contracts(struct sl_linter *l, const struct sl_contracts *c);

/* Scripts for SQLite: what the PostgreSQL parser rejects is an info
 * finding ("not-postgres-syntax"), not a syntax error. */
void sl_linter_set_sqlite(struct sl_linter *l, int on);

struct sl_engine;
/*
 * Lint migration scripts.  sl_lint_pending: the forward scripts of eng's
 * migrations that are pending on its database, after learning from the
 * applied ones.  sl_lint_dir: every forward script of a directory (no
 * database), variants chosen for dialect.  sl_lint_file: one file.  *files
 * counts what was checked.  Fails only when a file cannot be read (SL_USAGE)
 * or the database cannot be read (SL_ENV); findings are in the linter.
 */
int sl_lint_pending(struct sl_linter *l, struct sl_engine *eng, size_t *files,
		    struct sl_error *err);
int sl_lint_dir(struct sl_linter *l, const char *dir, const char *dialect, size_t *files,
		struct sl_error *err);
int sl_lint_file(struct sl_linter *l, const char *path, size_t *files, struct sl_error *err);

/* Add a finding found outside a parse (variant checks); subject to the
 * configuration like any other. */
void sl_linter_add(struct sl_linter *l, const char *rule_id, const char *file, int line,
		   int column, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/*
 * The tables ("table:NAME") and columns ("column:TABLE.COL") a PostgreSQL
 * script creates, from its parse, lower-cased, into out.
 */
void sl_lint_created(const char *sql, size_t len, struct sl_strvec *out);
/*
 * Dialect variants (issue 16): apply the SQLite history of dir to an empty
 * in-memory SQLite database, reporting what SQLite rejects ("sqlite-error"),
 * and warn where a version's PostgreSQL and SQLite variants create
 * different tables or columns ("dialect-variants-diverge").  *checked
 * counts the variant versions compared.
 */
int sl_lint_variants(struct sl_linter *l, const char *dir, size_t *checked,
		     struct sl_error *err);

/*
 * Hand each finding to fn as it is found instead of keeping it, so a
 * text report of a huge script holds no findings in memory.  Counts are
 * kept either way.
 */
void sl_linter_set_sink(struct sl_linter *l, void (*fn)(const struct sl_finding *, void *),
			void *ctx);
const struct sl_finding *sl_linter_findings(const struct sl_linter *l, size_t *n);
/* The files checked, in order (for per-file reports such as JUnit). */
const char *const *sl_linter_files(const struct sl_linter *l, size_t *n);
size_t sl_linter_count(const struct sl_linter *l, enum sl_severity s);

#endif
