/*
 * gate.h - the data quality gates of a feature contract, measured in one
 * streaming pass over its table (plus SQL the database runs for what needs
 * every row at once, such as duplicate keys).
 *
 *   completeness  share of non-NULL cells over the contract's columns
 *                 (default min 0.95); a column over its max_null_fraction
 *                 fails it whatever the share;
 *   validity      share of checked non-NULL values that satisfy their
 *                 column's type, range, allowed values and regex, with
 *                 nullable: false counting NULLs as invalid (default min 1);
 *   uniqueness    share of rows whose key is not duplicated (min 1), and
 *                 the same for columns marked unique;
 *   freshness     age of the newest timestamp, when `freshness: {max_age}`
 *                 is configured;
 *   fairness      for each protected column, fairlearn's between-group
 *                 metrics of the prediction (or the label when there is no
 *                 prediction): selection rate per group, demographic parity
 *                 ratio (default min 0.85) and difference; with label and
 *                 prediction also TPR, FPR, FNR per group and the equal
 *                 opportunity and equalized odds differences and ratios.
 *                 Groups smaller than min_group_size (default 30) are
 *                 listed and flagged, and left out of the ratios and
 *                 differences unless every group is that small;
 *   relevance     for a table that model contracts read: the share of the
 *                 contract's feature columns that both carry signal for the
 *                 label (normalised mutual information >= min_nmi, default
 *                 0.01) and are an input of some model (default min 0.85).
 *
 * Each result carries its evidence: columns, counts, up to 10 keys of
 * failing rows, and the SQL that selects all of them.
 */
#ifndef SL_GATE_H
#define SL_GATE_H

#include <stddef.h>

#include <jansson.h>

struct sl_db;
struct sl_error;
struct sl_feature_contract;

struct sl_gate_result {
	char *table, *gate;           /* "user_features", "completeness" */
	char *subject;                /* a column, or NULL for the table */
	double score, threshold;
	int higher_is_better;         /* score >= threshold passes (else <=) */
	int passed;
	json_t *details;              /* owned */
};

struct sl_gate_report {
	struct sl_gate_result *v;
	size_t n;
	struct sl_strvec *explain;    /* SQL each metric came from, when asked */
};

struct sl_contracts;
struct sl_gate_opts {
	int explain;                  /* collect the SQL of each metric */
	const char *where;            /* restrict to rows (operator's SQL) */
	const struct sl_contracts *contracts;   /* model contracts, for relevance */
	struct sl_db *reference_db;   /* drift: the same table read live here (another
	                               * environment) instead of a stored baseline */
	const char *reference_label;  /* its name, for the evidence ("prod") */
};

/* Run every gate of contract f on db; results are appended to rep. */
int sl_gates_run(struct sl_db *db, const struct sl_feature_contract *f,
		 const struct sl_gate_opts *o, struct sl_gate_report *rep, struct sl_error *err);
void sl_gate_report_free(struct sl_gate_report *rep);
size_t sl_gate_failed(const struct sl_gate_report *rep);
json_t *sl_gate_result_json(const struct sl_gate_result *g);

#endif
