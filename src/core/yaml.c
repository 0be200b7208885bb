/*
 * yaml.c - build a positioned tree from libyaml's event stream.
 */
#include "yaml.h"
#include "buf.h"
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* A document this large is not a config file; refuse rather than exhaust
 * memory on alias bombs ("billion laughs"). */
#define SL_YAML_MAX_NODES 1000000
#define SL_YAML_MAX_DEPTH 256

struct anchor {
	char *name;
	struct sl_ynode *node;
};

struct builder {
	const char *path;
	struct anchor *anchors;
	size_t nanchors, capanchors;
	size_t nodes;
	struct sl_error *err;
};

static void node_free(struct sl_ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			node_free(n->keys[i]);
		node_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->scalar);
	free(n);
}

void sl_ydoc_free(struct sl_ydoc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->path);
	free(doc);
}

static struct sl_ynode *node_new(struct builder *b, enum sl_ynode_type t,
				 const yaml_mark_t *m)
{
	struct sl_ynode *n = sl_calloc(1, sizeof(*n));
	n->type = t;
	n->line = (int)m->line + 1;
	n->column = (int)m->column + 1;
	b->nodes++;
	return n;
}

static void node_push(struct sl_ynode *parent, struct sl_ynode *key,
		      struct sl_ynode *item)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 4;
		parent->items = sl_realloc(parent->items,
					   parent->cap * sizeof(*parent->items));
		if (parent->type == SL_Y_MAP)
			parent->keys = sl_realloc(parent->keys,
						  parent->cap * sizeof(*parent->keys));
	}
	if (parent->type == SL_Y_MAP)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = item;
}

static struct sl_ynode *node_copy(struct builder *b, const struct sl_ynode *n)
{
	if (b->nodes > SL_YAML_MAX_NODES)
		return NULL;
	struct sl_ynode *c = sl_calloc(1, sizeof(*c));
	b->nodes++;
	c->type = n->type;
	c->line = n->line;
	c->column = n->column;
	c->quoted = n->quoted;
	if (n->scalar)
		c->scalar = sl_strdup(n->scalar);
	for (size_t i = 0; i < n->n; i++) {
		struct sl_ynode *k = n->keys ? node_copy(b, n->keys[i]) : NULL;
		struct sl_ynode *v = node_copy(b, n->items[i]);
		if ((n->keys && !k) || !v) {
			node_free(k);
			node_free(v);
			node_free(c);
			return NULL;
		}
		node_push(c, k, v);
	}
	return c;
}

static void anchor_add(struct builder *b, const char *name, struct sl_ynode *n)
{
	if (b->nanchors == b->capanchors) {
		b->capanchors = b->capanchors ? b->capanchors * 2 : 8;
		b->anchors = sl_realloc(b->anchors, b->capanchors * sizeof(*b->anchors));
	}
	b->anchors[b->nanchors].name = sl_strdup(name);
	b->anchors[b->nanchors].node = n;
	b->nanchors++;
}

static int parse_err(struct builder *b, const yaml_mark_t *m, const char *what)
{
	return sl_err_at(b->err, SL_USAGE, b->path, (int)m->line + 1,
			 (int)m->column + 1, "invalid YAML: %s", what);
}

/*
 * Parse one node whose first event is ev (already taken).  Recursive descent
 * over events; depth is bounded so a hostile file cannot overflow the stack.
 */
static int parse_node(struct builder *b, yaml_parser_t *p, yaml_event_t *ev,
		      int depth, struct sl_ynode **out)
{
	*out = NULL;
	if (depth > SL_YAML_MAX_DEPTH)
		return parse_err(b, &ev->start_mark, "nesting too deep");
	if (b->nodes > SL_YAML_MAX_NODES)
		return parse_err(b, &ev->start_mark, "document too large");

	switch (ev->type) {
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		for (size_t i = b->nanchors; i-- > 0;) {
			if (strcmp(b->anchors[i].name, name) == 0) {
				*out = node_copy(b, b->anchors[i].node);
				if (!*out)
					return parse_err(b, &ev->start_mark,
							 "document too large (aliases)");
				return 0;
			}
		}
		return parse_err(b, &ev->start_mark, "unknown alias");
	}
	case YAML_SCALAR_EVENT: {
		struct sl_ynode *n = node_new(b, SL_Y_SCALAR, &ev->start_mark);
		n->scalar = sl_strndup((const char *)ev->data.scalar.value,
				       ev->data.scalar.length);
		n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
		if (ev->data.scalar.anchor)
			anchor_add(b, (const char *)ev->data.scalar.anchor, n);
		*out = n;
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int is_map = ev->type == YAML_MAPPING_START_EVENT;
		struct sl_ynode *n = node_new(b, is_map ? SL_Y_MAP : SL_Y_SEQ,
					      &ev->start_mark);
		const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor
						   : ev->data.sequence_start.anchor;
		char *anchor_name = anchor ? sl_strdup((const char *)anchor) : NULL;
		for (;;) {
			yaml_event_t e;
			if (!yaml_parser_parse(p, &e)) {
				free(anchor_name);
				node_free(n);
				return parse_err(b, &p->problem_mark,
						 p->problem ? p->problem : "syntax error");
			}
			if (e.type == YAML_SEQUENCE_END_EVENT ||
			    e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				break;
			}
			struct sl_ynode *key = NULL, *val = NULL;
			int rc = parse_node(b, p, &e, depth + 1, is_map ? &key : &val);
			yaml_event_delete(&e);
			if (rc) {
				free(anchor_name);
				node_free(n);
				return rc;
			}
			if (is_map) {
				if (key->type != SL_Y_SCALAR) {
					int line = key->line, col = key->column;
					node_free(key);
					free(anchor_name);
					node_free(n);
					return sl_err_at(b->err, SL_USAGE, b->path, line, col,
							 "a mapping key must be a plain value");
				}
				if (sl_ymap_get(n, key->scalar)) {
					int line = key->line, col = key->column;
					char *k = key->scalar;
					key->scalar = NULL;
					node_free(key);
					free(anchor_name);
					node_free(n);
					sl_err_at(b->err, SL_USAGE, b->path, line, col,
						  "duplicate key '%s'", k);
					free(k);
					return -1;
				}
				if (!yaml_parser_parse(p, &e)) {
					node_free(key);
					free(anchor_name);
					node_free(n);
					return parse_err(b, &p->problem_mark,
							 p->problem ? p->problem : "syntax error");
				}
				rc = parse_node(b, p, &e, depth + 1, &val);
				yaml_event_delete(&e);
				if (rc) {
					node_free(key);
					free(anchor_name);
					node_free(n);
					return rc;
				}
			}
			node_push(n, key, val);
		}
		if (anchor_name) {
			anchor_add(b, anchor_name, n);
			free(anchor_name);
		}
		*out = n;
		return 0;
	}
	default:
		return parse_err(b, &ev->start_mark, "unexpected event");
	}
}

int sl_yaml_load(struct sl_ydoc **out, const char *path, const char *data,
		 size_t len, struct sl_error *err)
{
	*out = NULL;
	struct sl_buf content = SL_BUF_INIT;
	if (!data) {
		if (sl_buf_read_file(&content, path)) {
			int e = errno;
			sl_buf_free(&content);
			return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot read: %s", strerror(e));
		}
		data = content.s;
		len = content.len;
	}

	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		sl_buf_free(&content);
		return sl_err(err, SL_ENV, "cannot initialise the YAML parser");
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);

	struct builder b = { .path = path, .err = err };
	struct sl_ydoc *doc = sl_calloc(1, sizeof(*doc));
	doc->path = sl_strdup(path);
	int rc = 0, in_doc = 0, done = 0;
	while (!done) {
		yaml_event_t e;
		if (!yaml_parser_parse(&p, &e)) {
			rc = parse_err(&b, &p.problem_mark,
				       p.problem ? p.problem : "syntax error");
			break;
		}
		switch (e.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (in_doc++) {
				rc = parse_err(&b, &e.start_mark,
					       "only one YAML document per file is supported");
				done = 1;
			}
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			rc = parse_node(&b, &p, &e, 0, &doc->root);
			if (rc)
				done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&p);
	for (size_t i = 0; i < b.nanchors; i++)
		free(b.anchors[i].name);
	free(b.anchors);
	sl_buf_free(&content);
	if (rc) {
		sl_ydoc_free(doc);
		return -1;
	}
	*out = doc;
	return 0;
}

struct sl_ynode *sl_ymap_get(const struct sl_ynode *map, const char *key)
{
	if (!map || map->type != SL_Y_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->scalar, key) == 0)
			return map->items[i];
	return NULL;
}

int sl_ynode_is_null(const struct sl_ynode *n)
{
	if (!n)
		return 1;
	if (n->type != SL_Y_SCALAR || n->quoted)
		return 0;
	return n->scalar[0] == '\0' || strcmp(n->scalar, "~") == 0 ||
	       strcasecmp(n->scalar, "null") == 0;
}

const char *sl_ynode_type_name(const struct sl_ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case SL_Y_MAP: return "a mapping";
	case SL_Y_SEQ: return "a list";
	default: return sl_ynode_is_null(n) ? "null" : "a value";
	}
}

int sl_ynode_err(const struct sl_ydoc *doc, const struct sl_ynode *n,
		 struct sl_error *err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sl_err_at(err, SL_USAGE, doc->path, n ? n->line : 0,
			 n ? n->column : 0, "%s", msg);
}

int sl_ynode_str(const struct sl_ydoc *doc, const struct sl_ynode *n,
		 const char *what, const char **out, struct sl_error *err)
{
	if (!n || n->type != SL_Y_SCALAR || sl_ynode_is_null(n))
		return sl_ynode_err(doc, n, err, "expected a string for '%s', found %s",
				    what, sl_ynode_type_name(n));
	*out = n->scalar;
	return 0;
}

int sl_ynode_bool(const struct sl_ydoc *doc, const struct sl_ynode *n,
		  const char *what, int *out, struct sl_error *err)
{
	if (n && n->type == SL_Y_SCALAR && !n->quoted) {
		const char *s = n->scalar;
		if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off")) {
			*out = 0;
			return 0;
		}
	}
	return sl_ynode_err(doc, n, err, "expected true or false for '%s', found %s%s%s",
			    what, n && n->type == SL_Y_SCALAR ? "'" : "",
			    n && n->type == SL_Y_SCALAR ? n->scalar : sl_ynode_type_name(n),
			    n && n->type == SL_Y_SCALAR ? "'" : "");
}

int sl_ynode_long(const struct sl_ydoc *doc, const struct sl_ynode *n,
		  const char *what, long *out, struct sl_error *err)
{
	if (n && n->type == SL_Y_SCALAR && n->scalar[0]) {
		char *end;
		errno = 0;
		long v = strtol(n->scalar, &end, 10);
		if (!errno && *end == '\0') {
			*out = v;
			return 0;
		}
	}
	return sl_ynode_err(doc, n, err, "expected a whole number for '%s', found %s%s%s",
			    what, n && n->type == SL_Y_SCALAR ? "'" : "",
			    n && n->type == SL_Y_SCALAR ? n->scalar : sl_ynode_type_name(n),
			    n && n->type == SL_Y_SCALAR ? "'" : "");
}

int sl_ymap_check_keys(const struct sl_ydoc *doc, const struct sl_ynode *map,
		       const char *const *allowed, const char *where,
		       struct sl_error *err)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->keys[i]->scalar;
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, k) == 0) {
				ok = 1;
				break;
			}
		if (!ok) {
			struct sl_buf list = SL_BUF_INIT;
			for (const char *const *a = allowed; *a; a++)
				sl_buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a);
			sl_ynode_err(doc, map->keys[i], err, "unknown key '%s' in %s",
				     k, where);
			sl_err_hint(err, "known keys: %s", list.s);
			sl_buf_free(&list);
			return -1;
		}
	}
	return 0;
}
