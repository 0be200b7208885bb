/*
 * deploy.c - the guarded deploy state machine and rollback (see deploy.h).
 */
#include "deploy.h"
#include "../analyze/lint.h"
#include "../analyze/reverse.h"
#include "../contract/contract.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../core/proc.h"
#include "../core/yaml.h"
#include "../db/db.h"
#include "../migrate/history.h"
#include "../migrate/migrate.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Phases in order; a resumed deploy restarts at the phase it stopped in. */
static const char *const phases[] = {
	"validate", "lint", "governance", "pre_deploy", "rollback_point", "apply", "gates",
	"post_deploy", "done", NULL
};
enum { PH_VALIDATE, PH_LINT, PH_GOVERNANCE, PH_PRE, PH_POINT, PH_APPLY, PH_GATES, PH_POST, PH_DONE };

static int phase_index(const char *p)
{
	for (int i = 0; phases[i]; i++)
		if (p && !strcmp(phases[i], p))
			return i;
	return -1;
}

const char *sl_hook_kind_name(enum sl_hook_kind k)
{
	static const char *const n[] = { "pre_deploy", "post_deploy", "on_rollback" };
	return k < SL_HOOK_N ? n[k] : "?";
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Elapsed ms between two of our ISO timestamps (the record's duration). */
static long iso_ms(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int ms = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long)timegm(&tm) * 1000 + ms;
}

/*
 * A test hook, documented in the README: SLUICE_CRASH_AT=<phase> kills
 * this process with SIGKILL as that phase starts (and "apply-mid" after
 * the first migration of the apply phase), so the crash-recovery tests
 * can stop a deploy at every phase without timing races.
 */
static void maybe_crash(const char *phase)
{
	const char *at = getenv("SLUICE_CRASH_AT");
	if (at && phase && !strcmp(at, phase))
		raise(SIGKILL);
}

/* ---- config -------------------------------------------------------------- */

static const char *const deploy_keys[] = { "state_dir", "retain", "hook_timeout", "strategy", "soft_drop", NULL };
static const char *const hook_keys[] = { "pre_deploy", "post_deploy", "on_rollback", NULL };

static int check_strategy(const struct sl_ydoc *doc, const struct sl_ynode *n, const char **out,
			  struct sl_error *err)
{
	if (sl_ynode_str(doc, n, "strategy", out, err))
		return -1;
	if (strcmp(*out, "standard") && strcmp(*out, "forward-only"))
		return sl_ynode_err(doc, n, err, "unknown strategy '%s' (standard, forward-only)", *out);
	return 0;
}

static int load_hooks(const struct sl_ydoc *doc, const struct sl_ynode *h,
		      struct sl_deploy_config *c, struct sl_error *err)
{
	if (!h)
		return 0;
	if (h->type != SL_Y_MAP)
		return sl_ynode_err(doc, h, err, "expected a mapping for 'hooks' ({pre_deploy: [cmd], post_deploy: [cmd], on_rollback: [cmd]})");
	if (sl_ymap_check_keys(doc, h, hook_keys, "hooks", err))
		return -1;
	for (int k = 0; k < SL_HOOK_N; k++) {
		const struct sl_ynode *l = sl_ymap_get(h, hook_keys[k]);
		if (!l)
			continue;
		/* the environment's list replaces the project's */
		for (size_t i = 0; i < c->hooks[k].n; i++)
			free(c->hooks[k].v[i]);
		c->hooks[k].n = 0;
		const char *s;
		if (l->type == SL_Y_SCALAR) {
			if (sl_ynode_str(doc, l, hook_keys[k], &s, err))
				return -1;
			sl_strvec_push(&c->hooks[k], s);
			continue;
		}
		if (l->type != SL_Y_SEQ)
			return sl_ynode_err(doc, l, err, "expected a list of shell commands for '%s'", hook_keys[k]);
		for (size_t i = 0; i < l->n; i++) {
			if (sl_ynode_str(doc, l->items[i], hook_keys[k], &s, err))
				return -1;
			sl_strvec_push(&c->hooks[k], s);
		}
	}
	return 0;
}

int sl_deploy_config_load(const struct sl_config *cfg, const struct sl_env *env,
			  struct sl_deploy_config *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	out->retain = 5;
	out->hook_timeout_ms = 300000;
	const struct sl_ydoc *doc = cfg->doc;
	const struct sl_ynode *root = doc ? doc->root : NULL;
	const struct sl_ynode *d = sl_ymap_get(root, "deploy"), *n;
	const char *s;
	char *dir = NULL;
	if (d) {
		if (d->type != SL_Y_MAP)
			return sl_ynode_err(doc, d, err, "expected a mapping for 'deploy'");
		if (sl_ymap_check_keys(doc, d, deploy_keys, "deploy", err))
			return -1;
		if ((n = sl_ymap_get(d, "state_dir"))) {
			if (sl_ynode_str(doc, n, "state_dir", &s, err))
				return -1;
			dir = sl_path_resolve(cfg->dir, s);
		}
		if ((n = sl_ymap_get(d, "retain"))) {
			if (sl_ynode_long(doc, n, "retain", &out->retain, err))
				return -1;
			if (out->retain < 1)
				return sl_ynode_err(doc, n, err, "'retain' must be at least 1");
		}
		if ((n = sl_ymap_get(d, "hook_timeout"))) {
			if (sl_ynode_str(doc, n, "hook_timeout", &s, err))
				return -1;
			if (sl_parse_duration_ms(s, &out->hook_timeout_ms) || out->hook_timeout_ms <= 0)
				return sl_ynode_err(doc, n, err, "invalid duration '%s' for 'hook_timeout'", s);
		}
		if ((n = sl_ymap_get(d, "strategy"))) {
			if (check_strategy(doc, n, &s, err))
				goto fail;
			out->strategy = sl_strdup(s);
		}
		if ((n = sl_ymap_get(d, "soft_drop")) && sl_ynode_bool(doc, n, "soft_drop", &out->soft_drop, err))
			goto fail;
	}
	out->state_dir = dir ? dir : sl_path_resolve(cfg->dir, ".sluice/rollback");
	if (load_hooks(doc, sl_ymap_get(root, "hooks"), out, err))
		goto fail;
	if (env && env->node) {
		if (load_hooks(doc, sl_ymap_get(env->node, "hooks"), out, err))
			goto fail;
		if ((n = sl_ymap_get(env->node, "strategy"))) {
			if (check_strategy(doc, n, &s, err))
				goto fail;
			free(out->strategy);
			out->strategy = sl_strdup(s);
		}
		n = sl_ymap_get(env->node, "gates");
		if (n && n->type != SL_Y_SEQ && !sl_ynode_is_null(n)) {
			sl_ynode_err(doc, n, err, "expected a list of gate steps for 'gates' (e.g. [feature-quality-checks, data-drift-threshold])");
			goto fail;
		}
		out->gates = n && n->type == SL_Y_SEQ && n->n ? n : NULL;
	}
	return 0;
fail:
	sl_deploy_config_free(out);
	return -1;
}

void sl_deploy_config_free(struct sl_deploy_config *c)
{
	free(c->state_dir);
	free(c->strategy);
	for (int k = 0; k < SL_HOOK_N; k++)
		sl_strvec_free(&c->hooks[k]);
	memset(c, 0, sizeof(*c));
}

/* ---- the deployments and archives tables ---------------------------------- */

void sl_deployment_free(struct sl_deployment *d)
{
	char **f[] = { &d->id, &d->environment, &d->from_version, &d->to_version, &d->plan_digest,
		       &d->strategy, &d->phase, &d->status, &d->started_at, &d->finished_at,
		       &d->actor, &d->ci, &d->reason, &d->rollback_point, &d->log };
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(*f[i]);
	memset(d, 0, sizeof(*d));
}

static void set_str(char **dst, const char *s)
{
	if (s == *dst)
		return;
	char *old = *dst;
	*dst = s ? sl_strdup(s) : NULL;
	free(old);
}

static int ensure_tables(struct sl_db *db, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "CREATE TABLE IF NOT EXISTS ");
	d->state_table(&q, "deployments");
	sl_buf_adds(&q, " (id text PRIMARY KEY, environment text NOT NULL, from_version text,"
			" to_version text, plan_digest text NOT NULL, strategy text NOT NULL,"
			" phase text NOT NULL, status text NOT NULL, started_at text NOT NULL,"
			" finished_at text, duration_ms bigint, actor text NOT NULL, ci text,"
			" reason text, rollback_point text, log text)");
	int rc = d->exec(db, q.s, err);
	sl_buf_reset(&q);
	sl_buf_adds(&q, "CREATE TABLE IF NOT EXISTS ");
	d->state_table(&q, "archives");
	sl_buf_adds(&q, " (deployment_id text NOT NULL, seq bigint NOT NULL, version text NOT NULL,"
			" kind text NOT NULL, table_name text NOT NULL, column_name text,"
			" column_type text, column_notnull text, column_default text,"
			" key_columns text, columns text, archive_table text, restore_ddl text,"
			" PRIMARY KEY (deployment_id, seq))");
	if (!rc)
		rc = d->exec(db, q.s, err);
	if (!rc && !d->restore_point) {
		/* restore_ddl came after the first release of the table (PostgreSQL only uses it) */
		sl_buf_reset(&q);
		sl_buf_adds(&q, "ALTER TABLE ");
		d->state_table(&q, "archives");
		sl_buf_adds(&q, " ADD COLUMN IF NOT EXISTS restore_ddl text");
		rc = d->exec(db, q.s, err);
	}
	sl_buf_free(&q);
	return rc;
}

static const char dep_cols[] =
	"id, environment, from_version, to_version, plan_digest, strategy, phase, status,"
	" started_at, finished_at, duration_ms, actor, ci, reason, rollback_point, log";

/* Write the whole row (insert or update): one autocommitted statement. */
static int dep_save(struct sl_db *db, const struct sl_deployment *d, struct sl_error *err)
{
	char dur[32];
	snprintf(dur, sizeof(dur), "%ld", d->duration_ms);
	const char *p[] = {
		d->id, d->environment, d->from_version, d->to_version, d->plan_digest, d->strategy,
		d->phase, d->status, d->started_at, d->finished_at, d->duration_ms >= 0 ? dur : NULL,
		d->actor, d->ci, d->reason, d->rollback_point, d->log
	};
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "INSERT INTO ");
	db->driver->state_table(&q, "deployments");
	sl_buf_printf(&q, " (%s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			  " ON CONFLICT (id) DO UPDATE SET from_version = excluded.from_version,"
			  " to_version = excluded.to_version, plan_digest = excluded.plan_digest,"
			  " phase = excluded.phase, status = excluded.status,"
			  " finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,"
			  " reason = excluded.reason, rollback_point = excluded.rollback_point,"
			  " log = excluded.log", dep_cols);
	int rc = db->driver->query(db, q.s, p, 16, NULL, NULL, err);
	sl_buf_free(&q);
	return rc;
}

struct dep_rows {
	struct sl_deployment *v;
	size_t n;
};

static int dep_row_cb(void *arg, int ncols, const char *const *v)
{
	struct dep_rows *r = arg;
	(void)ncols;
	r->v = sl_realloc(r->v, (r->n + 1) * sizeof(*r->v));
	struct sl_deployment *d = &r->v[r->n++];
	memset(d, 0, sizeof(*d));
	char **f[] = { &d->id, &d->environment, &d->from_version, &d->to_version, &d->plan_digest,
		       &d->strategy, &d->phase, &d->status, &d->started_at, &d->finished_at };
	for (int i = 0; i < 10; i++)
		set_str(f[i], v[i]);
	d->duration_ms = v[10] ? atol(v[10]) : -1;
	set_str(&d->actor, v[11]);
	set_str(&d->ci, v[12]);
	set_str(&d->reason, v[13]);
	set_str(&d->rollback_point, v[14]);
	set_str(&d->log, v[15]);
	return 0;
}

static int ll_cb(void *arg, int ncols, const char *const *v)
{
	(void)ncols;
	*(long long *)arg = v[0] ? atoll(v[0]) : 0;
	return 1;
}

/* Does the deployments table exist (read-only commands create nothing)? */
static int have_tables(struct sl_db *db, int *yes, struct sl_error *err)
{
	*yes = 0;
	int has = 0;
	if (db->driver->has_state(db, &has, err))
		return -1;
	if (!has)
		return 0;
	long long n = 0;
	const char *q = !strcmp(db->driver->name, "postgres")
		? "SELECT CASE WHEN to_regclass('sluice.deployments') IS NULL THEN 0 ELSE 1 END"
		: "SELECT count(*) FROM sqlite_master WHERE name = 'sluice_deployments'";
	if (db->driver->query(db, q, NULL, 0, ll_cb, &n, err))
		return -1;
	*yes = n > 0;
	return 0;
}

/* Rows matching `where` (sluice's own SQL with ? params), newest first. */
static int dep_select(struct sl_db *db, const char *where, const char *const *p, int np,
		      size_t limit, struct dep_rows *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	int yes;
	if (have_tables(db, &yes, err))
		return -1;
	if (!yes)
		return 0;
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_printf(&q, "SELECT %s FROM ", dep_cols);
	db->driver->state_table(&q, "deployments");
	if (where)
		sl_buf_printf(&q, " WHERE %s", where);
	sl_buf_adds(&q, " ORDER BY started_at DESC, id DESC");
	if (limit)
		sl_buf_printf(&q, " LIMIT %zu", limit);
	int rc = db->driver->query(db, q.s, p, np, dep_row_cb, out, err);
	sl_buf_free(&q);
	return rc;
}

static void dep_rows_free(struct dep_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		sl_deployment_free(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int sl_deployments_list(struct sl_db *db, const char *env, size_t limit,
			struct sl_deployment **out, size_t *n, struct sl_error *err)
{
	struct dep_rows r;
	const char *p[] = { env };
	if (dep_select(db, env ? "environment = ?" : NULL, p, env ? 1 : 0, limit, &r, err))
		return -1;
	*out = r.v;
	*n = r.n;
	return 0;
}

/* ---- one deploy's context ------------------------------------------------- */

struct dctx {
	struct sl_engine *eng;
	struct sl_db *db;
	const struct sl_deploy_opts *o;
	struct sl_deploy_config dc;
	struct sl_deployment *dep;
	struct sl_deploy_result *res;
	int pg;
	long seq;                  /* archives taken by this deploy */
	json_t *log;               /* hooks and gates, saved in dep->log */
	struct sl_strvec chain;    /* deployments a rollback undoes (archives) */
	int applied_one;           /* for SLUICE_CRASH_AT=apply-mid */
	const char *undo_to;       /* PostgreSQL rollback: undo above this version */
	void (*user_event)(void *, const struct sl_event *);
	void *user_event_arg;
};

static void say(struct dctx *x, const char *phase, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct dctx *x, const char *phase, const char *fmt, ...)
{
	if (!x->o->on_phase)
		return;
	if (!fmt) {
		x->o->on_phase(x->o->arg, phase, NULL);
		return;
	}
	struct sl_buf b = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	x->o->on_phase(x->o->arg, phase, b.s);
	sl_buf_free(&b);
}

static int save(struct dctx *x, struct sl_error *err)
{
	char *s = json_dumps(x->log, JSON_COMPACT);
	set_str(&x->dep->log, s);
	free(s);
	return dep_save(x->db, x->dep, err);
}

/* Enter phase p: persist it, then (tests) maybe die there. */
static int enter(struct dctx *x, const char *p, struct sl_error *err)
{
	set_str(&x->dep->phase, p);
	say(x, p, NULL);
	if (save(x, err))
		return -1;
	maybe_crash(p);
	return 0;
}

static void finish(struct dctx *x, const char *status, const char *reason)
{
	char now[32];
	sl_now_iso(now);
	set_str(&x->dep->status, status);
	set_str(&x->dep->finished_at, now);
	if (reason)
		set_str(&x->dep->reason, reason);
	x->dep->duration_ms = iso_ms(now) - iso_ms(x->dep->started_at);
	if (x->dep->duration_ms < 0)
		x->dep->duration_ms = 0;
}

/* CI context: an allow-list, never the whole environment (tokens live there). */
static char *ci_context(void)
{
	static const char *const vars[] = {
		"CI", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "GITHUB_RUN_ID",
		"GITHUB_RUN_NUMBER", "GITHUB_WORKFLOW", "GITHUB_ACTOR", "GITHUB_EVENT_NAME",
		"GITHUB_SERVER_URL", "GITLAB_CI", "GITLAB_USER_LOGIN", "CI_PROJECT_PATH",
		"CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_PIPELINE_ID", "CI_PIPELINE_URL",
		"CI_JOB_ID", "CI_JOB_URL", "BUILD_BUILDID", "BUILD_SOURCEVERSION", NULL
	};
	json_t *o = json_object();
	for (size_t i = 0; vars[i]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			json_object_set_new(o, vars[i], json_string(v));
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static char *new_id(void)
{
	unsigned char r[3];
	if (RAND_bytes(r, sizeof(r)) != 1) {
		long v = (long)getpid() ^ mono_ms();
		r[0] = (unsigned char)v;
		r[1] = (unsigned char)(v >> 8);
		r[2] = (unsigned char)(v >> 16);
	}
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char b[64];
	snprintf(b, sizeof(b), "%04d%02d%02dT%02d%02d%02dZ-%02x%02x%02x", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, r[0], r[1], r[2]);
	return sl_strdup(b);
}

/* ---- hooks ------------------------------------------------------------------ */

/*
 * Run the hooks of kind k in order with SLUICE_* in their environment;
 * output goes into the deployment's log.  Stops at the first failure.
 */
int sl_hooks_run(const struct sl_deploy_config *dc, const char *dir, enum sl_hook_kind k,
		 const char *const *envv, json_t *log,
		 void (*say_fn)(void *arg, const char *hook, const char *cmd), void *arg,
		 struct sl_error *err)
{
	const struct sl_strvec *h = &dc->hooks[k];
	int rc = 0;
	for (size_t i = 0; i < h->n && !rc; i++) {
		struct sl_buf out = SL_BUF_INIT;
		struct sl_proc_result pr;
		struct sl_proc_opts po;
		memset(&po, 0, sizeof(po));
		po.dir = dir;
		po.env = envv;
		po.timeout_ms = dc->hook_timeout_ms;
		po.capture = &out;
		if (say_fn)
			say_fn(arg, sl_hook_kind_name(k), h->v[i]);
		if (sl_proc_run(h->v[i], &po, &pr, err)) {
			sl_buf_free(&out);
			rc = -1;
			break;
		}
		if (log) {
			json_t *j = json_object();
			json_object_set_new(j, "hook", json_string(sl_hook_kind_name(k)));
			json_object_set_new(j, "command", json_string(h->v[i]));
			json_object_set_new(j, "exit_code", json_integer(pr.exit_code));
			json_object_set_new(j, "ms", json_integer(pr.ms));
			json_object_set_new(j, "output", json_stringn_nocheck(out.s, out.len));
			json_array_append_new(log, j);
		}
		if (pr.exit_code != 0) {
			struct sl_buf why = SL_BUF_INIT;
			sl_proc_describe(&pr, &why);
			sl_err(err, SL_FAILED, "%s hook '%s' %s", sl_hook_kind_name(k), h->v[i], why.s);
			sl_buf_free(&why);
			rc = -1;
		}
		sl_buf_free(&out);
	}
	return rc;
}

static void hook_say(void *arg, const char *hook, const char *cmd)
{
	say(arg, hook, "%s", cmd);
}

static int run_hooks(struct dctx *x, enum sl_hook_kind k, struct sl_error *err)
{
	if (!x->dc.hooks[k].n)
		return 0;
	struct sl_buf e[6];
	for (int i = 0; i < 6; i++)
		sl_buf_init(&e[i]);
	sl_buf_printf(&e[0], "SLUICE_DEPLOYMENT_ID=%s", x->dep->id);
	sl_buf_printf(&e[1], "SLUICE_ENV=%s", x->dep->environment);
	sl_buf_printf(&e[2], "SLUICE_FROM_VERSION=%s", x->dep->from_version ? x->dep->from_version : "");
	sl_buf_printf(&e[3], "SLUICE_TO_VERSION=%s", x->dep->to_version ? x->dep->to_version : "");
	sl_buf_printf(&e[4], "SLUICE_HOOK=%s", sl_hook_kind_name(k));
	sl_buf_printf(&e[5], "SLUICE_STATUS=%s", x->dep->status ? x->dep->status : "");
	const char *envv[] = { e[0].s, e[1].s, e[2].s, e[3].s, e[4].s, e[5].s, NULL };
	int rc = sl_hooks_run(&x->dc, x->o->cfg->dir, k, envv, x->log, hook_say, x, err);
	for (int i = 0; i < 6; i++)
		sl_buf_free(&e[i]);
	return rc;
}

/* ---- what is being deployed ----------------------------------------------- */

/*
 * The plan digest: SHA-256 over the environment and (version, checksum)
 * of every versioned migration above `from` up to `to`, applied or not,
 * so that it stays the same while a resumed deploy applies them.
 */
static void plan_digest(const struct sl_status *st, const char *env, const char *from,
			const char *to, char out[65])
{
	struct sl_buf b = SL_BUF_INIT;
	sl_buf_printf(&b, "%s\n", env);
	for (size_t i = 0; i < st->n; i++) {
		const struct sl_entry *e = &st->e[i];
		if (e->kind != SL_VERSIONED || !e->version)
			continue;
		if (from && sl_version_cmp(e->version, from) <= 0)
			continue;
		if (to && sl_version_cmp(e->version, to) > 0)
			continue;
		sl_buf_printf(&b, "%s\t%s\n", e->version, e->checksum);
	}
	sl_sha256_hex(b.s, b.len, out);
	sl_buf_free(&b);
}

/* The newest pending versioned migration up to `to`; NULL when none. */
static const char *target_version(const struct sl_status *st, const char *to, int *pending)
{
	const char *top = NULL;
	*pending = 0;
	for (size_t i = 0; i < st->n; i++) {
		const struct sl_entry *e = &st->e[i];
		if (e->state != SL_ST_PENDING)
			continue;
		if (e->kind == SL_VERSIONED && to && sl_version_cmp(e->version, to) > 0)
			continue;
		(*pending)++;
		if (e->kind == SL_VERSIONED && (!top || sl_version_cmp(e->version, top) > 0))
			top = e->version;
	}
	return top;
}

/* ---- PostgreSQL: archives of destroyed data -------------------------------- */

static void add_qualified(struct sl_buf *b, const char *schema, const char *table)
{
	if (schema) {
		sl_quote_ident_std(b, schema);
		sl_buf_addc(b, '.');
	}
	sl_quote_ident_std(b, table);
}

static char *join_lines(const struct sl_strvec *v)
{
	struct sl_buf b = SL_BUF_INIT;
	for (size_t i = 0; i < v->n; i++)
		sl_buf_printf(&b, "%s%s", i ? "\n" : "", v->v[i]);
	return sl_buf_detach(&b);
}

static void split_lines(const char *s, struct sl_strvec *out)
{
	while (s && *s) {
		size_t n = strcspn(s, "\n");
		char *one = sl_strndup(s, n);
		sl_strvec_push_owned(out, one);
		s += n;
		if (*s)
			s++;
	}
}

static const char *destroy_kind_name(enum sl_destroy_kind k)
{
	switch (k) {
	case SL_DESTROY_DROP_COLUMN: return "drop_column";
	case SL_DESTROY_DROP_TABLE: return "drop_table";
	case SL_DESTROY_ALTER_TYPE: return "alter_type";
	case SL_DESTROY_TRUNCATE: return "truncate";
	case SL_DESTROY_DELETE_ALL: return "delete_all";
	}
	return "?";
}

/* prefix<deployment id, lower case, '_' for '-'>_<seq>: archive tables, soft-dropped columns */
static void archive_name_p(const char *prefix, const char *id, long seq, struct sl_buf *out)
{
	sl_buf_adds(out, prefix);
	for (const char *p = id; *p; p++)
		sl_buf_addc(out, (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a')
			    : (*p == '-' ? '_' : *p));
	sl_buf_printf(out, "_%ld", seq);
}

static void archive_name(const char *id, long seq, struct sl_buf *out)
{
	archive_name_p("archive_", id, seq, out);
}

/*
 * The indexes and constraints that DROP COLUMN takes with it (PostgreSQL
 * drops every index and constraint that uses the column, without CASCADE),
 * as the SQL that makes them again, one statement per line: a rollback
 * puts them back after the values.  NOT NULL is column_notnull; indexes
 * behind a constraint come back with the constraint.
 */
static int dropped_with_column(struct sl_db *db, const char *nsp, const char *rel, const char *oid,
			       const char *column, struct sl_buf *ddl, struct sl_error *err)
{
	struct sl_strvec v[3] = { SL_STRVEC_INIT, SL_STRVEC_INIT, SL_STRVEC_INIT };
	const char *p[] = { oid, oid, column };
	int rc = sl_db_query_strs(db,
		"SELECT DISTINCT ON (dp.classid, dp.objid) CASE WHEN co.oid IS NULL THEN 'i' ELSE 'c' END,"
		" coalesce(co.conname, ''), CASE WHEN co.oid IS NULL THEN pg_get_indexdef(dp.objid)"
		" ELSE pg_get_constraintdef(co.oid) END"
		" FROM pg_depend dp LEFT JOIN pg_constraint co"
		"  ON dp.classid = 'pg_constraint'::regclass AND co.oid = dp.objid"
		" WHERE dp.refclassid = 'pg_class'::regclass AND dp.refobjid = ?::oid"
		" AND dp.refobjsubid = (SELECT attnum FROM pg_attribute WHERE attrelid = ?::oid AND attname = ?)"
		" AND ((co.oid IS NOT NULL AND co.contype <> 'n') OR (dp.classid = 'pg_class'::regclass"
		"  AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = dp.objid)"
		"  AND NOT EXISTS (SELECT 1 FROM pg_constraint c2 WHERE c2.conindid = dp.objid"
		"   AND c2.contype IN ('p', 'u', 'x'))))"
		" ORDER BY dp.classid, dp.objid", p, 3, v, 3, err);
	for (size_t i = 0; !rc && i < v[0].n; i++) {
		if (v[0].v[i][0] == 'c') {
			sl_buf_adds(ddl, "ALTER TABLE ");
			add_qualified(ddl, nsp, rel);
			sl_buf_adds(ddl, " ADD CONSTRAINT ");
			sl_quote_ident_std(ddl, v[1].v[i]);
			sl_buf_printf(ddl, " %s;\n", v[2].v[i]);
		} else {
			sl_buf_printf(ddl, "%s;\n", v[2].v[i]);
		}
	}
	for (int i = 0; i < 3; i++)
		sl_strvec_free(&v[i]);
	return rc;
}

/*
 * Copy the data that destroy item d is about to destroy into an archive
 * table and describe it in sluice.archives, inside the migration's
 * transaction (so the archive exists exactly when the migration does).
 */
static int archive_one(struct dctx *x, const struct sl_migration *m, const struct sl_destroy *d,
		       struct sl_error *err)
{
	struct sl_db *db = x->db;
	struct sl_buf name = SL_BUF_INIT, q = SL_BUF_INIT, arch = SL_BUF_INIT, ddl = SL_BUF_INIT;
	struct sl_strvec rel[3] = { SL_STRVEC_INIT, SL_STRVEC_INIT, SL_STRVEC_INIT };
	struct sl_strvec keys = SL_STRVEC_INIT, cols = SL_STRVEC_INIT;
	struct sl_strvec def[3] = { SL_STRVEC_INIT, SL_STRVEC_INIT, SL_STRVEC_INIT };
	char *key_list = NULL, *col_list = NULL;
	int rc = -1;
	long seq = ++x->seq;
	add_qualified(&name, d->schema, d->table);
	const char *p1[] = { name.s };
	if (sl_db_query_strs(db, "SELECT n.nspname, c.relname, c.oid::text FROM pg_class c"
			   " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(?)",
		       p1, 1, rel, 3, err))
		goto out;
	char seqs[32];
	snprintf(seqs, sizeof(seqs), "%ld", seq);
	const char *kind = destroy_kind_name(d->kind);
	const char *key_mode = NULL;
	if (rel[0].n) {
		const char *oid = rel[2].v[0];
		const char *p2[] = { oid };
		archive_name(x->dep->id, seq, &arch);
		if (d->kind == SL_DESTROY_DROP_COLUMN || d->kind == SL_DESTROY_ALTER_TYPE) {
			if (sl_db_query_strs(db, "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
					   " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
					   " WHERE i.indrelid = ?::oid AND i.indisprimary"
					   " ORDER BY array_position(i.indkey::int2[], a.attnum)",
				       p2, 1, &keys, 1, err))
				goto out;
			for (size_t i = 0; i < keys.n; i++)
				if (!strcmp(keys.v[i], d->column)) {
					/* the key goes with the column: match rows by position */
					sl_strvec_free(&keys);
					break;
				}
			const char *p3[] = { oid, d->column };
			if (sl_db_query_strs(db, "SELECT format_type(a.atttypid, a.atttypmod),"
					   " CASE WHEN a.attnotnull THEN '1' ELSE '0' END,"
					   " pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
					   " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
					   " WHERE a.attrelid = ?::oid AND a.attname = ? AND NOT a.attisdropped",
				       p3, 2, def, 3, err))
				goto out;
			if (!def[0].n) {
				/* no such column: the statement will fail on its own */
				sl_buf_reset(&arch);
				goto record;
			}
			if (d->kind == SL_DESTROY_DROP_COLUMN &&
			    dropped_with_column(db, rel[0].v[0], rel[1].v[0], oid, d->column, &ddl, err))
				goto out;
			sl_buf_adds(&q, "CREATE TABLE sluice.");
			sl_quote_ident_std(&q, arch.s);
			sl_buf_adds(&q, " AS SELECT ");
			if (keys.n) {
				for (size_t i = 0; i < keys.n; i++) {
					sl_quote_ident_std(&q, keys.v[i]);
					sl_buf_adds(&q, ", ");
				}
			} else {
				sl_buf_adds(&q, "ctid AS sluice_ctid, ");
				key_mode = "ctid";
			}
			sl_quote_ident_std(&q, d->column);
			sl_buf_adds(&q, " AS sluice_value FROM ");
		} else {
			if (sl_db_query_strs(db, "SELECT attname FROM pg_attribute WHERE attrelid = ?::oid"
					   " AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
					   " ORDER BY attnum", p2, 1, &cols, 1, err))
				goto out;
			sl_buf_adds(&q, "CREATE TABLE sluice.");
			sl_quote_ident_std(&q, arch.s);
			sl_buf_adds(&q, " AS SELECT ");
			for (size_t i = 0; i < cols.n; i++) {
				sl_buf_adds(&q, i ? ", " : "");
				sl_quote_ident_std(&q, cols.v[i]);
			}
			sl_buf_adds(&q, " FROM ");
		}
		add_qualified(&q, rel[0].v[0], rel[1].v[0]);
		if (db->driver->exec(db, q.s, err))
			goto out;
	}
record:
	key_list = key_mode ? sl_strdup("") : join_lines(&keys);
	col_list = join_lines(&cols);
	{
		struct sl_buf tn = SL_BUF_INIT;
		if (rel[0].n)
			add_qualified(&tn, rel[0].v[0], rel[1].v[0]);
		else
			sl_buf_adds(&tn, name.s);
		const char *p[] = {
			x->dep->id, seqs, m->version ? m->version : "", kind, tn.s, d->column,
			def[0].n ? def[0].v[0] : NULL, def[1].n ? def[1].v[0] : NULL,
			def[2].n && def[2].v[0][0] ? def[2].v[0] : NULL,
			key_mode ? "ctid" : key_list, col_list, arch.len ? arch.s : NULL,
			ddl.len ? ddl.s : NULL
		};
		sl_buf_reset(&q);
		sl_buf_adds(&q, "INSERT INTO sluice.archives (deployment_id, seq, version, kind, table_name,"
				" column_name, column_type, column_notnull, column_default, key_columns,"
				" columns, archive_table, restore_ddl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
		rc = db->driver->query(db, q.s, p, 13, NULL, NULL, err);
		sl_buf_free(&tn);
	}
	if (!rc && arch.len)
		say(x, "apply", "kept %s data of %s in sluice.%s", kind, name.s, arch.s);
out:
	sl_buf_free(&ddl);
	free(key_list);
	free(col_list);
	for (int i = 0; i < 3; i++) {
		sl_strvec_free(&rel[i]);
		sl_strvec_free(&def[i]);
	}
	sl_strvec_free(&keys);
	sl_strvec_free(&cols);
	sl_buf_free(&name);
	sl_buf_free(&q);
	sl_buf_free(&arch);
	return rc;
}

/*
 * deploy.soft_drop (PostgreSQL): a statement that only drops one column
 * that nothing else depends on renames it to sluice_dropped_<deployment>_
 * <seq> instead, nullable and without a default.  Rolling that back is a
 * rename: instant at any size, where putting a column back from an
 * archive is an UPDATE that rewrites every row (11 s at 1M rows, see
 * docs/BENCHMARKS.md).  The column is really dropped when the deployment's
 * rollback point expires (deploy.retain).  The price: SELECT * sees the
 * renamed column until then, so it is opt-in.  A column in an index, a
 * constraint, a view, a trigger, a policy, a statistics object or another
 * column's expression, an identity or generated column, and a column of a
 * table in an inheritance tree or partitioned take the archive path: a
 * rename would keep alive what the drop removes.  The catalog snapshot
 * (db_postgres.c) leaves sluice_dropped_* columns out.
 * Returns 1 when done, 0 when the column takes the archive path.
 */
static int soft_drop_one(struct dctx *x, const struct sl_migration *m, const struct sl_destroy *d,
			 struct sl_error *err)
{
	struct sl_db *db = x->db;
	struct sl_buf name = SL_BUF_INIT, q = SL_BUF_INIT, hidden = SL_BUF_INIT, tn = SL_BUF_INIT;
	struct sl_strvec c[6];
	int rc = -1;
	for (int i = 0; i < 6; i++)
		c[i] = (struct sl_strvec)SL_STRVEC_INIT;
	add_qualified(&name, d->schema, d->table);
	const char *p1[] = { d->column, name.s };
	if (sl_db_query_strs(db, "SELECT n.nspname, c.relname, format_type(a.atttypid, a.atttypmod),"
			   " CASE WHEN a.attnotnull THEN '1' ELSE '0' END, pg_get_expr(ad.adbin, ad.adrelid),"
			   " (SELECT count(*) FROM pg_depend dp WHERE dp.refclassid = 'pg_class'::regclass"
			   "  AND dp.refobjid = c.oid AND dp.refobjsubid = a.attnum"
			   "  AND NOT (dp.classid = 'pg_attrdef'::regclass AND dp.objid IS NOT DISTINCT FROM ad.oid))::text"
			   " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
			   " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ? AND NOT a.attisdropped"
			   " LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
			   " WHERE c.oid = to_regclass(?) AND c.relkind = 'r' AND a.attidentity = ''"
			   " AND a.attgenerated = '' AND NOT EXISTS (SELECT 1 FROM pg_inherits h"
			   "  WHERE h.inhparent = c.oid OR h.inhrelid = c.oid)",
		       p1, 2, c, 6, err))
		goto out;
	if (!c[0].n || strcmp(c[5].v[0], "0")) {
		rc = 0;
		goto out;
	}
	long seq = ++x->seq;
	char seqs[32];
	snprintf(seqs, sizeof(seqs), "%ld", seq);
	archive_name_p("sluice_dropped_", x->dep->id, seq, &hidden);
	add_qualified(&tn, c[0].v[0], c[1].v[0]);
	sl_buf_printf(&q, "ALTER TABLE %s RENAME COLUMN ", tn.s);
	sl_quote_ident_std(&q, d->column);
	sl_buf_adds(&q, " TO ");
	sl_quote_ident_std(&q, hidden.s);
	sl_buf_printf(&q, ";\nALTER TABLE %s ALTER COLUMN ", tn.s);
	sl_quote_ident_std(&q, hidden.s);
	sl_buf_adds(&q, " DROP NOT NULL, ALTER COLUMN ");
	sl_quote_ident_std(&q, hidden.s);
	sl_buf_adds(&q, " DROP DEFAULT");
	if (db->driver->exec(db, q.s, err))
		goto out;
	const char *p[] = {
		x->dep->id, seqs, m->version ? m->version : "", "soft_drop", tn.s, d->column,
		c[2].v[0], c[3].v[0], c[4].v[0][0] ? c[4].v[0] : NULL, "", "", hidden.s
	};
	if (db->driver->query(db, "INSERT INTO sluice.archives (deployment_id, seq, version, kind, table_name,"
				  " column_name, column_type, column_notnull, column_default, key_columns,"
				  " columns, archive_table) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			      p, 12, NULL, NULL, err))
		goto out;
	say(x, "apply", "soft drop: renamed %s.%s.%s to %s (dropped when the rollback point expires)",
	    c[0].v[0], c[1].v[0], d->column, hidden.s);
	rc = 1;
out:
	for (int i = 0; i < 6; i++)
		sl_strvec_free(&c[i]);
	sl_buf_free(&name);
	sl_buf_free(&q);
	sl_buf_free(&hidden);
	sl_buf_free(&tn);
	return rc;
}

static int before_stmt(void *arg, const struct sl_migration *m, const char *sql, int *done,
		       struct sl_error *err)
{
	struct dctx *x = arg;
	struct sl_rev_list l;
	if (sl_reverse_analyze(sql, strlen(sql), &l, NULL))
		return 0;   /* the database reports the syntax error itself */
	int rc = 0;
	if (x->dc.soft_drop && l.n == 1 && l.v[0].nd == 1 && l.v[0].d[0].kind == SL_DESTROY_DROP_COLUMN &&
	    !l.v[0].d_incomplete && l.v[0].inverse_rest && !l.v[0].inverse_rest[0]) {
		rc = soft_drop_one(x, m, &l.v[0].d[0], err);
		if (rc == 1) {
			*done = 1;
			rc = 0;
			goto out;
		}
	}
	for (size_t i = 0; i < l.n && !rc; i++)
		for (size_t k = 0; k < l.v[i].nd && !rc; k++)
			rc = archive_one(x, m, &l.v[i].d[k], err);
out:
	sl_rev_list_free(&l);
	return rc;
}

static void on_event(void *arg, const struct sl_event *ev)
{
	struct dctx *x = arg;
	if (x->user_event)
		x->user_event(x->user_event_arg, ev);
	if (ev->type == SL_EV_DONE && ev->up && !x->applied_one++)
		maybe_crash("apply-mid");
}

/* ---- PostgreSQL: can every migration be undone? ---------------------------- */

/*
 * A migration without a down script can be undone by sluice when every
 * statement has an inverse or destroys only what an archive restores
 * with its shape (a column, a column's type, a table's rows).
 */
static int why_not_reversible(const struct sl_rev_list *l, struct sl_buf *why)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct sl_rev_stmt *s = &l->v[i];
		if (s->harmless || s->inverse)
			continue;
		if (s->nd) {
			for (size_t k = 0; k < s->nd; k++)
				if (s->d[k].kind == SL_DESTROY_DROP_TABLE) {
					sl_buf_printf(why, "line %d: DROP TABLE needs a down script that recreates the table (sluice puts its rows back)",
						      s->line);
					return 1;
				}
			if (s->d_incomplete) {
				sl_buf_printf(why, "line %d: CASCADE may destroy data sluice does not archive", s->line);
				return 1;
			}
			if (!s->inverse_rest) {
				sl_buf_printf(why, "line %d: %s", s->line,
					      s->why[0] ? s->why : "the rest of the statement cannot be inverted");
				return 1;
			}
			continue;   /* the archives restore what it destroys */
		}
		sl_buf_printf(why, "line %d: %s", s->line, s->why[0] ? s->why : "sluice cannot invert this statement");
		return 1;
	}
	return 0;
}

static int check_reversible(struct dctx *x, const struct sl_run_result *dry, struct sl_error *err)
{
	struct sl_buf bad = SL_BUF_INIT;
	int nbad = 0;
	for (size_t i = 0; i < dry->nsteps; i++) {
		const struct sl_migration *m = dry->steps[i].m;
		if (m->kind != SL_VERSIONED || m->down_path)
			continue;
		struct sl_buf sql = SL_BUF_INIT, why = SL_BUF_INIT;
		char sum[65];
		int fl, ntx;
		struct sl_rev_list l;
		if (sl_migration_read(m, 1, &sql, sum, &fl, &ntx, err)) {
			sl_buf_free(&sql);
			sl_buf_free(&bad);
			return -1;
		}
		if (sl_reverse_analyze(sql.s, sql.len, &l, NULL)) {
			sl_buf_printf(&why, "does not parse");
		} else {
			if (why_not_reversible(&l, &why) && fl > 1)
				sl_buf_printf(&why, " (file line offset %d)", fl - 1);
			sl_rev_list_free(&l);
		}
		if (why.len) {
			sl_buf_printf(&bad, "%s%s (%s): %s", nbad ? "; " : "", m->version, m->up_script, why.s);
			nbad++;
		}
		sl_buf_free(&why);
		sl_buf_free(&sql);
	}
	if (nbad) {
		sl_err(err, SL_FAILED, "no rollback point: %d migration%s cannot be undone: %s", nbad,
		       nbad > 1 ? "s" : "", bad.s);
		sl_err_hint(err, "add an undo script (U<ver>__<desc>.sql, .down.sql, down.sql or '-- migrate:down') for each");
	}
	sl_buf_free(&bad);
	return nbad ? -1 : 0;
}

/* ---- PostgreSQL: undoing with archives ------------------------------------ */

enum { A_SEQ, A_KIND, A_TABLE, A_COL, A_TYPE, A_NOTNULL, A_DEFAULT, A_KEYS, A_COLS, A_ARCH, A_DEP, A_DDL, A_N };

struct archives {
	struct sl_strvec f[A_N];
};

static void archives_free(struct archives *a)
{
	for (int i = 0; i < A_N; i++)
		sl_strvec_free(&a->f[i]);
}

static int archives_of(struct dctx *x, const char *version, struct archives *a,
		       struct sl_error *err)
{
	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < x->chain.n; i++) {
		const char *p[] = { x->chain.v[i], version };
		if (sl_db_query_strs(x->db, "SELECT seq::text, kind, table_name, column_name, column_type,"
				      " column_notnull, column_default, key_columns, columns, archive_table,"
				      " deployment_id, coalesce(restore_ddl, '') FROM sluice.archives WHERE deployment_id = ?"
				      " AND version = ? ORDER BY seq", p, 2, a->f, A_N, err))
			return -1;
	}
	return 0;
}

/* SQL that puts archive i back (ddl: also recreate the column or type). */
static void restore_sql(const struct archives *a, size_t i, int ddl, struct sl_buf *b)
{
	const char *kind = a->f[A_KIND].v[i], *table = a->f[A_TABLE].v[i];
	const char *col = a->f[A_COL].v[i], *type = a->f[A_TYPE].v[i];
	const char *arch = a->f[A_ARCH].v[i];
	int is_col = !strcmp(kind, "drop_column") || !strcmp(kind, "alter_type");
	if (!strcmp(kind, "soft_drop")) {
		/* arch is the column's name while it is dropped (soft_drop_one) */
		if (ddl) {
			sl_buf_printf(b, "ALTER TABLE %s RENAME COLUMN ", table);
			sl_quote_ident_std(b, arch);
			sl_buf_adds(b, " TO ");
			sl_quote_ident_std(b, col);
			sl_buf_adds(b, ";\n");
		} else {
			/* the down script made the column again: fill it, drop ours */
			sl_buf_printf(b, "UPDATE %s SET ", table);
			sl_quote_ident_std(b, col);
			sl_buf_adds(b, " = ");
			sl_quote_ident_std(b, arch);
			sl_buf_printf(b, ";\nALTER TABLE %s DROP COLUMN ", table);
			sl_quote_ident_std(b, arch);
			sl_buf_adds(b, ";\n");
		}
		if (ddl && a->f[A_DEFAULT].v[i][0]) {
			sl_buf_printf(b, "ALTER TABLE %s ALTER COLUMN ", table);
			sl_quote_ident_std(b, col);
			sl_buf_printf(b, " SET DEFAULT %s;\n", a->f[A_DEFAULT].v[i]);
			if (!strcmp(a->f[A_NOTNULL].v[i], "1")) {
				/* rows written while it was dropped: what ADD COLUMN would give them */
				sl_buf_printf(b, "UPDATE %s SET ", table);
				sl_quote_ident_std(b, col);
				sl_buf_adds(b, " = DEFAULT WHERE ");
				sl_quote_ident_std(b, col);
				sl_buf_adds(b, " IS NULL;\n");
			}
		}
		if (ddl && !strcmp(a->f[A_NOTNULL].v[i], "1")) {
			sl_buf_printf(b, "ALTER TABLE %s ALTER COLUMN ", table);
			sl_quote_ident_std(b, col);
			sl_buf_adds(b, " SET NOT NULL;\n");
		}
	} else if (arch[0] && is_col) {
		if (ddl && !strcmp(kind, "drop_column")) {
			sl_buf_printf(b, "ALTER TABLE %s ADD COLUMN ", table);
			sl_quote_ident_std(b, col);
			sl_buf_printf(b, " %s", type);
			if (a->f[A_DEFAULT].v[i][0])
				sl_buf_printf(b, " DEFAULT %s", a->f[A_DEFAULT].v[i]);
			sl_buf_adds(b, ";\n");
		} else if (ddl) {
			sl_buf_printf(b, "ALTER TABLE %s ALTER COLUMN ", table);
			sl_quote_ident_std(b, col);
			sl_buf_printf(b, " TYPE %s USING ", type);
			sl_quote_ident_std(b, col);
			sl_buf_printf(b, "::%s;\n", type);
		}
		/* the join of the archive with the table is a hash join of every
		 * row: give it the memory to run in one batch (this transaction only) */
		sl_buf_adds(b, "SET LOCAL work_mem = '256MB';\n");
		sl_buf_printf(b, "UPDATE %s AS sluice_t SET ", table);
		sl_quote_ident_std(b, col);
		sl_buf_adds(b, " = a.sluice_value FROM sluice.");
		sl_quote_ident_std(b, arch);
		sl_buf_adds(b, " AS a WHERE ");
		if (!strcmp(a->f[A_KEYS].v[i], "ctid")) {
			sl_buf_adds(b, "sluice_t.ctid = a.sluice_ctid");
		} else {
			struct sl_strvec keys = SL_STRVEC_INIT;
			split_lines(a->f[A_KEYS].v[i], &keys);
			for (size_t k = 0; k < keys.n; k++) {
				sl_buf_adds(b, k ? " AND sluice_t." : "sluice_t.");
				sl_quote_ident_std(b, keys.v[k]);
				sl_buf_adds(b, " = a.");
				sl_quote_ident_std(b, keys.v[k]);
			}
			sl_strvec_free(&keys);
		}
		sl_buf_adds(b, ";\n");
		if (ddl && !strcmp(kind, "drop_column") && !strcmp(a->f[A_NOTNULL].v[i], "1")) {
			sl_buf_printf(b, "ALTER TABLE %s ALTER COLUMN ", table);
			sl_quote_ident_std(b, col);
			sl_buf_adds(b, " SET NOT NULL;\n");
		}
		if (ddl)
			sl_buf_adds(b, a->f[A_DDL].v[i]);   /* indexes and constraints it took along */
	} else if (arch[0]) {
		struct sl_strvec cols = SL_STRVEC_INIT;
		struct sl_buf list = SL_BUF_INIT;
		split_lines(a->f[A_COLS].v[i], &cols);
		for (size_t k = 0; k < cols.n; k++) {
			sl_buf_adds(&list, k ? ", " : "");
			sl_quote_ident_std(&list, cols.v[k]);
		}
		sl_buf_printf(b, "INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM sluice.", table,
			      list.s, list.s);
		sl_quote_ident_std(b, arch);
		sl_buf_adds(b, ";\n");
		sl_strvec_free(&cols);
		sl_buf_free(&list);
	}
	if (arch[0] && strcmp(kind, "soft_drop")) {
		sl_buf_adds(b, "DROP TABLE sluice.");
		sl_quote_ident_std(b, arch);
		sl_buf_adds(b, ";\n");
	}
	sl_buf_adds(b, "DELETE FROM sluice.archives WHERE deployment_id = ");
	sl_quote_literal_std(b, a->f[A_DEP].v[i]);
	sl_buf_printf(b, " AND seq = %s;\n", a->f[A_SEQ].v[i]);
}

static int undo_sql(void *arg, const struct sl_migration *m, struct sl_buf *script,
		    struct sl_buf *after, struct sl_error *err)
{
	struct dctx *x = arg;
	struct archives a;
	if (archives_of(x, m->version ? m->version : "", &a, err))
		return -1;
	size_t na = a.f[A_SEQ].n;
	int rc = 0;
	if (m->down_path) {
		/* the down script restores the shape; the archives the data */
		for (size_t i = na; i-- > 0;)
			restore_sql(&a, i, 0, after);
		archives_free(&a);
		return 0;
	}
	struct sl_buf sql = SL_BUF_INIT, why = SL_BUF_INIT;
	char sum[65];
	int fl, ntx;
	struct sl_rev_list l;
	memset(&l, 0, sizeof(l));
	if (sl_migration_read(m, 1, &sql, sum, &fl, &ntx, err) ||
	    sl_reverse_analyze(sql.s, sql.len, &l, err)) {
		rc = -1;
		goto out;
	}
	if (why_not_reversible(&l, &why)) {
		rc = sl_err(err, SL_FAILED, "%s cannot be undone: %s", m->up_script, why.s);
		sl_err_hint(err, "write its undo script, then run 'sluice rollback' again");
		goto out;
	}
	size_t next = na;   /* archives are consumed newest first */
	for (size_t i = l.n; i-- > 0;) {
		const struct sl_rev_stmt *s = &l.v[i];
		if (s->inverse && s->inverse[0])
			sl_buf_printf(script, "%s;\n", s->inverse);
		if (s->nd && s->inverse_rest && s->inverse_rest[0])
			sl_buf_printf(script, "%s;\n", s->inverse_rest);
		for (size_t k = s->nd; k-- > 0;) {
			if (!next) {
				rc = sl_err(err, SL_FAILED, "%s: the archive of line %d is missing (sluice.archives)",
					    m->up_script, s->line);
				goto out;
			}
			restore_sql(&a, --next, 1, script);
		}
	}
	if (!script->len)
		sl_buf_adds(script, "SELECT 1");   /* nothing to undo: record it all the same */
out:
	sl_rev_list_free(&l);
	sl_buf_free(&sql);
	sl_buf_free(&why);
	archives_free(&a);
	return rc;
}

/* ---- rollback ----------------------------------------------------------------- */

static int take_lock(struct dctx *x, struct sl_error *err)
{
	char host[128], owner[256];
	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(owner, sizeof(owner), "%s@%s pid %ld (deploy)", sl_actor(), host, (long)getpid());
	long timeout = x->eng->lock_timeout_ms >= 0 ? x->eng->lock_timeout_ms : 60000;
	if (x->db->driver->lock(x->db, owner, timeout, err))
		return -1;
	if (x->db->driver->ensure_state(x->db, err) || ensure_tables(x->db, err) ||
	    sl_refuse_expansion(x->db, err)) {
		x->db->driver->unlock(x->db, NULL);
		return -1;
	}
	x->eng->lock_held = 1;
	return 0;
}

static void release(struct dctx *x)
{
	if (x->eng->lock_held) {
		x->db->driver->unlock(x->db, NULL);
		x->eng->lock_held = 0;
	}
	x->eng->before_stmt = NULL;
	x->eng->undo_sql = NULL;
	x->eng->hook_arg = NULL;
	x->eng->on_event = x->user_event;
	x->eng->event_arg = x->user_event_arg;
	json_decref(x->log);
	x->log = NULL;
	sl_strvec_free(&x->chain);
	sl_deploy_config_free(&x->dc);
}

static int ctx_init(struct dctx *x, struct sl_engine *eng, const struct sl_deploy_opts *o,
		    struct sl_deploy_result *res, struct sl_error *err)
{
	memset(x, 0, sizeof(*x));
	memset(res, 0, sizeof(*res));
	x->eng = eng;
	x->db = eng->db;
	x->o = o;
	x->res = res;
	x->dep = &res->dep;
	x->pg = !strcmp(eng->db->driver->name, "postgres");
	x->user_event = eng->on_event;
	x->user_event_arg = eng->event_arg;
	x->log = json_array();
	const struct sl_env *env = sl_config_env(o->cfg, o->env, NULL);
	if (sl_deploy_config_load(o->cfg, env, &x->dc, err)) {
		json_decref(x->log);
		x->log = NULL;
		return -1;
	}
	return 0;
}

/* Did deployment d change anything that a rollback must undo? */
static int changed_something(const struct sl_deployment *d)
{
	if (!strcmp(d->status, "rolled_back"))
		return 0;
	if (!strcmp(d->status, "in_progress"))
		return 1;   /* interrupted: rollback closes it, restoring what it applied */
	int ph = phase_index(d->phase);
	return ph < 0 || ph >= PH_APPLY;   /* rollback, on_rollback or apply and later */
}

/*
 * Undo x->dep (the oldest of x->chain; newer ones in `newer`) back to its
 * from_version, run on_rollback hooks, record every one as rolled back.
 */
static int do_rollback(struct dctx *x, struct dep_rows *newer, const char *reason,
		       struct sl_error *err)
{
	long t0 = mono_ms();
	struct sl_deployment *d = x->dep;
	int rc = 0;
	say(x, "rollback", NULL);
	set_str(&d->phase, "rollback");
	set_str(&d->status, "in_progress");
	if (reason)
		set_str(&d->reason, reason);
	if (save(x, err))
		return -1;
	maybe_crash("rollback");
	if (x->db->driver->restore_point) {
		if (d->rollback_point) {
			if (access(d->rollback_point, R_OK) != 0) {
				sl_err(err, SL_ENV, "the rollback point %s of deployment %s is gone: %s",
				       d->rollback_point, d->id, strerror(errno));
				sl_err_hint(err, "run 'sluice undo --to %s' to use the undo scripts instead",
					    d->from_version ? d->from_version : "0");
				return -1;
			}
			say(x, "rollback", "restoring %s", d->rollback_point);
			if (x->db->driver->restore_point(x->db, d->rollback_point, err))
				return -1;
		}
	} else if (d->rollback_point) {
		x->eng->undo_sql = undo_sql;
		x->eng->hook_arg = x;
		struct sl_run_result run;
		const char *target = x->undo_to ? x->undo_to : d->from_version ? d->from_version : "0";
		rc = sl_undo(x->eng, target, 0, &run, err);
		for (size_t i = 0; i < run.nsteps; i++)
			if (run.steps[i].m && run.steps[i].m->version)
				sl_strvec_push(&x->res->undone, run.steps[i].m->version);
		sl_run_result_free(&run);
		x->eng->undo_sql = NULL;
		if (rc) {
			/* recorded as failed mid-rollback: `sluice rollback` goes on from here */
			struct sl_buf why = SL_BUF_INIT;
			sl_error_format(err, &why);
			sl_buf_printf(&why, " (while rolling back%s%s)", reason ? ": " : "", reason ? reason : "");
			finish(x, "failed", why.s);
			set_str(&d->phase, "rollback");
			struct sl_error e2;
			save(x, &e2);
			sl_buf_free(&why);
			return -1;
		}
	}
	x->res->rolled_back = 1;
	/* a restored SQLite file holds the row as it was at the point: write
	 * every row of the chain again */
	/* still in progress: a kill here leaves the on_rollback hooks to
	 * --resume (the undo itself is done and finds nothing left to undo) */
	set_str(&d->phase, "on_rollback");
	if (save(x, err))
		return -1;
	maybe_crash("on_rollback");
	struct sl_error herr;
	sl_error_clear(&herr);
	if (run_hooks(x, SL_HOOK_ROLLBACK, &herr)) {
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "%s; on_rollback: %s", d->reason ? d->reason : "rolled back", herr.message);
		set_str(&d->reason, b.s);
		sl_buf_free(&b);
		say(x, "on_rollback", "%s", herr.message);
	}
	finish(x, "rolled_back", NULL);
	set_str(&d->phase, "done");
	x->res->rollback_ms = mono_ms() - t0;
	if (save(x, err))
		return -1;
	for (size_t i = 0; newer && i < newer->n; i++) {
		struct sl_deployment *n = &newer->v[i];
		char now[32];
		sl_now_iso(now);
		set_str(&n->status, "rolled_back");
		set_str(&n->phase, "done");
		if (!n->finished_at)
			set_str(&n->finished_at, now);
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "rolled back with %s", d->id);
		set_str(&n->reason, b.s);
		sl_buf_free(&b);
		if (dep_save(x->db, n, err))
			return -1;
	}
	return rc;
}

int sl_rollback(struct sl_engine *eng, const struct sl_deploy_opts *o, const char *id,
		const char *to, struct sl_deploy_result *res, struct sl_error *err)
{
	struct dctx x;
	if (ctx_init(&x, eng, o, res, err))
		return -1;
	if (to && !sl_version_valid(to)) {
		release(&x);
		return sl_err(err, SL_USAGE, "invalid version '%s' for --to (0: everything)", to);
	}
	if (take_lock(&x, err)) {
		release(&x);
		return -1;
	}
	struct dep_rows all, newer;
	memset(&newer, 0, sizeof(newer));
	const char *p[] = { o->env };
	int rc = -1;
	if (dep_select(x.db, "environment = ?", p, 1, 0, &all, err))
		goto out;
	size_t pick = all.n;
	for (size_t i = 0; i < all.n; i++) {
		struct sl_deployment *d = &all.v[i];
		if (id) {
			if (!strcmp(d->id, id)) {
				pick = i;
				break;
			}
			continue;
		}
		if (!changed_something(d))
			continue;
		if (to) {
			const char *dto = d->to_version ? d->to_version : "0";
			if (sl_version_cmp(dto, to) <= 0)
				break;
			pick = i;   /* keep going: the oldest one above `to` */
			continue;
		}
		pick = i;
		break;
	}
	if (pick == all.n) {
		if (id)
			sl_err(err, SL_USAGE, "no deployment '%s' in environment %s", id, o->env);
		else
			sl_err(err, SL_FAILED, "nothing to roll back in environment %s%s%s", o->env,
			       to ? " above version " : "", to ? to : "");
		sl_err_hint(err, "'sluice deployments -e %s' lists them", o->env);
		goto out;
	}
	struct sl_deployment *d = &all.v[pick];
	if (!changed_something(d)) {
		sl_err(err, SL_FAILED, "deployment %s %s", d->id,
		       !strcmp(d->status, "rolled_back") ? "is already rolled back"
							 : "failed before it changed anything");
		goto out;
	}
	/* the ones above it go too, newest first */
	for (size_t i = 0; i < pick; i++) {
		if (!changed_something(&all.v[i]))
			continue;
		if (!to && !id)
			continue;
		if (id && !to) {
			sl_err(err, SL_FAILED, "deployment %s is newer than %s and not rolled back", all.v[i].id, id);
			sl_err_hint(err, "roll it back first, or use --to %s", d->from_version ? d->from_version : "0");
			goto out;
		}
		newer.v = sl_realloc(newer.v, (newer.n + 1) * sizeof(*newer.v));
		newer.v[newer.n++] = all.v[i];
		memset(&all.v[i], 0, sizeof(all.v[i]));
	}
	if (to && x.db->driver->restore_point &&
	    sl_version_cmp(d->from_version ? d->from_version : "0", to) != 0) {
		sl_err(err, SL_FAILED, "no rollback point at version %s: the deployments start at %s", to,
		       d->from_version ? d->from_version : "an empty database");
		sl_err_hint(err, "use --to %s, or 'sluice undo --to %s' (undo scripts)",
			    d->from_version ? d->from_version : "0", to);
		goto out;
	}
	if (!d->rollback_point && strcmp(d->status, "in_progress")) {
		sl_err(err, SL_FAILED, "deployment %s has no rollback point (expired under deploy.retain?)", d->id);
		sl_err_hint(err, "'sluice undo --to %s' runs the undo scripts", d->from_version ? d->from_version : "0");
		goto out;
	}
	res->dep = *d;
	memset(d, 0, sizeof(*d));
	sl_strvec_push(&x.chain, res->dep.id);
	for (size_t i = 0; i < newer.n; i++)
		sl_strvec_push(&x.chain, newer.v[i].id);
	json_decref(x.log);
	x.log = res->dep.log ? json_loads(res->dep.log, 0, NULL) : NULL;
	if (!x.log || !json_is_array(x.log)) {
		json_decref(x.log);
		x.log = json_array();
	}
	x.undo_to = to;
	rc = do_rollback(&x, &newer, o->reason ? o->reason : "manual rollback", err);
out:
	dep_rows_free(&all);
	dep_rows_free(&newer);
	release(&x);
	return rc;
}

/* ---- deploy ------------------------------------------------------------------- */

/* Keep the newest `retain` rollback points of the environment. */
static void prune(struct dctx *x)
{
	struct dep_rows r;
	const char *p[] = { x->dep->environment };
	if (dep_select(x->db, "environment = ? AND rollback_point IS NOT NULL", p, 1, 0, &r, NULL))
		return;
	for (size_t i = (size_t)x->dc.retain; i < r.n; i++) {
		struct sl_deployment *d = &r.v[i];
		if (!strcmp(d->status, "in_progress"))
			continue;
		if (x->db->driver->restore_point) {
			unlink(d->rollback_point);
		} else {
			struct archives a;
			memset(&a, 0, sizeof(a));
			sl_strvec_push(&x->chain, d->id);
			const char *q[] = { d->id };
			if (!sl_db_query_strs(x->db, "SELECT seq::text, kind, table_name, column_name, column_type,"
					       " column_notnull, column_default, key_columns, columns, archive_table,"
					       " deployment_id, coalesce(restore_ddl, '') FROM sluice.archives WHERE deployment_id = ?",
					q, 1, a.f, A_N, NULL)) {
				struct sl_buf b = SL_BUF_INIT;
				for (size_t k = 0; k < a.f[A_SEQ].n; k++) {
					if (!strcmp(a.f[A_KIND].v[k], "soft_drop")) {
						/* the drop the migration asked for, at last */
						sl_buf_printf(&b, "ALTER TABLE IF EXISTS %s DROP COLUMN IF EXISTS ",
							      a.f[A_TABLE].v[k]);
						sl_quote_ident_std(&b, a.f[A_ARCH].v[k]);
						sl_buf_adds(&b, ";");
					} else if (a.f[A_ARCH].v[k][0]) {
						sl_buf_adds(&b, "DROP TABLE IF EXISTS sluice.");
						sl_quote_ident_std(&b, a.f[A_ARCH].v[k]);
						sl_buf_adds(&b, ";");
					}
				}
				sl_buf_adds(&b, "DELETE FROM sluice.archives WHERE deployment_id = ");
				sl_quote_literal_std(&b, d->id);
				x->db->driver->exec(x->db, b.s, NULL);
				sl_buf_free(&b);
			}
			archives_free(&a);
		}
		set_str(&d->rollback_point, NULL);
		dep_save(x->db, d, NULL);
	}
	dep_rows_free(&r);
}

static int lint_phase(struct dctx *x, struct sl_error *err)
{
	struct sl_lint_config lc;
	struct sl_contracts contracts;
	memset(&lc, 0, sizeof(lc));
	memset(&contracts, 0, sizeof(contracts));
	const struct sl_ynode *root = x->o->cfg->doc ? x->o->cfg->doc->root : NULL;
	int rc = -1;
	struct sl_linter *l = NULL;
	size_t files = 0;
	if (sl_lint_config_load(&lc, x->o->cfg->doc, sl_ymap_get(root, "lint"), err))
		goto out;
	if (!strcmp(x->dep->strategy, "forward-only"))
		lc.forward_only = 1;
	l = sl_linter_new(&lc);
	if (sl_contracts_load(&contracts, x->o->cfg->features_dir, x->o->cfg->models_dir, err))
		goto out;
	sl_linter_set_contracts(l, &contracts);
	if (sl_lint_pending(l, x->eng, &files, err))
		goto out;
	size_t n, nerr = sl_linter_count(l, SL_SEV_ERROR);
	const struct sl_finding *f = sl_linter_findings(l, &n);
	for (size_t i = 0; i < n; i++) {
		if (f[i].severity != SL_SEV_ERROR)
			continue;
		sl_err_at(err, SL_FAILED, f[i].file, f[i].line, f[i].column, "[%s] %s%s", f[i].rule->id,
			  f[i].message, nerr > 1 ? " (and more: run 'sluice lint')" : "");
		sl_err_hint(err, "%s%s", f[i].rule->hint,
			    lc.forward_only ? " (strategy forward-only refuses breaking changes)" : "");
		goto out;
	}
	say(x, "lint", "%zu file(s), %zu finding(s), none an error", files, n);
	rc = 0;
out:
	sl_linter_free(l);
	sl_contracts_free(&contracts);
	sl_lint_config_free(&lc);
	return rc;
}

/* Fail after the rollback point: roll back, record, and return -1 with the cause. */
static int fail_and_rollback(struct dctx *x, struct sl_error *err)
{
	struct sl_buf why = SL_BUF_INIT;
	sl_error_format(err, &why);
	x->res->failure = *err;
	struct sl_error rerr;
	sl_error_clear(&rerr);
	sl_strvec_push(&x->chain, x->dep->id);
	if (do_rollback(x, NULL, why.s, &rerr)) {
		sl_err(err, rerr.code ? rerr.code : SL_ENV, "%s; the automatic rollback failed too: %s",
		       why.s, rerr.message);
		sl_err_hint(err, "fix the cause, then run 'sluice rollback -e %s'", x->dep->environment);
	}
	sl_buf_free(&why);
	return -1;
}

/* Fail before anything changed: record it and return -1. */
static int fail_early(struct dctx *x, struct sl_error *err)
{
	struct sl_buf why = SL_BUF_INIT;
	sl_error_format(err, &why);
	x->res->failure = *err;
	finish(x, "failed", why.s);
	struct sl_error e2;
	save(x, &e2);
	sl_buf_free(&why);
	return -1;
}

static int run_phases(struct dctx *x, int start, struct sl_error *err)
{
	const struct sl_deploy_opts *o = x->o;
	struct sl_deployment *d = x->dep;
	struct sl_run_result dry;
	memset(&dry, 0, sizeof(dry));
	int rc = -1;
	/* validate: parse everything about to run (also on resume: cheap) */
	if (enter(x, start > PH_VALIDATE ? phases[start] : "validate", err))
		goto out;
	if (sl_migrate(x->eng, d->to_version, 1, &dry, err)) {
		if (start >= PH_APPLY)
			rc = fail_and_rollback(x, err);
		else
			rc = fail_early(x, err);
		goto out;
	}
	if (start <= PH_LINT && (enter(x, "lint", err) || lint_phase(x, err)))
		goto early;
	if (start <= PH_GOVERNANCE) {
		if (enter(x, "governance", err) || (o->governance && o->governance(o->arg, d, err)))
			goto early;
	}
	if (start <= PH_PRE && (enter(x, "pre_deploy", err) || run_hooks(x, SL_HOOK_PRE, err)))
		goto early;
	if (start <= PH_POINT) {
		if (enter(x, "rollback_point", err))
			goto early;
		if (x->db->driver->save_point) {
			if (mkdir(x->dc.state_dir, 0700) && errno != EEXIST) {
				/* parents too: .sluice/rollback */
				struct sl_buf b = SL_BUF_INIT;
				sl_buf_adds(&b, x->dc.state_dir);
				for (char *s = b.s + 1; *s; s++)
					if (*s == '/') {
						*s = '\0';
						mkdir(b.s, 0700);
						*s = '/';
					}
				sl_buf_free(&b);
				if (mkdir(x->dc.state_dir, 0700) && errno != EEXIST) {
					sl_err(err, SL_ENV, "cannot create the state dir %s: %s", x->dc.state_dir,
					       strerror(errno));
					goto early;
				}
			}
			struct sl_buf path = SL_BUF_INIT;
			sl_buf_printf(&path, "%s/%s.db", x->dc.state_dir, d->id);
			int bad = x->db->driver->save_point(x->db, path.s, err);
			if (!bad)
				set_str(&d->rollback_point, path.s);
			sl_buf_free(&path);
			if (bad)
				goto early;
			say(x, "rollback_point", "%s", d->rollback_point);
		} else {
			if (check_reversible(x, &dry, err))
				goto early;
			set_str(&d->rollback_point, "down-scripts+archives");
			say(x, "rollback_point", "undo scripts, sluice's inverses and archives of destroyed data");
		}
	}
	if (start <= PH_APPLY) {
		if (enter(x, "apply", err))
			goto out;
		if (x->pg) {
			x->eng->before_stmt = before_stmt;
			x->eng->hook_arg = x;
		}
		x->eng->on_event = on_event;
		x->eng->event_arg = x;
		struct sl_run_result run;
		int bad = sl_migrate(x->eng, d->to_version, 0, &run, err);
		for (size_t i = 0; i < run.nsteps; i++)
			if (run.steps[i].m->version)
				sl_strvec_push(&x->res->applied, run.steps[i].m->version);
		sl_run_result_free(&run);
		x->eng->before_stmt = NULL;
		x->eng->on_event = x->user_event;
		x->eng->event_arg = x->user_event_arg;
		if (bad) {
			rc = fail_and_rollback(x, err);
			goto out;
		}
	}
	if (start <= PH_GATES) {
		if (enter(x, "gates", err))
			goto out;
		if (x->dc.gates && o->gates) {
			struct sl_buf detail = SL_BUF_INIT;
			int bad = o->gates(o->arg, x->dc.gates, &detail, err);
			json_t *j = json_object();
			json_object_set_new(j, "gates", json_string(detail.s));
			json_object_set_new(j, "passed", json_boolean(!bad));
			json_array_append_new(x->log, j);
			free(x->res->gates);
			x->res->gates = sl_buf_detach(&detail);
			if (bad) {
				rc = fail_and_rollback(x, err);
				goto out;
			}
		}
	}
	if (start <= PH_POST) {
		if (enter(x, "post_deploy", err))
			goto out;
		if (run_hooks(x, SL_HOOK_POST, err)) {
			rc = fail_and_rollback(x, err);
			goto out;
		}
	}
	finish(x, "success", NULL);
	if (enter(x, "done", err))
		goto out;
	prune(x);
	rc = 0;
	goto out;
early:
	rc = fail_early(x, err);
out:
	sl_run_result_free(&dry);
	return rc;
}

int sl_deploy(struct sl_engine *eng, const struct sl_deploy_opts *o,
	      struct sl_deploy_result *res, struct sl_error *err)
{
	struct dctx x;
	if (ctx_init(&x, eng, o, res, err))
		return -1;
	const char *strategy = o->strategy ? o->strategy : x.dc.strategy ? x.dc.strategy : "standard";
	if (strcmp(strategy, "standard") && strcmp(strategy, "forward-only")) {
		release(&x);
		return sl_err(err, SL_USAGE, "unknown strategy '%s' (standard, forward-only)", strategy);
	}
	if (o->to && !sl_version_valid(o->to)) {
		release(&x);
		return sl_err(err, SL_USAGE, "invalid target version '%s'", o->to);
	}
	if (take_lock(&x, err)) {
		release(&x);
		return -1;
	}
	int rc = -1;
	struct dep_rows open;
	struct sl_status st;
	memset(&st, 0, sizeof(st));
	const char *p[] = { o->env };
	if (dep_select(x.db, "environment = ? AND status = 'in_progress'", p, 1, 1, &open, err))
		goto out;
	if (open.n) {
		struct sl_deployment *d = &open.v[0];
		if (!o->resume) {
			sl_err(err, SL_ENV, "deployment %s to %s was interrupted in phase %s", d->id,
			       o->env, d->phase);
			sl_err_hint(err, "'sluice deploy --resume -e %s' finishes it; 'sluice rollback -e %s' reverts it",
				    o->env, o->env);
			goto out;
		}
		res->dep = *d;
		memset(d, 0, sizeof(*d));
		x.log = x.log ? x.log : json_array();
		json_t *old = res->dep.log ? json_loads(res->dep.log, 0, NULL) : NULL;
		if (old && json_is_array(old)) {
			json_decref(x.log);
			x.log = old;
		} else {
			json_decref(old);
		}
		int ph = phase_index(res->dep.phase);
		say(&x, "resume", "deployment %s stopped in phase %s", res->dep.id, res->dep.phase);
		if (ph < 0) {
			/* killed while rolling back: finish the rollback */
			sl_strvec_push(&x.chain, res->dep.id);
			rc = do_rollback(&x, NULL, res->dep.reason ? res->dep.reason : "interrupted", err);
			if (!rc) {
				sl_err(err, SL_FAILED, "deployment %s was rolled back (it had failed: %s)", res->dep.id,
				       res->dep.reason ? res->dep.reason : "interrupted");
				rc = -1;
			}
			goto out;
		}
		/* the plan must be the one that started */
		if (sl_status_compute(eng, &st, err))
			goto out;
		char digest[65];
		plan_digest(&st, o->env, res->dep.from_version, res->dep.to_version, digest);
		if (strcmp(digest, res->dep.plan_digest)) {
			sl_err(err, SL_FAILED, "the migrations of deployment %s changed since it started (plan digest)",
			       res->dep.id);
			sl_err_hint(err, "'sluice rollback -e %s' reverts it; then deploy again", o->env);
			goto out;
		}
		if (ph == PH_DONE)
			ph = PH_POST;
		/* before the rollback point nothing changed: start that phase over */
		rc = run_phases(&x, ph, err);
		goto out;
	}
	if (sl_status_compute(eng, &st, err))
		goto out;
	int pending;
	const char *top = target_version(&st, o->to, &pending);
	if (!pending) {
		res->noop = 1;
		set_str(&res->dep.environment, o->env);
		set_str(&res->dep.from_version, st.current);
		set_str(&res->dep.to_version, st.current);
		set_str(&res->dep.status, "noop");
		rc = 0;
		goto out;
	}
	struct sl_deployment *d = &res->dep;
	char now[32], digest[65];
	sl_now_iso(now);
	d->id = new_id();
	set_str(&d->environment, o->env);
	set_str(&d->from_version, st.current);
	set_str(&d->to_version, top ? top : st.current);
	plan_digest(&st, o->env, st.current, d->to_version, digest);
	set_str(&d->plan_digest, digest);
	set_str(&d->strategy, strategy);
	set_str(&d->status, "in_progress");
	set_str(&d->started_at, now);
	d->duration_ms = -1;
	set_str(&d->actor, sl_actor());
	d->ci = ci_context();
	rc = run_phases(&x, PH_VALIDATE, err);
out:
	sl_status_free(&st);
	dep_rows_free(&open);
	release(&x);
	return rc;
}

void sl_deploy_result_free(struct sl_deploy_result *r)
{
	sl_deployment_free(&r->dep);
	sl_strvec_free(&r->applied);
	sl_strvec_free(&r->undone);
	free(r->gates);
	memset(r, 0, sizeof(*r));
}
