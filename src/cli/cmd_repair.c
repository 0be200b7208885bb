/*
 * cmd_repair.c - `sluice repair`: remove failed rows, realign checksums of
 * edited applied files, mark applied versions whose file is gone as
 * deleted; all in one transaction, recorded as a "repair" history row.
 */
#include "cli.h"

static json_t *strvec_json(const struct sl_strvec *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

int cmd_repair(int argc, char **argv, struct sl_ctx *ctx)
{
	const struct sl_option opts[] = { { SL_OPT_END, 0, NULL, NULL, NULL, NULL } };
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	struct sl_db *db = NULL;
	struct sl_engine eng;
	struct sl_repair_result res;
	sl_error_clear(&err);
	if (sl_ctx_open(ctx, &db, &eng, &err) || sl_repair(&eng, &res, &err)) {
		sl_db_close(db);
		return sl_cli_fail(ctx, &err);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "repair");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		json_object_set_new(doc, "failed_removed", json_integer(res.failed_removed));
		json_object_set_new(doc, "checksums_realigned", strvec_json(&res.realigned));
		json_object_set_new(doc, "marked_deleted", strvec_json(&res.deleted));
		sl_cli_json(doc);
	} else if (!ctx->quiet) {
		printf("repair on %s: removed %ld failed row(s), realigned %zu checksum(s), marked %zu missing file(s) deleted\n",
		       ctx->env_selected, res.failed_removed, res.realigned.n, res.deleted.n);
	}
	sl_repair_result_free(&res);
	sl_db_close(db);
	return SL_OK;
}
