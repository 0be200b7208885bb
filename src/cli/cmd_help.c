/*
 * cmd_help.c - `sluice help [COMMAND]` and `sluice version`.
 */
#include "cli.h"

#include <string.h>

void sl_cli_overview(FILE *f)
{
	fprintf(f, "usage: sluice [-C DIR] [-c FILE] [-e ENV] [--format text|json] [-q|-v] COMMAND [ARGS]\n\n");
	fprintf(f, "CI/CD for database changes in AI/ML systems.\n\ncommands:\n");
	for (const struct sl_command *c = sl_commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nglobal options (before or after the command):\n");
	sl_print_options(f, sl_global_options);
	fprintf(f, "\nexit codes: 0 ok, 1 a check failed, 2 usage/config/input error, 3 database/environment error\n");
	fprintf(f, "'sluice help COMMAND' for a command's options.\n");
}

int cmd_help(int argc, char **argv, struct sl_ctx *ctx)
{
	(void)ctx;
	if (argc == 0) {
		sl_cli_overview(stdout);
		return SL_OK;
	}
	const struct sl_command *c = sl_command_find(argv[0]);
	if (!c) {
		fprintf(stderr, "sluice: unknown command '%s'\n", argv[0]);
		sl_cli_overview(stderr);
		return SL_USAGE;
	}
	printf("usage: sluice %s\n\n%s\n", c->usage, c->summary);
	if (c->options)
		printf("\noptions:\n%s", c->options);
	printf("\nglobal options:\n");
	sl_print_options(stdout, sl_global_options);
	return SL_OK;
}

int cmd_version(int argc, char **argv, struct sl_ctx *ctx)
{
	(void)argc;
	(void)argv;
	if (ctx->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "ok", json_true());
		sl_json_set_str(doc, "command", "version");
		sl_json_set_str(doc, "version", SL_VERSION);
		sl_cli_json(doc);
	} else {
		printf("sluice %s\n", SL_VERSION);
	}
	return SL_OK;
}
