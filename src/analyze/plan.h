/*
 * plan.h - what pending migrations would change, without changing it.
 *
 * The pending migrations are applied to a shadow of the environment's
 * database (db.h: shadow), the catalog is snapshotted before and after,
 * and the difference is reported as semantic changes, each classified:
 *   safe         adds something nothing depends on yet;
 *   breaking     existing readers or writers of the old shape can fail;
 *   destructive  data is lost.
 * The environment's database is only read.
 */
#ifndef SL_PLAN_H
#define SL_PLAN_H

#include <stddef.h>

#include "../core/buf.h"

struct sl_engine;
struct sl_error;
struct sl_contracts;

enum sl_change_class { SL_CH_SAFE, SL_CH_BREAKING, SL_CH_DESTRUCTIVE };

struct sl_change {
	char *object;             /* "users.email" */
	const char *kind;         /* "add column", "drop table", "change column type", ... */
	enum sl_change_class cls;
	char *detail;             /* "character varying(50) -> text" */
	const char *locks;        /* the lock the change takes on the table */
	long long rows;           /* rows of the table it touches; -1 when none or unknown */
	char *table;              /* the table it touches, or NULL */
	struct sl_strvec features;   /* feature contracts that cover what it touches */
	struct sl_strvec models;     /* model versions that read it: "churn v2" */
};

struct sl_plan {
	struct sl_change *v;
	size_t n;
	size_t pending;           /* migrations applied to the shadow */
	char *shadow;             /* what the shadow was, for messages */
	struct sl_strvec drift;   /* with a scratch database: where the live
				   * schema differs from its replayed history */
};

/*
 * scratch: an empty database of the same kind to plan on instead of a
 * shadow of eng's (shadow_url), or NULL.
 */
struct sl_db;
int sl_plan_compute(struct sl_engine *eng, struct sl_db *scratch, struct sl_plan *out,
		    struct sl_error *err);
void sl_plan_free(struct sl_plan *p);
/*
 * Apply to e2's database (a shadow of a scratch database) the migrations
 * applied to eng's, up to its current version, so that it has the
 * environment's schema (shadow replay shares this).
 */
int sl_plan_replay_applied(struct sl_engine *eng, struct sl_engine *e2, struct sl_error *err);
/*
 * Open the scratch database to plan on: url if given, else the
 * environment's shadow_url; *out stays NULL when there is neither.
 */
struct sl_config;
int sl_plan_open_scratch(const struct sl_config *cfg, const char *env_name, const char *url,
			 struct sl_db **out, struct sl_error *err);
/*
 * Name, on each change, the feature contracts and model versions that
 * cover or read what it touches.  Returns how many breaking or destructive
 * changes reach a model's input or label (plan fails on those).
 */
size_t sl_plan_contracts(struct sl_plan *p, const struct sl_contracts *c);
const char *sl_change_class_name(enum sl_change_class c);
size_t sl_plan_count(const struct sl_plan *p, enum sl_change_class c);

#endif
