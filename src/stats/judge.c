/*
 * judge.c - the canary judge of judge.h, written by hand in C after reading
 * Spinnaker Kayenta's kayenta-judge (NetflixACAJudge.scala,
 * MannWhitneyClassifier.scala, IQRDetector.scala, EffectSizes.scala,
 * WeightedSumScorer.scala, ThresholdScoreClassifier.scala) and
 * kayenta-mannwhitney (MannWhitney.scala, a port of the large-sample branch
 * of R's wilcox.test).  Why by hand: no Debian library offers Kayenta's judge,
 * and none offers the Hodges-Lehmann interval (GSL and Commons Math have no
 * such function; R is not a dependency we take for one root search).
 *
 * Where this differs from Kayenta, and why (NOTES in the header too):
 *   - Kayenta finds the interval's ends and the estimate by Brent root search
 *     on the continuity-corrected z statistic, to a tolerance.  The z
 *     statistic is a step function of the shift that jumps only at the
 *     pairwise differences, so the roots are order statistics of the
 *     differences; they are computed here exactly (sl_hl_lower_index gives
 *     the index), and the estimate is the median of the differences (for an
 *     even count the midpoint of the two middle ones, where Kayenta's root
 *     search stops anywhere between them).
 *   - Kayenta adds Gaussian noise when each sample holds a single distinct
 *     value (its root search divides by a zero variance there).  Order
 *     statistics need no noise: every difference is the same number, which
 *     is the estimate and both ends.  No randomness anywhere.
 *   - Kayenta weights groups of metrics; sluice weights metrics (one group).
 *   - A High or Low that direction or effect size allows keeps its class and
 *     is marked passed (Kayenta relabels it Pass), so the caller can say why.
 */
#include "judge.h"
#include "stattest.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void sl_judge_opts_default(struct sl_judge_opts *o)
{
	o->confidence = 0.98;
	o->outlier_factor = 3.0;
	o->pass = 95;
	o->marginal = 75;
	o->nodata_fail_percent = 50;
}

void sl_judge_metric_init(struct sl_judge_metric *m)
{
	memset(m, 0, sizeof(*m));
	m->direction = SL_JUDGE_EITHER;
	m->weight = 1.0;
	m->allowed_increase = 1.0;
	m->allowed_decrease = 1.0;
}

const char *sl_judge_class_name(enum sl_judge_class c)
{
	switch (c) {
	case SL_JUDGE_PASS: return "Pass";
	case SL_JUDGE_HIGH: return "High";
	case SL_JUDGE_LOW: return "Low";
	case SL_JUDGE_NODATA: return "NoData";
	}
	return "?";
}

const char *sl_judge_verdict_name(enum sl_judge_verdict v)
{
	switch (v) {
	case SL_JUDGE_VERDICT_PASS: return "pass";
	case SL_JUDGE_VERDICT_MARGINAL: return "marginal";
	case SL_JUDGE_VERDICT_FAIL: return "fail";
	}
	return "?";
}

/* ---- statistics --------------------------------------------------------- */

/*
 * The z with sl_norm_sf(z) = q, for q in (0, 0.5], by bisection until the
 * bracket cannot shrink: the double closest to the root that sl_norm_sf (the
 * function the drift tests use) can tell apart.  Called once per judgement,
 * so 1100 evaluations at most do not matter.
 */
static double norm_isf(double q)
{
	double lo = 0, hi = 40;
	for (int i = 0; i < 1100; i++) {
		double mid = lo + (hi - lo) / 2;
		if (mid <= lo || mid >= hi)
			break;
		if (sl_norm_sf(mid) > q)
			lo = mid;
		else
			hi = mid;
	}
	return lo + (hi - lo) / 2;
}

/* Phi^-1(p); the tail below 0.5 is solved directly, so that 1 - p loses nothing. */
double sl_norm_ppf(double p)
{
	if (!(p > 0 && p < 1))
		return NAN;
	if (p < 0.5)
		return -norm_isf(p);
	return norm_isf(1 - p);     /* exact: 1 - p for p >= 0.5 (Sterbenz) */
}

/* sum(t^3 - t) over the runs t of equal values in a sorted array. */
static double tie_sum(const double *s, size_t n)
{
	double sum = 0;
	size_t i = 0;
	while (i < n) {
		size_t j = i + 1;
		while (j < n && s[j] == s[i])
			j++;
		double t = (double)(j - i);
		sum += t * t * t - t;
		i = j;
	}
	return sum;
}

unsigned long long sl_hl_lower_index(const double *x, size_t nx, const double *y, size_t ny,
				     double conf)
{
	double m = (double)nx, n = (double)ny, N = m * n;
	double ties = tie_sum(x, nx) + tie_sum(y, ny);
	double var = m * n / 12 * ((m + n + 1) - ties / ((m + n) * (m + n - 1)));
	double sigma = var > 0 ? sqrt(var) : 0;
	double z = sl_norm_ppf((1 + conf) / 2);
	double k = floor(N / 2 + 0.5 - z * sigma);
	if (!(k >= 1))
		return 1;
	if (k > N)
		return (unsigned long long)N;
	return (unsigned long long)k;
}

/*
 * Doubles mapped to unsigned integers in the same order (-inf lowest, +inf
 * highest, -0 just below +0), so that bisection over the keys visits every
 * double between two bounds.
 */
static uint64_t dkey(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return (u & UINT64_C(0x8000000000000000)) ? ~u : u | UINT64_C(0x8000000000000000);
}

static double dval(uint64_t k)
{
	uint64_t u = (k & UINT64_C(0x8000000000000000)) ? k & ~UINT64_C(0x8000000000000000) : ~k;
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/*
 * How many differences x[i] - y[j] (as rounded doubles) are <= t.  Rounding
 * is monotone, so for each y[j] (ascending) the x[i] that qualify form a
 * prefix of x that only grows: one pass, O(nx + ny).
 */
static unsigned long long count_le(const double *x, size_t nx, const double *y, size_t ny,
				   double t)
{
	unsigned long long count = 0;
	size_t p = 0;
	for (size_t j = 0; j < ny; j++) {
		while (p < nx && x[p] - y[j] <= t)
			p++;
		count += p;
	}
	return count;
}

/* The k-th smallest (1-based) of the nx * ny differences x[i] - y[j]. */
static double kth_difference(const double *x, size_t nx, const double *y, size_t ny,
			     unsigned long long k)
{
	uint64_t lo = dkey(x[0] - y[ny - 1]), hi = dkey(x[nx - 1] - y[0]);
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (count_le(x, nx, y, ny, dval(mid)) >= k)
			hi = mid;
		else
			lo = mid + 1;
	}
	return dval(lo) + 0.0;    /* + 0.0 turns a -0 into 0 */
}

int sl_hodges_lehmann(const double *x, size_t nx, const double *y, size_t ny, double conf,
		      double *estimate, double *lower, double *upper)
{
	*estimate = *lower = *upper = NAN;
	if (nx == 0 || ny == 0 || !(conf > 0 && conf < 1))
		return -1;
	unsigned long long N = (unsigned long long)nx * ny;
	if (N % 2)
		*estimate = kth_difference(x, nx, y, ny, N / 2 + 1);
	else
		*estimate = (kth_difference(x, nx, y, ny, N / 2) +
			     kth_difference(x, nx, y, ny, N / 2 + 1)) / 2;
	unsigned long long k = sl_hl_lower_index(x, nx, y, ny, conf);
	*lower = kth_difference(x, nx, y, ny, k);
	*upper = kth_difference(x, nx, y, ny, N + 1 - k);
	return 0;
}

/* Commons Math Percentile, legacy estimation, of a sorted sample (n >= 1). */
static double percentile(const double *s, size_t n, double p)
{
	double pos = p * ((double)n + 1) / 100;
	if (n == 1 || pos < 1)
		return s[0];
	if (pos >= (double)n)
		return s[n - 1];
	double f = floor(pos);
	size_t i = (size_t)f;
	return s[i - 1] + (pos - f) * (s[i] - s[i - 1]);
}

void sl_judge_fences(const double *sorted, size_t n, double factor, double *lo, double *hi)
{
	double q1 = percentile(sorted, n, 25), q3 = percentile(sorted, n, 75);
	double iqr = q3 - q1;
	double p1 = percentile(sorted, n, 1), p99 = percentile(sorted, n, 99);
	*lo = fmin(p1, q1 - factor * iqr);
	*hi = fmax(p99, q3 + factor * iqr);
}

/*
 * The finite values of v, sorted, with outliers removed when factor > 0.
 * Returns a new array (the caller frees it) and its length in *nout.
 */
static double *clean_sample(const double *v, size_t n, double factor, size_t *nout)
{
	double *s = sl_malloc(n * sizeof(*s));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			s[k++] = v[i];
	qsort(s, k, sizeof(*s), cmp_double);
	if (factor > 0 && k > 0) {
		double lo, hi;
		sl_judge_fences(s, k, factor, &lo, &hi);
		size_t w = 0;
		for (size_t i = 0; i < k; i++)
			if (!(s[i] < lo || s[i] > hi))
				s[w++] = s[i];
		k = w;
	}
	*nout = k;
	return s;
}

/* Mean of a sorted sample (summed in sorted order, so equal samples give equal means). */
static double mean(const double *s, size_t n)
{
	if (n == 0)
		return NAN;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += s[i];
	return sum / (double)n;
}

/* ---- the judge ---------------------------------------------------------- */

static const char *metric_name(const struct sl_judge_metric *m)
{
	return m->name ? m->name : "(unnamed)";
}

static int check_opts(const struct sl_judge_opts *o, struct sl_error *err)
{
	if (!(o->confidence > 0 && o->confidence < 1))
		return sl_err(err, SL_USAGE, "canary judge: confidence %g is not between 0 and 1",
			      o->confidence);
	if (!(o->outlier_factor >= 0) || !isfinite(o->outlier_factor))
		return sl_err(err, SL_USAGE, "canary judge: outlier factor %g is not >= 0",
			      o->outlier_factor);
	if (!(o->marginal >= 0 && o->marginal <= o->pass && o->pass <= 100)) {
		sl_err(err, SL_USAGE, "canary judge: thresholds pass %g, marginal %g are not "
		       "0 <= marginal <= pass <= 100", o->pass, o->marginal);
		sl_err_hint(err, "Kayenta's usual thresholds are pass 95, marginal 75");
		return -1;
	}
	if (!(o->nodata_fail_percent > 0))
		return sl_err(err, SL_USAGE, "canary judge: nodata_fail_percent %g is not > 0",
			      o->nodata_fail_percent);
	return 0;
}

static int check_metric(const struct sl_judge_metric *m, struct sl_error *err)
{
	const char *name = metric_name(m);
	if (!(m->weight > 0) || !isfinite(m->weight))
		return sl_err(err, SL_USAGE, "canary judge: metric %s: weight %g is not > 0",
			      name, m->weight);
	if (!(m->allowed_increase > 0) || !isfinite(m->allowed_increase) ||
	    !(m->allowed_decrease > 0) || !isfinite(m->allowed_decrease)) {
		sl_err(err, SL_USAGE, "canary judge: metric %s: allowed increase %g / decrease %g "
		       "must be > 0", name, m->allowed_increase, m->allowed_decrease);
		sl_err_hint(err, "1.0 tolerates nothing; 1.1 tolerates a 10%% higher mean");
		return -1;
	}
	if ((m->ncanary && !m->canary) || (m->nbaseline && !m->baseline))
		return sl_err(err, SL_USAGE, "canary judge: metric %s: samples missing", name);
	if (m->direction != SL_JUDGE_EITHER && m->direction != SL_JUDGE_INCREASE &&
	    m->direction != SL_JUDGE_DECREASE)
		return sl_err(err, SL_USAGE, "canary judge: metric %s: unknown direction %d",
			      name, (int)m->direction);
	return 0;
}

/*
 * Classify one metric (steps 1-6 of judge.h).  m has been checked.
 */
static void judge_metric(const struct sl_judge_opts *o, const struct sl_judge_metric *m,
			 struct sl_judge_metric_result *r)
{
	size_t nc, nb;
	double *c = clean_sample(m->canary, m->ncanary, o->outlier_factor, &nc);
	double *b = clean_sample(m->baseline, m->nbaseline, o->outlier_factor, &nb);
	double pct = o->confidence * 100;

	memset(r, 0, sizeof(*r));
	r->ncanary_used = nc;
	r->nbaseline_used = nb;
	r->canary_mean = mean(c, nc);
	r->baseline_mean = mean(b, nb);
	r->estimate = r->lower = r->upper = NAN;
	r->ratio = 1.0;

	if (nc == 0 || nb == 0) {
		r->cls = SL_JUDGE_NODATA;
		r->passed = 0;
		r->counted = m->must_have_data;
		snprintf(r->reason, sizeof(r->reason),
			 "no data: %zu canary, %zu baseline values left of %zu, %zu%s",
			 nc, nb, m->ncanary, m->nbaseline,
			 m->must_have_data ? " (data required)" : "");
		goto done;
	}
	if (r->baseline_mean != 0)
		r->ratio = r->canary_mean / r->baseline_mean;
	sl_hodges_lehmann(c, nc, b, nb, o->confidence, &r->estimate, &r->lower, &r->upper);
	r->counted = 1;

	double bound = SL_JUDGE_TOLERANCE * fabs(r->estimate);
	const char *what;
	if (r->lower > bound) {
		r->cls = SL_JUDGE_HIGH;
		what = "canary higher";
	} else if (r->upper < -bound) {
		r->cls = SL_JUDGE_LOW;
		what = "canary lower";
	} else {
		r->cls = SL_JUDGE_PASS;
		what = "no significant shift";
	}
	int len = snprintf(r->reason, sizeof(r->reason), "%s: shift %.4g [%.4g, %.4g] at %g%%",
			   what, r->estimate, r->lower, r->upper, pct);
	size_t off = len > 0 && (size_t)len < sizeof(r->reason) ? (size_t)len : 0;
	char *tail = r->reason + off;
	size_t room = sizeof(r->reason) - off;

	if (r->cls == SL_JUDGE_PASS) {
		r->passed = 1;
	} else if (r->cls == SL_JUDGE_HIGH) {
		if (m->direction == SL_JUDGE_DECREASE) {
			r->passed = 1;
			snprintf(tail, room, "; allowed: only a decrease fails");
		} else if (!(r->ratio >= m->allowed_increase)) {
			r->passed = 1;
			snprintf(tail, room, "; allowed: ratio %.4g < %.4g", r->ratio,
				 m->allowed_increase);
		} else {
			snprintf(tail, room, ", ratio %.4g", r->ratio);
		}
	} else {
		if (m->direction == SL_JUDGE_INCREASE) {
			r->passed = 1;
			snprintf(tail, room, "; allowed: only an increase fails");
		} else if (!(r->ratio <= m->allowed_decrease)) {
			r->passed = 1;
			snprintf(tail, room, "; allowed: ratio %.4g > %.4g", r->ratio,
				 m->allowed_decrease);
		} else {
			snprintf(tail, room, ", ratio %.4g", r->ratio);
		}
	}
done:
	free(c);
	free(b);
}

int sl_judge(const struct sl_judge_opts *o, const struct sl_judge_metric *m, size_t n,
	     struct sl_judge_metric_result *out, struct sl_judge_result *res,
	     struct sl_error *err)
{
	if (check_opts(o, err))
		return -1;
	if (n == 0)
		return sl_err(err, SL_USAGE, "canary judge: no metrics to judge");
	for (size_t i = 0; i < n; i++)
		if (check_metric(&m[i], err))
			return -1;

	memset(res, 0, sizeof(*res));
	double wsum = 0, wpass = 0;
	size_t nodata_left_out = 0;
	for (size_t i = 0; i < n; i++) {
		struct sl_judge_metric_result *r = &out[i];
		judge_metric(o, &m[i], r);
		if (r->cls == SL_JUDGE_NODATA) {
			res->nnodata++;
			if (!m[i].must_have_data)
				nodata_left_out++;
		}
		if (r->counted) {
			wsum += m[i].weight;
			if (r->passed) {
				wpass += m[i].weight;
				res->npassed++;
			} else {
				res->nfailed++;
			}
		}
		/* Kayenta: a critical metric whose label is not Pass (NoData included). */
		if (m[i].critical && !r->passed && !res->critical_failed) {
			res->critical_failed = 1;
			res->critical_metric = metric_name(&m[i]);
		}
	}

	/* Kayenta's order: critical failures, then too much missing data, then the sum. */
	if (res->critical_failed) {
		res->score = 0;
		res->verdict = SL_JUDGE_VERDICT_FAIL;
		return 0;
	}
	if ((double)nodata_left_out / (double)n * 100 >= o->nodata_fail_percent) {
		res->nodata_failed = 1;
		res->score = 0;
		res->verdict = SL_JUDGE_VERDICT_FAIL;
		return 0;
	}
	/* Nothing counted (possible only with nodata_fail_percent above 100): Kayenta
	 * scores a group without data as 100. */
	double score = wsum > 0 ? wpass / wsum * 100 : 100;
	res->score = floor(score * 100 + 0.5) / 100;
	if (res->score >= o->pass)
		res->verdict = SL_JUDGE_VERDICT_PASS;
	else if (res->score >= o->marginal)
		res->verdict = SL_JUDGE_VERDICT_MARGINAL;
	else
		res->verdict = SL_JUDGE_VERDICT_FAIL;
	return 0;
}
