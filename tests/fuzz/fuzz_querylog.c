/*
 * fuzz_querylog.c - libFuzzer harness for the workload reader (SQL files,
 * PostgreSQL logs, pg_stat_statements CSV) in every format and with both
 * drivers' splitters, and for the statement classifier over what it reads.
 * Invariants: a failure says why and where (SL_USAGE, the file named) and
 * leaves nothing allocated; a success yields non-empty statements with
 * positive counts and lines inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "db/db.h"
#include "deploy/querylog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum sl_qfmt fmts[] = { SL_QFMT_AUTO, SL_QFMT_SQL, SL_QFMT_PGLOG, SL_QFMT_PGSS };
	const char *s = (const char *)data;
	int lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	/* the first byte picks the splitter: SQLite's is cheap, PostgreSQL's parses */
	const struct sl_db_driver *d = size && (data[0] & 1) ? &sl_postgres_driver : &sl_sqlite_driver;
	for (size_t k = 0; k < sizeof(fmts) / sizeof(fmts[0]); k++) {
		struct sl_querylog log;
		struct sl_error err;
		sl_error_clear(&err);
		size_t limit = k == 3 && size ? data[size - 1] % 8 : 0;
		if (sl_querylog_parse(&log, "fuzz.log", s, size, fmts[k], d->split, limit, &err)) {
			if (err.code != SL_USAGE || !err.message[0] || strcmp(err.file, "fuzz.log") != 0 ||
			    log.n || log.v)
				abort();
			continue;
		}
		if (log.format == SL_QFMT_AUTO || !log.n || (limit && log.n > limit))
			abort();
		for (size_t i = 0; i < log.n; i++) {
			const struct sl_query *q = &log.v[i];
			if (!q->sql[0] || q->count < 1 || q->line < 1 || q->line > lines)
				abort();
			if (q->normalized != sl_query_has_params(q->sql))
				abort();
			const char *why = NULL;
			if (sl_query_kind(q->sql, &why) == SL_QK_SKIP && !why)
				abort();
		}
		sl_querylog_free(&log);
	}
	return 0;
}
