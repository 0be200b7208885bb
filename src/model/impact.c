/*
 * impact.c - the model-impact gate (see impact.h).
 */
#include "impact.h"
#include "learn.h"
#include "../contract/contract.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../db/db.h"
#include "../quality/baseline.h"
#include "../quality/gate.h"
#include "../stats/profile.h"
#include "../stats/stattest.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- which columns a sample holds ---------------------------------------- */

enum spec_kind { SPEC_NUM, SPEC_CAT, SPEC_LABEL };

struct spec {
	char *name;                  /* input or label column, or "prediction:<id>" */
	char *sql;                   /* expression in the SELECT list */
	enum spec_kind kind;
};

struct specs {
	struct spec *v;
	size_t n;
	struct sl_strvec joins;      /* prediction tables, joined as p1, p2, ... */
	struct sl_strvec keys;
};

static void specs_free(struct specs *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].sql);
	}
	free(s->v);
	sl_strvec_free(&s->joins);
	sl_strvec_free(&s->keys);
	memset(s, 0, sizeof(*s));
}

static int specs_has(const struct specs *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return 1;
	return 0;
}

static void specs_add(struct specs *s, const char *name, char *sql, enum spec_kind kind)
{
	if (specs_has(s, name)) {
		free(sql);
		return;
	}
	s->v = sl_realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = (struct spec){ sl_strdup(name), sql, kind };
}

static const char *bare_table(const char *t)
{
	return !strncasecmp(t, "public.", 7) ? t + 7 : t;
}

static const struct sl_cat_obj *find_col(const struct sl_catalog *cat, const char *table,
					 const char *col)
{
	struct sl_buf k = SL_BUF_INIT;
	sl_buf_printf(&k, "%s.%s", bare_table(table), col);
	const struct sl_cat_obj *o = sl_catalog_find(cat, "column", k.s);
	sl_buf_free(&k);
	return o;
}

static void pred_name(struct sl_buf *b, const struct sl_model_contract *m)
{
	sl_buf_adds(b, "prediction:");
	sl_model_id(b, m);
}

static int model_keys(const struct sl_contracts *c, const struct sl_model_contract *m,
		      struct sl_strvec *keys, struct sl_error *err)
{
	const struct sl_strvec *k = &m->keys;
	if (!k->n) {
		const struct sl_feature_contract *f = sl_contracts_feature_next(c, m->table, NULL);
		if (f)
			k = &f->keys;
	}
	if (!k->n)
		return sl_err(err, SL_USAGE,
			      "model %s v%s: no key to split and sample rows by (set 'key' in %s or "
			      "in the feature contract of %s)", m->name, m->version, m->path, m->table);
	for (size_t i = 0; i < k->n; i++)
		sl_strvec_push(keys, k->v[i]);
	return 0;
}

/* Add the columns model m reads to s (the table alias is t). */
static void add_model_specs(struct specs *s, struct sl_db *db, const struct sl_catalog *cat,
			    const struct sl_model_contract *m)
{
	const struct sl_db_driver *d = db->driver;
	for (size_t i = 0; i < m->inputs.n; i++) {
		const struct sl_cat_obj *o = find_col(cat, m->table, m->inputs.v[i]);
		enum sl_type_family tf = sl_type_family(o && o->type ? o->type : "");
		struct sl_buf q = SL_BUF_INIT;
		sl_buf_adds(&q, "t.");
		d->quote_ident(&q, m->inputs.v[i]);
		specs_add(s, m->inputs.v[i], sl_buf_detach(&q),
			  tf == SL_TF_INT || tf == SL_TF_FLOAT ? SPEC_NUM : SPEC_CAT);
	}
	if (m->label) {
		struct sl_buf q = SL_BUF_INIT;
		sl_buf_adds(&q, "t.");
		d->quote_ident(&q, m->label);
		specs_add(s, m->label, sl_buf_detach(&q), SPEC_LABEL);
	}
	if (m->pred_sql || m->pred_column) {
		struct sl_buf name = SL_BUF_INIT, q = SL_BUF_INIT;
		pred_name(&name, m);
		if (m->pred_sql) {
			sl_buf_printf(&q, "(%s)", m->pred_sql);   /* the contract author's SQL */
		} else if (m->pred_table && strcmp(bare_table(m->pred_table), bare_table(m->table))) {
			size_t j = 0;
			while (j < s->joins.n && strcmp(s->joins.v[j], m->pred_table))
				j++;
			if (j == s->joins.n)
				sl_strvec_push(&s->joins, m->pred_table);
			sl_buf_printf(&q, "p%zu.", j + 1);
			d->quote_ident(&q, m->pred_column);
		} else {
			sl_buf_adds(&q, "t.");
			d->quote_ident(&q, m->pred_column);
		}
		specs_add(s, name.s, sl_buf_detach(&q), SPEC_LABEL);
		sl_buf_free(&name);
	}
}

/* ---- reading a sample ------------------------------------------------------ */

struct heap_ent {
	uint64_t h;
	size_t row;
};

struct loader {
	struct sl_dataset *ds;
	const struct specs *s;
	long long k;                 /* bottom-k size; 0: every row */
	struct heap_ent *heap;       /* max-heap on h, while sampling */
	size_t nheap;
	struct sl_buf key;
	const char **vals;
	double *nums;
	unsigned long long rows, bad_numbers;
	int bad;
};

static void heap_down(struct heap_ent *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && h[l].h > h[m].h)
			m = l;
		if (r < n && h[r].h > h[m].h)
			m = r;
		if (m == i)
			return;
		struct heap_ent t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_up(struct heap_ent *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		if (h[p].h >= h[i].h)
			return;
		struct heap_ent t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

/* A label or prediction as a number: numbers, and booleans as 1/0. */
static double label_value(const struct sl_cell *c, int *bad)
{
	switch (c->type) {
	case SL_CELL_NULL:
		return NAN;
	case SL_CELL_INT:
	case SL_CELL_REAL:
		return c->d;
	default:
		break;
	}
	const char *s = c->s;
	if (!strcasecmp(s, "t") || !strcasecmp(s, "true") || !strcasecmp(s, "yes"))
		return 1;
	if (!strcasecmp(s, "f") || !strcasecmp(s, "false") || !strcasecmp(s, "no"))
		return 0;
	double v;
	if (sl_read_number(s, &v)) {
		*bad = 1;
		return NAN;
	}
	return v;
}

static int load_row(void *arg, int ncols, const struct sl_cell *cells)
{
	struct loader *L = arg;
	size_t nk = L->s->keys.n;
	if ((size_t)ncols != nk + L->s->n) {
		L->bad = 1;
		return 1;
	}
	L->rows++;
	sl_buf_reset(&L->key);
	char buf[32];
	for (size_t i = 0; i < nk; i++) {
		const char *t = sl_cell_text(&cells[i], buf);
		if (i)
			sl_buf_addc(&L->key, '\x1f');
		sl_buf_adds(&L->key, t ? t : "\x1e");
	}
	uint64_t h = sl_key_hash(L->key.s ? L->key.s : "", L->key.len);
	size_t row;
	if (!L->k || L->ds->n < (size_t)L->k) {
		row = L->ds->n;
	} else if (h < L->heap[0].h) {
		row = L->heap[0].row;
	} else {
		return 0;
	}
	for (size_t i = 0; i < L->s->n; i++) {
		const struct sl_cell *c = &cells[nk + i];
		L->vals[i] = NULL;
		L->nums[i] = NAN;
		if (L->s->v[i].kind == SPEC_CAT) {
			L->vals[i] = sl_cell_text(c, buf);
			if (L->vals[i] == buf)     /* buf is reused per cell: own it */
				L->vals[i] = sl_strdup(buf);
		} else {
			int bad = 0;
			L->nums[i] = label_value(c, &bad);
			L->bad_numbers += (unsigned long long)bad;
		}
	}
	if (row == L->ds->n) {
		sl_ds_add(L->ds, h, L->vals, L->nums, NAN, NAN);
		if (L->k) {
			L->heap[L->nheap] = (struct heap_ent){ h, row };
			heap_up(L->heap, L->nheap++);
		}
	} else {
		sl_ds_set(L->ds, row, h, L->vals, L->nums, NAN, NAN);
		L->heap[0].h = h;
		heap_down(L->heap, L->nheap, 0);
	}
	for (size_t i = 0; i < L->s->n; i++)
		if (L->s->v[i].kind == SPEC_CAT && L->vals[i] &&
		    (cells[nk + i].type == SL_CELL_INT || cells[nk + i].type == SL_CELL_REAL))
			free((char *)L->vals[i]);
	return 0;
}

static int load_sample(struct sl_db *db, const char *table, const struct specs *s,
		       const char *where, long long k, struct sl_dataset *ds,
		       unsigned long long *rows, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	const char **names = sl_malloc((s->n ? s->n : 1) * sizeof(*names));
	enum sl_ds_kind *kinds = sl_malloc((s->n ? s->n : 1) * sizeof(*kinds));
	for (size_t i = 0; i < s->n; i++) {
		names[i] = s->v[i].name;
		kinds[i] = s->v[i].kind == SPEC_CAT ? SL_DS_CATEGORICAL : SL_DS_NUMERIC;
	}
	sl_ds_init(ds, s->n, names, kinds, 0);
	free(names);
	free(kinds);
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT ");
	for (size_t i = 0; i < s->keys.n; i++) {
		sl_buf_adds(&q, i ? ", t." : "t.");
		d->quote_ident(&q, s->keys.v[i]);
	}
	for (size_t i = 0; i < s->n; i++)
		sl_buf_printf(&q, ", %s", s->v[i].sql);
	sl_buf_adds(&q, " FROM ");
	sl_db_quote_table(d, &q, table);
	sl_buf_adds(&q, " AS t");
	for (size_t j = 0; j < s->joins.n; j++) {
		sl_buf_adds(&q, " LEFT JOIN ");
		sl_db_quote_table(d, &q, s->joins.v[j]);
		sl_buf_printf(&q, " AS p%zu ON ", j + 1);
		for (size_t i = 0; i < s->keys.n; i++) {
			if (i)
				sl_buf_adds(&q, " AND ");
			sl_buf_adds(&q, "t.");
			d->quote_ident(&q, s->keys.v[i]);
			sl_buf_printf(&q, " = p%zu.", j + 1);
			d->quote_ident(&q, s->keys.v[i]);
		}
	}
	if (where)
		sl_buf_printf(&q, " WHERE %s", where);
	struct loader L;
	memset(&L, 0, sizeof(L));
	L.ds = ds;
	L.s = s;
	L.k = k;
	if (k)
		L.heap = sl_malloc((size_t)k * sizeof(*L.heap));
	L.vals = sl_calloc(s->n ? s->n : 1, sizeof(*L.vals));
	L.nums = sl_calloc(s->n ? s->n : 1, sizeof(*L.nums));
	int rc = sl_db_stream_cells(db, q.s, load_row, &L, err);
	if (!rc && L.bad)
		rc = sl_err(err, SL_ENV, "reading %s: the query returned an unexpected number of columns",
			    table);
	sl_buf_free(&q);
	sl_buf_free(&L.key);
	free(L.heap);
	free(L.vals);
	free(L.nums);
	if (rows)
		*rows = L.rows;
	if (rc)
		sl_ds_free(ds);
	return rc;
}

/* ---- training sets: a sample as JSON --------------------------------------- */

static char *b64(const void *p, size_t n)
{
	char *out = sl_malloc(4 * ((n + 2) / 3) + 1);
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	out[len] = '\0';
	return out;
}

/* Decode base64 into exactly want bytes; -1 if it does not fit. */
static int unb64(const char *s, void *out, size_t want)
{
	size_t len = strlen(s);
	if (len % 4 || len / 4 * 3 < want || len / 4 * 3 > want + 2)
		return -1;
	unsigned char *tmp = sl_malloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	if (n >= 0 && len >= 2 && s[len - 1] == '=')
		n -= s[len - 2] == '=' ? 2 : 1;
	int rc = n == (int)want ? 0 : -1;
	if (!rc)
		memcpy(out, tmp, want);
	free(tmp);
	return rc;
}

/* Arrays are stored in the machine's byte order: little-endian on every
 * platform sluice builds for (x86-64, arm64). */
static json_t *sample_to_json(const struct sl_dataset *ds, const char *table,
			      const struct specs *s, long long k, unsigned long long rows_read)
{
	json_t *cols = json_array();
	for (size_t i = 0; i < ds->ncols; i++) {
		const struct sl_ds_col *c = &ds->cols[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(c->name));
		json_object_set_new(o, "kind", json_string(s->v[i].kind == SPEC_LABEL ? "label"
							   : c->kind == SL_DS_NUMERIC ? "numeric"
							   : "categorical"));
		char *data = c->kind == SL_DS_NUMERIC ? b64(c->num, ds->n * sizeof(float))
						      : b64(c->code, ds->n * sizeof(int32_t));
		json_object_set_new(o, c->kind == SL_DS_NUMERIC ? "values" : "codes", json_string(data));
		free(data);
		if (c->kind == SL_DS_CATEGORICAL) {
			json_t *dict = json_array();
			for (size_t k2 = 0; k2 < c->ndict; k2++)
				json_array_append_new(dict, json_string(c->dict[k2]));
			json_object_set_new(o, "dict", dict);
		}
		json_array_append_new(cols, o);
	}
	json_t *keys = json_array();
	for (size_t i = 0; i < s->keys.n; i++)
		json_array_append_new(keys, json_string(s->keys.v[i]));
	char *kh = b64(ds->keyhash, ds->n * sizeof(uint64_t));
	json_t *doc = json_pack("{s:s, s:i, s:s, s:o, s:I, s:I, s:I, s:s, s:o}", "format",
				"sluice-training-set", "version", 1, "table", table, "keys", keys,
				"rows", (json_int_t)ds->n, "rows_read", (json_int_t)rows_read,
				"sample_rows", (json_int_t)k, "keyhash", kh, "columns", cols);
	free(kh);
	return doc;
}

static int sample_from_json(const json_t *doc, struct sl_dataset *ds, struct specs *s,
			    struct sl_error *err)
{
	const char *fmt = json_string_value(json_object_get(doc, "format"));
	json_t *cols = json_object_get(doc, "columns");
	json_int_t n = json_integer_value(json_object_get(doc, "rows"));
	const char *kh = json_string_value(json_object_get(doc, "keyhash"));
	if (!fmt || strcmp(fmt, "sluice-training-set") || !json_is_array(cols) || n < 0 || !kh)
		return sl_err(err, SL_ENV, "a stored training set is damaged (not sluice-training-set)");
	/* the row count must match the key hashes before anything is sized by it */
	if ((unsigned long long)n > (1ULL << 40) / 8 ||
	    strlen(kh) != 4 * (((size_t)n * sizeof(uint64_t) + 2) / 3))
		return sl_err(err, SL_ENV, "a stored training set is damaged (row count)");
	size_t nc = json_array_size(cols);
	const char **names = sl_calloc(nc ? nc : 1, sizeof(*names));
	enum sl_ds_kind *kinds = sl_calloc(nc ? nc : 1, sizeof(*kinds));
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < nc; i++) {
		json_t *c = json_array_get(cols, i);
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *kind = json_string_value(json_object_get(c, "kind"));
		if (!name || !kind) {
			free(names);
			free(kinds);
			specs_free(s);
			return sl_err(err, SL_ENV, "a stored training set is damaged (column %zu)", i);
		}
		names[i] = name;
		kinds[i] = !strcmp(kind, "categorical") ? SL_DS_CATEGORICAL : SL_DS_NUMERIC;
		specs_add(s, name, sl_strdup(""), !strcmp(kind, "label") ? SPEC_LABEL
						  : kinds[i] == SL_DS_NUMERIC ? SPEC_NUM : SPEC_CAT);
	}
	sl_ds_init(ds, nc, names, kinds, 0);
	free(names);
	free(kinds);
	size_t rows = (size_t)n;
	ds->n = ds->cap = rows;
	size_t alloc = rows ? rows : 1;
	ds->y = sl_malloc(alloc * sizeof(double));
	ds->keyhash = sl_malloc(alloc * sizeof(uint64_t));
	for (size_t r = 0; r < rows; r++)
		ds->y[r] = NAN;
	int bad = unb64(kh, ds->keyhash, rows * sizeof(uint64_t));
	for (size_t i = 0; i < nc && !bad; i++) {
		json_t *c = json_array_get(cols, i);
		struct sl_ds_col *col = &ds->cols[i];
		if (col->kind == SL_DS_NUMERIC) {
			col->num = sl_malloc(alloc * sizeof(float));
			const char *v = json_string_value(json_object_get(c, "values"));
			bad = !v || unb64(v, col->num, rows * sizeof(float));
			continue;
		}
		col->code = sl_malloc(alloc * sizeof(int32_t));
		const char *v = json_string_value(json_object_get(c, "codes"));
		json_t *dict = json_object_get(c, "dict");
		bad = !v || !json_is_array(dict) || unb64(v, col->code, rows * sizeof(int32_t));
		for (size_t k = 0; !bad && k < json_array_size(dict); k++) {
			const char *val = json_string_value(json_array_get(dict, k));
			bad = !val || sl_ds_code(col, val) != (int32_t)k;
		}
		for (size_t r = 0; !bad && r < rows; r++)
			bad = col->code[r] < -1 || col->code[r] >= (int32_t)col->ndict;
	}
	if (bad) {
		sl_ds_free(ds);
		specs_free(s);
		return sl_err(err, SL_ENV, "a stored training set is damaged (its data does not decode)");
	}
	return 0;
}

int sl_training_set_check(const json_t *doc, size_t *rows, size_t *cols, struct sl_error *err)
{
	struct sl_dataset ds;
	struct specs s;
	if (sample_from_json(doc, &ds, &s, err))
		return -1;
	*rows = ds.n;
	*cols = ds.ncols;
	sl_ds_free(&ds);
	specs_free(&s);
	return 0;
}

/* ---- a model's view of a sample --------------------------------------------- */

static int col_index(const struct sl_dataset *ds, const char *name)
{
	for (size_t i = 0; i < ds->ncols; i++)
		if (!strcmp(ds->cols[i].name, name))
			return (int)i;
	return -1;
}

/* The inputs, label and prediction of m from sample into *v. */
static int model_view(const struct sl_dataset *sample, const struct sl_model_contract *m,
		      struct sl_dataset *v, const char *side, struct sl_error *err)
{
	size_t n = m->inputs.n;
	const char **names = sl_malloc((n ? n : 1) * sizeof(*names));
	enum sl_ds_kind *kinds = sl_malloc((n ? n : 1) * sizeof(*kinds));
	int *src = sl_malloc((n ? n : 1) * sizeof(*src));
	struct sl_buf pn = SL_BUF_INIT;
	pred_name(&pn, m);
	int lab = col_index(sample, m->label), pred = col_index(sample, pn.s);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		src[i] = col_index(sample, m->inputs.v[i]);
		if (src[i] < 0) {
			rc = sl_err(err, SL_USAGE, "the %s rows have no column %s (capture a new "
				    "baseline: sluice baseline capture)", side, m->inputs.v[i]);
			break;
		}
		names[i] = m->inputs.v[i];
		kinds[i] = sample->cols[src[i]].kind;
	}
	if (!rc && lab < 0)
		rc = sl_err(err, SL_USAGE, "the %s rows have no label column %s (capture a new "
			    "baseline: sluice baseline capture)", side, m->label);
	if (rc) {
		free(names);
		free(kinds);
		free(src);
		sl_buf_free(&pn);
		return rc;
	}
	sl_ds_init(v, n, names, kinds, pred >= 0);
	size_t rows = sample->n, alloc = rows ? rows : 1;
	v->n = v->cap = rows;
	v->y = sl_malloc(alloc * sizeof(double));
	v->keyhash = sl_malloc(alloc * sizeof(uint64_t));
	memcpy(v->keyhash, sample->keyhash, rows * sizeof(uint64_t));
	if (pred >= 0) {
		v->pred = sl_realloc(v->pred, alloc * sizeof(double));
		for (size_t r = 0; r < rows; r++)
			v->pred[r] = sample->cols[pred].num[r];
	}
	for (size_t r = 0; r < rows; r++)
		v->y[r] = sample->cols[lab].num[r];
	for (size_t i = 0; i < n; i++) {
		const struct sl_ds_col *s = &sample->cols[src[i]];
		struct sl_ds_col *c = &v->cols[i];
		if (c->kind == SL_DS_NUMERIC) {
			c->num = sl_malloc(alloc * sizeof(float));
			memcpy(c->num, s->num, rows * sizeof(float));
		} else {
			c->code = sl_malloc(alloc * sizeof(int32_t));
			memcpy(c->code, s->code, rows * sizeof(int32_t));
			for (size_t k = 0; k < s->ndict; k++)
				(void)sl_ds_code(c, s->dict[k]);
		}
	}
	free(names);
	free(kinds);
	free(src);
	sl_buf_free(&pn);
	return 0;
}

/* ---- capture --------------------------------------------------------------- */

static int labelled(const struct sl_model_contract *m)
{
	return m->label != NULL;
}

static void now_iso(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int sl_training_set_capture(struct sl_db *db, const struct sl_contracts *c, const char *table,
			    const char *name, const char *schema_version, json_t **info,
			    struct sl_error *err)
{
	*info = NULL;
	struct specs s;
	memset(&s, 0, sizeof(s));
	struct sl_catalog cat;
	memset(&cat, 0, sizeof(cat));
	long long k = -1;
	int rc = 0;
	for (size_t i = 0; i < c->nmodels; i++) {
		const struct sl_model_contract *m = &c->models[i];
		if (!labelled(m) || !sl_table_is(m->table, table))
			continue;
		if (!cat.n && (rc = db->driver->catalog(db, &cat, err)))
			goto out;
		if (!s.keys.n && (rc = model_keys(c, m, &s.keys, err)))
			goto out;
		/* a model whose columns are gone cannot be captured: skip them
		 * (impact reports the version incompatible) */
		int missing = !find_col(&cat, m->table, m->label);
		for (size_t j = 0; j < m->inputs.n; j++)
			missing |= !find_col(&cat, m->table, m->inputs.v[j]);
		if (missing)
			continue;
		add_model_specs(&s, db, &cat, m);
		/* the largest sample any model asks for; 0 (every row) wins */
		if (m->sample_rows == 0)
			k = 0;
		else if (k != 0 && m->sample_rows > k)
			k = m->sample_rows;
	}
	if (!s.n)
		goto out;
	struct sl_dataset ds;
	unsigned long long read = 0;
	if (k < 0)
		k = 200000;
	if ((rc = load_sample(db, table, &s, NULL, k, &ds, &read, err)))
		goto out;
	json_t *doc = sample_to_json(&ds, table, &s, k, read);
	char ts[32];
	now_iso(ts);
	long long id = 0;
	rc = sl_state_doc_store(db, "training_sets", name, table, schema_version, ts,
				(long long)ds.n, doc, &id, err);
	json_decref(doc);
	if (!rc)
		*info = json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "table", table, "rows",
				  (json_int_t)ds.n, "columns", (json_int_t)s.n);
	sl_ds_free(&ds);
out:
	specs_free(&s);
	sl_catalog_free(&cat);
	return rc;
}

int sl_capture_baselines(struct sl_db *db, const struct sl_contracts *c, const char *table,
			 const char *name, const char *schema_version, json_t *profiles,
			 json_t *sets, struct sl_error *err)
{
	struct sl_strvec tables = SL_STRVEC_INIT;
	int rc = -1;
	if (table) {
		sl_strvec_push(&tables, table);
	} else {
		for (size_t i = 0; i < c->nfeatures; i++)
			sl_strvec_push(&tables, c->features[i].table);
		/* tables only a labelled model contract names get a training set too */
		for (size_t i = 0; i < c->nmodels; i++) {
			int seen = 0;
			for (size_t k = 0; k < tables.n; k++)
				seen |= sl_table_is(tables.v[k], c->models[i].table);
			if (!seen && c->models[i].label)
				sl_strvec_push(&tables, c->models[i].table);
		}
		if (!tables.n) {
			sl_err(err, SL_USAGE, "no feature contracts and no labelled model contracts");
			goto out;
		}
	}
	for (size_t i = 0; i < tables.n; i++) {
		struct sl_profile p;
		long long id = 0;
		if (sl_profile_table(db, tables.v[i], NULL, 0, NULL, 1, SL_PROFILE_EXACT_ROWS, &p, err))
			goto out;
		int r = sl_baseline_store(db, name, schema_version, &p, &id, err);
		if (!r)
			json_array_append_new(profiles, json_pack("{s:I, s:s, s:s, s:o, s:I, s:I, s:s}",
				"id", (json_int_t)id, "name", name, "table", p.table, "schema_version",
				schema_version ? json_string(schema_version) : json_null(), "rows",
				(json_int_t)p.rows, "columns", (json_int_t)p.ncols, "taken_at", p.taken_at));
		sl_profile_free(&p);
		if (r)
			goto out;
		json_t *info = NULL;
		if (sl_training_set_capture(db, c, tables.v[i], name, schema_version, &info, err))
			goto out;
		if (info)
			json_array_append_new(sets, info);
	}
	rc = 0;
out:
	sl_strvec_free(&tables);
	return rc;
}

/* ---- measuring a model --------------------------------------------------------- */

struct side {
	struct sl_dataset ds;        /* the model's view */
	unsigned long long read;     /* rows read (sampled from) */
};

static double degrade(const char *metric, double before, double after)
{
	return sl_metric_higher_better(metric) ? before - after : after - before;
}

static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Label quality of cand against base; parts into det. */
static double label_quality(const struct sl_dataset *base, const struct sl_dataset *cand,
			    int binary, json_t *det)
{
	size_t nb = 0, nc = 0, nonnull = 0;
	double *yb = sl_malloc((base->n ? base->n : 1) * sizeof(double));
	double *yc = sl_malloc((cand->n ? cand->n : 1) * sizeof(double));
	for (size_t r = 0; r < base->n; r++)
		if (!isnan(base->y[r]))
			yb[nb++] = base->y[r];
	for (size_t r = 0; r < cand->n; r++)
		if (!isnan(cand->y[r]))
			yc[nc++] = cand->y[r];
	nonnull = nc;
	double completeness = cand->n ? (double)nonnull / (double)cand->n : 0;
	double sum = completeness, parts = 1;
	json_object_set_new(det, "label_completeness", json_real(completeness));
	if (nb && nc && binary) {
		double pb = 0, pc = 0;
		for (size_t i = 0; i < nb; i++)
			pb += yb[i] > 0.5;
		for (size_t i = 0; i < nc; i++)
			pc += yc[i] > 0.5;
		pb /= (double)nb;
		pc /= (double)nc;
		double P[2] = { 1 - pb, pb }, Q[2] = { 1 - pc, pc };
		double js = sl_jensenshannon(P, Q, 2);
		json_object_set_new(det, "positive_rate_baseline", json_real(pb));
		json_object_set_new(det, "positive_rate_candidate", json_real(pc));
		json_object_set_new(det, "class_balance_shift", json_real(fabs(pc - pb)));
		json_object_set_new(det, "label_drift", jnum(js));
		sum += (1 - fabs(pc - pb)) + (1 - (isfinite(js) ? js : 1));
		parts += 2;
	} else if (nb && nc) {
		double sd = sl_std_pop(yb, nb);
		double w = sl_wasserstein(yb, NULL, nb, yc, NULL, nc);
		double drift = sd > 0 ? fmin(1, w / sd) : (w > 0 ? 1 : 0);
		json_object_set_new(det, "label_drift", json_real(drift));
		sum += 1 - drift;
		parts += 1;
	}
	free(yb);
	free(yc);
	return sum / parts;
}

static const struct sl_gate_result *gate_of(const struct sl_gate_report *rep, const char *gate)
{
	for (size_t i = 0; i < rep->n; i++)
		if (!strcmp(rep->v[i].gate, gate))
			return &rep->v[i];
	return NULL;
}

/* The Model Impact Score into o; returns it (NaN if nothing measurable). */
static int impact_score(struct sl_db *db, const struct sl_contracts *c,
			const struct sl_model_contract *m, const struct side *base,
			const struct side *cand, const struct sl_impact_opts *io, json_t *o,
			double *score, struct sl_error *err)
{
	static const char *const names[] = { "data_quality", "feature_quality", "label_quality",
					      "temporal_consistency" };
	double part[4] = { NAN, NAN, NAN, NAN };
	json_t *det = json_object();
	const struct sl_feature_contract *f = sl_contracts_feature_next(c, m->table, NULL);
	if (f) {
		struct sl_gate_report rep;
		memset(&rep, 0, sizeof(rep));
		struct sl_gate_opts go = { 0, io->where, c, NULL, NULL };
		if (sl_gates_run(db, f, &go, &rep, err)) {
			sl_gate_report_free(&rep);
			json_decref(det);
			return -1;
		}
		static const char *const dq[] = { "completeness", "validity", "uniqueness" };
		double s = 0;
		int k = 0;
		for (int i = 0; i < 3; i++) {
			const struct sl_gate_result *g = gate_of(&rep, dq[i]);
			if (g) {
				s += g->score;
				k++;
				json_object_set_new(det, dq[i], json_real(g->score));
			}
		}
		if (k)
			part[0] = s / k;
		const struct sl_gate_result *g = gate_of(&rep, "feature_quality");
		if (g)
			part[1] = g->score;
		g = gate_of(&rep, "temporal_consistency");
		if (g)
			part[3] = g->score;
		sl_gate_report_free(&rep);
	} else {
		json_object_set_new(det, "note", json_string("no feature contract for the table: data, "
							     "feature and temporal quality not measured"));
	}
	part[2] = label_quality(&base->ds, &cand->ds, !m->task || !strcmp(m->task, "binary"), det);
	double sum = 0, wsum = 0;
	json_t *parts = json_object(), *skipped = json_array();
	for (int i = 0; i < 4; i++) {
		json_object_set_new(parts, names[i], jnum(part[i]));
		if (isnan(part[i])) {
			json_array_append_new(skipped, json_string(names[i]));
			continue;
		}
		sum += m->weights[i] * part[i];
		wsum += m->weights[i];
	}
	*score = wsum > 0 ? sum / wsum : NAN;
	json_object_set_new(det, "parts", parts);
	json_object_set_new(det, "not_measured", skipped);
	json_t *w = json_object();
	for (int i = 0; i < 4; i++)
		json_object_set_new(w, names[i], json_real(m->weights[i]));
	json_object_set_new(det, "weights", w);
	json_object_set_new(o, "impact_details", det);
	return 0;
}

static int read_side(struct sl_db *db, const struct sl_contracts *c,
		     const struct sl_model_contract *m, const char *where, long long k,
		     const char *what, struct side *out, struct sl_error *err)
{
	struct specs s;
	memset(&s, 0, sizeof(s));
	struct sl_catalog cat;
	memset(&cat, 0, sizeof(cat));
	struct sl_dataset sample;
	int rc = model_keys(c, m, &s.keys, err);
	if (!rc)
		rc = db->driver->catalog(db, &cat, err);
	if (!rc) {
		add_model_specs(&s, db, &cat, m);
		rc = load_sample(db, m->table, &s, where, k, &sample, &out->read, err);
	}
	if (!rc) {
		rc = model_view(&sample, m, &out->ds, what, err);
		sl_ds_free(&sample);
	}
	specs_free(&s);
	sl_catalog_free(&cat);
	return rc;
}

/* Is every column m reads there, with a type its feature contract accepts? */
static int compatibility(struct sl_db *db, const struct sl_contracts *c,
			 const struct sl_model_contract *m, json_t *reasons, struct sl_error *err)
{
	struct sl_catalog cat;
	memset(&cat, 0, sizeof(cat));
	if (db->driver->catalog(db, &cat, err))
		return -1;
	const struct sl_feature_contract *f = sl_contracts_feature_next(c, m->table, NULL);
	if (!sl_catalog_find(&cat, "table", bare_table(m->table))) {
		struct sl_buf r = SL_BUF_INIT;
		sl_buf_printf(&r, "table %s does not exist", m->table);
		json_array_append_new(reasons, json_string(r.s));
		sl_buf_free(&r);
	} else {
		for (size_t i = 0; i <= m->inputs.n; i++) {
			const char *col = i < m->inputs.n ? m->inputs.v[i] : m->label;
			if (!col)
				continue;
			const struct sl_cat_obj *o = find_col(&cat, m->table, col);
			const struct sl_feature_col *fc = f ? sl_feature_col_find(f, col) : NULL;
			struct sl_buf r = SL_BUF_INIT;
			if (!o)
				sl_buf_printf(&r, "%s %s.%s does not exist", i < m->inputs.n ? "input" : "label",
					      m->table, col);
			else if (fc && fc->type && !sl_type_compatible(fc->type, o->type))
				sl_buf_printf(&r, "%s %s.%s is %s, the contract says %s",
					      i < m->inputs.n ? "input" : "label", m->table, col, o->type,
					      fc->type);
			if (r.len)
				json_array_append_new(reasons, json_string(r.s));
			sl_buf_free(&r);
		}
	}
	sl_catalog_free(&cat);
	return 0;
}

static int holdout_metric(const struct sl_model_fit *fit, const struct sl_dataset *ds,
			  const char *metric, double *out, size_t *n, struct sl_error *err)
{
	double *s, *y;
	if (sl_model_score(fit, ds, 1, &s, &y, n, err))
		return -1;
	*out = sl_metric(metric, s, y, *n);
	free(s);
	free(y);
	return 0;
}

/* The metric of the stored predictions on the rows of ds with both. */
static double stored_metric(const struct sl_dataset *ds, const char *metric, size_t *n)
{
	double *s = sl_malloc((ds->n ? ds->n : 1) * sizeof(double));
	double *y = sl_malloc((ds->n ? ds->n : 1) * sizeof(double));
	size_t k = 0;
	for (size_t r = 0; r < ds->n; r++)
		if (!isnan(ds->pred[r]) && !isnan(ds->y[r])) {
			s[k] = ds->pred[r];
			y[k++] = ds->y[r];
		}
	double v = sl_metric(metric, s, y, k);
	*n = k;
	free(s);
	free(y);
	return v;
}

/* One side: read it (when db is set), then train the proxy on it. */
struct side_job {
	struct sl_db *db;            /* NULL: side->ds is already there */
	const struct sl_contracts *c;
	const struct sl_model_contract *m;
	const char *where;
	long long k;
	const char *what;
	struct side *side;
	const struct sl_learn_opts *lo;
	struct sl_model_fit *fit;
	struct sl_error err;
	int rc, stage;               /* stage: 0 reading, 1 training */
};

static void *side_run(void *arg)
{
	struct side_job *j = arg;
	sl_error_clear(&j->err);
	if (j->db && read_side(j->db, j->c, j->m, j->where, j->k, j->what, j->side, &j->err)) {
		j->rc = -1;
		return NULL;
	}
	j->stage = 1;
	j->rc = sl_model_train(&j->side->ds, j->lo, j->fit, &j->err);
	return NULL;
}

int sl_impact_model(struct sl_db *db, const struct sl_contracts *c,
		    const struct sl_model_contract *m, const struct sl_impact_opts *o,
		    json_t **out, int *passed, struct sl_error *err)
{
	*out = NULL;
	*passed = 0;
	const char *metric = m->metric ? m->metric
			   : (m->task && !strcmp(m->task, "regression") ? "rmse" : "auc");
	int binary = !m->task || !strcmp(m->task, "binary");
	double max_drop = o->max_drop >= 0 ? o->max_drop : m->max_drop;
	double min_score = o->min_score >= 0 ? o->min_score : m->impact_min;
	long long k = o->sample_rows >= 0 ? o->sample_rows : m->sample_rows;
	json_t *r = json_object(), *reasons = json_array(), *failures = json_array();
	json_object_set_new(r, "name", json_string(m->name));
	json_object_set_new(r, "version", json_string(m->version));
	json_object_set_new(r, "table", json_string(m->table));
	json_object_set_new(r, "task", json_string(binary ? "binary" : "regression"));
	json_object_set_new(r, "metric", json_string(metric));
	json_object_set_new(r, "max_drop", json_real(max_drop));
	struct side base, cand;
	memset(&base, 0, sizeof(base));
	memset(&cand, 0, sizeof(cand));
	struct sl_model_fit fb, fc;
	memset(&fb, 0, sizeof(fb));
	memset(&fc, 0, sizeof(fc));
	int rc = -1;
	if (compatibility(db, c, m, reasons, err))
		goto out;
	int compatible = json_array_size(reasons) == 0;
	json_object_set_new(r, "compatible", json_boolean(compatible));
	json_object_set_new(r, "reasons", json_incref(reasons));
	if (!compatible) {
		json_array_append_new(failures, json_string("incompatible with the live schema"));
		rc = 0;
		goto out;
	}
	if (!m->label) {
		sl_err(err, SL_USAGE, "model %s v%s has no 'label': only 'impact --static' applies "
		       "(%s)", m->name, m->version, m->path);
		goto out;
	}
	/* the two sides run at once, each on its own connection: the
	 * baseline (read live, or decoded from the training set, then trained)
	 * on a thread, the candidate here */
	struct sl_learn_opts lo;
	sl_learn_opts_default(&lo, binary ? SL_TASK_BINARY : SL_TASK_REGRESSION);
	lo.c = m->c;
	lo.alpha = m->alpha;
	lo.max_categories = m->max_categories;
	const char *bname = o->baseline_name ? o->baseline_name : "default";
	struct side_job bj = { o->baseline_db, c, m, NULL, k, "baseline", &base, &lo, &fb, { 0 }, 0,
			       0 };
	if (!o->baseline_db) {
		json_t *doc;
		struct sl_baseline_row meta;
		memset(&meta, 0, sizeof(meta));
		int found;
		if (sl_state_doc_load(db, "training_sets", m->table, bname, &doc, &meta, &found, err))
			goto out;
		if (!found) {
			sl_err(err, SL_USAGE, "no training set '%s' of %s to compare with", bname, m->table);
			sl_err_hint(err, "capture one before the change: sluice baseline capture%s%s, or "
				    "compare with another environment: --baseline-env ENV",
				    strcmp(bname, "default") ? " --name " : "",
				    strcmp(bname, "default") ? bname : "");
			goto out;
		}
		struct sl_dataset sample;
		struct specs s;
		int bad = sample_from_json(doc, &sample, &s, err);
		base.read = (unsigned long long)json_integer_value(json_object_get(doc, "rows_read"));
		json_decref(doc);
		if (!bad) {
			specs_free(&s);
			bad = model_view(&sample, m, &base.ds, "baseline", err);
			sl_ds_free(&sample);
		}
		json_object_set_new(r, "baseline_source", json_pack("{s:s, s:s, s:I, s:o, s:s}", "kind",
			"training_set", "name", bname, "id", (json_int_t)meta.id, "schema_version",
			meta.schema_version ? json_string(meta.schema_version) : json_null(), "taken_at",
			meta.taken_at ? meta.taken_at : ""));
		free(meta.name);
		free(meta.table);
		free(meta.schema_version);
		free(meta.taken_at);
		if (bad)
			goto out;
	} else {
		json_object_set_new(r, "baseline_source", json_pack("{s:s, s:s}", "kind", "environment",
			"environment", o->baseline_label ? o->baseline_label : "?"));
	}
	pthread_t th;
	int threaded = pthread_create(&th, NULL, side_run, &bj) == 0;
	if (!threaded)
		side_run(&bj);
	struct side_job cj = { db, c, m, o->where, k, "candidate", &cand, &lo, &fc, { 0 }, 0, 0 };
	side_run(&cj);
	if (threaded)
		pthread_join(th, NULL);
	if (bj.rc || cj.rc) {
		struct side_job *j = bj.rc ? &bj : &cj;
		*err = j->err;
		if (j->stage == 0 && j == &bj && o->baseline_db)
			sl_err_prefix(err, "baseline (%s): ", o->baseline_label ? o->baseline_label : "live");
		else if (j->stage == 1)
			sl_err_prefix(err, "model %s v%s, %s rows: ", m->name, m->version, j->what);
		goto out;
	}
	double mb, mc, ms;
	size_t hb, hc, hs;
	if (holdout_metric(&fb, &base.ds, metric, &mb, &hb, err) ||
	    holdout_metric(&fc, &cand.ds, metric, &mc, &hc, err) ||
	    holdout_metric(&fb, &cand.ds, metric, &ms, &hs, err))
		goto out;
	if (isnan(mb) || isnan(mc)) {
		sl_err(err, SL_USAGE, "model %s v%s: %s is undefined on the %s holdout (%zu rows%s)",
		       m->name, m->version, metric, isnan(mb) ? "baseline" : "candidate",
		       isnan(mb) ? hb : hc, binary ? ", one class only?" : "");
		goto out;
	}
	double drop = degrade(metric, mb, mc), sdrop = degrade(metric, mb, ms);
	json_object_set_new(r, "baseline", json_real(mb));
	json_object_set_new(r, "candidate", json_real(mc));
	json_object_set_new(r, "drop", json_real(drop));
	json_object_set_new(r, "serving", jnum(ms));
	json_object_set_new(r, "serving_drop", jnum(sdrop));
	json_object_set_new(r, "rows", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "baseline",
		(json_int_t)base.ds.n, "baseline_read", (json_int_t)base.read, "candidate",
		(json_int_t)cand.ds.n, "candidate_read", (json_int_t)cand.read, "baseline_holdout",
		(json_int_t)hb, "candidate_holdout", (json_int_t)hc));
	json_object_set_new(r, "training", json_pack("{s:i, s:b, s:i, s:b, s:I, s:f, s:f}",
		"baseline_iterations", fb.iterations, "baseline_converged", fb.converged,
		"candidate_iterations", fc.iterations, "candidate_converged", fc.converged,
		"features", (json_int_t)fc.nfeat, "c", m->c, "alpha", m->alpha));
	struct sl_buf why = SL_BUF_INIT;
	if (drop > max_drop) {
		sl_buf_printf(&why, "retrained %s drops %.4f (%.4f -> %.4f), more than %.4f", metric,
			      drop, mb, mc, max_drop);
		json_array_append_new(failures, json_string(why.s));
	}
	if (isfinite(sdrop) && sdrop > max_drop) {
		sl_buf_reset(&why);
		sl_buf_printf(&why, "the baseline model on the changed rows drops %.4f (%.4f -> %.4f), "
			      "more than %.4f", sdrop, mb, ms, max_drop);
		json_array_append_new(failures, json_string(why.s));
	}
	/* stored predictions */
	if (cand.ds.pred) {
		size_t nb = 0, nc = 0;
		double pb = base.ds.pred ? stored_metric(&base.ds, metric, &nb) : m->baseline;
		double pc = stored_metric(&cand.ds, metric, &nc);
		double pd = degrade(metric, pb, pc);
		json_object_set_new(r, "stored_predictions", json_pack("{s:o, s:o, s:o, s:I, s:I, s:s}",
			"baseline", jnum(pb), "candidate", jnum(pc), "drop", jnum(pd), "baseline_rows",
			(json_int_t)nb, "candidate_rows", (json_int_t)nc, "baseline_from",
			base.ds.pred ? "baseline rows" : "contract 'baseline'"));
		if (isfinite(pd) && pd > max_drop) {
			sl_buf_reset(&why);
			sl_buf_printf(&why, "stored predictions' %s drops %.4f (%.4f -> %.4f), more than %.4f",
				      metric, pd, pb, pc, max_drop);
			json_array_append_new(failures, json_string(why.s));
		}
	} else {
		json_object_set_new(r, "stored_predictions", json_null());
	}
	/* Model Impact Score */
	double score = NAN;
	if (!o->no_score && impact_score(db, c, m, &base, &cand, o, r, &score, err)) {
		sl_buf_free(&why);
		goto out;
	}
	json_object_set_new(r, "impact_score", jnum(score));
	json_object_set_new(r, "impact_min", json_real(min_score));
	if (isfinite(score) && score < min_score) {
		sl_buf_reset(&why);
		sl_buf_printf(&why, "Model Impact Score %.4f is below %.2f", score, min_score);
		json_array_append_new(failures, json_string(why.s));
	}
	sl_buf_free(&why);
	rc = 0;
out:
	if (!rc) {
		*passed = json_array_size(failures) == 0;
		json_object_set_new(r, "passed", json_boolean(*passed));
		json_object_set_new(r, "failures", json_incref(failures));
		*out = r;
	} else {
		json_decref(r);
	}
	json_decref(reasons);
	json_decref(failures);
	sl_model_fit_free(&fb);
	sl_model_fit_free(&fc);
	sl_ds_free(&base.ds);
	sl_ds_free(&cand.ds);
	return rc;
}
