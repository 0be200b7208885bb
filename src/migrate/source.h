/*
 * source.h - migration files on disk, in the layouts teams already have.
 *
 *   Flyway          V<ver>__<desc>.sql, U<ver>__<desc>.sql (undo), R__<desc>.sql
 *   golang-migrate  <ver>_<name>.up.sql and <ver>_<name>.down.sql
 *   diesel          <ver>_<name>/up.sql and down.sql
 *   dbmate          <ver>_<name>.sql holding "-- migrate:up" and "-- migrate:down"
 *
 * Any of them may carry a dialect tag before the direction or extension
 * (V3__x.postgres.sql, 0003_x.sqlite3.up.sql, diesel up.sqlite3.sql): for a
 * target, the variant of its dialect wins over the dialect-free file, and a
 * version that has only other dialects' files is skipped for that target.
 *
 * A ".autocommit" tag (popx's spelling, e.g. 0004_x.autocommit.up.sql) runs
 * that file outside a transaction, like dbmate's "transaction:false".
 *
 * Versions compare numeric-aware (1.9 < 1.10, leading zeros ignored), so
 * plain numbers, dotted versions and timestamps all order as people expect.
 */
#ifndef SL_SOURCE_H
#define SL_SOURCE_H

#include <stddef.h>

struct sl_error;
struct sl_buf;

enum sl_layout { SL_FLYWAY, SL_GOLANG_MIGRATE, SL_DIESEL, SL_DBMATE };
enum sl_mig_kind { SL_VERSIONED, SL_REPEATABLE };

struct sl_migration {
	enum sl_mig_kind kind;
	enum sl_layout layout;
	char *version;        /* as displayed ("1.1", "0003"); NULL if repeatable */
	char *description;    /* "add score" */
	char *up_path;        /* full path of the file run forward */
	char *up_script;      /* its path relative to the migrations dir (history) */
	char *down_path;      /* full path of the undo file; NULL if none */
	char *down_script;
	char *dialect;        /* "" or the dialect of the chosen up file */
	int skipped;          /* only other dialects' files exist: not for this target */
	int up_autocommit;    /* ".autocommit" tag: run outside a transaction */
	int down_autocommit;
	char *skipped_dialects; /* "postgres, mysql" when skipped */
	int ops;              /* V<ver>__<desc>.yaml: operations (ops.h), read as
			       * the plain SQL sl_ops_render writes for target */
	char *target;         /* the dialect the set was loaded for, or NULL */
};

struct sl_migration_set {
	char *dir;
	struct sl_migration *v;   /* versioned first (sorted), then repeatables */
	size_t n;
};

/* Numeric-aware version comparison (<0, 0, >0). */
/* A canonical spelling of a version: equal keys (strcmp) are equal
 * versions under sl_version_cmp ("01.0" and "1" are "1"). Caller frees. */
char *sl_version_key(const char *v);
int sl_version_cmp(const char *a, const char *b);
/* Is s a syntactically valid version (starts with a digit)? */
int sl_version_valid(const char *s);
/* Canonical dialect name of a tag ("sqlite3" -> "sqlite"), or NULL. */
const char *sl_dialect_canon(const char *tag);

/*
 * Read the migrations under dir for a target of the given dialect ("sqlite"
 * or "postgres"; NULL keeps dialect-free files only and marks every
 * dialect-specific version as skipped).  A missing dir is an empty set.
 * Two files claiming one version, or a file that looks like a migration
 * but is malformed, is SL_USAGE naming the file.
 */
int sl_migrations_load(struct sl_migration_set *out, const char *dir,
		       const char *dialect, struct sl_error *err);
void sl_migrations_free(struct sl_migration_set *set);

/*
 * The SQL to run for m in one direction (up != 0 forward), into sql; the
 * SHA-256 hex of the whole file into checksum (65 bytes); *first_line is
 * the file line where sql starts (dbmate sections start mid-file);
 * *no_tx is set when the file asks to run outside a transaction (dbmate
 * "transaction:false").  SL_USAGE when the file cannot be read or has no
 * such section.
 */
int sl_migration_read(const struct sl_migration *m, int up, struct sl_buf *sql,
		      char checksum[65], int *first_line, int *no_tx,
		      struct sl_error *err);

/* SHA-256 of a file's bytes, lower-case hex, into out (65 bytes). */
int sl_sha256_file(const char *path, char out[65], struct sl_error *err);
void sl_sha256_hex(const void *data, size_t len, char out[65]);

#endif
