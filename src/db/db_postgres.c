/*
 * db_postgres.c - the PostgreSQL driver (libpq, libpg_query).
 *
 * State lives in schema "sluice".  The migration lock is a session-level
 * advisory lock: the server releases it when the session ends, so a killed
 * sluice never leaves a lock behind.  Scripts are split by libpg_query, the
 * real PostgreSQL parser, so dollar quotes, function bodies and DO blocks
 * split exactly as the server would read them, and statements that cannot
 * run in a transaction block are recognised from the parse tree, not by
 * pattern matching.
 */
#include "db.h"
#include "pgcopy.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <ctype.h>
#include <dlfcn.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* pg_advisory_lock key: "sluice" in ASCII. */
#define SL_PG_LOCK_KEY "126939627856741"

/*
 * libpq is loaded when the first PostgreSQL URL is opened, not when sluice
 * starts: with its dependencies (GnuTLS, Kerberos, LDAP) it adds about 8 ms
 * to every start, which every SQLite command and every lint run would pay.
 * The calls below go through this table (the names are macros for it).
 */
static struct {
	void (*clear)(PGresult *);
	char *(*resultErrorField)(const PGresult *, int);
	ExecStatusType (*resultStatus)(const PGresult *);
	PGresult *(*exec)(PGconn *, const char *);
	char *(*errorMessage)(const PGconn *);
	PGTransactionStatusType (*transactionStatus)(const PGconn *);
	int (*serverVersion)(const PGconn *);
	ConnStatusType (*status)(const PGconn *);
	PQnoticeProcessor (*setNoticeProcessor)(PGconn *, PQnoticeProcessor, void *);
	int (*ntuples)(const PGresult *);
	int (*nfields)(const PGresult *);
	char *(*getvalue)(const PGresult *, int, int);
	int (*getisnull)(const PGresult *, int, int);
	PGresult *(*getResult)(PGconn *);
	int (*getCopyData)(PGconn *, char **, int);
	void (*freemem)(void *);
	void (*finish)(PGconn *);
	PGresult *(*execParams)(PGconn *, const char *, int, const Oid *, const char *const *, const int *, const int *, int);
	PGconn *(*connectdb)(const char *);
	PGresult *(*prepare)(PGconn *, const char *, const char *, int, const Oid *);
	PGresult *(*describePrepared)(PGconn *, const char *);
	Oid (*ftype)(const PGresult *, int);
	Oid (*ftable)(const PGresult *, int);
	int (*ftablecol)(const PGresult *, int);
} pq;

static int pq_load(struct sl_error *err)
{
	static int loaded;
	if (loaded)
		return 0;
	void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return sl_err(err, SL_ENV, "cannot load libpq for PostgreSQL (install libpq5): %s",
			      dlerror());
	/* POSIX: a function pointer is read through a void * from dlsym */
#define LOAD(name)                                                                         \
	do {                                                                               \
		void *sym = dlsym(h, "PQ" #name);                                          \
		if (!sym)                                                                  \
			return sl_err(err, SL_ENV, "libpq lacks PQ" #name);                \
		memcpy(&pq.name, &sym, sizeof(sym));                                       \
	} while (0)
	LOAD(clear);
	LOAD(resultErrorField);
	LOAD(resultStatus);
	LOAD(exec);
	LOAD(errorMessage);
	LOAD(transactionStatus);
	LOAD(serverVersion);
	LOAD(status);
	LOAD(setNoticeProcessor);
	LOAD(ntuples);
	LOAD(nfields);
	LOAD(getvalue);
	LOAD(getisnull);
	LOAD(getResult);
	LOAD(getCopyData);
	LOAD(freemem);
	LOAD(finish);
	LOAD(execParams);
	LOAD(connectdb);
	LOAD(prepare);
	LOAD(describePrepared);
	LOAD(ftype);
	LOAD(ftable);
	LOAD(ftablecol);
#undef LOAD
	loaded = 1;
	return 0;
}

#define PQclear pq.clear
#define PQresultErrorField pq.resultErrorField
#define PQresultStatus pq.resultStatus
#define PQexec pq.exec
#define PQerrorMessage pq.errorMessage
#define PQtransactionStatus pq.transactionStatus
#define PQserverVersion pq.serverVersion
#define PQstatus pq.status
#define PQsetNoticeProcessor pq.setNoticeProcessor
#define PQntuples pq.ntuples
#define PQnfields pq.nfields
#define PQgetvalue pq.getvalue
#define PQgetisnull pq.getisnull
#define PQgetResult pq.getResult
#define PQgetCopyData pq.getCopyData
#define PQfreemem pq.freemem
#define PQfinish pq.finish
#define PQexecParams pq.execParams
#define PQconnectdb pq.connectdb
#define PQprepare pq.prepare
#define PQdescribePrepared pq.describePrepared
#define PQftype pq.ftype
#define PQftable pq.ftable
#define PQftablecol pq.ftablecol

struct pg_db {
	struct sl_db base;
	PGconn *conn;
	char *conninfo;     /* the real URL (secret): only to open a shadow */
	int shadow;         /* a plan shadow: one transaction, rolled back on close */
};

static const char *const pg_schemes[] = { "postgres", "postgresql", NULL };

/* Fill err from a failed result (or the connection when res is NULL). */
static int pg_err(struct pg_db *d, PGresult *res, struct sl_error *err)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
	int code = SL_ENV;
	if (sqlstate && strcmp(sqlstate, "42601") == 0)
		code = SL_USAGE; /* syntax_error: the script, not the server */
	if (primary)
		sl_err(err, code, "ERROR %s: %s%s%s", sqlstate ? sqlstate : "",
		       primary, detail ? " DETAIL: " : "", detail ? detail : "");
	else
		sl_err(err, code, "%s", PQerrorMessage(d->conn));
	if (hint)
		sl_err_hint(err, "%s", hint);
	if (err && pos)
		err->column = atoi(pos); /* character position in the statement */
	return -1;
}

static void pg_close(struct sl_db *db)
{
	struct pg_db *d = (struct pg_db *)db;
	if (!d)
		return;
	if (d->conn) {
		if (d->shadow)
			PQclear(PQexec(d->conn, "ROLLBACK"));
		PQfinish(d->conn);
	}
	free(d->conninfo);
	free(d->base.url_masked);
	free(d);
}

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int pg_exec(struct sl_db *db, const char *sql, struct sl_error *err)
{
	struct pg_db *d = (struct pg_db *)db;
	PGresult *res = PQexec(d->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		pg_err(d, res, err);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

static int pg_open(struct sl_db **out, const char *url, const char *base_dir,
		   struct sl_error *err)
{
	(void)base_dir;
	*out = NULL;
	if (pq_load(err))
		return -1;
	struct pg_db *d = sl_calloc(1, sizeof(*d));
	d->base.driver = &sl_postgres_driver;
	struct sl_buf m = SL_BUF_INIT;
	sl_mask_url(url, &m);
	d->base.url_masked = sl_buf_detach(&m);
	d->conninfo = sl_strdup(url);
	d->conn = PQconnectdb(url);
	if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
		/* libpq's message can quote the conninfo: mask it too. */
		struct sl_buf msg = SL_BUF_INIT;
		sl_mask_text(url, d->conn ? PQerrorMessage(d->conn) : "out of memory", &msg);
		sl_err(err, SL_ENV, "cannot connect to %s: %s", d->base.url_masked, msg.s);
		sl_buf_free(&msg);
		pg_close(&d->base);
		return -1;
	}
	PQsetNoticeProcessor(d->conn, quiet_notices, NULL);
	if (pg_exec(&d->base, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'", err)) {
		pg_close(&d->base);
		return -1;
	}
	/*
	 * A killed sluice must not keep the lock: without this the server only
	 * notices the dead client when the running statement ends (PG 14+;
	 * refused on platforms that cannot poll for it, which is harmless).
	 */
	if (PQserverVersion(d->conn) >= 140000)
		pg_exec(&d->base, "SET client_connection_check_interval = '1s'", NULL);
	*out = &d->base;
	return 0;
}

/* Rewrite sluice's '?' placeholders as $1, $2 ... (no '?' occurs in
 * sluice's own SQL except as a placeholder). */
static char *dollar_params(const char *sql)
{
	struct sl_buf b = SL_BUF_INIT;
	int n = 0;
	for (const char *p = sql; *p; p++) {
		if (*p == '?')
			sl_buf_printf(&b, "$%d", ++n);
		else
			sl_buf_addc(&b, *p);
	}
	return sl_buf_detach(&b);
}

static int pg_query(struct sl_db *db, const char *sql, const char *const *params,
		    int nparams, sl_row_fn cb, void *arg, struct sl_error *err)
{
	struct pg_db *d = (struct pg_db *)db;
	char *q = dollar_params(sql);
	PGresult *res = PQexecParams(d->conn, q, nparams, NULL, params, NULL, NULL, 0);
	free(q);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_err(d, res, err);
		PQclear(res);
		return -1;
	}
	int rows = PQntuples(res), ncols = PQnfields(res);
	const char **vals = sl_calloc((size_t)(ncols ? ncols : 1), sizeof(*vals));
	for (int r = 0; cb && r < rows; r++) {
		for (int c = 0; c < ncols; c++)
			vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
		if (cb(arg, ncols, vals))
			break;
	}
	free(vals);
	PQclear(res);
	return 0;
}

/*
 * Decode one row of COPY's text format in place: fields split by tabs,
 * \N is NULL, backslash escapes (\b \f \n \r \t \v \\, octal \ooo and
 * hex \xhh) as PostgreSQL writes them.  libpq hands the raw line over and
 * has no decoder for it.  Returns the field count, or -1 if there are more
 * than max.
 */
static int copy_fields(char *line, size_t len, const char **vals, int max)
{
	int n = 0;
	char *w = line, *start = line;
	int is_null = 0;
	if (len && line[len - 1] == '\n')
		len--;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || line[i] == '\t') {
			if (n == max)
				return -1;
			*w++ = '\0';
			vals[n++] = is_null ? NULL : start;
			start = w;
			is_null = 0;
			continue;
		}
		if (line[i] != '\\' || i + 1 >= len) {
			*w++ = line[i];
			continue;
		}
		char c = line[++i];
		switch (c) {
		case 'N':
			is_null = 1;
			break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'v': *w++ = '\v'; break;
		case 'x': {
			int v = 0, k = 0;
			while (k < 2 && i + 1 < len && isxdigit((unsigned char)line[i + 1])) {
				char h = line[++i];
				v = v * 16 + (isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
				k++;
			}
			*w++ = (char)v;
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				int v = c - '0', k = 1;
				while (k < 3 && i + 1 < len && line[i + 1] >= '0' && line[i + 1] <= '7') {
					v = v * 8 + (line[++i] - '0');
					k++;
				}
				*w++ = (char)v;
			} else {
				*w++ = c;
			}
		}
	}
	return n;
}

static int pg_stream(struct sl_db *db, const char *sql, sl_row_fn cb, void *arg,
		     struct sl_error *err)
{
	struct pg_db *d = (struct pg_db *)db;
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_printf(&q, "COPY (%s) TO STDOUT", sql);
	PGresult *res = PQexec(d->conn, q.s);
	sl_buf_free(&q);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pg_err(d, res, err);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	const char **vals = NULL;
	int max = 0, stop = 0, rc = 0;
	char *line;
	int len;
	while ((len = PQgetCopyData(d->conn, &line, 0)) > 0) {
		if (!stop) {
			/* size the fields first: copy_fields splits the line in place,
			 * so it cannot be run twice on it (tabs in values arrive
			 * escaped: every raw tab separates two fields) */
			int need = 1;
			for (int i = 0; i < len; i++)
				need += line[i] == '\t';
			if (need > max) {
				max = need;
				vals = sl_realloc(vals, (size_t)max * sizeof(*vals));
			}
			int n = copy_fields(line, (size_t)len, vals, max);
			/* keep reading to the end: the connection must finish the COPY */
			stop = cb(arg, n, vals) != 0;
		}
		PQfreemem(line);
	}
	free(vals);
	if (len == -2) {
		rc = sl_err(err, SL_ENV, "reading rows: %s", PQerrorMessage(d->conn));
	}
	while ((res = PQgetResult(d->conn))) {
		if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_err(d, res, err);
			rc = -1;
		}
		PQclear(res);
	}
	return rc;
}

/* ---- typed rows: binary COPY ------------------------------------------- */

/* Type OIDs (pg_type.dat; fixed since PostgreSQL 7.x). */
#define PG_OID_BOOL 16
#define PG_OID_NAME 19
#define PG_OID_INT8 20
#define PG_OID_INT2 21
#define PG_OID_INT4 23
#define PG_OID_TEXT 25
#define PG_OID_FLOAT8 701
#define PG_OID_BPCHAR 1042
#define PG_OID_VARCHAR 1043
#define PG_OID_NUMERIC 1700

/*
 * A column the server turns into its text form for us (see plan_columns).
 * So is real (float4): a number read from its text is the double nearest
 * float4out's shortest digits, not the float itself, and finding those
 * digits here costs more than the server's Ryu printing them.
 */
#define KIND_SERVER_TEXT 0xFF

static unsigned char kind_of_type(Oid t)
{
	switch (t) {
	case PG_OID_BOOL: return SL_PGCOPY_BOOL;
	case PG_OID_INT2: return SL_PGCOPY_INT2;
	case PG_OID_INT4: return SL_PGCOPY_INT4;
	case PG_OID_INT8: return SL_PGCOPY_INT8;
	case PG_OID_FLOAT8: return SL_PGCOPY_FLOAT8;
	case PG_OID_NUMERIC: return SL_PGCOPY_NUMERIC;
	case PG_OID_TEXT:
	case PG_OID_VARCHAR:
	case PG_OID_BPCHAR:
	case PG_OID_NAME:
		return SL_PGCOPY_TEXT;
	default:
		return KIND_SERVER_TEXT;
	}
}

/* What plan_columns learns of a query's result columns. */
struct col_plan {
	int ncols;
	unsigned char *kinds;       /* enum sl_pgcopy_kind, or KIND_SERVER_TEXT */
	Oid *type, *rel;            /* result type (a domain's base type); source table */
	int *att;                   /* source column number, 0 if none */
	char **out_fn;              /* the type's output function (regproc text) */
	int *domain;                /* the source column is declared with a domain */
	int efd;                    /* the session's extra_float_digits */
};

static void col_plan_free(struct col_plan *p)
{
	for (int i = 0; p->out_fn && i < p->ncols; i++)
		free(p->out_fn[i]);
	free(p->out_fn);
	free(p->kinds);
	free(p->type);
	free(p->rel);
	free(p->att);
	free(p->domain);
	memset(p, 0, sizeof(*p));
}

static int type_info_cb(void *arg, int ncols, const char *const *v)
{
	struct col_plan *p = arg;
	/* i, output function, declared type differs (a domain), extra_float_digits */
	int i = ncols == 4 && v[0] ? atoi(v[0]) : -1;
	if (i < 0 || i >= p->ncols)
		return 0;
	free(p->out_fn[i]);
	p->out_fn[i] = v[1] ? sl_strdup(v[1]) : NULL;
	p->domain[i] = v[2] && v[2][0] == 't';
	p->efd = v[3] ? atoi(v[3]) : 0;
	return 0;
}

/*
 * Learn the result columns of sql without running it (the unnamed
 * prepared statement, described), then how each travels: the types
 * pgcopy.h decodes, decoded; any other through the type's own output
 * function on the server (textin(timestamptz_out(x))), which is exactly
 * what COPY's text form prints; a cast to text is not always that (bool
 * gives 'true', inet adds the netmask).  float8 is decoded only where the
 * text form is the shortest exact one (PostgreSQL 12+, extra_float_digits
 * >= 1), so a number read from either form is the same double, and not for
 * columns declared with a domain, which the profile treats as categories
 * and would print with "%.15g".
 */
static int plan_columns(struct pg_db *d, const char *sql, struct col_plan *p,
			struct sl_error *err)
{
	memset(p, 0, sizeof(*p));
	PGresult *res = PQprepare(d->conn, "", sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_err(d, res, err);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	res = PQdescribePrepared(d->conn, "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_err(d, res, err);
		PQclear(res);
		return -1;
	}
	int n = PQnfields(res);
	size_t alloc = n > 0 ? (size_t)n : 1;
	p->ncols = n;
	p->kinds = sl_calloc(alloc, sizeof(*p->kinds));
	p->type = sl_calloc(alloc, sizeof(*p->type));
	p->rel = sl_calloc(alloc, sizeof(*p->rel));
	p->att = sl_calloc(alloc, sizeof(*p->att));
	p->out_fn = sl_calloc(alloc, sizeof(*p->out_fn));
	p->domain = sl_calloc(alloc, sizeof(*p->domain));
	int need_info = 0;
	for (int i = 0; i < n; i++) {
		p->type[i] = PQftype(res, i);
		p->rel[i] = PQftable(res, i);
		p->att[i] = PQftablecol(res, i);
		p->kinds[i] = kind_of_type(p->type[i]);
		need_info |= p->kinds[i] == KIND_SERVER_TEXT || p->kinds[i] == SL_PGCOPY_FLOAT8;
	}
	PQclear(res);
	if (!need_info)
		return 0;
	/* one query for every column that needs it: output function, domain,
	 * extra_float_digits (all values below are numbers we print) */
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT v.i, t.typoutput::pg_catalog.regproc, a.atttypid <> v.typ,"
			" pg_catalog.current_setting('extra_float_digits') FROM (VALUES ");
	int first = 1;
	for (int i = 0; i < n; i++) {
		if (p->kinds[i] != KIND_SERVER_TEXT && p->kinds[i] != SL_PGCOPY_FLOAT8)
			continue;
		sl_buf_printf(&q, "%s(%d, %u::pg_catalog.oid, %u::pg_catalog.oid, %d::pg_catalog.int2)",
			      first ? "" : ", ", i, (unsigned)p->type[i], (unsigned)p->rel[i], p->att[i]);
		first = 0;
	}
	sl_buf_adds(&q, ") AS v(i, typ, rel, att)"
			" LEFT JOIN pg_catalog.pg_type t ON t.oid = v.typ"
			" LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = v.rel AND a.attnum = v.att");
	int rc = pg_query(&d->base, q.s, NULL, 0, type_info_cb, p, err);
	sl_buf_free(&q);
	if (rc) {
		col_plan_free(p);
		return -1;
	}
	int exact_float8 = PQserverVersion(d->conn) >= 120000 && p->efd >= 1;
	for (int i = 0; i < n; i++) {
		if (p->kinds[i] == SL_PGCOPY_FLOAT8 && (!exact_float8 || p->domain[i]))
			p->kinds[i] = KIND_SERVER_TEXT;
		if (p->kinds[i] == KIND_SERVER_TEXT && !p->out_fn[i]) {
			sl_err(err, SL_ENV, "result column %d has type %u, which is not in pg_type",
			       i + 1, (unsigned)p->type[i]);
			col_plan_free(p);
			return -1;
		}
	}
	return 0;
}

/* COPY (sql) TO STDOUT (FORMAT binary), with the columns the server turns
 * into text wrapped by position (a query's own names may repeat or be
 * missing): SELECT s.c1, textin(f(s.c2)) FROM (sql) AS s(c1, c2). */
static void binary_copy_sql(const struct col_plan *p, const char *sql, struct sl_buf *q)
{
	int wrap = 0;
	for (int i = 0; i < p->ncols; i++)
		wrap |= p->kinds[i] == KIND_SERVER_TEXT;
	sl_buf_adds(q, "COPY (");
	if (wrap) {
		sl_buf_adds(q, "SELECT ");
		for (int i = 0; i < p->ncols; i++) {
			if (i)
				sl_buf_adds(q, ", ");
			if (p->kinds[i] == KIND_SERVER_TEXT)
				sl_buf_printf(q, "pg_catalog.textin(%s(s.c%d))", p->out_fn[i], i + 1);
			else
				sl_buf_printf(q, "s.c%d", i + 1);
		}
		sl_buf_adds(q, " FROM (");
	}
	/* on lines of its own: a comment at the end of sql ends there */
	sl_buf_printf(q, "\n%s\n)", sql);
	if (wrap) {
		sl_buf_adds(q, " AS s(");
		for (int i = 0; i < p->ncols; i++)
			sl_buf_printf(q, "%sc%d", i ? ", " : "", i + 1);
		sl_buf_adds(q, "))");
	}
	sl_buf_adds(q, " TO STDOUT (FORMAT binary)");
}

/*
 * The rows of sql as typed cells, read with binary COPY: numbers arrive as
 * numbers (no printing on the server, no parsing here), strings without
 * COPY's escapes.  Every cell is what the text form would have given a
 * caller (pgcopy.h), so profiles and gates come out byte-identical; the
 * environment variable SLUICE_PG_TEXT_COPY=1 (any value but "" and "0")
 * reads the text form instead, to compare the two.  Like pg_stream, reads
 * to the end of the COPY even when cb stops early, so the connection stays
 * usable.  Memory: one row, reused.
 */
static int pg_stream_cells(struct sl_db *db, const char *sql, sl_cells_fn cb, void *arg,
			   struct sl_error *err)
{
	const char *text_copy = getenv("SLUICE_PG_TEXT_COPY");
	if (text_copy && *text_copy && strcmp(text_copy, "0") != 0) {
		return sl_db_stream_text_cells(db, sql, cb, arg, err);   /* the text form */
	}
	struct pg_db *d = (struct pg_db *)db;
	struct col_plan plan;
	if (plan_columns(d, sql, &plan, err))
		return -1;
	struct sl_buf q = SL_BUF_INIT;
	binary_copy_sql(&plan, sql, &q);
	PGresult *res = PQexec(d->conn, q.s);
	sl_buf_free(&q);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pg_err(d, res, err);
		PQclear(res);
		col_plan_free(&plan);
		return -1;
	}
	PQclear(res);
	unsigned char *kinds = sl_calloc(plan.ncols > 0 ? (size_t)plan.ncols : 1, 1);
	for (int i = 0; i < plan.ncols; i++)
		kinds[i] = plan.kinds[i] == KIND_SERVER_TEXT ? SL_PGCOPY_TEXT : plan.kinds[i];
	struct sl_pgcopy pc;
	sl_pgcopy_init(&pc, plan.ncols, kinds, cb, arg);
	free(kinds);
	col_plan_free(&plan);
	int rc = 0, len;
	char *data;
	while ((len = PQgetCopyData(d->conn, &data, 0)) > 0) {
		/* after an error or a stop: read on to the end of the COPY */
		if (!rc && !pc.stopped && sl_pgcopy_feed(&pc, data, (size_t)len, err))
			rc = -1;
		PQfreemem(data);
	}
	if (len == -2 && !rc)
		rc = sl_err(err, SL_ENV, "reading rows: %s", PQerrorMessage(d->conn));
	while ((res = PQgetResult(d->conn))) {
		if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_err(d, res, err);
			rc = -1;
		}
		PQclear(res);
	}
	if (!rc && !pc.stopped && sl_pgcopy_finish(&pc, err))
		rc = -1;
	sl_pgcopy_free(&pc);
	return rc;
}

static int pg_begin(struct sl_db *db, struct sl_error *err)
{
	if (((struct pg_db *)db)->shadow)
		return pg_exec(db, "SAVEPOINT sluice_migration", err);
	return pg_exec(db, "BEGIN", err);
}

static int pg_commit(struct sl_db *db, struct sl_error *err)
{
	struct pg_db *d = (struct pg_db *)db;
	if (d->shadow)
		return pg_exec(db, "RELEASE SAVEPOINT sluice_migration", err);
	/* COMMIT of an aborted transaction "succeeds" as ROLLBACK: refuse. */
	if (PQtransactionStatus(d->conn) == PQTRANS_INERROR) {
		pg_exec(db, "ROLLBACK", NULL);
		return sl_err(err, SL_ENV, "the transaction was aborted; rolled back");
	}
	return pg_exec(db, "COMMIT", err);
}

static int pg_rollback(struct sl_db *db, struct sl_error *err)
{
	struct pg_db *d = (struct pg_db *)db;
	if (d->shadow)
		return pg_exec(db, "ROLLBACK TO SAVEPOINT sluice_migration", err);
	if (PQtransactionStatus(d->conn) == PQTRANS_IDLE)
		return 0;
	return pg_exec(db, "ROLLBACK", err);
}

static void pg_quote_ident(struct sl_buf *out, const char *ident)
{
	sl_quote_ident_std(out, ident);
}

static void pg_state_table(struct sl_buf *out, const char *name)
{
	pg_quote_ident(out, "sluice");
	sl_buf_addc(out, '.');
	pg_quote_ident(out, name);
}

/* Offset of the first token at or after i (skips blanks and comments). */
static size_t first_token(const char *s, size_t i, size_t end)
{
	while (i < end) {
		if (isspace((unsigned char)s[i])) {
			i++;
		} else if (s[i] == '-' && i + 1 < end && s[i + 1] == '-') {
			while (i < end && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && i + 1 < end && s[i + 1] == '*') {
			int depth = 1; /* PostgreSQL block comments nest */
			i += 2;
			while (i < end && depth) {
				if (s[i] == '/' && i + 1 < end && s[i + 1] == '*') {
					depth++;
					i += 2;
				} else if (s[i] == '*' && i + 1 < end && s[i + 1] == '/') {
					depth--;
					i += 2;
				} else {
					i++;
				}
			}
		} else {
			break;
		}
	}
	return i;
}

static int has_word(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, w, n) == 0)
			return 1;
	return 0;
}

static int is_true(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* Does a DefElem list (ReindexStmt.params) hold "concurrently"? */
static int params_concurrently(json_t *params)
{
	size_t i;
	json_t *p;
	json_array_foreach(params, i, p) {
		json_t *de = json_object_get(p, "DefElem");
		const char *name = json_string_value(json_object_get(de, "defname"));
		if (name && strcmp(name, "concurrently") == 0)
			return 1;
	}
	return 0;
}

/*
 * Classify one statement from its parse tree.  Only statements that mention
 * a telltale word are parsed a second time, so ordinary scripts pay for one
 * parse (the split) only.
 */
static void classify(const char *s, size_t len, struct sl_stmt *st)
{
	static const char *const tx_words[] = {
		"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "START", NULL
	};
	for (size_t i = 0; tx_words[i]; i++) {
		size_t n = strlen(tx_words[i]);
		if (len >= n && strncasecmp(s, tx_words[i], n) == 0 &&
		    (len == n || !isalnum((unsigned char)s[n]))) {
			if (strcmp(tx_words[i], "START") != 0 || has_word(s, len, "TRANSACTION"))
				st->tx_control = 1;
		}
	}
	if (!has_word(s, len, "CONCURRENTLY") && !has_word(s, len, "VACUUM") &&
	    !has_word(s, len, "DATABASE") && !has_word(s, len, "SYSTEM") &&
	    !has_word(s, len, "TABLESPACE") &&
	    !(len > 5 && strncasecmp(s, "ALTER", 5) == 0 && has_word(s, len, "VALUE")))
		return;
	char *one = sl_strndup(s, len);
	PgQueryParseResult r = pg_query_parse(one);
	free(one);
	if (r.error || !r.parse_tree) {
		pg_query_free_parse_result(r);
		return;
	}
	json_t *root = json_loads(r.parse_tree, 0, NULL);
	pg_query_free_parse_result(r);
	json_t *stmt = json_object_get(json_array_get(json_object_get(root, "stmts"), 0), "stmt");
	const char *what = NULL;
	int only_before_pg12 = 0;
	json_t *node;
	if ((node = json_object_get(stmt, "IndexStmt")) && is_true(node, "concurrent"))
		what = "CREATE INDEX CONCURRENTLY";
	else if ((node = json_object_get(stmt, "DropStmt")) && is_true(node, "concurrent"))
		what = "DROP INDEX CONCURRENTLY";
	else if ((node = json_object_get(stmt, "ReindexStmt")) &&
		 params_concurrently(json_object_get(node, "params")))
		what = "REINDEX CONCURRENTLY";
	else if ((node = json_object_get(stmt, "VacuumStmt")))
		what = is_true(node, "is_vacuumcmd") ? "VACUUM" : NULL;
	else if (json_object_get(stmt, "CreatedbStmt"))
		what = "CREATE DATABASE";
	else if (json_object_get(stmt, "DropdbStmt"))
		what = "DROP DATABASE";
	else if (json_object_get(stmt, "AlterSystemStmt"))
		what = "ALTER SYSTEM";
	else if (json_object_get(stmt, "CreateTableSpaceStmt"))
		what = "CREATE TABLESPACE";
	else if (json_object_get(stmt, "DropTableSpaceStmt"))
		what = "DROP TABLESPACE";
	else if ((node = json_object_get(stmt, "AlterEnumStmt")) &&
		 !json_object_get(node, "oldVal")) {
		what = "ALTER TYPE ... ADD VALUE";
		only_before_pg12 = 1;
	}
	if (what) {
		st->no_tx = only_before_pg12 ? 2 : 1;
		snprintf(st->no_tx_what, sizeof(st->no_tx_what), "%s", what);
	}
	json_decref(root);
}

static int pg_split(const char *sql, size_t len, struct sl_stmt_list *out,
		    struct sl_error *err)
{
	char *s = sl_strndup(sql, len);
	if (strlen(s) != len) {
		free(s);
		return sl_err(err, SL_USAGE, "the script contains a NUL byte");
	}
	PgQuerySplitResult r = pg_query_split_with_parser(s);
	if (r.error) {
		int cursor = r.error->cursorpos; /* 1-based, in characters */
		size_t off = 0;
		/* cursorpos counts characters; walk UTF-8 to a byte offset. */
		for (int c = 1; off < len && c < cursor; off++)
			if (((unsigned char)s[off] & 0xC0) != 0x80)
				c++;
		while (off < len && ((unsigned char)s[off] & 0xC0) == 0x80)
			off++;
		int line = sl_line_of(s, off);
		int col = 1;
		for (size_t i = off; i > 0 && s[i - 1] != '\n'; i--)
			col++;
		sl_err(err, SL_USAGE, "syntax error: %s", r.error->message);
		if (err) {
			err->line = line;
			err->column = cursor > 0 ? col : 0;
		}
		pg_query_free_split_result(r);
		free(s);
		return -1;
	}
	size_t line_pos = 0;
	int line = 1;
	for (int i = 0; i < r.n_stmts; i++) {
		size_t start = (size_t)r.stmts[i]->stmt_location;
		size_t end = start + (size_t)r.stmts[i]->stmt_len;
		if (end > len)
			end = len;
		size_t tok = first_token(s, start, end);
		if (tok >= end)
			continue;
		for (size_t k = line_pos; k < tok; k++)
			if (s[k] == '\n')
				line++;
		line_pos = tok;
		/* The parser's length may include trailing blanks; trim them. */
		while (end > tok && isspace((unsigned char)s[end - 1]))
			end--;
		struct sl_stmt st;
		memset(&st, 0, sizeof(st));
		st.off = tok;
		st.len = end - tok;
		st.line = line;
		classify(s + tok, st.len, &st);
		sl_stmt_list_push(out, &st);
	}
	pg_query_free_split_result(r);
	free(s);
	return 0;
}

static int pg_ensure_state(struct sl_db *db, struct sl_error *err)
{
	return pg_exec(db,
		"CREATE SCHEMA IF NOT EXISTS sluice;"
		"CREATE TABLE IF NOT EXISTS sluice.history ("
		" installed_rank bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
		" version text,"
		" description text NOT NULL,"
		" kind text NOT NULL,"
		" script text NOT NULL,"
		" checksum text,"
		" installed_by text NOT NULL,"
		" installed_at timestamptz NOT NULL DEFAULT now(),"
		" execution_ms bigint NOT NULL,"
		" success boolean NOT NULL)", err);
}

static int flag_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(int *)arg = v[0] && (v[0][0] == 't' || v[0][0] == '1');
	return 1;
}

static int pg_has_state(struct sl_db *db, int *yes, struct sl_error *err)
{
	*yes = 0;
	return pg_query(db, "SELECT to_regclass('sluice.history') IS NOT NULL",
			NULL, 0, flag_cb, yes, err);
}

static int holder_cb(void *arg, int ncols, const char *const *v)
{
	struct sl_buf *b = arg;
	(void)ncols;
	sl_buf_printf(b, "%s (backend pid %s, %s, since %s)",
		      v[0] && v[0][0] ? v[0] : "an unnamed session", v[1] ? v[1] : "?",
		      v[2] ? v[2] : "local", v[3] ? v[3] : "?");
	return 1;
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pg_lock(struct sl_db *db, const char *owner, long timeout_ms,
		   struct sl_error *err)
{
	char app[64];
	snprintf(app, sizeof(app), "sluice %s", owner);
	const char *p[] = { app };
	if (pg_query(db, "SELECT set_config('application_name', ?, false)", p, 1,
		     NULL, NULL, err))
		return -1;
	long start = mono_ms(), wait = 20;
	for (;;) {
		int got = 0;
		if (pg_query(db, "SELECT pg_try_advisory_lock(" SL_PG_LOCK_KEY ")", NULL, 0,
			     flag_cb, &got, err))
			return -1;
		if (got)
			return 0;
		if (mono_ms() - start >= timeout_ms)
			break;
		struct timespec ts = { 0, wait * 1000000L };
		nanosleep(&ts, NULL);
		if (wait < 250)
			wait *= 2;
	}
	struct sl_buf who = SL_BUF_INIT;
	pg_query(db,
		 "SELECT a.application_name, a.pid,"
		 " coalesce(a.client_hostname, host(a.client_addr), 'local socket'),"
		 " date_trunc('second', a.backend_start)"
		 " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
		 " WHERE l.locktype = 'advisory' AND l.granted"
		 " AND l.classid = (" SL_PG_LOCK_KEY "::bigint >> 32)::oid"
		 " AND l.objid = (" SL_PG_LOCK_KEY "::bigint & 4294967295)::oid"
		 " AND l.objsubid = 1",
		 NULL, 0, holder_cb, &who, NULL);
	sl_err(err, SL_ENV, "the migration lock is held by %s; gave up after %ld ms",
	       who.len ? who.s : "another session", timeout_ms);
	sl_err_hint(err, "wait for it to finish, or raise --lock-timeout");
	sl_buf_free(&who);
	return -1;
}

static int pg_unlock(struct sl_db *db, struct sl_error *err)
{
	return pg_query(db, "SELECT pg_advisory_unlock(" SL_PG_LOCK_KEY ")", NULL, 0,
			NULL, NULL, err);
}

static long pg_server_version(struct sl_db *db)
{
	return PQserverVersion(((struct pg_db *)db)->conn);
}

/* ---- catalog, shadow, rows (plan) ------------------------------------- */

#define PG_USER_REL(c, n) \
	" CASE WHEN " n ".nspname = 'public' THEN " c ".relname ELSE " n ".nspname || '.' || " c ".relname END"
#define PG_USER_NS(n) \
	" " n ".nspname NOT IN ('pg_catalog', 'information_schema', 'sluice')" \
	" AND " n ".nspname NOT LIKE 'pg\\_toast%' AND " n ".nspname NOT LIKE 'pg\\_temp%'"

static int cat_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	/* kind, name, table, type, notnull, default */
	sl_catalog_add(arg, v[0], v[1], v[2], v[3], v[4] && v[4][0] == 't', v[5]);
	return 0;
}

static int pg_catalog(struct sl_db *db, struct sl_catalog *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	return pg_query(db,
		"SELECT 'table', " PG_USER_REL("c", "n") ", NULL, '', false, NULL, 0"
		" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE c.relkind IN ('r', 'p') AND" PG_USER_NS("n")
		" UNION ALL"
		" SELECT 'column', " PG_USER_REL("c", "n") " || '.' || a.attname, " PG_USER_REL("c", "n") ","
		" format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attnum"
		" FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
		" JOIN pg_namespace n ON n.oid = c.relnamespace"
		" LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
		" WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')"
		" AND a.attname NOT LIKE 'sluice\\_dropped\\_%'"   /* deploy.soft_drop */
		" AND" PG_USER_NS("n")
		" UNION ALL"
		" SELECT 'index', " PG_USER_REL("ci", "n") ", " PG_USER_REL("ct", "n") ","
		" pg_get_indexdef(i.indexrelid), false, NULL, 0"
		" FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid"
		" JOIN pg_class ct ON ct.oid = i.indrelid JOIN pg_namespace n ON n.oid = ct.relnamespace"
		" WHERE" PG_USER_NS("n")
		" UNION ALL"
		" SELECT 'view', " PG_USER_REL("c", "n") ", NULL, pg_get_viewdef(c.oid), false, NULL, 0"
		" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE c.relkind IN ('v', 'm') AND" PG_USER_NS("n")
		" UNION ALL"
		" SELECT 'trigger', t.tgname, " PG_USER_REL("c", "n") ", pg_get_triggerdef(t.oid), false, NULL, 0"
		" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
		" JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE NOT t.tgisinternal AND" PG_USER_NS("n")
		" UNION ALL"
		" SELECT 'constraint', " PG_USER_REL("c", "n") " || '.' || con.conname, " PG_USER_REL("c", "n") ","
		" pg_get_constraintdef(con.oid), false, NULL, 0"
		" FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid"
		" JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE con.contype IN ('c', 'f', 'u', 'p', 'x') AND" PG_USER_NS("n")
		" ORDER BY 1, 3, 7, 2",  /* columns in table order */
		NULL, 0, cat_cb, out, err);
}

/* Drop the first CONCURRENTLY keyword outside quotes (for a shadow). */
static char *without_concurrently(const char *sql)
{
	struct sl_buf b = SL_BUF_INIT;
	int done = 0;
	char q = 0;
	for (const char *p = sql; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
		} else if (*p == '\'' || *p == '"') {
			q = *p;
		} else if (!done && strncasecmp(p, "CONCURRENTLY", 12) == 0 &&
			   (p == sql || !isalnum((unsigned char)p[-1])) &&
			   !isalnum((unsigned char)p[12]) && p[12] != '_') {
			p += 11;
			done = 1;
			continue;
		}
		sl_buf_addc(&b, *p);
	}
	return sl_buf_detach(&b);
}

/*
 * In a shadow every statement runs under a savepoint: one that cannot run
 * in a transaction block (SQLSTATE 25001) is retried without CONCURRENTLY,
 * which builds the same catalog objects; VACUUM and the like change no
 * catalog and are skipped.
 */
static int pg_shadow_exec(struct sl_db *db, const char *sql, struct sl_error *err)
{
	struct pg_db *d = (struct pg_db *)db;
	if (pg_exec(db, "SAVEPOINT sluice_stmt", err))
		return -1;
	PGresult *res = PQexec(d->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state && !strcmp(state, "25001")) {
			pg_exec(db, "ROLLBACK TO SAVEPOINT sluice_stmt", NULL);
			char *again = without_concurrently(sql);
			if (strcmp(again, sql) != 0)
				rc = pg_exec(db, again, err);
			free(again);
		} else {
			pg_err(d, res, err);
			pg_exec(db, "ROLLBACK TO SAVEPOINT sluice_stmt", NULL);
			rc = -1;
		}
	}
	PQclear(res);
	if (rc == 0)
		pg_exec(db, "RELEASE SAVEPOINT sluice_stmt", NULL);
	return rc;
}

static int pg_shadow(struct sl_db *db, struct sl_db **out, struct sl_error *err)
{
	struct pg_db *src = (struct pg_db *)db;
	*out = NULL;
	struct sl_db *copy;
	if (pg_open(&copy, src->conninfo, NULL, err))
		return -1;
	struct pg_db *d = (struct pg_db *)copy;
	if (pg_exec(copy, "BEGIN", err)) {
		pg_close(copy);
		return -1;
	}
	d->shadow = 1;
	*out = copy;
	return 0;
}

static int ll_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(long long *)arg = v[0] ? atoll(v[0]) : -1;
	return 1;
}

static int pg_count_rows(struct sl_db *db, const char *table, long long *rows,
			 struct sl_error *err)
{
	const char *dot = strchr(table, '.');
	char *ns = dot ? sl_strndup(table, (size_t)(dot - table)) : sl_strdup("public");
	const char *rel = dot ? dot + 1 : table;
	const char *p[] = { ns, rel };
	*rows = -1;
	int rc = pg_query(db, "SELECT c.reltuples::bigint FROM pg_class c"
			  " JOIN pg_namespace n ON n.oid = c.relnamespace"
			  " WHERE n.nspname = ? AND c.relname = ?", p, 2, ll_cb, rows, err);
	if (!rc && *rows < 0) {
		/* never analysed: count (plan shows rows only for tables it changes) */
		struct sl_buf q = SL_BUF_INIT;
		sl_buf_adds(&q, "SELECT count(*) FROM ");
		pg_quote_ident(&q, ns);
		sl_buf_addc(&q, '.');
		pg_quote_ident(&q, rel);
		rc = pg_query(db, q.s, NULL, 0, ll_cb, rows, err);
		sl_buf_free(&q);
	}
	free(ns);
	return rc;
}

/* The driver's exec: statements of migrations (shadow-aware). */
static int pg_exec_stmt(struct sl_db *db, const char *sql, struct sl_error *err)
{
	if (((struct pg_db *)db)->shadow)
		return pg_shadow_exec(db, sql, err);
	return pg_exec(db, sql, err);
}

const struct sl_db_driver sl_postgres_driver = {
	.version = 1,
	.name = "postgres",
	.schemes = pg_schemes,
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec_stmt,
	.query = pg_query,
	.stream = pg_stream,
	.stream_cells = pg_stream_cells,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.quote_ident = pg_quote_ident,
	.state_table = pg_state_table,
	.split = pg_split,
	.ensure_state = pg_ensure_state,
	.lock = pg_lock,
	.unlock = pg_unlock,
	.server_version = pg_server_version,
	.has_state = pg_has_state,
	.catalog = pg_catalog,
	.shadow = pg_shadow,
	.count_rows = pg_count_rows,
};
