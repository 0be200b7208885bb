/*
 * stattest.h - the statistics of the drift and fairness gates, written to
 * give the numbers Evidently (drift) and scipy give on the same data.
 *
 * Drift methods follow Evidently's stattests, which call scipy:
 *   ks          scipy.stats.ks_2samp(reference, current), two-sided,
 *               method "auto" (exact when max(n1, n2) <= 10000, else the
 *               asymptotic kstwo distribution); drift when p <= threshold.
 *   chisquare   scipy.stats.chisquare(f_obs = current counts per category,
 *               f_exp = reference counts * n_cur / n_ref), categories the
 *               union of both samples' values; drift when p < threshold.
 *   z           Evidently's proportions_diff_z_test (two-proportion z-test,
 *               pooled variance, two-sided); drift when p < threshold.
 *   wasserstein scipy.stats.wasserstein_distance(reference, current) /
 *               max(population std of reference, 0.001); drift when >= 0.1.
 *   jensenshannon scipy.spatial.distance.jensenshannon(ref%, cur%) (natural
 *               log: the square root of the JS divergence) on binned data;
 *               drift when >= 0.1.
 *   psi, kl      on binned data with empty bins filled (Evidently's formulas;
 *               kl as scipy.stats.entropy, which normalises both sides);
 *   hellinger   Evidently's sqrt(1 - clip(sum sqrt(p q), 0, 1)).
 * Binned data (Evidently's get_binned_data): numbers whose reference has
 * more than 20 distinct values -> edges from numpy.histogram_bin_edges(
 * reference + current, bins="sturges"), counts per bin divided by each
 * sample's size; otherwise (and categories) -> the union of values,
 * frequency per value.  PSI and KL fill every empty bin with SL_DRIFT_EPS
 * (0.0001); Jensen-Shannon and Hellinger take the shares as they are
 * (Evidently's feel_zeroes=False).  Evidently's Hellinger bins numbers on
 * Sturges edges over the distinct values; sluice uses the same edges as
 * for the other divergences (a documented difference).
 * Default choice (Evidently's get_default_stattest): reference of at most
 * 1000 rows: numbers with more than 5 distinct values -> ks, otherwise more
 * than 2 categories -> chisquare, else z; larger references: numbers with
 * more than 5 distinct values -> wasserstein, otherwise jensenshannon.
 *
 * All functions are pure; they return 0, or -1 when the input cannot give
 * a value (an empty sample, mismatched sizes), leaving outputs NaN.
 */
#ifndef SL_STATTEST_H
#define SL_STATTEST_H

#include <stddef.h>
#include <stdint.h>

#define SL_DRIFT_EPS 0.0001

/* ---- distributions ------------------------------------------------------ */
double sl_norm_sf(double z);                 /* 1 - Phi(z) */
double sl_chi2_sf(double x, double dof);     /* upper tail of chi-square */
double sl_gammaincc(double a, double x);     /* regularised upper incomplete gamma Q(a, x) */
/* Survival function of the two-sided one-sample KS statistic for sample
 * size n (scipy.stats.kstwo.sf(d, n)). */
double sl_kstwo_sf(double d, double n);
/* Kolmogorov's limiting distribution (scipy.special.kolmogorov). */
double sl_kolmogorov(double x);

/* ---- two-sample tests --------------------------------------------------- */
/* Samples need not be sorted (copies are sorted inside); NaNs are dropped. */
int sl_ks_2samp(const double *a, size_t na, const double *b, size_t nb, double *stat,
		double *pvalue);
/* The KS statistic between two weighted samples (values sorted ascending,
 * weights > 0), e.g. two KLL sketches' items. */
double sl_ks_stat_weighted(const double *a, const double *wa, size_t na, const double *b,
			   const double *wb, size_t nb);
int sl_chisquare(const double *f_obs, const double *f_exp, size_t k, double *stat,
		 double *pvalue);
int sl_ztest_2prop(double x1, double n1, double x2, double n2, double *z, double *pvalue);
/* scipy.stats.wasserstein_distance(u_values, v_values, u_weights, v_weights);
 * weights may be NULL (all 1); values need not be sorted. */
double sl_wasserstein(const double *u, const double *uw, size_t nu, const double *v,
		      const double *vw, size_t nv);
/* Population standard deviation (numpy.std, ddof = 0). */
double sl_std_pop(const double *x, size_t n);

/* ---- binned divergences (p and q are proportions, same length) ---------- */
double sl_jensenshannon(const double *p, const double *q, size_t k); /* distance, ln */
double sl_psi(const double *ref, const double *cur, size_t k);
double sl_kl_div(const double *ref, const double *cur, size_t k);
double sl_hellinger(const double *ref, const double *cur, size_t k);

/* numpy.histogram_bin_edges(x, bins="sturges"): *edges is malloc'd,
 * returns the number of edges (bins + 1); 0 on an empty sample. */
size_t sl_sturges_edges(const double *x, size_t n, double **edges);
/* numpy.histogram(x, edges)[0] (last bin closed) into counts[nedges - 1]. */
void sl_histogram(const double *x, size_t n, const double *edges, size_t nedges,
		  double *counts);
/* Evidently's get_binned_data for numbers: proportions of a and b over
 * Sturges edges of both, empty bins -> SL_DRIFT_EPS.  Returns the bin
 * count; *pa and *pb are malloc'd. */
size_t sl_binned_numeric(const double *a, size_t na, const double *b, size_t nb, double **pa,
			 double **pb);

/* ---- the default method -------------------------------------------------- */
enum sl_drift_method {
	SL_DRIFT_KS, SL_DRIFT_CHISQUARE, SL_DRIFT_Z, SL_DRIFT_WASSERSTEIN,
	SL_DRIFT_JENSENSHANNON, SL_DRIFT_PSI, SL_DRIFT_KL, SL_DRIFT_HELLINGER
};
const char *sl_drift_method_name(enum sl_drift_method m);   /* "ks", "chisquare", ... */
int sl_drift_method_parse(const char *name, enum sl_drift_method *out);
enum sl_drift_method sl_drift_default(uint64_t reference_rows, int numeric,
				      uint64_t distinct_values);
/* Evidently's default threshold of a method (0.05 for the tests, 0.1 for
 * the distances) and whether a value drifts under it. */
double sl_drift_default_threshold(enum sl_drift_method m);
int sl_drift_is_drift(enum sl_drift_method m, double value, double threshold);

#endif
