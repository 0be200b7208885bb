/*
 * rollout.c - the progressive rollout controller (see rollout.h).
 *
 * One loop, woken every 200 ms at most: it picks up requests (pause,
 * resume, promote, abort), counts hold time while running, measures the
 * analysis every interval, and moves the flag from phase to phase.  Every
 * change of state is written before the next is attempted, so the row in
 * `rollouts` plus `rollout_log` always say where to continue.
 */
#include "rollout.h"
#include "deploy.h"
#include "flag.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../core/yaml.h"
#include "../db/db.h"
#include "../migrate/history.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 200            /* requests are picked up this often */
#define BEAT_MS 1000           /* heartbeat (and hold time) written this often */
#define LEASE_MS 15000         /* a controller silent this long is gone */

static long long epoch_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "500ms", "2s", "1.5s", "15m", "1h30m", "2h": a duration for people. */
static const char *fmt_dur(long ms, char b[32])
{
	if (ms < 1000)
		snprintf(b, 32, "%ldms", ms);
	else if (ms < 60000)
		snprintf(b, 32, "%gs", ms / 1000.0);
	else if (ms < 3600000)
		snprintf(b, 32, ms % 60000 ? "%ldm%lds" : "%ldm", ms / 60000, ms % 60000 / 1000);
	else if (ms % 3600000 / 60000)
		snprintf(b, 32, "%ldh%ldm", ms / 3600000, ms % 3600000 / 60000);
	else
		snprintf(b, 32, "%ldh", ms / 3600000);
	return b;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? sl_strdup(s) : NULL;
}

/* ---- phases ---------------------------------------------------------------- */

/*
 * The seed writes phases as prose: "5%: 15min", "phase1: 5% traffic,
 * 15min", "100%: monitor 2h".  A leading "label:" without a '%' is a name;
 * then exactly one percent and at most one duration; the words traffic,
 * monitor, hold and for are allowed between them.
 */
int sl_phase_parse(const char *s, struct sl_phase *out, char *why, size_t whylen)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf)) {
		snprintf(why, whylen, "phase '%.40s...' is too long", s);
		return -1;
	}
	strcpy(buf, s);
	char *p = buf;
	char *colon = strchr(p, ':');
	if (colon) {
		int label = 1;
		for (char *c = p; c < colon; c++)
			if (*c == '%' || isdigit((unsigned char)*c))
				label = 0;
		/* "phase1:" has a digit but no percent: still a label */
		if (!label) {
			label = 1;
			for (char *c = p; c < colon; c++)
				if (*c == '%')
					label = 0;
			if (label) {
				char *c = p;
				while (isspace((unsigned char)*c))
					c++;
				if (!isalpha((unsigned char)*c))
					label = 0;
			}
		}
		if (label)
			p = colon + 1;
	}
	int have_pct = 0, have_hold = 0;
	for (char *tok; (tok = strsep(&p, " \t,:;"));) {
		if (!*tok)
			continue;
		if (!strcasecmp(tok, "traffic") || !strcasecmp(tok, "monitor") || !strcasecmp(tok, "hold") ||
		    !strcasecmp(tok, "for") || !strcasecmp(tok, "then"))
			continue;
		if (strchr(tok, '%')) {
			struct sl_error e;
			if (have_pct) {
				snprintf(why, whylen, "phase '%s' has two percents", s);
				return -1;
			}
			if (sl_flag_parse_percent(tok, &out->traffic_bp, &e)) {
				snprintf(why, whylen, "phase '%s': %s", s, e.message);
				return -1;
			}
			have_pct = 1;
			continue;
		}
		long ms;
		/* a duration has its unit here: a bare "5" is more likely a percent
		 * without its sign than five seconds */
		if (isdigit((unsigned char)tok[0]) && isalpha((unsigned char)tok[strlen(tok) - 1]) &&
		    !sl_parse_duration_ms(tok, &ms) && ms >= 0) {
			if (have_hold) {
				snprintf(why, whylen, "phase '%s' has two durations", s);
				return -1;
			}
			out->hold_ms = ms;
			have_hold = 1;
			continue;
		}
		snprintf(why, whylen, "phase '%s': '%s' is neither a percent (25%%) nor a duration (30min)", s, tok);
		return -1;
	}
	if (!have_pct) {
		snprintf(why, whylen, "phase '%s' has no traffic percent (e.g. \"25%%: 30min\")", s);
		return -1;
	}
	if (!have_hold) {
		snprintf(why, whylen, "phase '%s' has no hold time (e.g. \"25%%: 30min\")", s);
		return -1;
	}
	return 0;
}

static const char *const phase_keys[] = { "traffic", "hold", "name", NULL };

static int load_phase(const struct sl_ydoc *doc, const struct sl_ynode *n, struct sl_phase *ph,
		      struct sl_error *err)
{
	char why[300];
	if (n->type == SL_Y_SCALAR) {
		if (sl_phase_parse(n->scalar, ph, why, sizeof(why)))
			return sl_ynode_err(doc, n, err, "%s", why);
		return 0;
	}
	if (n->type != SL_Y_MAP)
		return sl_ynode_err(doc, n, err, "a phase is {traffic: 5, hold: 15m} or \"5%%: 15min\"");
	/* {phase1: "5% traffic, 15min"}: the seed's form read as YAML */
	if (n->n == 1 && !sl_ymap_get(n, "traffic") && n->items[0]->type == SL_Y_SCALAR) {
		struct sl_buf b = SL_BUF_INIT;
		sl_buf_printf(&b, "%s: %s", n->keys[0]->scalar, n->items[0]->scalar);
		int rc = sl_phase_parse(b.s, ph, why, sizeof(why));
		sl_buf_free(&b);
		return rc ? sl_ynode_err(doc, n, err, "%s", why) : 0;
	}
	if (sl_ymap_check_keys(doc, n, phase_keys, "a phase", err))
		return -1;
	const struct sl_ynode *t = sl_ymap_get(n, "traffic"), *h = sl_ymap_get(n, "hold");
	if (!t || !h)
		return sl_ynode_err(doc, n, err, "a phase needs 'traffic' (percent) and 'hold' (duration)");
	const char *s;
	struct sl_error e;
	if (sl_ynode_str(doc, t, "traffic", &s, err))
		return -1;
	if (sl_flag_parse_percent(s, &ph->traffic_bp, &e))
		return sl_ynode_err(doc, t, err, "%s", e.message);
	if (sl_ynode_str(doc, h, "hold", &s, err))
		return -1;
	if (sl_parse_duration_ms(s, &ph->hold_ms) || ph->hold_ms < 0)
		return sl_ynode_err(doc, h, err, "invalid hold '%s' (e.g. 15m, 2h)", s);
	return 0;
}

int sl_phases_load(const struct sl_ydoc *doc, const struct sl_ynode *node, struct sl_phase **out,
		   size_t *n, struct sl_error *err)
{
	*out = NULL;
	*n = 0;
	if (!node || node->type != SL_Y_SEQ || !node->n)
		return sl_ynode_err(doc, node, err, "'phases' is a non-empty list ({traffic: 5, hold: 15m} or \"5%%: 15min\")");
	struct sl_phase *v = sl_calloc(node->n, sizeof(*v));
	for (size_t i = 0; i < node->n; i++) {
		if (load_phase(doc, node->items[i], &v[i], err))
			goto fail;
		if (v[i].traffic_bp == 0) {
			sl_ynode_err(doc, node->items[i], err, "a phase's traffic is above 0%%");
			goto fail;
		}
		if (i && v[i].traffic_bp < v[i - 1].traffic_bp) {
			sl_ynode_err(doc, node->items[i], err,
				     "phases only raise traffic (this one is below the one before)");
			goto fail;
		}
	}
	*out = v;
	*n = node->n;
	return 0;
fail:
	free(v);
	return -1;
}

void sl_rollout_def_free(struct sl_rollout_def *d)
{
	free(d->flag);
	free(d->environment);
	free(d->phases);
	sl_analysis_free(&d->analysis);
	memset(d, 0, sizeof(*d));
}

static const char *const rollout_keys[] = {
	"flag", "environment", "env", "phases", "analysis", "rollback_deploy", NULL
};

int sl_rollout_def_load(const struct sl_ydoc *doc, const struct sl_ynode *node,
			const struct sl_config *cfg, struct sl_rollout_def *d, struct sl_error *err)
{
	memset(d, 0, sizeof(*d));
	d->rollback_deploy = 1;
	if (!node || node->type != SL_Y_MAP)
		return sl_ynode_err(doc, node, err, "a rollout is a mapping with 'flag' and 'phases'");
	if (sl_ymap_check_keys(doc, node, rollout_keys, "rollout", err))
		return -1;
	const struct sl_ynode *n;
	const char *s;
	struct sl_error e;
	if (!(n = sl_ymap_get(node, "flag")))
		return sl_ynode_err(doc, node, err, "a rollout needs the 'flag' it moves");
	if (sl_ynode_str(doc, n, "flag", &s, err))
		return -1;
	if (sl_flag_check_name(s, &e))
		return sl_ynode_err(doc, n, err, "%s", e.message);
	d->flag = sl_strdup(s);
	if ((n = sl_ymap_get(node, "environment")) || (n = sl_ymap_get(node, "env"))) {
		if (sl_ynode_str(doc, n, "environment", &s, err))
			goto fail;
		if (cfg && !sl_config_env(cfg, s, &e)) {
			sl_ynode_err(doc, n, err, "%s", e.message);
			goto fail;
		}
		d->environment = sl_strdup(s);
	}
	if (sl_phases_load(doc, sl_ymap_get(node, "phases"), &d->phases, &d->nphases, err))
		goto fail;
	if ((n = sl_ymap_get(node, "rollback_deploy")) &&
	    sl_ynode_bool(doc, n, "rollback_deploy", &d->rollback_deploy, err))
		goto fail;
	if (sl_analysis_load(doc, sl_ymap_get(node, "analysis"), cfg, &d->analysis, err))
		goto fail;
	return 0;
fail:
	sl_rollout_def_free(d);
	return -1;
}

static const struct sl_ynode *rollout_section(const struct sl_config *cfg)
{
	if (!cfg || !cfg->doc || !cfg->doc->root)
		return NULL;
	return sl_ymap_get(cfg->doc->root, "rollout");
}

int sl_rollout_def_find(const struct sl_config *cfg, const char *flag,
			struct sl_rollout_def *out, struct sl_error *err)
{
	const struct sl_ynode *sec = rollout_section(cfg);
	memset(out, 0, sizeof(*out));
	if (!sec)
		return sl_err(err, SL_USAGE, "no 'rollout:' section in %s", cfg && cfg->path ? cfg->path : "sluice.yaml");
	const struct sl_ynode *const *items = (const struct sl_ynode *const *)&sec;
	size_t n = 1;
	if (sec->type == SL_Y_SEQ) {
		items = (const struct sl_ynode *const *)sec->items;
		n = sec->n;
	}
	const struct sl_ynode *pick = NULL;
	struct sl_buf names = SL_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		const struct sl_ynode *f = items[i]->type == SL_Y_MAP ? sl_ymap_get(items[i], "flag") : NULL;
		const char *name = f && f->type == SL_Y_SCALAR ? f->scalar : "?";
		sl_buf_printf(&names, "%s%s", names.len ? ", " : "", name);
		if (flag ? !strcmp(name, flag) : n == 1)
			pick = items[i];
	}
	if (!pick) {
		if (flag)
			sl_err(err, SL_USAGE, "no rollout of flag '%s' in %s", flag, cfg->path);
		else
			sl_err(err, SL_USAGE, "%s has %zu rollouts: name the flag", cfg->path, n);
		sl_err_hint(err, "rollouts: %s", names.s);
		sl_buf_free(&names);
		return -1;
	}
	sl_buf_free(&names);
	return sl_rollout_def_load(cfg->doc, pick, cfg, out, err);
}

int sl_rollout_config_check(const struct sl_config *cfg, struct sl_error *err)
{
	const struct sl_ynode *sec = rollout_section(cfg);
	if (!sec)
		return 0;
	if (sec->type != SL_Y_SEQ && sec->type != SL_Y_MAP)
		return sl_ynode_err(cfg->doc, sec, err, "'rollout' is a mapping or a list of them");
	size_t n = sec->type == SL_Y_SEQ ? sec->n : 1;
	for (size_t i = 0; i < n; i++) {
		struct sl_rollout_def d;
		const struct sl_ynode *it = sec->type == SL_Y_SEQ ? sec->items[i] : sec;
		if (sl_rollout_def_load(cfg->doc, it, cfg, &d, err))
			return -1;
		for (size_t k = 0; k < i; k++) {
			const struct sl_ynode *f = sl_ymap_get(sec->items[k], "flag");
			if (f && f->type == SL_Y_SCALAR && !strcmp(f->scalar, d.flag)) {
				sl_ynode_err(cfg->doc, it, err, "two rollouts of flag '%s'", d.flag);
				sl_rollout_def_free(&d);
				return -1;
			}
		}
		sl_rollout_def_free(&d);
	}
	return 0;
}

/* ---- state ---------------------------------------------------------------- */

void sl_rollout_free(struct sl_rollout *r)
{
	free(r->id);
	free(r->flag);
	free(r->environment);
	free(r->status);
	free(r->reason);
	free(r->deployment);
	free(r->owner);
	free(r->command);
	free(r->started_at);
	free(r->updated_at);
	free(r->finished_at);
	free(r->phases);
	memset(r, 0, sizeof(*r));
}

void sl_rollout_logent_free(struct sl_rollout_logent *e)
{
	free(e->at);
	free(e->kind);
	free(e->name);
	free(e->outcome);
	free(e->detail);
	memset(e, 0, sizeof(*e));
}

static int ensure_tables(struct sl_db *db, struct sl_error *err)
{
	const struct sl_db_driver *d = db->driver;
	struct sl_buf q = SL_BUF_INIT;
	if (d->ensure_state(db, err))
		return -1;
	sl_buf_adds(&q, "CREATE TABLE IF NOT EXISTS ");
	d->state_table(&q, "rollouts");
	sl_buf_adds(&q, " (id text PRIMARY KEY, flag text NOT NULL, environment text NOT NULL,"
			" status text NOT NULL, reason text, deployment text, owner text, command text,"
			" command_reason text, started_at text NOT NULL, updated_at text NOT NULL,"
			" finished_at text, phase integer NOT NULL, held_ms bigint NOT NULL,"
			" heartbeat_ms bigint, analysis_since bigint NOT NULL, phases text NOT NULL,"
			" traffic_bp integer NOT NULL, actor text NOT NULL)");
	int rc = d->exec(db, q.s, err);
	sl_buf_reset(&q);
	/* at most one active rollout per environment and flag, whoever races */
	sl_buf_adds(&q, "CREATE UNIQUE INDEX IF NOT EXISTS ");
	d->quote_ident(&q, "sluice_rollouts_active");
	sl_buf_adds(&q, " ON ");
	d->state_table(&q, "rollouts");
	sl_buf_adds(&q, " (environment, flag) WHERE status IN ('running', 'paused', 'rolling_back')");
	if (!rc)
		rc = d->exec(db, q.s, err);
	sl_buf_reset(&q);
	sl_buf_adds(&q, "CREATE TABLE IF NOT EXISTS ");
	d->state_table(&q, "rollout_log");
	sl_buf_adds(&q, " (rollout_id text NOT NULL, seq bigint NOT NULL, at text NOT NULL,"
			" phase integer NOT NULL, traffic_bp integer NOT NULL, kind text NOT NULL,"
			" name text NOT NULL, outcome text, value double precision, detail text,"
			" PRIMARY KEY (rollout_id, seq))");
	if (!rc)
		rc = d->exec(db, q.s, err);
	sl_buf_free(&q);
	return rc;
}

static int have_tables(struct sl_db *db, int *yes, struct sl_error *err)
{
	*yes = 0;
	int st;
	if (db->driver->has_state(db, &st, err))
		return -1;
	if (!st)
		return 0;
	struct sl_strvec v = SL_STRVEC_INIT;
	const char *q = !strcmp(db->driver->name, "postgres") ?
		"SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'sluice' AND tablename = 'rollouts'" :
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sluice_rollouts'";
	if (sl_db_query_strs(db, q, NULL, 0, &v, 1, err))
		return -1;
	*yes = v.n && strcmp(v.v[0], "0") != 0;
	sl_strvec_free(&v);
	return 0;
}

static char *phases_json(const struct sl_phase *p, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array();
		json_array_append_new(o, json_integer(p[i].traffic_bp));
		json_array_append_new(o, json_integer(p[i].hold_ms));
		json_array_append_new(a, o);
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static int phases_parse_json(const char *s, struct sl_phase **out, size_t *n)
{
	json_t *a = json_loads(s ? s : "", 0, NULL);
	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || !json_array_size(a)) {
		json_decref(a);
		return -1;
	}
	size_t len = json_array_size(a);
	struct sl_phase *v = sl_calloc(len, sizeof(*v));
	for (size_t i = 0; i < len; i++) {
		json_t *o = json_array_get(a, i);
		json_t *t = json_array_get(o, 0), *h = json_array_get(o, 1);
		if (!json_is_integer(t) || !json_is_integer(h) || json_integer_value(t) < 0 ||
		    json_integer_value(t) > SL_FLAG_BUCKETS || json_integer_value(h) < 0) {
			free(v);
			json_decref(a);
			return -1;
		}
		v[i].traffic_bp = (int)json_integer_value(t);
		v[i].hold_ms = (long)json_integer_value(h);
	}
	json_decref(a);
	*out = v;
	*n = len;
	return 0;
}

#define ROW_COLS "id, flag, environment, status, reason, deployment, owner, command, started_at," \
	" updated_at, finished_at, phase, held_ms, heartbeat_ms, analysis_since, phases, traffic_bp"

struct rows {
	struct sl_rollout *v;
	size_t n;
	int damaged;
};

static char *dupn(const char *s)
{
	return s ? sl_strdup(s) : NULL;
}

static int row_cb(void *arg, int ncols, const char *const *v)
{
	struct rows *r = arg;
	(void)ncols;
	r->v = sl_realloc(r->v, (r->n + 1) * sizeof(*r->v));
	struct sl_rollout *x = &r->v[r->n++];
	memset(x, 0, sizeof(*x));
	x->id = dupn(v[0]);
	x->flag = dupn(v[1]);
	x->environment = dupn(v[2]);
	x->status = dupn(v[3]);
	x->reason = dupn(v[4]);
	x->deployment = dupn(v[5]);
	x->owner = dupn(v[6]);
	x->command = dupn(v[7]);
	x->started_at = dupn(v[8]);
	x->updated_at = dupn(v[9]);
	x->finished_at = dupn(v[10]);
	x->phase = v[11] ? atoi(v[11]) : 0;
	x->held_ms = v[12] ? atol(v[12]) : 0;
	x->heartbeat_ms = v[13] ? atol(v[13]) : 0;
	x->analysis_since = v[14] ? atol(v[14]) : 0;
	x->traffic_bp = v[16] ? atoi(v[16]) : 0;
	if (!x->id || !x->flag || !x->status || phases_parse_json(v[15], &x->phases, &x->nphases) ||
	    x->phase < 0 || (size_t)x->phase >= x->nphases)
		r->damaged = 1;
	return 0;
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		sl_rollout_free(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Rows matching where (with params), newest first. */
static int select_rows(struct sl_db *db, const char *where, const char *const *p, int np,
		       struct rows *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT " ROW_COLS " FROM ");
	db->driver->state_table(&q, "rollouts");
	if (where)
		sl_buf_printf(&q, " WHERE %s", where);
	sl_buf_adds(&q, " ORDER BY started_at DESC, id DESC");
	int rc = db->driver->query(db, q.s, p, np, row_cb, out, err);
	sl_buf_free(&q);
	if (!rc && out->damaged) {
		rows_free(out);
		return sl_err(err, SL_ENV, "a row of the rollouts table is damaged (no id, status or phases)");
	}
	if (rc)
		rows_free(out);
	return rc;
}

static int reload(struct sl_db *db, struct sl_rollout *r, struct sl_error *err)
{
	struct rows rs;
	const char *p[] = { r->id };
	if (select_rows(db, "id = ?", p, 1, &rs, err))
		return -1;
	if (!rs.n) {
		rows_free(&rs);
		return sl_err(err, SL_ENV, "rollout %s disappeared from the rollouts table", r->id);
	}
	sl_rollout_free(r);
	*r = rs.v[0];
	memset(&rs.v[0], 0, sizeof(rs.v[0]));
	rows_free(&rs);
	return 0;
}

/* Write the row's mutable state (not the request column, which others write). */
static int save(struct sl_db *db, struct sl_rollout *r, struct sl_error *err)
{
	char now[32], phase[16], held[24], beat[24], since[24], traffic[16];
	sl_now_iso(now);
	set_str(&r->updated_at, now);
	/* every write of the holder is a heartbeat */
	if (r->owner)
		r->heartbeat_ms = epoch_ms();
	snprintf(phase, sizeof(phase), "%d", r->phase);
	snprintf(held, sizeof(held), "%ld", r->held_ms);
	snprintf(beat, sizeof(beat), "%ld", r->heartbeat_ms);
	snprintf(since, sizeof(since), "%ld", r->analysis_since);
	snprintf(traffic, sizeof(traffic), "%d", r->traffic_bp);
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "UPDATE ");
	db->driver->state_table(&q, "rollouts");
	sl_buf_adds(&q, " SET status = ?, reason = ?, deployment = ?, owner = ?, updated_at = ?,"
			" finished_at = ?, phase = CAST(? AS integer), held_ms = CAST(? AS bigint),"
			" heartbeat_ms = CAST(? AS bigint), analysis_since = CAST(? AS bigint),"
			" traffic_bp = CAST(? AS integer) WHERE id = ?");
	const char *p[] = { r->status, r->reason, r->deployment, r->owner, now, r->finished_at,
			    phase, held, beat, since, traffic, r->id };
	int rc = db->driver->query(db, q.s, p, 12, NULL, NULL, err);
	sl_buf_free(&q);
	return rc;
}

/* Append to rollout_log; *seq_out (may be NULL) gets the entry's seq. */
static int log_add(struct sl_db *db, const struct sl_rollout *r, const char *kind, const char *name,
		   const char *outcome, double value, const char *detail, long *seq_out,
		   struct sl_error *err)
{
	char now[32], phase[16], traffic[16], val[40];
	sl_now_iso(now);
	snprintf(phase, sizeof(phase), "%d", r->phase);
	snprintf(traffic, sizeof(traffic), "%d", r->traffic_bp);
	int has_val = isfinite(value);
	if (has_val)
		snprintf(val, sizeof(val), "%.17g", value);
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "INSERT INTO ");
	db->driver->state_table(&q, "rollout_log");
	sl_buf_adds(&q, " (rollout_id, seq, at, phase, traffic_bp, kind, name, outcome, value, detail)"
			" SELECT ?, coalesce(max(seq), 0) + 1, ?, CAST(? AS integer), CAST(? AS integer),"
			" ?, ?, ?, CAST(? AS double precision), ? FROM ");
	db->driver->state_table(&q, "rollout_log");
	sl_buf_adds(&q, " WHERE rollout_id = ?");
	const char *p[] = { r->id, now, phase, traffic, kind, name, outcome, has_val ? val : NULL,
			    detail, r->id };
	int rc = db->driver->query(db, q.s, p, 10, NULL, NULL, err);
	sl_buf_reset(&q);
	if (!rc && seq_out) {
		struct sl_strvec v = SL_STRVEC_INIT;
		sl_buf_adds(&q, "SELECT coalesce(max(seq), 0) FROM ");
		db->driver->state_table(&q, "rollout_log");
		sl_buf_adds(&q, " WHERE rollout_id = ?");
		const char *p2[] = { r->id };
		rc = sl_db_query_strs(db, q.s, p2, 1, &v, 1, err);
		*seq_out = !rc && v.n ? atol(v.v[0]) : 0;
		sl_strvec_free(&v);
	}
	sl_buf_free(&q);
	return rc;
}

struct log_rows {
	struct sl_rollout_logent *v;
	size_t n;
};

static int logent_cb(void *arg, int ncols, const char *const *v)
{
	struct log_rows *l = arg;
	(void)ncols;
	l->v = sl_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct sl_rollout_logent *e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->seq = v[0] ? atol(v[0]) : 0;
	e->at = dupn(v[1]);
	e->phase = v[2] ? atoi(v[2]) : 0;
	e->traffic_bp = v[3] ? atoi(v[3]) : 0;
	e->kind = dupn(v[4] ? v[4] : "");
	e->name = dupn(v[5] ? v[5] : "");
	e->outcome = dupn(v[6]);
	e->value = v[7] ? strtod(v[7], NULL) : NAN;
	e->detail = dupn(v[8]);
	return 0;
}

/* Log entries of id: after seq `after` (oldest first), or the newest limit. */
static int log_select(struct sl_db *db, const char *id, long after, size_t limit,
		      struct log_rows *out, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	char a[24], l[24];
	snprintf(a, sizeof(a), "%ld", after);
	snprintf(l, sizeof(l), "%zu", limit);
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT seq, at, phase, traffic_bp, kind, name, outcome, value, detail FROM ");
	db->driver->state_table(&q, "rollout_log");
	if (limit)
		sl_buf_adds(&q, " WHERE rollout_id = ? ORDER BY seq DESC LIMIT CAST(? AS integer)");
	else
		sl_buf_adds(&q, " WHERE rollout_id = ? AND seq > CAST(? AS bigint) ORDER BY seq");
	const char *p[] = { id, limit ? l : a };
	int rc = db->driver->query(db, q.s, p, 2, logent_cb, out, err);
	sl_buf_free(&q);
	if (!rc && limit)
		for (size_t i = 0; i < out->n / 2; i++) {
			struct sl_rollout_logent t = out->v[i];
			out->v[i] = out->v[out->n - 1 - i];
			out->v[out->n - 1 - i] = t;
		}
	return rc;
}

/* ---- the controller's identity ---------------------------------------------- */

static void my_owner(char out[300])
{
	char host[256];
	if (gethostname(host, sizeof(host) - 1))
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = 0;
	snprintf(out, 300, "%ld@%s", (long)getpid(), host);
}

int sl_rollout_controller_alive(const struct sl_rollout *r)
{
	if (!r->owner || !*r->owner)
		return 0;
	char me[300];
	my_owner(me);
	const char *at = strchr(r->owner, '@'), *myat = strchr(me, '@');
	if (!at || !myat || strcmp(at, myat))    /* another host: the heartbeat decides */
		return epoch_ms() - r->heartbeat_ms <= LEASE_MS;
	/* this host: the process decides (a controller inside a long
	 * measurement is alive however old its heartbeat) */
	long pid = atol(r->owner);
	if (pid <= 0)
		return 0;
	if (pid == (long)getpid())
		return 1;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/*
 * Take the rollout for this process: refused while another controller is
 * alive.  The UPDATE only matches the owner read before it, so of two
 * processes claiming at once exactly one wins; the loser re-reads.
 */
static int claim(struct sl_db *db, struct sl_rollout *r, struct sl_error *err)
{
	char me[300];
	my_owner(me);
	if (r->owner && strcmp(r->owner, me) && sl_rollout_controller_alive(r))
		goto busy;
	char beat[24];
	snprintf(beat, sizeof(beat), "%lld", epoch_ms());
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "UPDATE ");
	db->driver->state_table(&q, "rollouts");
	sl_buf_adds(&q, " SET owner = ?, heartbeat_ms = CAST(? AS bigint) WHERE id = ? AND coalesce(owner, '') = ?");
	const char *p[] = { me, beat, r->id, r->owner ? r->owner : "" };
	int rc = db->driver->query(db, q.s, p, 4, NULL, NULL, err);
	sl_buf_free(&q);
	if (rc || reload(db, r, err))
		return -1;
	if (r->owner && !strcmp(r->owner, me))
		return 0;
busy:
	sl_err(err, SL_ENV, "rollout %s of flag '%s' in %s is being run by controller %s", r->id, r->flag,
	       r->environment, r->owner);
	sl_err_hint(err, "'sluice rollout status %s' shows it; pause, resume, promote and abort reach it", r->flag);
	return -1;
}

static int release(struct sl_db *db, struct sl_rollout *r, struct sl_error *err)
{
	set_str(&r->owner, NULL);
	return save(db, r, err);
}

/* ---- one rollout being driven ------------------------------------------------ */

struct rt {
	struct sl_db *db;
	const struct sl_rollout_def *def;     /* NULL when a request acts without a controller */
	const struct sl_rollout_opts *o;
	struct sl_rollout r;
	struct sl_metric_state *ms;           /* one per measurement slot */
	size_t nms;
	int measured_in_phase;
	long long decided_at;                 /* mono ms of the last failure decision */
};

static void event(struct rt *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void event(struct rt *x, const char *name, const char *fmt, ...)
{
	struct sl_buf b = SL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	struct sl_error e;
	sl_error_clear(&e);
	/* the log is the record; a failure to write it surfaces at the next save */
	log_add(x->db, &x->r, "event", name, NULL, NAN, b.s, NULL, &e);
	if (x->o && x->o->on_event)
		x->o->on_event(x->o->arg, &x->r, name, b.s);
	sl_buf_free(&b);
}

static double scale(const struct rt *x)
{
	return x->o && x->o->time_scale > 1 ? x->o->time_scale : 1;
}

static int set_traffic(struct rt *x, int bp, const char *why, struct sl_error *err)
{
	struct sl_flag f;
	int prev;
	if (sl_flag_set(x->db, x->r.flag, bp, why, &f, &prev, err))
		return -1;
	sl_flag_free(&f);
	x->r.traffic_bp = bp;
	return 0;
}

/* A new analysis run: counters start again after the newest log entry. */
static int new_analysis_run(struct rt *x, struct sl_error *err)
{
	for (size_t i = 0; i < x->nms; i++)
		memset(&x->ms[i], 0, sizeof(x->ms[i]));
	x->measured_in_phase = 0;
	struct log_rows l;
	if (log_select(x->db, x->r.id, 0, 1, &l, err))
		return -1;
	x->r.analysis_since = l.n ? l.v[0].seq : 0;
	for (size_t i = 0; i < l.n; i++)
		sl_rollout_logent_free(&l.v[i]);
	free(l.v);
	return 0;
}

/* The slot of a measurement named name (threshold metrics in order, then canary). */
static long slot_of(const struct sl_analysis *a, const char *name)
{
	long k = 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->metrics[i].canary)
			continue;
		if (!strcmp(a->metrics[i].name, name))
			return k;
		k++;
	}
	return a->ncompare && !strcmp(name, "canary") ? k : -1;
}

static const char *threshold_name(const struct sl_analysis *a, size_t slot)
{
	size_t k = 0;
	for (size_t i = 0; i < a->n; i++)
		if (!a->metrics[i].canary && k++ == slot)
			return a->metrics[i].name;
	return "?";
}

static enum sl_outcome outcome_named(const char *s)
{
	if (!strcmp(s, "successful"))
		return SL_OUT_SUCCESS;
	if (!strcmp(s, "inconclusive"))
		return SL_OUT_INCONCLUSIVE;
	if (!strcmp(s, "failed"))
		return SL_OUT_FAILED;
	return SL_OUT_ERROR;
}

/* After a restart: the counters of the current analysis run, from the log. */
static int recount(struct rt *x, struct sl_error *err)
{
	struct log_rows l;
	if (log_select(x->db, x->r.id, x->r.analysis_since, 0, &l, err))
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		const struct sl_rollout_logent *e = &l.v[i];
		if (!strcmp(e->kind, "sample") && e->outcome && e->phase == x->r.phase) {
			long s = slot_of(&x->def->analysis, e->name);
			if (s >= 0)
				sl_metric_state_add(&x->ms[s], outcome_named(e->outcome));
			x->measured_in_phase = 1;
		}
	}
	for (size_t i = 0; i < l.n; i++)
		sl_rollout_logent_free(&l.v[i]);
	free(l.v);
	return 0;
}

/*
 * End the rollout after a failed analysis or an abort: the flag to 0 first
 * (that is what stops the damage), then the deployment's rollback path
 * (with its on_rollback hooks) or the hooks alone.  The row says
 * rolling_back meanwhile, so a kill here is finished by the next run.
 */
static int finish_failed(struct rt *x, const char *status, const char *reason, struct sl_error *err)
{
	set_str(&x->r.status, "rolling_back");
	set_str(&x->r.reason, reason);
	if (save(x->db, &x->r, err))
		return -1;
	char why[300];
	snprintf(why, sizeof(why), "rollout %s: %s", x->r.id, reason);
	if (set_traffic(x, 0, why, err))
		return -1;
	if (x->decided_at)
		event(x, "flag-off", "flag %s set to 0%% %lld ms after the decision", x->r.flag,
		      mono_ms() - x->decided_at);
	else
		event(x, "flag-off", "flag %s set to 0%%", x->r.flag);
	struct sl_error re;
	sl_error_clear(&re);
	int rolled = 0;
	if (x->r.deployment && x->o && x->o->rollback) {
		if (x->o->rollback(x->o->arg, x->r.deployment, why, &re)) {
			event(x, "rollback-failed", "deployment %s: %s", x->r.deployment, re.message);
		} else {
			event(x, "rollback", "deployment %s rolled back", x->r.deployment);
			rolled = 1;
		}
	}
	if (!rolled && x->o && x->o->cfg) {
		/* no deployment to roll back: the on_rollback hooks alone */
		struct sl_deploy_config dc;
		const struct sl_env *env = sl_config_env(x->o->cfg, x->r.environment, NULL);
		if (env && !sl_deploy_config_load(x->o->cfg, env, &dc, &re)) {
			struct sl_buf e[6];
			for (int i = 0; i < 6; i++)
				sl_buf_init(&e[i]);
			sl_buf_printf(&e[0], "SLUICE_ENV=%s", x->r.environment);
			sl_buf_printf(&e[1], "SLUICE_HOOK=on_rollback");
			sl_buf_printf(&e[2], "SLUICE_ROLLOUT_ID=%s", x->r.id);
			sl_buf_printf(&e[3], "SLUICE_FLAG=%s", x->r.flag);
			sl_buf_printf(&e[4], "SLUICE_REASON=%s", reason);
			sl_buf_printf(&e[5], "SLUICE_DEPLOYMENT_ID=%s", x->r.deployment ? x->r.deployment : "");
			const char *envv[] = { e[0].s, e[1].s, e[2].s, e[3].s, e[4].s, e[5].s, NULL };
			if (dc.hooks[SL_HOOK_ROLLBACK].n) {
				if (sl_hooks_run(&dc, x->o->cfg->dir, SL_HOOK_ROLLBACK, envv, NULL, NULL, NULL, &re))
					event(x, "on_rollback", "%s", re.message);
				else
					event(x, "on_rollback", "%zu hook(s) ran", dc.hooks[SL_HOOK_ROLLBACK].n);
			}
			for (int i = 0; i < 6; i++)
				sl_buf_free(&e[i]);
			sl_deploy_config_free(&dc);
		} else if (env) {
			event(x, "on_rollback", "hooks not run: %s", re.message);
		}
	}
	char now[32];
	sl_now_iso(now);
	set_str(&x->r.status, status);
	set_str(&x->r.finished_at, now);
	set_str(&x->r.owner, NULL);
	if (save(x->db, &x->r, err))
		return -1;
	event(x, status, "%s", reason);
	return 0;
}

/* The hold of the phase is over (or promoted): next phase, or done. */
static int advance(struct rt *x, const char *how, struct sl_error *err)
{
	if ((size_t)x->r.phase + 1 >= x->r.nphases) {
		char now[32];
		sl_now_iso(now);
		set_str(&x->r.status, "succeeded");
		set_str(&x->r.finished_at, now);
		set_str(&x->r.owner, NULL);
		char pct[SL_FLAG_PERCENT_LEN];
		sl_flag_format_percent(x->r.traffic_bp, pct);
		set_str(&x->r.reason, NULL);
		if (save(x->db, &x->r, err))
			return -1;
		event(x, "succeeded", "flag %s at %s%% after %zu phase(s)%s", x->r.flag, pct, x->r.nphases, how);
		return 1;
	}
	x->r.phase++;
	x->r.held_ms = 0;
	set_str(&x->r.status, "running");
	set_str(&x->r.reason, NULL);
	if (new_analysis_run(x, err))
		return -1;
	const struct sl_phase *ph = &x->r.phases[x->r.phase];
	char why[200], pct[SL_FLAG_PERCENT_LEN];
	snprintf(why, sizeof(why), "rollout %s phase %d/%zu", x->r.id, x->r.phase + 1, x->r.nphases);
	if (set_traffic(x, ph->traffic_bp, why, err) || save(x->db, &x->r, err))
		return -1;
	sl_flag_format_percent(ph->traffic_bp, pct);
	char d1[32];
	event(x, "phase", "phase %d/%zu: %s%% for %s%s", x->r.phase + 1, x->r.nphases, pct,
	      fmt_dur(ph->hold_ms, d1), how);
	return 0;
}

/*
 * Carry out a request.  Returns 1 when the rollout ended, 0 to go on, -1
 * on a database error.  *applied says whether it applied at all.
 */
static int apply_request(struct rt *x, const char *cmd, const char *reason, struct sl_error *err)
{
	char why[400];
	snprintf(why, sizeof(why), "%s by %s%s%s", cmd, sl_actor(), reason ? ": " : "", reason ? reason : "");
	if (!strcmp(cmd, "abort")) {
		x->decided_at = mono_ms();
		return finish_failed(x, "aborted", why, err) ? -1 : 1;
	}
	if (!strcmp(cmd, "pause")) {
		if (strcmp(x->r.status, "running"))
			return 0;
		set_str(&x->r.status, "paused");
		set_str(&x->r.reason, why);
		if (save(x->db, &x->r, err))
			return -1;
		event(x, "paused", "%s", why);
		return 0;
	}
	if (!strcmp(cmd, "resume")) {
		if (strcmp(x->r.status, "paused"))
			return 0;
		set_str(&x->r.status, "running");
		set_str(&x->r.reason, NULL);
		if (new_analysis_run(x, err) || save(x->db, &x->r, err))
			return -1;
		event(x, "resumed", "%s", why);
		return 0;
	}
	if (!strcmp(cmd, "promote")) {
		char how[420];
		snprintf(how, sizeof(how), " (%s)", why);
		return advance(x, how, err);
	}
	return sl_err(err, SL_USAGE, "unknown request '%s'", cmd);
}

/* Take a queued request off the row (only the one read, so none is lost). */
static int take_request(struct rt *x, char **cmd, char **reason, struct sl_error *err)
{
	*cmd = *reason = NULL;
	struct sl_strvec v[2] = { SL_STRVEC_INIT, SL_STRVEC_INIT };
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "SELECT coalesce(command, ''), coalesce(command_reason, '') FROM ");
	x->db->driver->state_table(&q, "rollouts");
	sl_buf_adds(&q, " WHERE id = ?");
	const char *p[] = { x->r.id };
	int rc = sl_db_query_strs(x->db, q.s, p, 1, v, 2, err);
	if (!rc && v[0].n == 1 && v[0].v[0][0]) {
		*cmd = sl_strdup(v[0].v[0]);
		*reason = v[1].v[0][0] ? sl_strdup(v[1].v[0]) : NULL;
		sl_buf_reset(&q);
		sl_buf_adds(&q, "UPDATE ");
		x->db->driver->state_table(&q, "rollouts");
		sl_buf_adds(&q, " SET command = NULL, command_reason = NULL WHERE id = ? AND command = ?");
		const char *p2[] = { x->r.id, *cmd };
		rc = x->db->driver->query(x->db, q.s, p2, 2, NULL, NULL, err);
	}
	sl_strvec_free(&v[0]);
	sl_strvec_free(&v[1]);
	sl_buf_free(&q);
	return rc;
}

/*
 * One measurement round: every metric once, each measurement logged, the
 * counters of the analysis run updated, the worst status returned.
 */
static int measure(struct rt *x, struct sl_measure_ctx *mc, enum sl_metric_status *worst,
		   char *why, size_t whylen, struct sl_error *err)
{
	const struct sl_analysis *a = &x->def->analysis;
	struct sl_measurement *m = NULL;
	size_t n = 0;
	*worst = SL_MS_RUNNING;
	why[0] = 0;
	if (sl_analysis_measure(a, mc, &m, &n, err))
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && i < x->nms; i++) {
		sl_metric_state_add(&x->ms[i], m[i].outcome);
		if (log_add(x->db, &x->r, "sample", m[i].metric, sl_outcome_name(m[i].outcome), m[i].value,
			    m[i].detail, NULL, err)) {
			rc = -1;
			break;
		}
		if (x->o && x->o->on_event) {
			struct sl_buf b = SL_BUF_INIT;
			sl_buf_printf(&b, "%s %s: %s", m[i].metric, sl_outcome_name(m[i].outcome), m[i].detail);
			x->o->on_event(x->o->arg, &x->r, "sample", b.s);
			sl_buf_free(&b);
		}
		long fl, il, cel;
		sl_analysis_limits(a, i, &fl, &il, &cel);
		enum sl_metric_status s = sl_metric_assess(&x->ms[i], fl, il, cel);
		if (s > *worst) {
			*worst = s;
			snprintf(why, whylen, "metric %s %s (%ld failed, %ld inconclusive, %ld consecutive errors): %s",
				 m[i].metric, sl_metric_status_name(s), x->ms[i].failed, x->ms[i].inconclusive,
				 x->ms[i].consecutive_error, m[i].detail);
		}
	}
	for (size_t i = 0; i < n; i++)
		sl_measurement_free(&m[i]);
	free(m);
	x->measured_in_phase = 1;
	return rc;
}

static long long real_ms(const struct rt *x, long logical)
{
	return (long long)ceil(logical / scale(x));
}

static int drive(struct rt *x, struct sl_error *err)
{
	const struct sl_analysis *a = &x->def->analysis;
	struct sl_measure_ctx mc;
	memset(&mc, 0, sizeof(mc));
	mc.cfg = x->o->cfg;
	mc.env = x->r.environment;
	mc.db = x->db;
	mc.flag = x->r.flag;
	struct sl_buf pe[4];
	for (int i = 0; i < 4; i++)
		sl_buf_init(&pe[i]);
	const char *penv[5] = { NULL };
	int rc = 0;
	long long now = mono_ms(), last = now, last_beat = now;
	long long next_measure = now + real_ms(x, a->interval_ms);
	for (;;) {
		/* the flag follows the phase (after a restart too) */
		const struct sl_phase *ph = &x->r.phases[x->r.phase];
		if (!strcmp(x->r.status, "running") && x->r.traffic_bp != ph->traffic_bp) {
			char why[200];
			snprintf(why, sizeof(why), "rollout %s phase %d/%zu", x->r.id, x->r.phase + 1, x->r.nphases);
			if (set_traffic(x, ph->traffic_bp, why, err) || save(x->db, &x->r, err)) {
				rc = -1;
				break;
			}
		}
		char *cmd, *reason;
		if (take_request(x, &cmd, &reason, err)) {
			rc = -1;
			break;
		}
		if (cmd) {
			int phase_before = x->r.phase;
			int r = apply_request(x, cmd, reason, err);
			free(cmd);
			free(reason);
			if (r) {
				rc = r < 0 ? -1 : 0;
				break;
			}
			if (x->r.phase != phase_before || !strcmp(x->r.status, "running"))
				next_measure = mono_ms() + real_ms(x, a->interval_ms);
			last = mono_ms();
			continue;
		}
		now = mono_ms();
		int running = !strcmp(x->r.status, "running");
		if (running)
			x->r.held_ms += (long)((now - last) * scale(x));
		last = now;
		int hold_over = running && x->r.held_ms >= ph->hold_ms;
		/* measure every interval, and once before a phase ends unmeasured;
		 * a phase whose hold is over moves on first */
		int measure_due = running && a->n && (hold_over ? !x->measured_in_phase : now >= next_measure);
		if (measure_due) {
			enum sl_metric_status worst;
			char why[1200];
			char ph_s[16], tr[SL_FLAG_PERCENT_LEN];
			snprintf(ph_s, sizeof(ph_s), "%d", x->r.phase + 1);
			sl_flag_format_percent(x->r.traffic_bp, tr);
			for (int i = 0; i < 4; i++)
				sl_buf_reset(&pe[i]);
			sl_buf_printf(&pe[0], "SLUICE_FLAG=%s", x->r.flag);
			sl_buf_printf(&pe[1], "SLUICE_ROLLOUT_ID=%s", x->r.id);
			sl_buf_printf(&pe[2], "SLUICE_PHASE=%s", ph_s);
			sl_buf_printf(&pe[3], "SLUICE_TRAFFIC=%s", tr);
			for (int i = 0; i < 4; i++)
				penv[i] = pe[i].s;
			mc.proc_env = penv;
			if (measure(x, &mc, &worst, why, sizeof(why), err)) {
				rc = -1;
				break;
			}
			now = mono_ms();
			next_measure = now + real_ms(x, a->interval_ms);
			if (worst == SL_MS_FAILED || worst == SL_MS_ERROR) {
				x->decided_at = now;
				event(x, "decision", "roll back: %s", why);
				if (finish_failed(x, "rolled_back", why, err))
					rc = -1;
				else
					rc = 1;
				break;
			}
			if (worst == SL_MS_INCONCLUSIVE) {
				set_str(&x->r.status, "paused");
				char r2[1300];
				snprintf(r2, sizeof(r2), "inconclusive: %s", why);
				set_str(&x->r.reason, r2);
				if (save(x->db, &x->r, err)) {
					rc = -1;
					break;
				}
				event(x, "paused", "%s; waiting for 'sluice rollout promote %s' or 'abort'", r2, x->r.flag);
				continue;
			}
			last_beat = now;
			if (save(x->db, &x->r, err)) {
				rc = -1;
				break;
			}
			continue;
		}
		if (hold_over) {
			/* a phase passes only on evidence: every metric measured
			 * successfully at least once in its analysis run */
			char why[400] = "";
			for (size_t i = 0; i < x->nms && !why[0]; i++)
				if (x->ms[i].count && !x->ms[i].successful)
					snprintf(why, sizeof(why),
						 "metric %s had no successful measurement in phase %d (%ld error(s), %ld failed, %ld inconclusive)",
						 i < x->nms - (a->ncompare ? 1 : 0) ? threshold_name(a, i) : "canary",
						 x->r.phase + 1, x->ms[i].error, x->ms[i].failed, x->ms[i].inconclusive);
			if (why[0]) {
				x->decided_at = mono_ms();
				event(x, "decision", "roll back: %s", why);
				rc = finish_failed(x, "rolled_back", why, err) ? -1 : 1;
				break;
			}
			int r = advance(x, "", err);
			if (r) {
				rc = r < 0 ? -1 : 0;
				break;
			}
			next_measure = mono_ms() + real_ms(x, a->interval_ms);
			last_beat = last = mono_ms();
			continue;
		}
		if (now - last_beat >= BEAT_MS) {
			x->r.heartbeat_ms = epoch_ms();
			if (save(x->db, &x->r, err)) {
				rc = -1;
				break;
			}
			last_beat = now;
		}
		long long wake = now + POLL_MS;
		if (running && a->n && next_measure < wake)
			wake = next_measure;
		if (running) {
			long long end = now + real_ms(x, ph->hold_ms - x->r.held_ms);
			if (end < wake)
				wake = end;
		}
		sleep_ms(wake - mono_ms());
	}
	for (int i = 0; i < 4; i++)
		sl_buf_free(&pe[i]);
	sl_measure_ctx_close(&mc);
	return rc;
}

/* The newest successful deployment of env: what a failed rollout rolls back. */
static char *newest_deployment(struct sl_db *db, const char *env)
{
	struct sl_deployment *v = NULL;
	size_t n = 0;
	struct sl_error e;
	char *id = NULL;
	if (sl_deployments_list(db, env, 0, &v, &n, &e))
		return NULL;
	for (size_t i = 0; i < n && !id; i++)
		if (!strcmp(v[i].status, "success") && v[i].to_version)
			id = sl_strdup(v[i].id);
	for (size_t i = 0; i < n; i++)
		sl_deployment_free(&v[i]);
	free(v);
	return id;
}

static char *new_id(void)
{
	unsigned char r[3];
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(r, 1, 3, f) != 3) {
		long v = (long)getpid() ^ (long)mono_ms();
		r[0] = (unsigned char)v;
		r[1] = (unsigned char)(v >> 8);
		r[2] = (unsigned char)(v >> 16);
	}
	if (f)
		fclose(f);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char b[64];
	snprintf(b, sizeof(b), "ro-%04d%02d%02dT%02d%02d%02dZ-%02x%02x%02x", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, r[0], r[1], r[2]);
	return sl_strdup(b);
}

static int active_row(struct sl_db *db, const char *env, const char *flag, struct sl_rollout *out,
		      int *found, struct sl_error *err)
{
	struct rows rs;
	const char *p[] = { env, flag };
	*found = 0;
	memset(out, 0, sizeof(*out));
	if (select_rows(db, "environment = ? AND flag = ? AND status IN ('running', 'paused', 'rolling_back')",
			p, 2, &rs, err))
		return -1;
	if (rs.n) {
		*out = rs.v[0];
		memset(&rs.v[0], 0, sizeof(rs.v[0]));
		*found = 1;
	}
	rows_free(&rs);
	return 0;
}

static int start_new(struct sl_db *db, const struct sl_rollout_def *def, const char *env,
		     struct sl_rollout *r, struct sl_error *err)
{
	char now[32];
	sl_now_iso(now);
	char *id = new_id();
	char *ph = phases_json(def->phases, def->nphases);
	char *dep = def->rollback_deploy ? newest_deployment(db, env) : NULL;
	char me[300], beat[24], traffic[16];
	my_owner(me);
	snprintf(beat, sizeof(beat), "%lld", epoch_ms());
	struct sl_flag f;
	int found;
	int bp = 0;
	if (!sl_flag_get(db, def->flag, &f, &found, err) && found)
		bp = f.percent_bp;
	if (found)
		sl_flag_free(&f);
	snprintf(traffic, sizeof(traffic), "%d", bp);
	struct sl_buf q = SL_BUF_INIT;
	sl_buf_adds(&q, "INSERT INTO ");
	db->driver->state_table(&q, "rollouts");
	sl_buf_adds(&q, " (id, flag, environment, status, deployment, owner, started_at, updated_at, phase,"
			" held_ms, heartbeat_ms, analysis_since, phases, traffic_bp, actor)"
			" VALUES (?, ?, ?, 'running', ?, ?, ?, ?, 0, 0, CAST(? AS bigint), 0, ?,"
			" CAST(? AS integer), ?)");
	const char *p[] = { id, def->flag, env, dep, me, now, now, beat, ph, traffic, sl_actor() };
	int rc = db->driver->query(db, q.s, p, 11, NULL, NULL, err);
	sl_buf_free(&q);
	if (rc) {
		/* the unique index: someone started one in between */
		int yes;
		struct sl_error e2;
		if (!active_row(db, env, def->flag, r, &yes, &e2) && yes) {
			sl_err(err, SL_ENV, "another controller started rollout %s of flag '%s' in %s", r->id,
			       def->flag, env);
			sl_rollout_free(r);
		}
	} else {
		memset(r, 0, sizeof(*r));
		r->id = sl_strdup(id);
		rc = reload(db, r, err);
	}
	free(id);
	free(ph);
	free(dep);
	return rc;
}

int sl_rollout_run(struct sl_db *db, const struct sl_rollout_def *def,
		   const struct sl_rollout_opts *o, struct sl_rollout *out, struct sl_error *err)
{
	struct rt x;
	memset(&x, 0, sizeof(x));
	x.db = db;
	x.def = def;
	x.o = o;
	if (out)
		memset(out, 0, sizeof(*out));
	const char *env = def->environment ? def->environment : o->env;
	if (ensure_tables(db, err))
		return -1;
	int found;
	if (active_row(db, env, def->flag, &x.r, &found, err))
		return -1;
	int resumed = found;
	if (found) {
		if (claim(db, &x.r, err)) {
			sl_rollout_free(&x.r);
			return -1;
		}
	} else if (start_new(db, def, env, &x.r, err)) {
		return -1;
	}
	x.nms = def->analysis.n - def->analysis.ncompare + (def->analysis.ncompare ? 1 : 0);
	x.ms = sl_calloc(x.nms ? x.nms : 1, sizeof(*x.ms));
	int rc = 0;
	char pct[SL_FLAG_PERCENT_LEN];
	const struct sl_phase *ph = &x.r.phases[x.r.phase];
	sl_flag_format_percent(ph->traffic_bp, pct);
	char d0[32], d1[32];
	if (!resumed) {
		event(&x, "started", "flag %s in %s: %zu phase(s), analysis every %s with %zu metric(s)%s%s",
		      x.r.flag, env, x.r.nphases, fmt_dur(def->analysis.interval_ms, d1), def->analysis.n,
		      x.r.deployment ? "; a failure rolls back deployment " : "",
		      x.r.deployment ? x.r.deployment : "");
		char why[200];
		snprintf(why, sizeof(why), "rollout %s phase 1/%zu", x.r.id, x.r.nphases);
		if (new_analysis_run(&x, err) || set_traffic(&x, ph->traffic_bp, why, err) ||
		    save(db, &x.r, err))
			rc = -1;
		else
			event(&x, "phase", "phase 1/%zu: %s%% for %s", x.r.nphases, pct, fmt_dur(ph->hold_ms, d1));
	} else if (!strcmp(x.r.status, "rolling_back")) {
		/* killed while rolling back: finish it */
		event(&x, "resumed", "finishing the rollback (%s)", x.r.reason ? x.r.reason : "");
		char *reason = sl_strdup(x.r.reason ? x.r.reason : "rolled back");
		const char *final = strncmp(reason, "abort", 5) ? "rolled_back" : "aborted";
		rc = finish_failed(&x, final, reason, err) ? -1 : 1;
		free(reason);
	} else {
		if (recount(&x, err))
			rc = -1;
		else
			event(&x, "resumed", "phase %d/%zu at %s%%, %s of %s held, %s", x.r.phase + 1,
			      x.r.nphases, pct, fmt_dur(x.r.held_ms, d0), fmt_dur(ph->hold_ms, d1), x.r.status);
	}
	if (!rc)
		rc = drive(&x, err);
	if (rc >= 0 && (!strcmp(x.r.status, "rolled_back") || !strcmp(x.r.status, "aborted"))) {
		sl_err(err, SL_FAILED, "rollout %s of flag '%s' %s: %s", x.r.id, x.r.flag,
		       !strcmp(x.r.status, "aborted") ? "was aborted" : "was rolled back",
		       x.r.reason ? x.r.reason : "");
		rc = -1;
	} else if (rc > 0) {
		rc = 0;
	}
	if (rc < 0 && x.r.owner && (err->code == SL_ENV || err->code == SL_USAGE)) {
		struct sl_error e2;
		release(db, &x.r, &e2);
	}
	free(x.ms);
	if (out)
		*out = x.r;
	else
		sl_rollout_free(&x.r);
	return rc;
}

int sl_rollout_get(struct sl_db *db, const char *env, const char *flag, struct sl_rollout *out,
		   int *found, struct sl_rollout_logent **log, size_t *nlog, size_t limit,
		   struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	*found = 0;
	if (log) {
		*log = NULL;
		*nlog = 0;
	}
	int yes;
	if (have_tables(db, &yes, err))
		return -1;
	if (!yes)
		return 0;
	struct rows rs;
	const char *p[] = { env, flag };
	if (select_rows(db, "environment = ? AND flag = ?", p, 2, &rs, err))
		return -1;
	if (!rs.n) {
		rows_free(&rs);
		return 0;
	}
	*out = rs.v[0];
	memset(&rs.v[0], 0, sizeof(rs.v[0]));
	rows_free(&rs);
	*found = 1;
	if (log && limit) {
		struct log_rows l;
		if (log_select(db, out->id, 0, limit, &l, err))
			return -1;
		*log = l.v;
		*nlog = l.n;
	}
	return 0;
}

int sl_rollout_list(struct sl_db *db, const char *env, struct sl_rollout **out, size_t *n,
		    struct sl_error *err)
{
	*out = NULL;
	*n = 0;
	int yes;
	if (have_tables(db, &yes, err))
		return -1;
	if (!yes)
		return 0;
	struct rows rs;
	const char *p[] = { env };
	if (select_rows(db, env ? "environment = ?" : NULL, p, env ? 1 : 0, &rs, err))
		return -1;
	*out = rs.v;
	*n = rs.n;
	return 0;
}

int sl_rollout_request(struct sl_db *db, const char *flag, const char *command,
		       const char *reason, const struct sl_rollout_opts *o, long wait_ms,
		       struct sl_rollout *out, struct sl_error *err)
{
	struct rt x;
	memset(&x, 0, sizeof(x));
	x.db = db;
	x.o = o;
	memset(out, 0, sizeof(*out));
	if (strcmp(command, "pause") && strcmp(command, "resume") && strcmp(command, "promote") &&
	    strcmp(command, "abort"))
		return sl_err(err, SL_USAGE, "unknown request '%s' (pause, resume, promote, abort)", command);
	int yes, found;
	if (have_tables(db, &yes, err))
		return -1;
	if (yes && active_row(db, o->env, flag, &x.r, &found, err))
		return -1;
	if (!yes || !found) {
		sl_err(err, SL_FAILED, "no rollout of flag '%s' is running or paused in %s", flag, o->env);
		sl_err_hint(err, "'sluice rollout run %s' starts one", flag);
		return -1;
	}
	int rc = 0;
	if ((!strcmp(command, "pause") && strcmp(x.r.status, "running")) ||
	    (!strcmp(command, "resume") && strcmp(x.r.status, "paused")) ||
	    (!strcmp(x.r.status, "rolling_back") && strcmp(command, "abort"))) {
		rc = sl_err(err, SL_FAILED, "rollout %s of flag '%s' is %s: nothing to %s", x.r.id, flag,
			    x.r.status, command);
		goto out;
	}
	if (sl_rollout_controller_alive(&x.r)) {
		char me[300];
		my_owner(me);
		if (x.r.owner && !strcmp(x.r.owner, me)) {
			rc = sl_err(err, SL_USAGE, "this process runs the controller");
			goto out;
		}
		struct sl_buf q = SL_BUF_INIT;
		sl_buf_adds(&q, "UPDATE ");
		db->driver->state_table(&q, "rollouts");
		sl_buf_adds(&q, " SET command = ?, command_reason = ? WHERE id = ?");
		const char *p[] = { command, reason, x.r.id };
		rc = db->driver->query(db, q.s, p, 3, NULL, NULL, err);
		sl_buf_free(&q);
		/* wait for the controller to take it and for its effect */
		long long until = mono_ms() + wait_ms;
		int phase0 = x.r.phase;
		while (!rc) {
			if ((rc = reload(db, &x.r, err)))
				break;
			int done = !x.r.command;
			if (done && !strcmp(command, "pause"))
				done = strcmp(x.r.status, "running") != 0;
			else if (done && !strcmp(command, "resume"))
				done = strcmp(x.r.status, "paused") != 0;
			else if (done && !strcmp(command, "promote"))
				done = x.r.phase != phase0 || !strcmp(x.r.status, "succeeded");
			else if (done && !strcmp(command, "abort"))
				done = !strcmp(x.r.status, "aborted");
			if (done)
				break;
			if (mono_ms() >= until) {
				rc = sl_err(err, SL_ENV, "controller %s has not carried out the %s request within %ld ms",
					    x.r.owner ? x.r.owner : "?", command, wait_ms);
				sl_err_hint(err, "it stays queued; the controller carries it out when it next looks");
				break;
			}
			sleep_ms(50);
		}
		goto out;
	}
	/* no controller: carry it out here, holding the rollout meanwhile */
	if (claim(db, &x.r, err)) {
		rc = -1;
		goto out;
	}
	int r = apply_request(&x, command, reason, err);
	if (r < 0)
		rc = -1;
	else if (r == 0 && release(db, &x.r, err))
		rc = -1;
out:
	*out = x.r;
	return rc;
}
