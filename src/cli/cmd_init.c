/*
 * cmd_init.c - `sluice init [--name NAME] [--force]`: a commented
 * sluice.yaml and empty migrations/, features/ and models/.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_init(int argc, char **argv, struct sl_ctx *ctx)
{
	const char *name = NULL;
	int force = 0;
	const struct sl_option opts[] = {
		{ SL_OPT_STRING, 0, "name", &name, "NAME", "project name (default: this directory's)" },
		{ SL_OPT_FLAG, 'f', "force", &force, NULL, "overwrite an existing sluice.yaml" },
		{ SL_OPT_END, 0, NULL, NULL, NULL, NULL },
	};
	int rc = sl_cli_parse(ctx, argc, argv, opts, NULL);
	if (rc)
		return rc;
	struct sl_error err;
	sl_error_clear(&err);
	const char *path = ctx->config_path ? ctx->config_path : "sluice.yaml";
	char cwd[4096];
	if (!name) {
		if (getcwd(cwd, sizeof(cwd))) {
			char *slash = strrchr(cwd, '/');
			name = slash && slash[1] ? slash + 1 : "project";
		} else {
			name = "project";
		}
	}
	for (const char *p = name; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
			sl_err(&err, SL_USAGE, "project name '%s' may hold only letters, digits, '-', '_' and '.'", name);
			return sl_cli_fail(ctx, &err);
		}
	if (!force && access(path, F_OK) == 0) {
		sl_err(&err, SL_USAGE, "%s already exists", path);
		sl_err_hint(&err, "pass --force to overwrite it");
		return sl_cli_fail(ctx, &err);
	}
	static const char *const dirs[] = { "migrations", "features", "models" };
	for (size_t i = 0; i < 3; i++)
		if (mkdir(dirs[i], 0777) != 0 && errno != EEXIST) {
			sl_err(&err, SL_ENV, "cannot create %s/: %s", dirs[i], strerror(errno));
			return sl_cli_fail(ctx, &err);
		}
	FILE *f = fopen(path, "w");
	if (!f) {
		sl_err(&err, SL_ENV, "cannot write %s: %s", path, strerror(errno));
		return sl_cli_fail(ctx, &err);
	}
	for (const char *t = sl_config_template; *t; t++) {
		if (strncmp(t, "@NAME@", 6) == 0) {
			fputs(name, f);
			t += 5;
		} else {
			fputc(*t, f);
		}
	}
	if (fclose(f) != 0) {
		sl_err(&err, SL_ENV, "cannot write %s: %s", path, strerror(errno));
		return sl_cli_fail(ctx, &err);
	}
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "init");
		sl_json_set_str(doc, "config", path);
		sl_json_set_str(doc, "project", name);
		sl_cli_json(doc);
	} else if (!ctx->quiet) {
		printf("wrote %s and migrations/, features/, models/ for project %s\n", path, name);
	}
	return SL_OK;
}
