/*
 * history.h - sluice's history table in the target database.
 *
 * One row per event: a migration applied (kind "versioned"/"repeatable"),
 * undone ("undo"), a baseline ("baseline"), a file deleted by repair
 * ("deleted") or a repair ("repair").  Rows are appended, never rewritten,
 * except that repair realigns checksums in place (as Flyway's repair does)
 * and removes failed rows; both are recorded by a "repair" row.
 */
#ifndef SL_HISTORY_H
#define SL_HISTORY_H

#include <stddef.h>

struct sl_db;
struct sl_error;

struct sl_hist_row {
	long rank;
	char *version;       /* NULL for repeatable and repair rows */
	char *description;
	char *kind;
	char *script;
	char *checksum;      /* NULL where no file was run */
	char *installed_by;
	char *installed_at;  /* ISO 8601 UTC, "2026-11-24T14:03:07.123Z" */
	long execution_ms;
	int success;
};

struct sl_history {
	struct sl_hist_row *v;
	size_t n, cap;
	int exists;          /* the state tables exist */
};

/* Read every row in order of installed_rank (empty if no state yet). */
int sl_history_read(struct sl_db *db, struct sl_history *out, struct sl_error *err);
void sl_history_free(struct sl_history *h);
/* Append row (rank and, if NULL, installed_at are filled in). */
int sl_history_insert(struct sl_db *db, const struct sl_hist_row *row, struct sl_error *err);
/* Remove failed rows; returns how many through *count. */
int sl_history_delete_failed(struct sl_db *db, long *count, struct sl_error *err);
int sl_history_set_checksum(struct sl_db *db, long rank, const char *checksum,
			    struct sl_error *err);
/* Current UTC time as ISO 8601 with milliseconds (buffer of 32). */
void sl_now_iso(char out[32]);
/* Who is acting: SLUICE_ACTOR, CI variables, then the login name. */
const char *sl_actor(void);

#endif
