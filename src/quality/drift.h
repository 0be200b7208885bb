/*
 * drift.h - per-column drift between a reference profile (a baseline) and a
 * current one, with Evidently's default choice of method (stattest.h), and
 * dataset drift when the share of drifted columns reaches drift_share.
 *
 * While both profiles keep a column's exact values (up to exact_rows),
 * the statistics are exactly Evidently's on the same data.  Beyond that
 * they are computed from the sketches: numbers from the KLL sketches'
 * weighted items (the rank error bound of the sketch applies to the CDFs
 * compared), categories from the top-k counts with the rest pooled as one
 * "other" category; such columns say "exact": false.
 */
#ifndef SL_DRIFT_H
#define SL_DRIFT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "../stats/stattest.h"

struct sl_error;
struct sl_profile;
struct sl_feature_contract;

struct sl_drift_opts {
	double threshold;             /* NAN: each method's default */
	double drift_share;           /* dataset drift at this share (0.5) */
	const char *const *columns;   /* only these (NULL: every common column) */
	size_t ncolumns;
	const struct sl_feature_contract *f;   /* per-column methods, or NULL */
};

struct sl_drift_col {
	char *column;
	enum sl_drift_method method;
	double statistic, p_value;    /* p_value NaN for the distances */
	double threshold;
	int drifted, exact;
	uint64_t ref_n, cur_n;        /* non-NULL values compared */
	char *note;                   /* why a column was not compared, or NULL */
};

struct sl_drift_result {
	struct sl_drift_col *v;
	size_t n, compared, drifted;
	double share, drift_share;
	int dataset_drift;
};

void sl_drift_opts_default(struct sl_drift_opts *o);
int sl_drift_compare(const struct sl_profile *ref, const struct sl_profile *cur,
		     const struct sl_drift_opts *o, struct sl_drift_result *out,
		     struct sl_error *err);
void sl_drift_result_free(struct sl_drift_result *r);
/* {"columns":[{"column","method","statistic","p_value","threshold","drifted",
 *  "exact","reference_n","current_n"}],"drifted","compared","share",
 *  "drift_share","dataset_drift"} */
json_t *sl_drift_json(const struct sl_drift_result *r);
void sl_drift_print(const struct sl_drift_result *r, FILE *fp);

#endif
