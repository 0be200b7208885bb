/*
 * judge.h - a statistical canary judge in the manner of Spinnaker Kayenta's
 * NetflixACAJudge: each metric's canary sample is compared with its baseline
 * sample, classified Pass, High, Low or NoData, and the classifications are
 * combined into a 0-100 score and a pass / marginal / fail verdict.
 *
 * Per metric (Kayenta's MannWhitneyClassifier, with its defaults):
 *   1. NaN and +-Inf are dropped from both samples.
 *   2. Outliers are dropped from each sample on its own (Kayenta's IQRDetector
 *      with reduceSensitivity): a value is an outlier when it lies outside
 *      [min(P1, Q1 - f IQR), max(P99, Q3 + f IQR)], percentiles as Apache
 *      Commons Math computes them (numpy's method="weibull"); f is
 *      outlier_factor (3.0).  Below about 100 values P1 and P99 are the
 *      minimum and maximum, so small samples lose nothing.
 *   3. A sample left empty: NoData.
 *   4. The shift canary - baseline is estimated by Hodges-Lehmann (the median
 *      of all nc * nb pairwise differences) with its distribution-free
 *      confidence interval [D(k), D(nc nb + 1 - k)] over the sorted
 *      differences, k from the normal approximation of the Mann-Whitney U
 *      distribution with continuity and tie correction (what R's
 *      wilcox.test(conf.int = TRUE, correct = TRUE) finds by root search in
 *      its large-sample branch, which Kayenta ported to Scala).
 *   5. High when lower > 0.25 |estimate|, Low when upper < -0.25 |estimate|
 *      (Kayenta's tolerance), otherwise Pass.
 *   6. High fails the metric when direction is increase or either and
 *      ratio >= allowed_increase; Low fails it when direction is decrease or
 *      either and ratio <= allowed_decrease (ratio = mean canary / mean
 *      baseline, 1.0 when the baseline mean is 0: Kayenta's effect size).
 *      Otherwise the High or Low is reported but counts as a pass.
 * Score (Kayenta's WeightedSumScorer, one group, per-metric weights):
 *   score = 100 * sum(weight of passed) / sum(weight of counted), rounded to
 *   two decimals; NoData is left out unless must_have_data (then it counts as
 *   a failure).  A critical metric that does not pass, or whose data is
 *   missing, sets the score to 0 and the verdict to fail.  When at least
 *   nodata_fail_percent of the metrics (by count) are NoData without
 *   must_have_data, the score is 0 and the verdict fail (Kayenta: 50%); so a
 *   judgement where every metric is NoData fails.
 *   Verdict: score >= pass: pass; score >= marginal: marginal; else fail.
 *
 * All functions are pure: no global state, inputs are borrowed and never
 * modified, every allocation is freed before returning.  Same input, same
 * output, bit for bit.
 */
#ifndef SL_JUDGE_H
#define SL_JUDGE_H

#include <stddef.h>

struct sl_error;

/* Kayenta's tolerance: a shift is significant only beyond 0.25 |estimate|. */
#define SL_JUDGE_TOLERANCE 0.25

/* Which change of the canary is bad. */
enum sl_judge_direction {
	SL_JUDGE_EITHER,     /* a higher or a lower canary fails */
	SL_JUDGE_INCREASE,   /* only higher fails (latency, error rate) */
	SL_JUDGE_DECREASE,   /* only lower fails (throughput, success rate) */
};

/* What the data show, before direction and effect size are applied. */
enum sl_judge_class {
	SL_JUDGE_PASS,       /* no significant shift */
	SL_JUDGE_HIGH,       /* canary significantly higher than baseline */
	SL_JUDGE_LOW,        /* canary significantly lower than baseline */
	SL_JUDGE_NODATA,     /* canary or baseline empty after dropping NaN/Inf/outliers */
};

struct sl_judge_opts {
	double confidence;          /* of the shift's interval, in (0, 1); 0.98 (Kayenta) */
	double outlier_factor;      /* IQR factor f, >= 0; 3.0 (Kayenta); 0 disables removal */
	double pass;                /* score >= pass: verdict pass; 95 */
	double marginal;            /* score < marginal: fail, in between: marginal; 75.
				     * 0 <= marginal <= pass <= 100 */
	double nodata_fail_percent; /* fail when this percent of the metrics (by count) are
				     * NoData without must_have_data; 50 (Kayenta's
				     * NODATA_THRESHOLD); > 0, above 100 never fails */
};

/* Kayenta's defaults: 0.98, 3.0, 95, 75, 50. */
void sl_judge_opts_default(struct sl_judge_opts *o);

/* One metric to judge.  The arrays are borrowed for the call only. */
struct sl_judge_metric {
	const char *name;              /* for reasons and critical_metric; NULL allowed */
	const double *canary;          /* canary samples (any order); may be NULL if ncanary 0 */
	size_t ncanary;
	const double *baseline;        /* baseline samples, same rules */
	size_t nbaseline;
	enum sl_judge_direction direction;  /* which change is bad */
	double weight;                 /* > 0: share of this metric in the score */
	int critical;                  /* not passing (or NoData) fails the whole judgement */
	int must_have_data;            /* NoData counts as a failure instead of being left out */
	double allowed_increase;       /* > 0: a High fails only when ratio >= this (1.0: any) */
	double allowed_decrease;       /* > 0: a Low fails only when ratio <= this (1.0: any) */
};

/* Kayenta's per-metric defaults: name, samples and counts zero, direction
 * either, weight 1, not critical, no data required, allowed_* 1.0. */
void sl_judge_metric_init(struct sl_judge_metric *m);

struct sl_judge_metric_result {
	enum sl_judge_class cls;       /* what the data show */
	int passed;                    /* counts as a pass: Pass, or a High/Low allowed by
					* direction or effect size.  Kayenta's label is "Pass"
					* when passed, else cls ("NodataFailMetric" for a counted
					* NoData) */
	int counted;                   /* takes part in the score (not NoData, or must_have_data) */
	double estimate;               /* Hodges-Lehmann shift canary - baseline; NaN if NoData */
	double lower, upper;           /* its confidence interval; NaN if NoData */
	double canary_mean, baseline_mean;  /* after removal; NaN when that side is empty */
	double ratio;                  /* canary_mean / baseline_mean, 1.0 if baseline mean 0 */
	size_t ncanary_used, nbaseline_used;  /* after NaN/Inf and outlier removal */
	char reason[160];              /* one line, e.g. "canary higher: shift 12.1 [8.3, 15.9] at 98%" */
};

enum sl_judge_verdict {
	SL_JUDGE_VERDICT_PASS,
	SL_JUDGE_VERDICT_MARGINAL,
	SL_JUDGE_VERDICT_FAIL,
};

struct sl_judge_result {
	double score;                  /* 0..100, two decimals; 0 after a critical or NoData failure */
	enum sl_judge_verdict verdict;
	int critical_failed;           /* a critical metric did not pass */
	const char *critical_metric;   /* its name (borrowed from the input; NULL if none) */
	int nodata_failed;             /* too many metrics had no data (nodata_fail_percent) */
	size_t npassed, nfailed, nnodata;  /* metrics passed / counted failures / NoData */
};

/*
 * Judge n metrics (n >= 1).  out must hold n results (filled in order);
 * res receives the summary.  Returns 0, or -1 with err set to SL_USAGE on
 * invalid options or metrics (confidence outside (0, 1), negative outlier
 * factor, thresholds outside 0 <= marginal <= pass <= 100, weight <= 0,
 * allowed_* <= 0, NULL samples with a count, no metrics); out and res are
 * then unspecified.  Nothing is allocated for the caller.
 */
int sl_judge(const struct sl_judge_opts *o, const struct sl_judge_metric *m, size_t n,
	     struct sl_judge_metric_result *out, struct sl_judge_result *res,
	     struct sl_error *err);

/* "Pass", "High", "Low", "NoData" (Kayenta's labels; "?" if out of range). */
const char *sl_judge_class_name(enum sl_judge_class c);
/* "pass", "marginal", "fail". */
const char *sl_judge_verdict_name(enum sl_judge_verdict v);

/* ---- the statistics, exposed for tests and reuse ------------------------ */

/*
 * Hodges-Lehmann shift of x - y and its confidence interval at level conf,
 * as described above.  x and y must be sorted ascending, finite, non-empty.
 * Uses O(1) extra memory and O((nx + ny) * 64) time per order statistic:
 * the k-th difference is found by bisection over the ordered doubles with a
 * two-pointer count, so no nx * ny array is built and the result is exact
 * (the same double that sorting all differences gives).  Returns 0, or -1
 * when a sample is empty or conf is outside (0, 1).
 */
int sl_hodges_lehmann(const double *x, size_t nx, const double *y, size_t ny, double conf,
		      double *estimate, double *lower, double *upper);

/*
 * The order-statistic index k (1-based) of the lower bound over N = nx * ny
 * differences: max(1, floor(N/2 + 0.5 - z sigma)), z = Phi^-1((1 + conf)/2),
 * sigma^2 = nx ny / 12 * (nx + ny + 1 - sum(t^3 - t) / ((nx + ny)(nx + ny - 1)))
 * with t the sizes of the groups of equal values within x and within y
 * (sorted inputs).  The upper bound is D(N + 1 - k).
 */
unsigned long long sl_hl_lower_index(const double *x, size_t nx, const double *y, size_t ny,
				     double conf);

/* Phi^-1(p) for p in (0, 1), to double precision (bisection on sl_norm_sf). */
double sl_norm_ppf(double p);

/*
 * Kayenta's outlier fences for a sorted sample of n >= 1 values:
 * lo = min(P1, Q1 - factor IQR), hi = max(P99, Q3 + factor IQR), percentiles
 * by Commons Math's legacy estimator (position p (n + 1) / 100).
 */
void sl_judge_fences(const double *sorted, size_t n, double factor, double *lo, double *hi);

#endif
