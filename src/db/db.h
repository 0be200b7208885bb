/*
 * db.h - the backend interface: one struct of function pointers per driver.
 *
 * In the manner of sqlite3_vfs: a driver fills a struct sl_db_driver and is
 * found by URL scheme; callers hold a struct sl_db and never test which
 * driver they have.  This is the only layer that knows a SQL dialect:
 * identifier quoting, statement splitting, which statements cannot run in a
 * transaction, locking, and where sluice keeps its own state tables.
 *
 * New members are only ever added at the end of the struct, and `version`
 * says how many a driver fills.
 *
 * All functions return 0 on success, -1 on failure with err filled (code
 * SL_ENV for database errors, SL_USAGE for bad input such as an SQL syntax
 * error found while splitting).  Passwords never reach an error message.
 */
#ifndef SL_DB_H
#define SL_DB_H

#include <stddef.h>

struct sl_error;
struct sl_buf;
struct sl_strvec;
struct sl_db;
struct sl_catalog;

/* One statement found in a script by a driver's splitter. */
struct sl_stmt {
	size_t off, len;       /* byte range in the script, without the ';' */
	int line;              /* 1-based line of the statement's first token */
	int no_tx;             /* cannot run inside a transaction */
	int tx_control;        /* BEGIN/COMMIT/ROLLBACK written in the script */
	char no_tx_what[64];   /* e.g. "CREATE INDEX CONCURRENTLY" when no_tx */
};

struct sl_stmt_list {
	struct sl_stmt *v;
	size_t n, cap;
};
void sl_stmt_list_free(struct sl_stmt_list *l);
void sl_stmt_list_push(struct sl_stmt_list *l, const struct sl_stmt *s);

/*
 * Row callback for query(): values are text (NULL for SQL NULL), valid only
 * during the call.  Return non-zero to stop (query() then returns 0).
 */
typedef int (*sl_row_fn)(void *arg, int ncols, const char *const *vals);

/*
 * A cell of a typed row (sl_db_stream_cells): SQL NULL, a number the
 * database holds as one (SQLite's INTEGER and REAL, handed over without a
 * round trip through text), or text.
 */
enum sl_cell_type { SL_CELL_NULL, SL_CELL_INT, SL_CELL_REAL, SL_CELL_TEXT };
struct sl_cell {
	enum sl_cell_type type;
	long long i;                 /* SL_CELL_INT */
	double d;                    /* SL_CELL_INT and SL_CELL_REAL */
	const char *s;               /* SL_CELL_TEXT */
};
typedef int (*sl_cells_fn)(void *arg, int ncols, const struct sl_cell *cells);

struct sl_db_driver {
	int version;                 /* members filled; 1 for this layout */
	const char *name;            /* "sqlite", "postgres" */
	const char *const *schemes;  /* URL schemes, NULL-terminated */

	/* Connect.  base_dir resolves relative file paths (may be NULL). */
	int (*open)(struct sl_db **out, const char *url, const char *base_dir,
		    struct sl_error *err);
	void (*close)(struct sl_db *db);

	/* Run one statement without results (or several, for exec_script). */
	int (*exec)(struct sl_db *db, const char *sql, struct sl_error *err);
	/*
	 * Run one statement with '?' placeholders bound to params (text, NULL
	 * for SQL NULL).  cb may be NULL.  The SQL is sluice's own, never user
	 * input: values always travel as parameters.
	 */
	int (*query)(struct sl_db *db, const char *sql, const char *const *params,
		     int nparams, sl_row_fn cb, void *arg, struct sl_error *err);
	/*
	 * Stream the rows of one read-only query (no parameters) to cb without
	 * holding the result: memory does not grow with the row count.  SQLite
	 * steps its statement; PostgreSQL reads COPY (query) TO STDOUT, the
	 * fastest way rows leave the server.  Values as for query().
	 */
	int (*stream)(struct sl_db *db, const char *sql, sl_row_fn cb, void *arg,
		      struct sl_error *err);
	/* The same with typed cells; NULL: sl_db_stream_cells adapts stream. */
	int (*stream_cells)(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
			    struct sl_error *err);
	int (*begin)(struct sl_db *db, struct sl_error *err);
	int (*commit)(struct sl_db *db, struct sl_error *err);
	int (*rollback)(struct sl_db *db, struct sl_error *err);

	/* Append ident quoted for this dialect ("a""b"). */
	void (*quote_ident)(struct sl_buf *out, const char *ident);
	/* Append the quoted name of sluice's state table `name` ("history"). */
	void (*state_table)(struct sl_buf *out, const char *name);

	/*
	 * Split a script into statements, marking those that cannot run in a
	 * transaction.  Needs no connection.  A syntax error the splitter can
	 * see is SL_USAGE with err->line set (err->file is left to the caller).
	 */
	int (*split)(const char *sql, size_t len, struct sl_stmt_list *out,
		     struct sl_error *err);

	/* Create sluice's state tables if missing (idempotent). */
	int (*ensure_state)(struct sl_db *db, struct sl_error *err);

	/*
	 * The migration lock: at most one holder per database, across
	 * processes and hosts.  Waits up to timeout_ms, then fails with SL_ENV
	 * naming the holder.  A holder that died leaves no lock behind (PG:
	 * session-scoped advisory lock; SQLite: a lock row whose owner process
	 * is gone is taken over).
	 */
	int (*lock)(struct sl_db *db, const char *owner, long timeout_ms,
		    struct sl_error *err);
	int (*unlock)(struct sl_db *db, struct sl_error *err);

	/* Server version as a number (PG: 150004; SQLite: 3040001). */
	long (*server_version)(struct sl_db *db);
	/* Set *yes to whether the state tables exist (read-only commands). */
	int (*has_state)(struct sl_db *db, int *yes, struct sl_error *err);

	/* Snapshot the user's schema (tables, columns, indexes, views,
	 * triggers, constraints), sluice's own objects excluded. */
	int (*catalog)(struct sl_db *db, struct sl_catalog *out, struct sl_error *err);
	/*
	 * A throwaway copy of db to apply changes to, for `plan`: SQLite, an
	 * in-memory copy made with the backup API; PostgreSQL, a second
	 * session inside one transaction that closing rolls back (statements
	 * that cannot run in a transaction are applied without CONCURRENTLY,
	 * which changes the catalog the same way).  db is never written.
	 */
	int (*shadow)(struct sl_db *db, struct sl_db **out, struct sl_error *err);
	/* Rows in a table (PostgreSQL: the planner's estimate when analysed). */
	int (*count_rows)(struct sl_db *db, const char *table, long long *rows,
			  struct sl_error *err);

	/*
	 * Rollback points by copy (deploy): save the whole database to the
	 * file path (written to path.tmp, synced, then renamed, so a kill
	 * leaves no half point), and restore it in place from one, in one
	 * transaction of the destination.  SQLite only (the online backup
	 * API); NULL for drivers that roll back by down scripts.
	 */
	int (*save_point)(struct sl_db *db, const char *path, struct sl_error *err);
	int (*restore_point)(struct sl_db *db, const char *path, struct sl_error *err);

};

/*
 * A catalog snapshot: the user's schema objects (sluice's own excluded),
 * flat, so two snapshots diff by (kind, name).  Columns carry type,
 * nullability and default; other objects carry their definition in type.
 */
struct sl_cat_obj {
	char kind[12];      /* table, column, index, view, trigger, constraint */
	char *name;         /* "users", "users.email", "users_email_idx" */
	char *table;        /* owning table; NULL for tables and views */
	char *type;         /* column type as the database spells it, or a definition */
	int notnull;        /* columns */
	char *dflt;         /* column default, NULL if none */
};

struct sl_catalog {
	struct sl_cat_obj *v;
	size_t n, cap;
};
void sl_catalog_add(struct sl_catalog *c, const char *kind, const char *name,
		    const char *table, const char *type, int notnull, const char *dflt);
const struct sl_cat_obj *sl_catalog_find(const struct sl_catalog *c, const char *kind,
					 const char *name);
void sl_catalog_free(struct sl_catalog *c);

/* Every open connection starts with this header; drivers extend it. */
struct sl_db {
	const struct sl_db_driver *driver;
	char *url_masked;            /* the URL with any password replaced */
};

/* Find the driver for url's scheme; NULL with SL_USAGE when none. */
const struct sl_db_driver *sl_db_find_driver(const char *url, struct sl_error *err);
/* Find by name ("sqlite", "postgres"). */
const struct sl_db_driver *sl_db_driver_named(const char *name);
/* Open url with the driver its scheme names. */
int sl_db_open(struct sl_db **out, const char *url, const char *base_dir,
	       struct sl_error *err);
void sl_db_close(struct sl_db *db);
/* Run q (with np '?' parameters) and append up to ncols columns of every
 * row to v[0..ncols) (NULL as ""). */
int sl_db_query_strs(struct sl_db *db, const char *q, const char *const *p, int np,
		     struct sl_strvec *v, int ncols, struct sl_error *err);

/* Copy url into out with the password (user:PASS@, password=) masked. */
void sl_mask_url(const char *url, struct sl_buf *out);
/*
 * Copy text (a message about url, e.g. libpq's) into out with url's
 * passwords masked, also where text quotes one on its own ("invalid
 * percent-encoded token: \"s3cr3t%\"").
 */
void sl_mask_text(const char *url, const char *text, struct sl_buf *out);

/* Append ident in SQL-standard double quotes ("a""b"): both drivers'. */
void sl_quote_ident_std(struct sl_buf *out, const char *ident);
/* A standard SQL string literal ('it''s'), for SQL sluice writes itself. */
void sl_quote_literal_std(struct sl_buf *out, const char *s);
/* Stream a query's rows as typed cells (see struct sl_cell). */
int sl_db_stream_cells(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
		       struct sl_error *err);
/* The driver's text stream as TEXT cells (what stream_cells falls back to). */
int sl_db_stream_text_cells(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
			    struct sl_error *err);
/* A cell as text: numbers formatted into buf as SQLite prints them; NULL
 * for SQL NULL. */
const char *sl_cell_text(const struct sl_cell *c, char buf[32]);

/* "schema.table" or "table" from config or a contract, each part quoted. */
void sl_db_quote_table(const struct sl_db_driver *d, struct sl_buf *out, const char *table);

/* Line (1-based) of byte offset off in s. */
int sl_line_of(const char *s, size_t off);

extern const struct sl_db_driver sl_sqlite_driver;
extern const struct sl_db_driver sl_postgres_driver;

#endif
