/*
 * learn.h - the proxy models of the model-impact gate: a deterministic,
 * L2-regularised logistic regression (binary tasks) and a ridge regression
 * (regression tasks), trained in C on a table's rows, and the metrics the
 * model contracts name.
 *
 * Written here rather than taken from a library: Debian has no maintained
 * C library for regularised GLMs (liblinear has no intercept-free penalty
 * and no ridge), and the gate needs scikit-learn's exact objective so its
 * numbers can be checked against it:
 *
 *   logistic  min_w,b  1/2 |w|^2 + C * sum_i logloss(y_i, sigma(x_i.w + b))
 *             (LogisticRegression(penalty="l2", C=C, solver="lbfgs"): the
 *             intercept is not penalised), solved by L-BFGS (m = 10, Armijo
 *             backtracking) to max|grad| <= 1e-5 * (1 + n)
 *             (scikit-learn's default, tol=1e-4 on its mean loss, is looser);
 *   ridge     min_w,b  |y - Xw - b|^2 + alpha * |w|^2  (Ridge(alpha)), in
 *             closed form by Cholesky on the centred normal equations.
 *
 * A data set is column-major: each input is numeric (a float per row, NaN
 * for missing) or categorical (a code per row into the column's
 * dictionary, -1 for missing).  The featuriser is fitted on the training
 * rows only: numerics are standardised (population std, as StandardScaler;
 * a constant column is centred only), missing numerics become 0 plus a
 * missing-indicator feature when the training rows had any; categoricals
 * are one-hot over the max_categories most frequent training values (ties
 * by value), every other value (and values unseen in training) in one
 * "other" feature, and missing in its own feature.  The same layout is
 * scikit-learn's StandardScaler + SimpleImputer(add_indicator=True) +
 * OneHotEncoder(max_categories) (tests/model/expected.py builds it).
 */
#ifndef SL_LEARN_H
#define SL_LEARN_H

#include <stddef.h>
#include <stdint.h>

struct sl_error;

enum sl_ds_kind { SL_DS_NUMERIC, SL_DS_CATEGORICAL };

struct sl_ds_col {
	char *name;
	enum sl_ds_kind kind;
	float *num;                  /* numeric: rows values, NaN = missing */
	int32_t *code;               /* categorical: rows codes, -1 = missing */
	char **dict;                 /* categorical: code -> value */
	size_t ndict, capdict;
	size_t *slots;               /* open addressing: value -> code+1 */
	size_t nslots;
};

struct sl_dataset {
	size_t n, cap;               /* rows */
	size_t ncols;
	struct sl_ds_col *cols;
	double *y;                   /* label (NaN = missing) */
	double *pred;                /* stored predictions, or NULL */
	uint64_t *keyhash;           /* hash of the key's text, for the split */
};

void sl_ds_init(struct sl_dataset *ds, size_t ncols, const char *const *names,
		const enum sl_ds_kind *kinds, int with_pred);
void sl_ds_free(struct sl_dataset *ds);
/* Append a row: vals[ncols] as text (NULL = missing); y, pred as numbers. */
void sl_ds_add(struct sl_dataset *ds, uint64_t keyhash, const char *const *vals,
	       const double *nums, double y, double pred);
/* Overwrite row r (< n) the same way. */
void sl_ds_set(struct sl_dataset *ds, size_t r, uint64_t keyhash, const char *const *vals,
	       const double *nums, double y, double pred);
/* The code of value in categorical column c, adding it when new. */
int32_t sl_ds_code(struct sl_ds_col *c, const char *value);
/* 64-bit hash of a key's text (FNV-1a, then splitmix64's finaliser). */
uint64_t sl_key_hash(const char *s, size_t len);
/* Holdout rows: keyhash % 5 == 0 (20%, stable across runs and databases). */
int sl_ds_is_holdout(uint64_t keyhash);

enum sl_task { SL_TASK_BINARY, SL_TASK_REGRESSION };

struct sl_learn_opts {
	enum sl_task task;
	double c;                    /* logistic C (default 1.0) */
	double alpha;                /* ridge alpha (default 1.0) */
	int max_categories;          /* per categorical input (default 20) */
	int max_iter;                /* L-BFGS iterations (default 500) */
};
void sl_learn_opts_default(struct sl_learn_opts *o, enum sl_task task);

/* A fitted featuriser and model, applicable to another data set with the
 * same columns (by name). */
struct sl_model_fit {
	enum sl_task task;
	size_t ncols;                /* inputs */
	struct {
		char *name;
		enum sl_ds_kind kind;
		double mean, scale;  /* numeric */
		int has_ind;         /* numeric: a missing indicator */
		size_t ind_off;      /* numeric: its feature */
		size_t ncat;         /* categorical: one-hot values kept */
		char **cats;         /* their values */
		int has_other, has_missing;
		size_t off;          /* first feature of this input */
	} *in;
	size_t nfeat;                /* features (weights, without intercept) */
	double *w, b;
	int iterations, converged;
	size_t train_rows;
};

/* Fit on the training rows of ds (those not in the holdout) into *fit. */
int sl_model_train(const struct sl_dataset *ds, const struct sl_learn_opts *o,
		   struct sl_model_fit *fit, struct sl_error *err);
void sl_model_fit_free(struct sl_model_fit *fit);
/*
 * Scores of fit on the rows of ds (any data set with fit's input columns)
 * selected by holdout (1: holdout rows, 0: training rows, -1: all), with a
 * label; *out (malloc'ed) gets scores and labels, *n their count.
 * Binary: probabilities; regression: predictions.
 */
int sl_model_score(const struct sl_model_fit *fit, const struct sl_dataset *ds, int holdout,
		   double **scores, double **labels, size_t *n, struct sl_error *err);

/* Metrics; NaN when undefined (AUC of one class, no rows). */
double sl_metric(const char *metric, const double *score, const double *y, size_t n);
/* Is a larger value of metric better (auc, accuracy, f1)? */
int sl_metric_higher_better(const char *metric);

#endif
