/*
 * cmd_baseline.c - `sluice baseline VERSION [--description TEXT]`: adopt an
 * existing database; versions up to VERSION count as applied.
 */
#include "cli.h"

int cmd_baseline(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *desc = NULL;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "description", &desc, "TEXT", "what the baseline is" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	struct sl_strvec args = SL_STRVEC_INIT;
	int rc = sl_cli_parse(ctx, argc, argv, opts, &args);
	if (rc) {
		sl_strvec_free(&args);
		return rc;
	}
	struct sl_error err;
	sl_error_clear(&err);
	if (args.n != 1) {
		sl_strvec_free(&args);
		sl_err(&err, SL_USAGE, "baseline needs exactly one VERSION");
		sl_err_hint(&err, "usage: sluice baseline VERSION");
		return sl_cli_fail(ctx, &err);
	}
	struct sl_db *db = NULL;
	struct sl_engine eng;
	if (sl_ctx_open(ctx, &db, &eng, &err) || sl_baseline(&eng, args.v[0], desc, &err)) {
		sl_db_close(db);
		sl_strvec_free(&args);
		return sl_cli_fail(ctx, &err);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "baseline");
		sl_json_set_str(doc, "environment", ctx->env_selected);
		sl_json_set_str(doc, "baseline", args.v[0]);
		sl_cli_json(doc);
	} else if (!ctx->quiet) {
		printf("baselined %s at version %s\n", ctx->env_selected, args.v[0]);
	}
	sl_strvec_free(&args);
	sl_db_close(db);
	return SL_OK;
}
