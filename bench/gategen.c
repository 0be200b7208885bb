/*
 * bench/gategen.c - the feature table of `make bench-gate` (bench/gate.sh).
 *
 *   gategen sqlite DB TABLE ROWS SEED   create TABLE in the SQLite file DB
 *   gategen copy ROWS SEED              PostgreSQL COPY text on stdout
 *   gategen ddl sqlite|postgres TABLE   the CREATE TABLE statement
 *
 * Both outputs come from the same generator, so for one (ROWS, SEED) the
 * SQLite table and the PostgreSQL table hold the same values: every double
 * is formatted with %.17g and read back with strtod (exact round trip, the
 * way PostgreSQL's float8in reads it), NULLs are the same cells.  The
 * pseudo-random stream is splitmix64 seeded with SEED: deterministic on a
 * given libm (Box-Muller uses log, sqrt and cos).
 *
 * Columns (20 plus the key):
 *   id       integer key 1..ROWS
 *   f01..f09 double: normal(0,1), normal(50,10) 1% NULL, exponential(1),
 *            uniform[0,1), lognormal(0,0.5), normal(-3,2) 0.5% NULL,
 *            uniform[-100,100), gamma(2,1), uniform^2
 *   i01..i09 integer: age 18..90, floor(5*exp(1)), rating 0..4,
 *            uniform 0..999999, binomial(10,0.3), geometric(0.2),
 *            days 0..3650 2% NULL, flag 0/1, uniform 0..2^40-1 (bigint)
 *   country  text, 5 values: US 40%, IN 20%, DE 15%, BR 15%, FR 10%
 *   label    integer 0/1, P(1) = 0.20 + 0.15*f04 + a per-country offset
 *            (demographic parity ratio about 0.86)
 *
 * Build: cc -O2 -o gategen bench/gategen.c -lsqlite3 -lm
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF 9
#define NI 9

static uint64_t st;

static uint64_t next(void)
{
	uint64_t z = (st += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0,1), 53 bits */
static double unif(void) { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }

static double normal(void)
{
	double u1 = 1.0 - unif(), u2 = unif();
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double expo(void) { return -log(1.0 - unif()); }

static const char *countries[] = {"US", "IN", "DE", "BR", "FR"};
static const double cum[] = {0.40, 0.60, 0.75, 0.90, 1.00};
static const double offset[] = {0.00, 0.02, -0.01, 0.015, -0.02};

struct row {
	long long id;
	double f[NF];
	int fnull[NF];
	long long i[NI];
	int inull[NI];
	int country;
	int label;
};

static void gen(struct row *r, long long id)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->f[0] = normal();
	r->f[1] = 50.0 + 10.0 * normal();
	r->fnull[1] = unif() < 0.01;
	r->f[2] = expo();
	r->f[3] = unif();
	r->f[4] = exp(0.5 * normal());
	r->f[5] = -3.0 + 2.0 * normal();
	r->fnull[5] = unif() < 0.005;
	r->f[6] = -100.0 + 200.0 * unif();
	r->f[7] = expo() + expo();
	double u = unif();
	r->f[8] = u * u;

	r->i[0] = 18 + (long long)(next() % 73);
	r->i[1] = (long long)floor(5.0 * expo());
	r->i[2] = (long long)(next() % 5);
	r->i[3] = (long long)(next() % 1000000);
	long long b = 0;
	for (int k = 0; k < 10; k++)
		b += unif() < 0.3;
	r->i[4] = b;
	r->i[5] = (long long)floor(log(1.0 - unif()) / log(0.8));
	r->i[6] = (long long)(next() % 3651);
	r->inull[6] = unif() < 0.02;
	r->i[7] = (long long)(next() & 1);
	r->i[8] = (long long)(next() >> 24);

	double c = unif();
	int k = 0;
	while (k < 4 && c >= cum[k])
		k++;
	r->country = k;
	r->label = unif() < 0.20 + 0.15 * r->f[3] + offset[k];
}

/* the value PostgreSQL would store for the text fmt: exact round trip */
static double canon(double x, char *buf, size_t n)
{
	snprintf(buf, n, "%.17g", x);
	return strtod(buf, NULL);
}

static void ddl(const char *kind, const char *table)
{
	int pg = strcmp(kind, "postgres") == 0;
	printf("CREATE TABLE %s (id %s", table, pg ? "bigint NOT NULL" : "INTEGER PRIMARY KEY");
	for (int k = 0; k < NF; k++)
		printf(", f%02d %s", k + 1, pg ? "double precision" : "REAL");
	for (int k = 0; k < NI; k++)
		printf(", i%02d %s", k + 1, pg ? (k == NI - 1 ? "bigint" : "integer") : "INTEGER");
	printf(", country %s, label %s);\n", pg ? "text" : "TEXT", pg ? "integer" : "INTEGER");
}

static int die_sql(sqlite3 *db, const char *what)
{
	fprintf(stderr, "gategen: %s: %s\n", what, sqlite3_errmsg(db));
	return 1;
}

static int to_sqlite(const char *path, const char *table, long long rows)
{
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return die_sql(db, path);
	char sql[2048];
	if (sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN", 0, 0, 0) != SQLITE_OK)
		return die_sql(db, "pragma");
	/* the CREATE TABLE text from ddl(), rebuilt here without stdout */
	int n = snprintf(sql, sizeof sql, "CREATE TABLE %s (id INTEGER PRIMARY KEY", table);
	for (int k = 0; k < NF; k++)
		n += snprintf(sql + n, sizeof sql - n, ", f%02d REAL", k + 1);
	for (int k = 0; k < NI; k++)
		n += snprintf(sql + n, sizeof sql - n, ", i%02d INTEGER", k + 1);
	snprintf(sql + n, sizeof sql - n, ", country TEXT, label INTEGER)");
	if (sqlite3_exec(db, sql, 0, 0, 0) != SQLITE_OK)
		return die_sql(db, "create table");
	n = snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (?", table);
	for (int k = 0; k < 2 + NF + NI; k++)
		n += snprintf(sql + n, sizeof sql - n, ",?");
	snprintf(sql + n, sizeof sql - n, ")");
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK)
		return die_sql(db, "prepare");
	struct row r;
	char buf[64];
	for (long long id = 1; id <= rows; id++) {
		gen(&r, id);
		int p = 1;
		sqlite3_bind_int64(ins, p++, r.id);
		for (int k = 0; k < NF; k++, p++)
			if (r.fnull[k])
				sqlite3_bind_null(ins, p);
			else
				sqlite3_bind_double(ins, p, canon(r.f[k], buf, sizeof buf));
		for (int k = 0; k < NI; k++, p++)
			if (r.inull[k])
				sqlite3_bind_null(ins, p);
			else
				sqlite3_bind_int64(ins, p, r.i[k]);
		sqlite3_bind_text(ins, p++, countries[r.country], -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, p++, r.label);
		if (sqlite3_step(ins) != SQLITE_DONE)
			return die_sql(db, "insert");
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK)
		return die_sql(db, "commit");
	return sqlite3_close(db) == SQLITE_OK ? 0 : die_sql(db, "close");
}

static int to_copy(long long rows)
{
	static char out[1 << 16];
	setvbuf(stdout, out, _IOFBF, sizeof out);
	struct row r;
	for (long long id = 1; id <= rows; id++) {
		gen(&r, id);
		printf("%lld", r.id);
		for (int k = 0; k < NF; k++)
			if (r.fnull[k])
				fputs("\t\\N", stdout);
			else
				printf("\t%.17g", r.f[k]);
		for (int k = 0; k < NI; k++)
			if (r.inull[k])
				fputs("\t\\N", stdout);
			else
				printf("\t%lld", r.i[k]);
		printf("\t%s\t%d\n", countries[r.country], r.label);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "sqlite") == 0) {
		st = strtoull(argv[5], NULL, 10);
		return to_sqlite(argv[2], argv[3], atoll(argv[4]));
	}
	if (argc == 4 && strcmp(argv[1], "copy") == 0) {
		st = strtoull(argv[3], NULL, 10);
		return to_copy(atoll(argv[2]));
	}
	if (argc == 4 && strcmp(argv[1], "ddl") == 0) {
		ddl(argv[2], argv[3]);
		return 0;
	}
	fprintf(stderr, "usage: gategen sqlite DB TABLE ROWS SEED | copy ROWS SEED | ddl sqlite|postgres TABLE\n");
	return 2;
}
