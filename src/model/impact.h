/*
 * impact.h - the model-impact gate: what a database change does to the
 * models that read a table, measured three ways for each model contract
 * version (the YAML files of models/) that has a label:
 *
 *   proxy retraining   learn.h's proxy model trained on the baseline rows
 *                      and on the candidate rows (the table as it is now),
 *                      each scored on its own 20% holdout (split by a hash
 *                      of the key, so the same keys are held out on both
 *                      sides); drop = baseline metric - candidate metric
 *                      (for logloss, rmse and mae: candidate - baseline).
 *                      Also "serving": the baseline's model scored on the
 *                      candidate holdout, what a model trained before the
 *                      change sees after it (a unit change that retraining
 *                      would absorb still breaks the live model).  Both
 *                      drops must stay <= max_drop (default 0.02);
 *   stored predictions the contract's `predictions` (a column, a column of
 *                      another table joined by key, or an SQL expression)
 *                      scored against the label before and after; the same
 *                      max_drop;
 *   Model Impact Score the seed's a*data_quality + b*feature_quality +
 *                      c*label_quality + d*temporal_consistency (weights
 *                      default 0.25 each, gate min 0.90): data quality is
 *                      the mean of the completeness, validity and
 *                      uniqueness gates of the table's feature contract,
 *                      feature quality its feature_quality gate, temporal
 *                      consistency its temporal_consistency gate, and label
 *                      quality the mean of the label's completeness, 1 -
 *                      the shift of its positive rate (binary) and 1 - its
 *                      drift (binary: Jensen-Shannon distance of the two
 *                      Bernoulli laws, natural log; regression: Wasserstein
 *                      distance over the baseline's std, capped at 1).  A
 *                      part that cannot be measured (no feature contract,
 *                      no temporal gate configured) is left out and the
 *                      weights of the others are rescaled; details say so.
 *
 * The baseline rows are a training set stored with `sluice baseline
 * capture` (state table training_sets: a bottom-k sample by key hash of the
 * key, every model input, label and prediction of the table, at most
 * sample_rows rows, default 200,000; numbers kept as 32-bit floats), or
 * read live from another environment.  The candidate side samples the
 * same way, so an unchanged table gives the same rows on both sides.
 */
#ifndef SL_IMPACT_H
#define SL_IMPACT_H

#include <jansson.h>

struct sl_db;
struct sl_error;
struct sl_contracts;
struct sl_model_contract;

struct sl_impact_opts {
	const char *baseline_name;   /* stored training set (default "default") */
	struct sl_db *baseline_db;   /* read the baseline live from here */
	const char *baseline_label;  /* how to name it in output ("staging") */
	const char *where;           /* restrict the candidate rows (SQL) */
	long long sample_rows;       /* < 0: the contract's */
	double max_drop;             /* < 0: the contract's */
	double min_score;            /* < 0: the contract's */
	int no_score;                /* skip the Model Impact Score */
};

/*
 * Store the training set of table (the columns every labelled model
 * contract on it reads) under name.  *info gets {"table","rows","columns"}
 * or stays NULL when no labelled model reads the table.
 */
int sl_training_set_capture(struct sl_db *db, const struct sl_contracts *c, const char *table,
			    const char *name, const char *schema_version, json_t **info,
			    struct sl_error *err);

/* Decode a stored training set (JSON) and say its size; -1 if damaged. */
int sl_training_set_check(const json_t *doc, size_t *rows, size_t *cols, struct sl_error *err);

/*
 * `baseline capture`: profile and store a baseline of table (or of every
 * table a feature contract or a labelled model contract names) under name,
 * with the training sets of the labelled models; each stored profile is
 * appended to profiles ({"id","name","table","rows","columns",...}), each
 * training set to sets.
 */
int sl_capture_baselines(struct sl_db *db, const struct sl_contracts *c, const char *table,
			 const char *name, const char *schema_version, json_t *profiles,
			 json_t *sets, struct sl_error *err);

/*
 * Measure model version m.  *out gets {"name","version","compatible",
 * "metric","baseline","candidate","drop","passed","impact_score",...};
 * *passed is 0 when a measurement fails its threshold.  Errors (no
 * baseline, a holdout of one class) are returned, not folded into passed.
 */
int sl_impact_model(struct sl_db *db, const struct sl_contracts *c,
		    const struct sl_model_contract *m, const struct sl_impact_opts *o,
		    json_t **out, int *passed, struct sl_error *err);

#endif
