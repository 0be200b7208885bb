/*
 * rollout.h - progressive rollout of a feature flag: phases of traffic,
 * each held while an analysis (metric.h) watches it, with automatic
 * rollback on a failed analysis.
 *
 *   rollout:
 *     flag: new_features
 *     environment: production
 *     phases: [{traffic: 5, hold: 15m}, "25%: 30min", "phase3: 50% traffic, 60min",
 *              "100%: monitor 2h"]
 *     analysis: {interval: 1m, failure_limit: 1, metrics: [...]}
 *     rollback_deploy: true     # also roll back the newest deployment
 *
 * The controller (sl_rollout_run) sets the flag to each phase's percent,
 * holds it for the phase's time while measuring every interval, and moves
 * on.  Failed or error analysis: the flag goes to 0 at once, then the
 * deployment is rolled back (with its on_rollback hooks), and the rollout
 * ends rolled_back.  Inconclusive: the rollout pauses until `rollout
 * promote` or `rollout abort`.  The last phase held ends it succeeded.
 *
 * State lives in the `rollouts` table (one row per rollout; at most one
 * active, running or paused, per environment and flag) and `rollout_log`
 * (every measurement and decision, in order), written after every step, so
 * a controller killed at any time and started again continues the same
 * phase with the hold time that was left.  Hold time counts only while a
 * controller watches: time without one is not monitored time.  A second
 * controller is refused while the first is alive (its process on this
 * host, or a heartbeat younger than 15 s from another host).
 *
 * pause, resume, promote and abort are requests: a live controller picks
 * them up within 200 ms; without one, the command carries them out itself.
 */
#ifndef SL_ROLLOUT_H
#define SL_ROLLOUT_H

#include <stddef.h>

#include "metric.h"

struct sl_config;
struct sl_db;
struct sl_engine;
struct sl_error;
struct sl_ydoc;
struct sl_ynode;

struct sl_phase {
	int traffic_bp;           /* percent in basis points (flag.h) */
	long hold_ms;
};

/*
 * Parse a phase as the seed writes it: "5%: 15min", "phase1: 5% traffic,
 * 15min", "100%: monitor 2h", "25% 30m".  0 or -1 with why filled.
 */
int sl_phase_parse(const char *s, struct sl_phase *out, char *why, size_t whylen);

struct sl_rollout_def {
	char *flag;
	char *environment;        /* NULL: the selected one */
	struct sl_phase *phases;
	size_t nphases;
	struct sl_analysis analysis;
	int rollback_deploy;      /* default 1 */
};
void sl_rollout_def_free(struct sl_rollout_def *d);

/* A `phases:` list (mappings or the seed's strings). */
int sl_phases_load(const struct sl_ydoc *doc, const struct sl_ynode *node, struct sl_phase **out,
		   size_t *n, struct sl_error *err);
/* One rollout mapping (as above). */
int sl_rollout_def_load(const struct sl_ydoc *doc, const struct sl_ynode *node,
			const struct sl_config *cfg, struct sl_rollout_def *out, struct sl_error *err);
/*
 * The rollout of flag in sluice.yaml (`rollout:` a mapping or a list of
 * them); flag NULL: the only one.  SL_USAGE when there is none.
 */
int sl_rollout_def_find(const struct sl_config *cfg, const char *flag,
			struct sl_rollout_def *out, struct sl_error *err);
/* Check the config's rollouts at load time (cmd validate, fuzzing). */
int sl_rollout_config_check(const struct sl_config *cfg, struct sl_error *err);

/* One row of `rollouts`. */
struct sl_rollout {
	char *id, *flag, *environment;
	char *status;             /* running, paused, succeeded, rolled_back, aborted */
	char *reason;             /* why it paused or ended, or NULL */
	char *deployment;         /* rolled back on failure, or NULL */
	char *owner;              /* "pid@host" of the controller, or NULL */
	char *command;            /* a request not yet carried out, or NULL */
	char *started_at, *updated_at, *finished_at;
	int phase;                /* 0-based */
	long held_ms;             /* of the phase, monitored time (logical ms) */
	long heartbeat_ms;        /* epoch ms of the controller's last write */
	long analysis_since;      /* log seq the current analysis run starts after */
	struct sl_phase *phases;
	size_t nphases;
	int traffic_bp;           /* what the controller last set */
};
void sl_rollout_free(struct sl_rollout *r);

struct sl_rollout_logent {
	long seq;
	char *at;
	int phase;
	int traffic_bp;
	char *kind;               /* sample, event */
	char *name;               /* metric or event name */
	char *outcome;            /* sample: successful, failed, ...; event: NULL */
	double value;             /* NaN when none */
	char *detail;
};
void sl_rollout_logent_free(struct sl_rollout_logent *e);

struct sl_rollout_opts {
	const struct sl_config *cfg;
	const char *env;
	double time_scale;        /* >= 1: every duration is divided by it */
	/* Roll back a deployment (the CLI runs sl_rollback); NULL: no deploy
	 * rollback, the on_rollback hooks run alone. */
	int (*rollback)(void *arg, const char *deployment, const char *reason,
			struct sl_error *err);
	/* Progress: an event or a measurement, as one line. */
	void (*on_event)(void *arg, const struct sl_rollout *r, const char *name,
			 const char *text);
	void *arg;
};

/*
 * Run (or resume) the rollout def on db.  Returns 0 when it succeeded;
 * -1 with SL_FAILED when it was rolled back or aborted (out says which),
 * SL_ENV when another controller holds it or the database failed,
 * SL_USAGE for a bad definition.  out (may be NULL) gets the final row.
 */
int sl_rollout_run(struct sl_db *db, const struct sl_rollout_def *def,
		   const struct sl_rollout_opts *o, struct sl_rollout *out, struct sl_error *err);

/*
 * The newest rollout of flag in env (*found 0 when none; read-only: no
 * table is created).  When log is not NULL, its newest `limit` entries
 * (oldest first).
 */
int sl_rollout_get(struct sl_db *db, const char *env, const char *flag, struct sl_rollout *out,
		   int *found, struct sl_rollout_logent **log, size_t *nlog, size_t limit,
		   struct sl_error *err);
/* Every rollout of env (NULL: all), newest first. */
int sl_rollout_list(struct sl_db *db, const char *env, struct sl_rollout **out, size_t *n,
		    struct sl_error *err);
/* Whether r's controller is alive (see above). */
int sl_rollout_controller_alive(const struct sl_rollout *r);

/*
 * pause, resume, promote or abort the active rollout of flag in env.
 * With a live controller the request is queued and this waits (up to
 * wait_ms) until it is carried out; without one it is carried out here.
 * out gets the row afterwards.  SL_FAILED when there is no active
 * rollout or the request does not apply (resume of a running one).
 */
int sl_rollout_request(struct sl_db *db, const char *flag, const char *command,
		       const char *reason, const struct sl_rollout_opts *o, long wait_ms,
		       struct sl_rollout *out, struct sl_error *err);

#endif
