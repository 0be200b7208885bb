/*
 * cmd_contract.c - `sluice contract check|list`: the feature and model
 * contracts against the environment's live schema.  check exits 1 when a
 * contract names a table or column that is not there, or a column whose
 * type its readers cannot read.
 */
#include "cli.h"
#include "../contract/contract.h"

#include <string.h>
#include <strings.h>

struct problems {
	json_t *list;
	size_t n;
};

static void problem(struct problems *p, const char *path, const char *contract,
		    const char *what, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void problem(struct problems *p, const char *path, const char *contract,
		    const char *what, const char *fmt, ...)
{
	struct sl_buf m = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&m, fmt, ap);
	va_end(ap);
	json_array_append_new(p->list, json_pack("{s:s, s:s, s:s, s:s}", "file", path, "contract",
						 contract, "kind", what, "message", m.s));
	p->n++;
	sl_buf_free(&m);
}

static const struct sl_cat_obj *column(const struct sl_catalog *cat, const char *table,
				       const char *col)
{
	const char *bare = !strncasecmp(table, "public.", 7) ? table + 7 : table;
	struct sl_buf k = SL_BUF_INIT;
	sl_buf_printf(&k, "%s.%s", bare, col);
	const struct sl_cat_obj *o = sl_catalog_find(cat, "column", k.s);
	sl_buf_free(&k);
	return o;
}

static int has_table(const struct sl_catalog *cat, const char *table)
{
	return sl_catalog_find(cat, "table", !strncasecmp(table, "public.", 7) ? table + 7 : table) !=
	       NULL;
}

static void check_feature(const struct sl_feature_contract *f, const struct sl_catalog *cat,
			  struct problems *p)
{
	if (!has_table(cat, f->table)) {
		problem(p, f->path, f->name, "missing-table", "table %s does not exist", f->table);
		return;
	}
	const char *named[3] = { f->timestamp, f->label, f->label_timestamp };
	for (size_t i = 0; i < f->keys.n; i++)
		if (!column(cat, f->table, f->keys.v[i]))
			problem(p, f->path, f->name, "missing-column", "key %s.%s does not exist",
				f->table, f->keys.v[i]);
	for (size_t i = 0; i < 3; i++)
		if (named[i] && !column(cat, f->table, named[i]))
			problem(p, f->path, f->name, "missing-column", "column %s.%s does not exist",
				f->table, named[i]);
	for (size_t i = 0; i < f->ncols; i++) {
		const struct sl_feature_col *c = &f->cols[i];
		const struct sl_cat_obj *o = column(cat, f->table, c->name);
		if (!o)
			problem(p, f->path, f->name, "missing-column", "%s:%d: column %s.%s does not exist",
				f->path, c->line, f->table, c->name);
		else if (c->type && !sl_type_compatible(c->type, o->type))
			problem(p, f->path, f->name, "type-mismatch",
				"%s:%d: %s.%s is %s in the database but %s in the contract", f->path,
				c->line, f->table, c->name, o->type, c->type);
	}
}

static void check_model(const struct sl_model_contract *m, const struct sl_catalog *cat,
			const struct sl_contracts *all, struct problems *p)
{
	struct sl_buf id = SL_BUF_INIT;
	sl_model_id(&id, m);
	if (!has_table(cat, m->table)) {
		problem(p, m->path, id.s, "missing-table", "table %s does not exist", m->table);
		sl_buf_free(&id);
		return;
	}
	for (size_t i = 0; i < m->inputs.n; i++) {
		const char *in = m->inputs.v[i], *dot = strrchr(in, '.');
		char *table = dot ? sl_strndup(in, (size_t)(dot - in)) : sl_strdup(m->table);
		const char *col = dot ? dot + 1 : in;
		const struct sl_cat_obj *o = column(cat, table, col);
		if (!o) {
			problem(p, m->path, id.s, "missing-input", "input %s.%s does not exist", table, col);
		} else {
			/* the feature contract's type is what the model was trained on */
			for (const struct sl_feature_contract *f = NULL;
			     (f = sl_contracts_feature_next(all, table, f));) {
				const struct sl_feature_col *fc = sl_feature_col_find(f, col);
				if (fc && fc->type && !sl_type_compatible(fc->type, o->type))
					problem(p, m->path, id.s, "incompatible-input",
						"input %s.%s is %s now; the model reads %s (%s)", table, col,
						o->type, fc->type, f->path);
			}
		}
		free(table);
	}
	if (m->label && !column(cat, m->table, m->label))
		problem(p, m->path, id.s, "missing-label", "label %s.%s does not exist", m->table,
			m->label);
	sl_buf_free(&id);
}

int cmd_contract(int argc, char **argv, struct sl_ctx *ctx)
{
	const struct sl_option opts[] = { { SL_OPT_END, 0, NULL, NULL, NULL, NULL } };
	struct sl_strvec args = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_contracts c;
	struct sl_catalog cat;
	memset(&c, 0, sizeof(c));
	memset(&cat, 0, sizeof(cat));
	struct problems p = { json_array(), 0 };
	if (args.n != 1 || (strcmp(args.v[0], "check") && strcmp(args.v[0], "list"))) {
		sl_err(&err, SL_USAGE, "contract needs check or list");
		sl_err_hint(&err, "usage: sluice contract check|list");
		goto fail;
	}
	int check = !strcmp(args.v[0], "check");
	if (sl_ctx_config(ctx, &err) ||
	    sl_contracts_load(&c, ctx->cfg->features_dir, ctx->cfg->models_dir, &err))
		goto fail;
	if (check && (sl_ctx_open(ctx, &db, &eng, &err) || db->driver->catalog(db, &cat, &err)))
		goto fail;
	for (size_t i = 0; check && i < c.nfeatures; i++)
		check_feature(&c.features[i], &cat, &p);
	for (size_t i = 0; check && i < c.nmodels; i++)
		check_model(&c.models[i], &cat, &c, &p);
	if (ctx->json) {
		json_t *doc = json_object(), *fs = json_array(), *ms = json_array();
		json_object_set_new(doc, "ok", json_boolean(!p.n));
		sl_json_set_str(doc, "command", check ? "contract check" : "contract list");
		if (check)
			sl_json_set_str(doc, "environment", ctx->env_selected);
		for (size_t i = 0; i < c.nfeatures; i++)
			json_array_append_new(fs, json_pack("{s:s, s:s, s:s, s:I}", "name", c.features[i].name,
							    "file", c.features[i].path, "table",
							    c.features[i].table, "columns",
							    (json_int_t)c.features[i].ncols));
		for (size_t i = 0; i < c.nmodels; i++)
			json_array_append_new(ms, json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", c.models[i].name,
							    "version", c.models[i].version, "file",
							    c.models[i].path, "table", c.models[i].table,
							    "inputs", (json_int_t)c.models[i].inputs.n));
		json_object_set_new(doc, "features", fs);
		json_object_set_new(doc, "models", ms);
		if (check)
			json_object_set_new(doc, "problems", json_incref(p.list));
		sl_cli_json(doc);
	} else {
		for (size_t i = 0; i < c.nfeatures; i++)
			printf("feature %-24s %-24s %zu column(s)  %s\n", c.features[i].name, c.features[i].table,
			       c.features[i].ncols, c.features[i].path);
		for (size_t i = 0; i < c.nmodels; i++)
			printf("model   %-24s v%-22s %zu input(s)   %s\n", c.models[i].name,
			       c.models[i].version, c.models[i].inputs.n, c.models[i].path);
		size_t i;
		json_t *o;
		json_array_foreach(p.list, i, o)
			printf("%s: %s: %s\n", json_string_value(json_object_get(o, "contract")),
			       json_string_value(json_object_get(o, "kind")),
			       json_string_value(json_object_get(o, "message")));
		if (check)
			printf("%zu contract(s) checked against %s: %zu problem(s)\n", c.nfeatures + c.nmodels,
			       ctx->env_selected, p.n);
	}
	rc = p.n ? SL_FAILED : SL_OK;
	json_decref(p.list);
	sl_catalog_free(&cat);
	sl_contracts_free(&c);
	sl_db_close(db);
	sl_strvec_free(&args);
	return rc;
fail:
	json_decref(p.list);
	sl_catalog_free(&cat);
	sl_contracts_free(&c);
	sl_db_close(db);
	sl_strvec_free(&args);
	return sl_cli_fail(ctx, &err);
}
