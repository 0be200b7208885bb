/*
 * yaml.h - a YAML document as a small tree that remembers where each node
 * came from.
 *
 * libyaml parses; this file only builds a tree from its events, because
 * every file sluice reads (sluice.yaml, pipelines, feature and model
 * contracts) must report errors as file:line:column, and libyaml's event
 * marks are the only place that position exists.  Anchors and aliases are
 * resolved by copying the anchored node (bounded, see yaml.c).
 */
#ifndef SL_YAML_H
#define SL_YAML_H

#include <stddef.h>

struct sl_error;

enum sl_ynode_type { SL_Y_SCALAR, SL_Y_MAP, SL_Y_SEQ };

struct sl_ynode {
	enum sl_ynode_type type;
	int line, column;        /* 1-based position of the node in the file */
	char *scalar;            /* SL_Y_SCALAR: the value (never NULL) */
	int quoted;              /* SL_Y_SCALAR: written in quotes */
	/* SL_Y_MAP: keys[i] -> items[i]; SL_Y_SEQ: items[i], keys unused */
	struct sl_ynode **keys;
	struct sl_ynode **items;
	size_t n, cap;
};

struct sl_ydoc {
	char *path;              /* the file name used in error messages */
	struct sl_ynode *root;   /* NULL for an empty document */
};

/*
 * Parse the file at path (or len bytes of data when data != NULL, reported
 * under the name path).  On success *out is owned by the caller
 * (sl_ydoc_free).  A syntax error is SL_USAGE with file:line:column.
 */
int sl_yaml_load(struct sl_ydoc **out, const char *path, const char *data,
		 size_t len, struct sl_error *err);
void sl_ydoc_free(struct sl_ydoc *doc);

/* Lookups; NULL when absent or when node is not a map. */
struct sl_ynode *sl_ymap_get(const struct sl_ynode *map, const char *key);
/* Is this scalar the YAML null (~, null, empty and unquoted)? */
int sl_ynode_is_null(const struct sl_ynode *n);
const char *sl_ynode_type_name(const struct sl_ynode *n);

/*
 * Typed accessors that fail with a positioned SL_USAGE error naming what
 * was expected ("expected a string for 'url'").
 */
int sl_ynode_str(const struct sl_ydoc *doc, const struct sl_ynode *n,
		 const char *what, const char **out, struct sl_error *err);
int sl_ynode_bool(const struct sl_ydoc *doc, const struct sl_ynode *n,
		  const char *what, int *out, struct sl_error *err);
int sl_ynode_long(const struct sl_ydoc *doc, const struct sl_ynode *n,
		  const char *what, long *out, struct sl_error *err);
/* Check that every key of map is in the NULL-terminated list allowed. */
int sl_ymap_check_keys(const struct sl_ydoc *doc, const struct sl_ynode *map,
		       const char *const *allowed, const char *where,
		       struct sl_error *err);
/* Error at a node's position. */
int sl_ynode_err(const struct sl_ydoc *doc, const struct sl_ynode *n,
		 struct sl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
