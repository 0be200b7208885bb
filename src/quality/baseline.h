/*
 * baseline.h - data baselines: profiles of a table kept in the database's
 * own state tables (sluice_baselines / sluice.baselines), with the schema
 * version they were taken at, for the drift gate to compare against.
 *
 * A baseline is named ("default" unless said otherwise); capturing a name
 * again adds a newer one, and the newest of a name is the one used.  The
 * table is created on the first capture, so databases that never capture
 * one have only the migration history.
 */
#ifndef SL_BASELINE_H
#define SL_BASELINE_H

#include <stddef.h>

struct sl_db;
struct sl_error;
struct sl_profile;

struct sl_baseline_row {
	long long id;
	char *name, *table, *schema_version, *taken_at;
	long long rows;
	size_t bytes;                 /* size of the stored profile */
};

int sl_baseline_store(struct sl_db *db, const char *name, const char *schema_version,
		      const struct sl_profile *p, long long *id, struct sl_error *err);
/* Every baseline, newest first (none when the table does not exist). */
int sl_baseline_list(struct sl_db *db, struct sl_baseline_row **rows, size_t *n,
		     struct sl_error *err);
void sl_baseline_rows_free(struct sl_baseline_row *rows, size_t n);
/*
 * The newest baseline of table named name into *out (meta may be NULL);
 * *found = 0 when there is none.
 */
int sl_baseline_load(struct sl_db *db, const char *table, const char *name,
		     struct sl_profile *out, struct sl_baseline_row *meta, int *found,
		     struct sl_error *err);

/*
 * The same storage for other documents: kind is "baselines" (profiles) or
 * "training_sets" (row samples of the model-impact gate, model/impact.h).
 * doc is stored as zlib-compressed JSON; load gives the newest of a name.
 */
#include <jansson.h>
int sl_state_doc_store(struct sl_db *db, const char *kind, const char *name, const char *table,
		       const char *schema_version, const char *taken_at, long long rows,
		       const json_t *doc, long long *id, struct sl_error *err);
int sl_state_doc_load(struct sl_db *db, const char *kind, const char *table, const char *name,
		      json_t **doc, struct sl_baseline_row *meta, int *found, struct sl_error *err);

#endif
