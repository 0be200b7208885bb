/*
 * stattest.c - the drift statistics of stattest.h, computed the way scipy 1.10 and Evidently
 * compute them, so that a gate in sluice and a notebook running Evidently on the same rows
 * report the same number.
 *
 * Where each formula comes from (read these when changing anything here):
 *   ks_2samp          scipy/stats/_stats_py.py: ks_2samp, _attempt_exact_2kssamp,
 *                     _compute_prob_outside_square; scipy/stats/_stats_pythran.py:
 *                     _compute_outer_prob_inside_method (Hodges 1958, with Viehmann's
 *                     2021 recursion for 1 - p, which never overflows).
 *   kstwo.sf          scipy/stats/_ksstats.py: _kolmogn (Simard & L'Ecuyer 2011), with
 *                     Ruben-Gambino closed forms at the ends, the Durbin matrix in the
 *                     Marsaglia-Tsang-Wang form, the Pelz-Good expansion and Miller's
 *                     2 * smirnov() approximation; scipy/special/cephes/kolmogorov.c for
 *                     smirnov() and kolmogorov().
 *   chi2.sf           Q(dof / 2, x / 2), the regularised upper incomplete gamma function
 *                     by series or Lentz's continued fraction (Numerical Recipes 6.2).
 *   wasserstein       scipy/stats/_stats_py.py: _cdf_distance with p = 1.
 *   jensenshannon     scipy/spatial/distance.py: jensenshannon (inputs normalised).
 *   kl_div            scipy.stats.entropy(ref, cur) (inputs normalised), as Evidently calls it.
 *   psi, hellinger,   Evidently's stattests (legacy/calculations/stattests/, utils.py
 *   z, chisquare,     get_binned_data, registry.py _get_default_stattest).
 *   defaults
 *   sturges bins      numpy/lib/histograms.py (_hist_bin_sturges, _get_outer_edges,
 *                     _search_sorted_inclusive) and numpy.linspace.
 * The code is written from those descriptions, not copied; where scipy evaluates an
 * expression in a particular order the same order is kept, because some results
 * (the rounded KS statistic, bin counts at an edge) depend on the exact bits.
 */
#include "stattest.h"
#include "../core/buf.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SL_PI 3.14159265358979323846
#define SL_SQRT1_2 0.70710678118654752440
#define SL_SQRT2PI 2.50662827463100050242
#define SL_LN2 0.69314718055994530942

/* log(2^-1022): below this exp() underflows (cephes MINLOG). */
#define SL_MINLOG (-708.3964185322641)

/* scipy's ks_2samp is exact up to this many rows in the larger sample. */
#define SL_KS_MAX_EXACT_N 10000

static double clip01(double p)
{
	if (p < 0)
		return 0;
	if (p > 1)
		return 1;
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Copy the non-NaN values of x into a new array, sorted; returns how many were kept. */
static size_t sorted_copy(const double *x, size_t n, double **out)
{
	double *s = sl_malloc(n * sizeof(*s));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(x[i]))
			s[k++] = x[i];
	qsort(s, k, sizeof(*s), cmp_double);
	*out = s;
	return k;
}

/* ---- distributions ------------------------------------------------------ */

double sl_norm_sf(double z)
{
	/* erfc keeps full relative precision far into the upper tail, as scipy's ndtr(-z). */
	return 0.5 * erfc(z * SL_SQRT1_2);
}

/* scipy.special.ndtr (cephes ndtr.c), kept in its own order so that 1 - ndtr(z) below
 * rounds the way Evidently's 2 * (1 - norm.cdf(|z|)) does. */
static double norm_cdf(double a)
{
	double x = a * SL_SQRT1_2, z = fabs(x), y;
	if (z < SL_SQRT1_2)
		return 0.5 + 0.5 * erf(x);
	y = 0.5 * erfc(z);
	return x > 0 ? 1 - y : y;
}

/* exp(a log x - x - lgamma(a)), the factor in front of both expansions of Q(a, x). */
static double gamma_prefactor(double a, double x)
{
	return exp(a * log(x) - x - lgamma(a));
}

/* P(a, x) by its power series; converges quickly for x < a + 1. */
static double gamma_p_series(double a, double x)
{
	double ap = a, del = 1 / a, sum = del;
	for (int i = 0; i < 1000000; i++) {
		ap += 1;
		del *= x / ap;
		sum += del;
		if (fabs(del) < fabs(sum) * DBL_EPSILON)
			break;
	}
	return sum * gamma_prefactor(a, x);
}

/* Q(a, x) by the continued fraction, evaluated with the modified Lentz method; used for
 * x >= a + 1, where it converges and where Q itself (not 1 - P) keeps tiny tails exact. */
static double gamma_q_cf(double a, double x)
{
	const double tiny = 1e-300;
	double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
	for (int i = 1; i < 1000000; i++) {
		double an = -i * (i - a), del;
		b += 2;
		d = an * d + b;
		if (fabs(d) < tiny)
			d = tiny;
		c = b + an / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < DBL_EPSILON)
			break;
	}
	return gamma_prefactor(a, x) * h;
}

double sl_gammaincc(double a, double x)
{
	/* Domain as scipy.special.gammaincc (cephes igamc). */
	if (isnan(a) || isnan(x) || a < 0 || x < 0)
		return NAN;
	if (a == 0)
		return x > 0 ? 0 : NAN;
	if (x == 0)
		return 1;
	if (isinf(a))
		return isinf(x) ? NAN : 1;
	if (isinf(x))
		return 0;
	if (x < a + 1)
		return 1 - gamma_p_series(a, x);
	return gamma_q_cf(a, x);
}

double sl_chi2_sf(double x, double dof)
{
	if (isnan(x) || isnan(dof) || !(dof > 0))
		return NAN;
	if (x < 0)
		return 1;
	return sl_gammaincc(dof / 2, x / 2);
}

/*
 * Kolmogorov's limit distribution, P(sqrt(n) D_n > x) as n -> inf (cephes kolmogorov.c).
 * Two theta-function series: for small x the Jacobi-transformed one in u = e^(-pi^2/8x^2),
 * for large x the alternating 2 sum (-1)^(k-1) e^(-2k^2x^2); at the cut-over 0.82 three or
 * four terms of either reach double precision, so both are unrolled.
 */
double sl_kolmogorov(double x)
{
	double p;
	if (isnan(x))
		return NAN;
	/* Below pi / sqrt(8 * 746) the first term of the small-x series underflows. */
	if (x <= 0 || x <= SL_PI / sqrt(746.0 * 8))
		return 1;
	if (x <= 0.82) {
		double w = SL_SQRT2PI / x, logu8 = -SL_PI * SL_PI / (x * x);
		double u = exp(logu8 / 8);
		if (u == 0) {
			p = exp(logu8 / 8 + log(w));
		} else {
			double u8 = exp(logu8), u8cub = pow(u8, 3);
			p = 1 + u8cub;
			p = 1 + u8 * u8 * p;
			p = 1 + u8 * p;
			p = w * u * p;
		}
		return clip01(1 - p);
	}
	double v = exp(-2 * x * x), vsq = v * v, v3 = pow(v, 3);
	p = 1 - v3 * v3 * v;
	p = 1 - v3 * vsq * p;
	p = 1 - v3 * p;
	return clip01(2 * v * p);
}

/*
 * P(D+_n >= x), the one-sided statistic (scipy.special.smirnov), by the Smirnov /
 * Birnbaum-Tingey sum
 *   x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v),
 * all of whose terms are positive.  scipy accumulates the terms in double-double; here each
 * term is formed in logarithms (lgamma for the binomial), which loses a few 1e-9 relative
 * for n near 1e6 and nothing measurable below that, well inside the 1e-6 this is held to.
 * kstwo_sf() calls it only where 2 * smirnov is scipy's answer: x >= 0.5, or n x^2 >= 2.2.
 */
static double smirnov_sf(long n, double x)
{
	if (!(n > 0 && x >= 0 && x <= 1))
		return NAN;
	if (n == 1)
		return 1 - x;
	if (x == 0)
		return 1;
	if (x == 1)
		return 0;
	/* floor(n x) and its fraction alpha, exactly (fma gives the rounding error of n x). */
	double nd = (double)n, hi = nd * x, lo = fma(nd, x, -hi);
	double fl = floor(hi), alpha = (hi - fl) + lo;
	if (alpha < 0) {
		fl -= 1;
		alpha += 1;
	}
	if (alpha >= 1) {
		fl += 1;
		alpha = 0;
	}
	long nxfl = (long)fl;
	if (nxfl == 0 || (nxfl == 1 && alpha == 0))
		return clip01(1 - x * exp((nd - 1) * log1p(x)));
	if (-2 * nd * x * x < SL_MINLOG)
		return 0;
	if (nxfl >= n - 1)
		return clip01(exp(nd * log1p(-x)));
	if (n > 1000000) {
		/* scipy's approximation for very large n: p ~ e^(-(6nx+1)^2 / 18n). */
		double logp = -pow(6.0 * nd * x + 1, 2) / 18.0 / nd;
		return clip01(logp < -SL_LN2 ? exp(logp) : 1 + expm1(logp));
	}
	long last = n - nxfl - 1; /* v with 1 - x - v/n > 0 */
	double lgn = lgamma(nd + 1), sum = 0, prev = 0;
	for (long v = 0; v <= last; v++) {
		/* x + v/n and 1 - x - v/n from the exact split, without cancellation. */
		double evn = ((double)(nxfl + v) + alpha) / nd;
		double omevn = ((double)(n - nxfl - v) - alpha) / nd;
		double lt = lgn - lgamma(v + 1.0) - lgamma((double)(n - v) + 1) +
			    (double)(v - 1) * log(evn) + (double)(n - v) * log(omevn);
		double t = exp(lt);
		sum += t;
		/* The terms rise to one peak and fall; stop once the rest cannot matter. */
		if (t < prev && t * (double)(last - v + 1) < sum * (DBL_EPSILON / 8))
			break;
		prev = t;
	}
	return clip01(x * sum);
}

/* C = A * B for m x m row-major matrices (C distinct from A and B). */
static void matmul(const double *a, const double *b, double *c, long m)
{
	memset(c, 0, (size_t)(m * m) * sizeof(*c));
	for (long i = 0; i < m; i++)
		for (long k = 0; k < m; k++) {
			double aik = a[i * m + k];
			if (aik == 0)
				continue;
			for (long j = 0; j < m; j++)
				c[i * m + j] += aik * b[k * m + j];
		}
}

/*
 * P(D_n <= d) by Durbin's matrix method as Marsaglia, Tsang and Wang (2003) evaluate it:
 * with d = (k - h)/n, the (k,k) entry of H^n times n!/n^n, H an m x m matrix, m = 2k - 1.
 * Exact; O(m^3 log n) time, so used only where k = ceil(n d) is small.  Powers are
 * rescaled by 2^128 and the exponent tracked separately, as in scipy.
 */
static double dmtw_cdf(long n, double d)
{
	if (d >= 1)
		return 1;
	double nd = (double)n * d;
	if (nd <= 0.5)
		return 0;
	long k = (long)ceil(nd), m = 2 * k - 1;
	double h = (double)k - nd;
	size_t mm = (size_t)(m * m);
	double *hm = sl_calloc(mm, sizeof(*hm));
	double *pw = sl_calloc(mm, sizeof(*pw));
	double *tmp = sl_malloc(mm * sizeof(*tmp));
	double *v = sl_malloc((size_t)m * sizeof(*v));
	double *w = sl_malloc((size_t)m * sizeof(*w));
	const double e128 = ldexp(1, 128), em128 = ldexp(1, -128);

	/* First column v[j] = (1 - h^(j+1)) / (j+1)!, band of 1/j!, last row v reversed. */
	double fac = 1;
	for (long j = 1; j <= m; j++) {
		w[j - 1] = fac;
		fac /= (double)j;
		v[j - 1] = (1 - pow(h, (double)j)) * fac;
	}
	double tt = pow(fmax(2 * h - 1, 0), (double)m) - 2 * pow(h, (double)m);
	v[m - 1] = (1 + tt) * fac;
	for (long c = 1; c < m; c++)
		for (long r = c - 1; r < m; r++)
			hm[r * m + c] = w[r - (c - 1)];
	for (long r = 0; r < m; r++)
		hm[r * m] = v[r];
	for (long c = 0; c < m; c++)
		hm[(m - 1) * m + c] = v[m - 1 - c];

	for (long i = 0; i < m; i++)
		pw[i * m + i] = 1;
	long expnt = 0, hexp = 0;
	for (long nn = n; nn > 0; nn /= 2) {
		double *swap;
		if (nn % 2) {
			matmul(pw, hm, tmp, m);
			swap = pw, pw = tmp, tmp = swap;
			expnt += hexp;
		}
		if (nn / 2 == 0)
			break;
		matmul(hm, hm, tmp, m);
		swap = hm, hm = tmp, tmp = swap;
		hexp *= 2;
		if (fabs(hm[(k - 1) * m + k - 1]) > e128) {
			for (size_t i = 0; i < mm; i++)
				hm[i] *= em128;
			hexp += 128;
		}
	}
	double p = pw[(k - 1) * m + k - 1];
	for (long i = 1; i <= n; i++) {
		p = (double)i * p / (double)n;
		if (fabs(p) < em128) {
			p *= e128;
			expnt -= 128;
		}
	}
	free(hm);
	free(pw);
	free(tmp);
	free(v);
	free(w);
	return clip01(ldexp(p, (int)expnt));
}

/*
 * P(D_n <= x) by the Pelz-Good (1976) expansion of the Li-Chien / Korolyuk series in
 * powers of 1/sqrt(n): K0(z) + K1(z)/sqrt(n) + K2(z)/n + K3(z)/n^1.5, z = x sqrt(n), each K
 * transformed by Jacobi's theta identity into sums of q^(k^2) that converge for small z.
 */
static double pelzgood_cdf(double n, double x)
{
	const double pi2 = SL_PI * SL_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	double z = sqrt(n) * x, z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
	double qlog = -pi2 / 8 / z2;
	if (qlog < -708)
		return 0;
	double q = exp(qlog);
	double k1a = -z2, k1b = pi2 / 4;
	double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4;
	double k2c = pi4 * (1 - 2 * z2) / 16;
	double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
	double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * pow(z, 8);
	double kk[4] = { 0, 0, 0, 0 };
	long maxk = (long)ceil(16 * z / SL_PI);

	/* Horner in q^8k over odd m = 2k - 1: sum c(m) q^(m^2). */
	for (long k = maxk; k > 0; k--) {
		double m = (double)(2 * k - 1), m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
		double qp = pow(q, (double)(8 * k));
		kk[0] = kk[0] * qp + 1;
		kk[1] = kk[1] * qp + (k1a + k1b * m2);
		kk[2] = kk[2] * qp + (k2a + k2b * m2 + k2c * m4);
		kk[3] = kk[3] * qp + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
	}
	const double div[4] = { z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10) };
	for (int i = 0; i < 4; i++)
		kk[i] = kk[i] * q * SL_SQRT2PI / div[i];

	/* The sums over all k for K2 and K3: few terms, no cancellation to guard against. */
	double q2 = exp(-pi2 / 2 / z2), sqrt3z = sqrt(3.0) * z, k2x = 0, k3x = 0;
	for (long k = maxk; k > 0; k--) {
		double kd = (double)k, ksq = kd * kd, qk = pow(q2, ksq), kpi = SL_PI * kd;
		k2x += ksq * qk;
		k3x += (sqrt3z + kpi) * (sqrt3z - kpi) * ksq * qk;
	}
	kk[2] += k2x * (pi2 * SL_SQRT2PI / (-36 * z3));
	kk[3] += k3x * (pi2 * SL_SQRT2PI / (216 * z6));
	double sum = 0;
	for (int i = 0; i < 4; i++)
		sum += kk[i] / pow(n, i / 2.0);
	return sum;
}

/* log(n! / n^n) by Stirling's series with n log n taken out first (scipy _ksstats). */
static double log_nfact_over_npown(double n)
{
	static const double c[8] = { -2.955065359477124183e-2, 6.4102564102564102564e-3,
				     -1.9175269175269175269e-3, 8.4175084175084175084e-4,
				     -5.952380952380952381e-4, 7.9365079365079365079e-4,
				     -2.7777777777777777778e-3, 8.3333333333333333333e-2 };
	double rn = 1 / n, x = rn / n, poly = 0;
	for (int i = 0; i < 8; i++)
		poly = poly * x + c[i];
	return log(n) / 2 - n + log(2 * SL_PI) / 2 + rn * poly;
}

/*
 * scipy.stats.kstwo.sf(d, n): which method where follows scipy's _kolmogn (Simard and
 * L'Ecuyer's choice) with one substitution: for n <= 140 and 0.754693 < n d^2 <= 4 scipy
 * uses Pomeranz's recursion, here the Durbin matrix is used instead; both are exact, the
 * matrix is at most 47 x 47 there, and the two agree to about 1e-13.
 *   n d <= 1          Ruben-Gambino: P(D_n <= d) = n!/n^n (2nd - 1)^n
 *   n d >= n - 1      Ruben-Gambino: P(D_n > d) = 2 (1 - d)^n
 *   d >= 0.5          exactly 2 * smirnov(n, d) (D+ and D- cannot both exceed 1/2)
 *   n <= 140          Durbin matrix for n d^2 <= 4, else 2 * smirnov (Miller)
 *   n > 140           0 for n d^2 >= 370; 2 * smirnov for n d^2 >= 2.2; else 1 - CDF with
 *                     the CDF by the Durbin matrix when n <= 1e5 and n d^1.5 <= 1.4,
 *                     otherwise by Pelz-Good.
 */
double sl_kstwo_sf(double d, double n)
{
	if (isnan(d) || isnan(n) || !(n >= 1) || n != floor(n) || n > 1e15)
		return NAN;
	if (d >= 1)
		return 0;
	if (d <= 0)
		return 1;
	long nl = (long)n;
	double t = n * d;
	if (t <= 1) {
		double prob;
		if (t <= 0.5)
			return 1;
		if (nl <= 140) {
			prob = 1;
			for (long i = 1; i <= nl; i++)
				prob *= (double)i * (1.0 / n) * (2 * t - 1);
		} else {
			prob = exp(log_nfact_over_npown(n) + n * log(2 * t - 1));
		}
		return clip01(1 - prob);
	}
	if (t >= n - 1)
		return clip01(2 * pow(1 - d, n));
	if (d >= 0.5)
		return clip01(2 * smirnov_sf(nl, d));
	double nxsq = t * d;
	if (nl <= 140) {
		if (nxsq <= 4)
			return clip01(1 - dmtw_cdf(nl, d));
		return clip01(2 * smirnov_sf(nl, d));
	}
	if (nxsq >= 370)
		return 0;
	if (nxsq >= 2.2)
		return clip01(2 * smirnov_sf(nl, d));
	if (nl <= 100000 && n * pow(d, 1.5) <= 1.4)
		return clip01(1 - dmtw_cdf(nl, d));
	return clip01(1 - pelzgood_cdf(n, d));
}

/* ---- two-sample tests --------------------------------------------------- */

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b) /* b > 0 */
{
	int64_t q = a / b;
	return (a % b != 0 && a > 0) ? q + 1 : q;
}

/*
 * P(D_{n,n} >= h/n) for two samples of n: 2 sum_k (-1)^(k+1) C(2n, n-kh) / C(2n, n),
 * evaluated as scipy does, Horner-like from the last term, each ratio of binomials as a
 * product of h fractions, so nothing overflows and the alternating sum does not cancel.
 */
static double ks_prob_outside_square(int64_t n, int64_t h)
{
	double p = 0;
	for (int64_t k = n / h; k >= 0; k--) {
		double p1 = 1;
		for (int64_t j = 0; j < h; j++)
			p1 = (double)(n - k * h - j) * p1 / (double)(n + k * h + j + 1);
		p = p1 * (1 - p);
	}
	return 2 * p;
}

/*
 * P(D_{m,n} >= h / lcm(m, n)) for m != n: the probability that a random lattice path from
 * (0,0) to (m,n) leaves the band |x/m - y/n| < h/lcm.  One column of the lattice is kept
 * (O(n) memory), holding for each point the probability that a path reaching it has
 * already left the band (Viehmann's recursion: the path came from the left with
 * probability i/(i+j)); points outside the band hold 1.
 */
static double ks_prob_outside_band(int64_t m, int64_t n, int64_t g, int64_t h)
{
	if (m < n) {
		int64_t s = m;
		m = n;
		n = s;
	}
	int64_t mg = m / g, ng = n / g;
	int64_t minj = 0, maxj = ceil_div(h, mg), curlen;
	if (maxj > n + 1)
		maxj = n + 1;
	curlen = maxj - minj;
	double *a = sl_malloc((size_t)(n + 1) * sizeof(*a));
	for (int64_t j = 0; j <= n; j++)
		a[j] = j < maxj ? 0 : 1;
	double result;
	for (int64_t i = 1; i <= m; i++) {
		int64_t lastminj = minj, lastlen = curlen;
		minj = floor_div(ng * i - h, mg) + 1;
		if (minj < 0)
			minj = 0;
		if (minj > n)
			minj = n;
		maxj = ceil_div(ng * i + h, mg);
		if (maxj > n + 1)
			maxj = n + 1;
		if (maxj <= minj) {
			free(a);
			return 1;
		}
		/* In place: the value read (index jj + minj - lastminj) is never left of jj. */
		double val = minj == 0 ? 0 : 1;
		for (int64_t jj = 0; jj < maxj - minj; jj++) {
			int64_t j = jj + minj, src = jj + minj - lastminj;
			double prev = src <= n ? a[src] : 1;
			val = (prev * (double)i + val * (double)j) / (double)(i + j);
			a[jj] = val;
		}
		curlen = maxj - minj;
		for (int64_t jj = curlen; jj < lastlen && jj <= n; jj++)
			a[jj] = 1;
	}
	result = a[maxj - minj - 1];
	free(a);
	return result;
}

/* The two-sided statistic of two sorted samples, with each ECDF difference formed as
 * i/n1 - j/n2, as scipy forms it (the exact bits decide the rounding of h below). */
static double ks_stat_sorted(const double *a, size_t n1, const double *b, size_t n2)
{
	size_t i = 0, j = 0;
	double dmax = 0, dmin = 0;
	while (i < n1 || j < n2) {
		double x = (j >= n2 || (i < n1 && a[i] <= b[j])) ? a[i] : b[j];
		while (i < n1 && a[i] <= x)
			i++;
		while (j < n2 && b[j] <= x)
			j++;
		double diff = (double)i / (double)n1 - (double)j / (double)n2;
		if (diff > dmax)
			dmax = diff;
		if (diff < dmin)
			dmin = diff;
	}
	double minus = clip01(-dmin);
	return minus > dmax ? minus : dmax;
}

int sl_ks_2samp(const double *a, size_t na, const double *b, size_t nb, double *stat,
		double *pvalue)
{
	double *sa = NULL, *sb = NULL;
	int rc = -1;
	*stat = NAN;
	*pvalue = NAN;
	size_t n1 = sorted_copy(a, na, &sa), n2 = sorted_copy(b, nb, &sb);
	if (n1 == 0 || n2 == 0)
		goto out;
	double d = ks_stat_sorted(sa, n1, sb, n2), prob = NAN;
	int exact = (n1 > n2 ? n1 : n2) <= SL_KS_MAX_EXACT_N;
	if (exact) {
		uint64_t g = gcd_u64(n1, n2), lcm = (n1 / g) * n2;
		int64_t h = (int64_t)nearbyint(d * (double)lcm);
		d = (double)h / (double)lcm;
		if (h == 0)
			prob = 1;
		else if (n1 == n2)
			prob = ks_prob_outside_square((int64_t)n1, h);
		else
			prob = ks_prob_outside_band((int64_t)n1, (int64_t)n2, (int64_t)g, h);
		/* scipy falls back to the asymptotic distribution when the exact one misbehaves. */
		if (!(prob >= 0 && prob <= 1))
			exact = 0;
	}
	if (!exact) {
		double m = (double)(n1 > n2 ? n1 : n2), n = (double)(n1 > n2 ? n2 : n1);
		prob = sl_kstwo_sf(d, nearbyint(m * n / (m + n)));
	}
	*stat = d;
	*pvalue = clip01(prob);
	rc = 0;
out:
	free(sa);
	free(sb);
	return rc;
}

double sl_ks_stat_weighted(const double *a, const double *wa, size_t na, const double *b,
			   const double *wb, size_t nb)
{
	double ta = 0, tb = 0, ca = 0, cb = 0, dmax = 0;
	size_t i = 0, j = 0;
	if (na == 0 || nb == 0)
		return NAN;
	for (size_t k = 0; k < na; k++)
		ta += wa[k];
	for (size_t k = 0; k < nb; k++)
		tb += wb[k];
	if (!(ta > 0 && tb > 0) || isinf(ta) || isinf(tb))
		return NAN;
	while (i < na || j < nb) {
		double x = (j >= nb || (i < na && a[i] <= b[j])) ? a[i] : b[j];
		while (i < na && a[i] <= x)
			ca += wa[i++];
		while (j < nb && b[j] <= x)
			cb += wb[j++];
		double diff = fabs(ca / ta - cb / tb);
		if (diff > dmax)
			dmax = diff;
	}
	return dmax;
}

int sl_chisquare(const double *f_obs, const double *f_exp, size_t k, double *stat,
		 double *pvalue)
{
	double so = 0, se = 0, s = 0;
	*stat = NAN;
	*pvalue = NAN;
	if (k < 2)
		return -1; /* no degrees of freedom: scipy's p-value is NaN */
	for (size_t i = 0; i < k; i++) {
		so += f_obs[i];
		se += f_exp[i];
	}
	/* scipy refuses sums that differ by more than 1e-8 relative. */
	if (fabs(so - se) / fmin(so, se) > 1e-8)
		return -1;
	/* A category absent from the reference (f_exp 0) makes the statistic infinite and the
	 * p-value 0, as in scipy and therefore Evidently. */
	for (size_t i = 0; i < k; i++)
		s += (f_obs[i] - f_exp[i]) * (f_obs[i] - f_exp[i]) / f_exp[i];
	*stat = s;
	*pvalue = sl_chi2_sf(s, (double)(k - 1));
	return 0;
}

int sl_ztest_2prop(double x1, double n1, double x2, double n2, double *z, double *pvalue)
{
	*z = NAN;
	*pvalue = NAN;
	if (!(n1 > 0 && n2 > 0 && x1 >= 0 && x2 >= 0 && x1 <= n1 && x2 <= n2))
		return -1;
	double p1 = x1 / n1, p2 = x2 / n2, p = (p1 * n1 + p2 * n2) / (n1 + n2);
	if (p == 0 || p == 1) {
		/* Both samples hold one and the same value: Evidently answers p = 1 without a
		 * z (it would be 0/0); z = 0 says "no difference". */
		*z = 0;
		*pvalue = 1;
		return 0;
	}
	*z = (p1 - p2) / sqrt(p * (1 - p) * (1.0 / n1 + 1.0 / n2));
	/* Evidently: 2 * (1 - norm.cdf(|z|)), which is 0 beyond |z| ~ 8.3 where norm.sf is
	 * not; the gate compares against 0.05, so only the equality with Evidently matters. */
	*pvalue = 2 * (1 - norm_cdf(fabs(*z)));
	return 0;
}

struct wval {
	double v, w;
};

static int cmp_wval(const void *a, const void *b)
{
	return cmp_double(&((const struct wval *)a)->v, &((const struct wval *)b)->v);
}

/* Values (and weights, 1 when w is NULL) sorted by value; NULL when a weight is negative
 * or not finite, or the total is not positive (scipy raises), or a value is NaN. */
static struct wval *weighted_sorted(const double *x, const double *w, size_t n, double *total)
{
	struct wval *s = sl_malloc(n * sizeof(*s));
	double t = 0;
	for (size_t i = 0; i < n; i++) {
		s[i].v = x[i];
		s[i].w = w ? w[i] : 1;
		if (isnan(x[i]) || !(s[i].w >= 0) || isinf(s[i].w)) {
			free(s);
			return NULL;
		}
	}
	qsort(s, n, sizeof(*s), cmp_wval);
	for (size_t i = 0; i < n; i++)
		t += s[i].w; /* cumulative in sorted order, as numpy's cumsum */
	if (!(t > 0) || isinf(t)) {
		free(s);
		return NULL;
	}
	*total = t;
	return s;
}

double sl_wasserstein(const double *u, const double *uw, size_t nu, const double *v,
		      const double *vw, size_t nv)
{
	double tu = 0, tv = 0, cu = 0, cv = 0, sum = 0;
	struct wval *su, *sv;
	size_t i = 0, j = 0;
	if (nu == 0 || nv == 0)
		return NAN;
	su = weighted_sorted(u, uw, nu, &tu);
	sv = weighted_sorted(v, vw, nv, &tv);
	if (!su || !sv) {
		free(su);
		free(sv);
		return NAN;
	}
	/* Integrate |U - V| over the merged values: between consecutive distinct values x and
	 * x', both CDFs are constant at their value at x.  Unweighted CDFs are count / n. */
	while (i < nu || j < nv) {
		double x = (j >= nv || (i < nu && su[i].v <= sv[j].v)) ? su[i].v : sv[j].v;
		while (i < nu && su[i].v <= x)
			cu += su[i++].w;
		while (j < nv && sv[j].v <= x)
			cv += sv[j++].w;
		if (i >= nu && j >= nv)
			break;
		double next = (j >= nv || (i < nu && su[i].v <= sv[j].v)) ? su[i].v : sv[j].v;
		double fu = uw ? cu / tu : (double)i / (double)nu;
		double fv = vw ? cv / tv : (double)j / (double)nv;
		sum += fabs(fu - fv) * (next - x);
	}
	free(su);
	free(sv);
	return sum;
}

double sl_std_pop(const double *x, size_t n)
{
	double mean = 0, ss = 0;
	if (n == 0)
		return NAN;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - mean) * (x[i] - mean);
	return sqrt(ss / (double)n);
}

/* ---- binned divergences ------------------------------------------------- */

/* scipy.special.rel_entr: x log(x/y), 0 at x = 0, inf where y = 0 < x. */
static double rel_entr(double x, double y)
{
	if (isnan(x) || isnan(y))
		return NAN;
	if (x > 0 && y > 0)
		return x * log(x / y);
	if (x == 0 && y >= 0)
		return 0;
	return INFINITY;
}

static double sum_of(const double *p, size_t k)
{
	double s = 0;
	for (size_t i = 0; i < k; i++)
		s += p[i];
	return s;
}

double sl_jensenshannon(const double *p, const double *q, size_t k)
{
	double sp = sum_of(p, k), sq = sum_of(q, k), left = 0, right = 0;
	if (k == 0)
		return NAN;
	/* scipy normalises both vectors first, so the SL_DRIFT_EPS fill does not bias it. */
	for (size_t i = 0; i < k; i++) {
		double pi = p[i] / sp, qi = q[i] / sq, m = (pi + qi) / 2.0;
		left += rel_entr(pi, m);
		right += rel_entr(qi, m);
	}
	double js = (left + right) / 2.0;
	/* Rounding can leave js a hair below 0 for equal inputs, where scipy's sqrt gives NaN;
	 * 0 is the distance meant. */
	return js > 0 ? sqrt(js) : (js == js ? 0 : NAN);
}

double sl_psi(const double *ref, const double *cur, size_t k)
{
	double s = 0;
	if (k == 0)
		return NAN;
	for (size_t i = 0; i < k; i++)
		s += (ref[i] - cur[i]) * log(ref[i] / cur[i]);
	return s;
}

double sl_kl_div(const double *ref, const double *cur, size_t k)
{
	double sr = sum_of(ref, k), sc = sum_of(cur, k), s = 0;
	if (k == 0)
		return NAN;
	/* scipy.stats.entropy(pk, qk) normalises both to sum 1 before summing rel_entr. */
	for (size_t i = 0; i < k; i++)
		s += rel_entr(ref[i] / sr, cur[i] / sc);
	return s;
}

double sl_hellinger(const double *ref, const double *cur, size_t k)
{
	double bc = 0;
	if (k == 0)
		return NAN;
	/* Evidently: sqrt(1 - clip(sum sqrt(p q), 0, 1)), i.e. the usual
	 * sqrt(sum (sqrt p - sqrt q)^2) / sqrt(2) when p and q each sum to 1. */
	for (size_t i = 0; i < k; i++)
		bc += sqrt(ref[i] * cur[i]);
	return sqrt(1 - clip01(bc));
}

size_t sl_sturges_edges(const double *x, size_t n, double **edges)
{
	double lo = INFINITY, hi = -INFINITY, first, last, width;
	size_t cnt = 0, nbins = 1;
	*edges = NULL;
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i]))
			continue;
		cnt++;
		lo = fmin(lo, x[i]);
		hi = fmax(hi, x[i]);
	}
	if (cnt == 0 || isinf(lo) || isinf(hi))
		return 0; /* numpy raises on an infinite range */
	first = lo;
	last = hi;
	if (first == last) {
		first -= 0.5;
		last += 0.5;
	}
	/* numpy: width = ptp / (log2(n) + 1), bins = ceil(range / width) -- computed in these
	 * steps, because for n a power of two the quotient can round just above an integer. */
	width = (hi - lo) / (log2((double)cnt) + 1.0);
	if (width != 0)
		nbins = (size_t)ceil((last - first) / width);
	double *e = sl_malloc((nbins + 1) * sizeof(*e));
	double delta = last - first, step = delta / (double)nbins;
	for (size_t i = 0; i <= nbins; i++)
		e[i] = (step == 0 ? (double)i / (double)nbins * delta : (double)i * step) + first;
	e[nbins] = last; /* numpy.linspace sets the endpoint exactly */
	*edges = e;
	return nbins + 1;
}

void sl_histogram(const double *x, size_t n, const double *edges, size_t nedges,
		  double *counts)
{
	if (nedges < 2)
		return;
	size_t nb = nedges - 1;
	for (size_t i = 0; i < nb; i++)
		counts[i] = 0;
	for (size_t i = 0; i < n; i++) {
		double v = x[i];
		if (!(v >= edges[0] && v <= edges[nb]))
			continue; /* outside, or NaN */
		/* The last edge e_i <= v: bins are half-open [e_i, e_i+1), the last closed. */
		size_t lo = 0, hi = nedges;
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (edges[mid] <= v)
				lo = mid;
			else
				hi = mid;
		}
		counts[lo < nb ? lo : nb - 1] += 1;
	}
}

/* counts / n, with SL_DRIFT_EPS for each empty bin (Evidently's get_binned_data). */
static double *proportions(const double *x, size_t n, const double *edges, size_t nedges)
{
	size_t nb = nedges - 1, kept = 0;
	double *p = sl_malloc(nb * sizeof(*p));
	for (size_t i = 0; i < n; i++)
		kept += !isnan(x[i]);
	sl_histogram(x, n, edges, nedges, p);
	for (size_t i = 0; i < nb; i++)
		p[i] = p[i] == 0 ? SL_DRIFT_EPS : p[i] / (double)kept;
	return p;
}

size_t sl_binned_numeric(const double *a, size_t na, const double *b, size_t nb, double **pa,
			 double **pb)
{
	double *all, *edges;
	size_t ne, kept_a = 0, kept_b = 0;
	*pa = NULL;
	*pb = NULL;
	for (size_t i = 0; i < na; i++)
		kept_a += !isnan(a[i]);
	for (size_t i = 0; i < nb; i++)
		kept_b += !isnan(b[i]);
	if (kept_a == 0 || kept_b == 0)
		return 0;
	all = sl_malloc((na + nb) * sizeof(*all));
	memcpy(all, a, na * sizeof(*a));
	memcpy(all + na, b, nb * sizeof(*b));
	ne = sl_sturges_edges(all, na + nb, &edges);
	free(all);
	if (ne == 0)
		return 0;
	*pa = proportions(a, na, edges, ne);
	*pb = proportions(b, nb, edges, ne);
	free(edges);
	return ne - 1;
}

/* ---- the default method -------------------------------------------------- */

/* Evidently's registered names and default thresholds, one row per method. */
static const struct {
	const char *name;
	double threshold;
} drift_methods[] = {
	[SL_DRIFT_KS] = { "ks", 0.05 },
	[SL_DRIFT_CHISQUARE] = { "chisquare", 0.05 },
	[SL_DRIFT_Z] = { "z", 0.05 },
	[SL_DRIFT_WASSERSTEIN] = { "wasserstein", 0.1 },
	[SL_DRIFT_JENSENSHANNON] = { "jensenshannon", 0.1 },
	[SL_DRIFT_PSI] = { "psi", 0.1 },
	[SL_DRIFT_KL] = { "kl_div", 0.1 },
	[SL_DRIFT_HELLINGER] = { "hellinger", 0.1 },
};

#define N_DRIFT_METHODS (sizeof(drift_methods) / sizeof(drift_methods[0]))

const char *sl_drift_method_name(enum sl_drift_method m)
{
	if ((size_t)m >= N_DRIFT_METHODS)
		return NULL;
	return drift_methods[m].name;
}

int sl_drift_method_parse(const char *name, enum sl_drift_method *out)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < N_DRIFT_METHODS; i++)
		if (strcmp(name, drift_methods[i].name) == 0) {
			*out = (enum sl_drift_method)i;
			return 0;
		}
	if (strcmp(name, "kl") == 0) { /* the short name people type */
		*out = SL_DRIFT_KL;
		return 0;
	}
	return -1;
}

enum sl_drift_method sl_drift_default(uint64_t reference_rows, int numeric,
				      uint64_t distinct_values)
{
	if (reference_rows <= 1000) {
		if (numeric && distinct_values > 5)
			return SL_DRIFT_KS;
		return distinct_values > 2 ? SL_DRIFT_CHISQUARE : SL_DRIFT_Z;
	}
	return numeric && distinct_values > 5 ? SL_DRIFT_WASSERSTEIN : SL_DRIFT_JENSENSHANNON;
}

double sl_drift_default_threshold(enum sl_drift_method m)
{
	if ((size_t)m >= N_DRIFT_METHODS)
		return NAN;
	return drift_methods[m].threshold;
}

int sl_drift_is_drift(enum sl_drift_method m, double value, double threshold)
{
	switch (m) {
	case SL_DRIFT_KS:
		return value <= threshold; /* Evidently's ks_stat_test */
	case SL_DRIFT_CHISQUARE:
	case SL_DRIFT_Z:
		return value < threshold;
	default:
		return value >= threshold; /* the distances; NaN never drifts */
	}
}
