/*
 * contract.h - feature contracts (YAML files in features/) and model
 * contracts (YAML files in models/): what a team promises about the tables its models read.
 *
 * A feature contract describes one table: its key, timestamp, label and
 * prediction columns, and each feature column's type, description, owner,
 * nullability, ranges, allowed values, protected and PII flags, and the
 * thresholds of its quality gates.  A model contract describes one version
 * of one model: the table it reads, its inputs and label, its metric and
 * the largest drop of that metric allowed.  Several versions of a model
 * are several files (or one file with a `versions:` list).
 *
 * Lint and plan use contracts to say which features and model versions a
 * change reaches; the data gates and the model-impact gate read them too.
 * Every value is checked at load time and errors name file:line:column.
 */
#ifndef SL_CONTRACT_H
#define SL_CONTRACT_H

#include <stddef.h>

#include "../core/buf.h"

struct sl_error;
struct sl_ydoc;
struct sl_ynode;

/* The families types are compared in: a contract's "real" is a column's
 * "double precision", its "text" a "varchar(40)". */
enum sl_type_family {
	SL_TF_UNKNOWN, SL_TF_INT, SL_TF_FLOAT, SL_TF_TEXT, SL_TF_BOOL, SL_TF_TIME,
	SL_TF_JSON, SL_TF_BYTES
};
enum sl_type_family sl_type_family(const char *type);
const char *sl_type_family_name(enum sl_type_family f);
/* Can a reader that expects `want` read a column of type `have`? */
int sl_type_compatible(const char *want, const char *have);

struct sl_feature_col {
	char *name;
	char *type, *description, *owner, *pii, *regex;   /* NULL when not set */
	int line, column;            /* where the column is described */
	int nullable;                /* -1 not said, 0, 1 */
	int is_protected, unique;
	double max_null_fraction;    /* NAN when not set */
	double min, max;             /* range; NAN when not set */
	struct sl_strvec allowed;
};

struct sl_feature_contract {
	char *path;                  /* the file */
	char *name;                  /* `name:`, else the file's stem */
	char *table, *timestamp, *owner, *description, *label, *prediction;
	char *label_timestamp;       /* when the label became known, or NULL */
	struct sl_source {            /* a table to agree with, by key */
		char *table;          /* NULL when not set */
		struct sl_strvec columns;   /* compared; none: every contract column it has */
		double tolerance;     /* numeric agreement, absolute (default 1e-9) */
	} ground_truth, second_source;
	struct sl_strvec keys;
	struct sl_feature_col *cols;
	size_t ncols;
	int fairness_off;            /* gates: {fairness: {enabled: false}} */
	const struct sl_ynode *gates;   /* thresholds, read by the gates */
	struct sl_ydoc *doc;         /* owned */
};

struct sl_model_contract {
	char *path;
	char *name, *version;        /* version as written: "2", "2024-06" */
	char *owner, *task, *table, *label, *metric, *mlflow_uri;
	struct sl_strvec inputs;     /* column names of table */
	double max_drop;             /* default 0.02 */
	double baseline;             /* the metric's recorded value; NAN if unset */
	char *pred_table, *pred_column, *pred_sql;   /* stored predictions */
	int line;                    /* of the version's entry */
	struct sl_strvec keys;       /* entity key; none: the feature contract's */
	/* impact: {c, alpha, max_categories, sample_rows, min_score, weights} */
	double c, alpha;             /* proxy regularisation (default 1, 1) */
	int max_categories;          /* one-hot cap per input (default 20) */
	long long sample_rows;       /* rows read per side (default 200000; 0 all) */
	double impact_min;           /* Model Impact Score gate (default 0.90) */
	double weights[4];           /* data, feature, label quality, temporal */
};

struct sl_contracts {
	struct sl_feature_contract *features;
	size_t nfeatures;
	struct sl_model_contract *models;
	size_t nmodels;
	struct sl_ydoc **docs;       /* model files, owned */
	size_t ndocs;
};

/*
 * Load every *.yaml / *.yml of features_dir and models_dir (either may be
 * NULL or absent: no contracts).  A malformed contract is SL_USAGE with its
 * position; on success *c is owned by the caller (sl_contracts_free).
 */
int sl_contracts_load(struct sl_contracts *c, const char *features_dir, const char *models_dir,
		      struct sl_error *err);
void sl_contracts_free(struct sl_contracts *c);

/* Does a contract's table name mean this table ("public." optional, any case)? */
int sl_table_is(const char *contract_table, const char *table);
/* The feature contracts of a table, one at a time: pass NULL first. */
const struct sl_feature_contract *sl_contracts_feature_next(const struct sl_contracts *c,
							    const char *table,
							    const struct sl_feature_contract *prev);
const struct sl_feature_col *sl_feature_col_find(const struct sl_feature_contract *f,
						 const char *col);
/* Is col an input (or, with label_too, the label) of model m on table? */
int sl_model_reads(const struct sl_model_contract *m, const char *table, const char *col,
		   int label_too);
/* "churn v2" into b. */
void sl_model_id(struct sl_buf *b, const struct sl_model_contract *m);
/* Is the column named like a protected attribute (sex, gender, race, age, ...)? */
int sl_protected_name(const char *col);

#endif
