/*
 * profile.h - a table's columns summarised in one streaming pass, in
 * memory that does not grow with the row count, mergeable across shards.
 *
 * Per column: rows seen, NULLs, values that do not read as the column's
 * kind ("invalid"), and
 *   numeric      Welford mean and M2 (merged with Chan et al.'s formula),
 *                exact min and max, a KLL quantile sketch, and the values
 *                themselves while there are at most exact_rows of them (so
 *                drift statistics on small tables are exact);
 *   categorical  a Space-Saving top-k and an exact frequency table while
 *                there are at most SL_PROFILE_MAX_CATEGORIES distinct values
 *                and exact_rows values;
 *   time         the smallest and largest value as text (ISO 8601 sorts);
 * and for every kind a HyperLogLog of the distinct values.
 *
 * The aggregates are those SQL can compute too (count, count(col), avg,
 * var_pop, min, max, GROUP BY counts), so a shard's profile can come from
 * the database and merge with one computed here.  A profile serialises to
 * JSON ({"format": "sluice-profile", "version": 1, ...}) and back exactly.
 */
#ifndef SL_PROFILE_H
#define SL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sl_error;
struct sl_db;
struct sl_kll;
struct sl_hll;
struct sl_topk;

#define SL_PROFILE_EXACT_ROWS 100000
#define SL_PROFILE_MAX_CATEGORIES 10000

enum sl_col_kind { SL_COL_NUMERIC, SL_COL_CATEGORICAL, SL_COL_TIME };

struct sl_catcount {
	char *value;
	uint64_t count;
};

struct sl_colprof {
	char *name, *type;           /* type as the catalog spells it */
	enum sl_col_kind kind;
	uint64_t count, nulls, invalid;
	/* numeric */
	double mean, m2, min, max;   /* over valid values; min/max NaN if none */
	struct sl_kll *kll;
	double *exact;               /* the values, while exact_ok */
	size_t nexact, capexact;
	int exact_ok;
	/* categorical */
	struct sl_topk *topk;
	struct sl_catcount *cats;    /* exact frequencies while exact_ok */
	size_t ncats, capcats;
	size_t *slots;               /* open-addressing index into cats */
	size_t nslots;
	/* time */
	char *tmin, *tmax;
	struct sl_hll *hll;
};

struct sl_profile {
	char *table;
	char *where;                 /* NULL: every row */
	uint64_t rows;
	uint64_t exact_rows;         /* limit of exact values per column */
	double sample;               /* fraction of rows read; 1 = all */
	char *taken_at;              /* ISO 8601 UTC */
	struct sl_colprof *cols;
	size_t ncols;
};

/* Set up p for columns names/types (kinds from the types). */
void sl_profile_init(struct sl_profile *p, const char *table, size_t ncols,
		     const char *const *names, const char *const *types, uint64_t exact_rows);
void sl_profile_free(struct sl_profile *p);
/* One row: vals[i] is column i as text, NULL for SQL NULL. */
void sl_profile_add_row(struct sl_profile *p, const char *const *vals);
void sl_colprof_add(struct sl_colprof *c, const char *val, uint64_t exact_rows);
/* The same with a numeric column's value already read (bad: it did not
 * read as a finite number), so a caller that needs the number too reads
 * it once. */
void sl_colprof_add_parsed(struct sl_colprof *c, const char *val, double v, int bad,
			   uint64_t exact_rows);
/* A value as the profile reads numbers: 0 and *out, or -1. */
int sl_read_number(const char *s, double *out);
/*
 * dst absorbs src: the same table and columns (by name; a column only in
 * src is added), else SL_USAGE.  Exact values survive while the union
 * stays within exact_rows.
 */
int sl_profile_merge(struct sl_profile *dst, const struct sl_profile *src, struct sl_error *err);

json_t *sl_profile_to_json(const struct sl_profile *p);
int sl_profile_from_json(struct sl_profile *p, const json_t *j, struct sl_error *err);

/* Derived values. */
double sl_colprof_variance(const struct sl_colprof *c);     /* population */
double sl_colprof_null_fraction(const struct sl_colprof *c);
double sl_colprof_distinct(const struct sl_colprof *c);     /* HLL estimate, or exact */
const struct sl_colprof *sl_profile_col(const struct sl_profile *p, const char *name);

/*
 * Profile a table of db in one streaming pass: its columns from the
 * catalog (or only `columns`, when not NULL), rows filtered by where (SQL,
 * as given by the operator), read with probability sample (1: all; the
 * choice is a fixed-seed Bernoulli draw, so repeatable).
 */
int sl_profile_table(struct sl_db *db, const char *table, const char *const *columns,
		     size_t ncolumns, const char *where, double sample, uint64_t exact_rows,
		     struct sl_profile *out, struct sl_error *err);

#endif
