/*
 * source.c - discover migration files and read them (see source.h).
 */
#include "source.h"
#include "ops.h"
#include "../core/buf.h"
#include "../core/error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- versions ----------------------------------------------------------- */

int sl_version_valid(const char *s)
{
	return s && isdigit((unsigned char)s[0]);
}

/* Next run of digits in *p, leading zeros dropped; 0 when none left. */
static int next_run(const char **p, const char **run, size_t *len)
{
	const char *s = *p;
	while (*s && !isdigit((unsigned char)*s))
		s++;
	if (!*s) {
		*p = s;
		return 0;
	}
	while (*s == '0' && isdigit((unsigned char)s[1]))
		s++;
	*run = s;
	while (isdigit((unsigned char)*s))
		s++;
	*len = (size_t)(s - *run);
	*p = s;
	return 1;
}

char *sl_version_key(const char *v)
{
	struct sl_buf b = SL_BUF_INIT;
	size_t keep = 0;
	const char *run;
	size_t len;
	while (next_run(&v, &run, &len)) {
		if (b.len)
			sl_buf_addc(&b, '.');
		sl_buf_add(&b, run, len);
		if (!(len == 1 && run[0] == '0'))
			keep = b.len; /* trailing zero runs compare equal to none */
	}
	b.len = keep;
	b.s[keep] = '\0';
	return sl_buf_detach(&b);
}

int sl_version_cmp(const char *a, const char *b)
{
	for (;;) {
		const char *ra = "0", *rb = "0";
		size_t la = 1, lb = 1;
		int ha = next_run(&a, &ra, &la);
		int hb = next_run(&b, &rb, &lb);
		if (!ha && !hb)
			return 0;
		if (!ha) {
			ra = "0";
			la = 1;
		}
		if (!hb) {
			rb = "0";
			lb = 1;
		}
		if (la != lb)
			return la < lb ? -1 : 1;
		int c = memcmp(ra, rb, la);
		if (c)
			return c < 0 ? -1 : 1;
	}
}

const char *sl_dialect_canon(const char *tag)
{
	static const struct { const char *tag, *canon; } tags[] = {
		{ "sqlite", "sqlite" }, { "sqlite3", "sqlite" },
		{ "postgres", "postgres" }, { "postgresql", "postgres" },
		{ "pg", "postgres" }, { "mysql", "mysql" },
		{ "cockroach", "cockroach" }, { "cockroachdb", "cockroach" },
		{ "mssql", "sqlserver" }, { "sqlserver", "sqlserver" },
	};
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (strcasecmp(tag, tags[i].tag) == 0)
			return tags[i].canon;
	return NULL;
}

/* ---- hashing ------------------------------------------------------------ */

void sl_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static int read_file(const char *path, struct sl_buf *out, struct sl_error *err)
{
	if (sl_buf_read_file(out, path))
		return sl_err_at(err, SL_USAGE, path, 0, 0, "cannot read: %s", strerror(errno));
	return 0;
}

int sl_sha256_file(const char *path, char out[65], struct sl_error *err)
{
	struct sl_buf b = SL_BUF_INIT;
	if (read_file(path, &b, err)) {
		sl_buf_free(&b);
		return -1;
	}
	sl_sha256_hex(b.s, b.len, out);
	sl_buf_free(&b);
	return 0;
}

/* ---- discovery ---------------------------------------------------------- */

struct file {
	int up;               /* 1 up, 0 down */
	int autocommit;       /* ".autocommit" tag: run outside a transaction */
	char *dialect;        /* canonical, "" when none */
	char *path, *rel;
};

struct group {
	enum sl_mig_kind kind;
	enum sl_layout layout;
	char *version, *description;
	char *vkey;                  /* sl_version_key of version */
	struct file *files;
	size_t nfiles;
};

struct scan {
	struct group *g;
	size_t n, cap;
	const char *root;
	struct sl_error *err;
};

static void group_free(struct group *g)
{
	for (size_t i = 0; i < g->nfiles; i++) {
		free(g->files[i].dialect);
		free(g->files[i].path);
		free(g->files[i].rel);
	}
	free(g->files);
	free(g->version);
	free(g->vkey);
	free(g->description);
}

static char *desc_of(const char *s, size_t n)
{
	char *d = sl_strndup(s, n);
	for (char *p = d; *p; p++)
		if (*p == '_')
			*p = ' ';
	return d;
}

static int add_file(struct scan *sc, enum sl_mig_kind kind, enum sl_layout layout,
		    const char *version, const char *desc, size_t desc_len, int up,
		    const char *dialect, int autocommit, const char *path, const char *rel)
{
	struct group *g = NULL;
	char *vkey = kind == SL_VERSIONED ? sl_version_key(version) : NULL;
	/* newest first: an up file's down file usually comes right after it */
	for (size_t i = sc->n; i-- > 0;) {
		struct group *c = &sc->g[i];
		if (c->kind != kind)
			continue;
		if (kind == SL_VERSIONED ? strcmp(c->vkey, vkey) == 0
					 : strlen(c->description) == desc_len &&
					   strncmp(c->description, desc, desc_len) == 0) {
			g = c;
			break;
		}
	}
	if (!g) {
		if (sc->n == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 64;
			sc->g = sl_realloc(sc->g, sc->cap * sizeof(*sc->g));
		}
		g = &sc->g[sc->n++];
		memset(g, 0, sizeof(*g));
		g->kind = kind;
		g->layout = layout;
		g->version = version ? sl_strdup(version) : NULL;
		g->vkey = vkey;
		vkey = NULL;
		g->description = desc_of(desc, desc_len);
	}
	for (size_t i = 0; i < g->nfiles; i++) {
		if (g->files[i].up == up && strcmp(g->files[i].dialect, dialect) == 0) {
			free(vkey);
			return sl_err_at(sc->err, SL_USAGE, path, 0, 0,
					 "%s %s is defined twice: here and in %s",
					 kind == SL_VERSIONED ? "version" : "repeatable migration",
					 kind == SL_VERSIONED ? version : g->description,
					 g->files[i].rel);
		}
	}
	g->files = sl_realloc(g->files, (g->nfiles + 1) * sizeof(*g->files));
	struct file *f = &g->files[g->nfiles++];
	f->up = up;
	f->autocommit = autocommit;
	f->dialect = sl_strdup(dialect);
	f->path = sl_strdup(path);
	f->rel = sl_strdup(rel);
	if (up && layout != g->layout && g->layout == SL_FLYWAY && layout != SL_FLYWAY)
		g->layout = layout;
	free(vkey);
	return 0;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/*
 * Peel the tags off a name (without ".sql"), in any order from the end:
 * ".up"/".down", a dialect (".postgres", ".sqlite3", ...) and ".autocommit"
 * (popx: run outside a transaction).  *n shrinks to the bare name.
 */
struct tags {
	int dir;              /* 1 up, 0 down, -1 none */
	const char *dialect;  /* canonical, "" none */
	int autocommit;
};

static void peel_tags(const char *s, size_t *n, struct tags *t)
{
	t->dir = -1;
	t->dialect = "";
	t->autocommit = 0;
	for (;;) {
		size_t i = *n;
		while (i > 0 && s[i - 1] != '.' && s[i - 1] != '/')
			i--;
		if (i == 0 || s[i - 1] != '.')
			return;
		size_t tl = *n - i;
		char tag[32];
		if (tl == 0 || tl >= sizeof(tag))
			return;
		memcpy(tag, s + i, tl);
		tag[tl] = '\0';
		const char *c;
		if (t->dir < 0 && strcasecmp(tag, "up") == 0)
			t->dir = 1;
		else if (t->dir < 0 && strcasecmp(tag, "down") == 0)
			t->dir = 0;
		else if (!t->autocommit && strcasecmp(tag, "autocommit") == 0)
			t->autocommit = 1;
		else if (!t->dialect[0] && (c = sl_dialect_canon(tag)))
			t->dialect = c;
		else
			return;
		*n = i - 1;
	}
}

static int has_dbmate_marker(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	char line[4096];
	int found = 0, first = 1;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *p = line;
		if (first && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
			p += 3; /* byte order mark */
		first = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "--", 2) == 0) {
			p += 2;
			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, "migrate:up", 10) == 0)
				found = 1;
		}
	}
	fclose(f);
	return found;
}

static size_t digits_prefix(const char *s, size_t n, int allow_dash)
{
	size_t i = 0;
	while (i < n && (isdigit((unsigned char)s[i]) || (allow_dash && i && s[i] == '-')))
		i++;
	return i;
}

/* Classify one .sql file name (not inside a diesel directory). */
static int scan_file(struct scan *sc, const char *name, const char *path, const char *rel)
{
	size_t n = strlen(name);
	int yaml = 0;
	if (ends_with(name, n, ".yaml") || ends_with(name, n, ".yml")) {
		/* operations (ops.h): V<ver>__<desc>.yaml only; other YAML is not ours */
		if (name[0] == 'U' && n > 1 && isdigit((unsigned char)name[1]))
			return sl_err_at(sc->err, SL_USAGE, path, 0, 0,
					 "an operations migration has no undo file: sluice writes its inverse");
		if (name[0] != 'V' || n < 2 || !isdigit((unsigned char)name[1]))
			return 0;
		n -= ends_with(name, n, ".yml") ? 4 : 5;
		yaml = 1;
	} else if (!ends_with(name, n, ".sql")) {
		return 0;
	} else {
		n -= 4;
	}
	struct tags t = { -1, "", 0 };
	if (!yaml)
		peel_tags(name, &n, &t);
	const char *dialect = t.dialect;
	int dir = t.dir, ac = t.autocommit;

	/* Flyway: V<ver>__desc, U<ver>__desc, R__desc */
	if ((name[0] == 'V' || name[0] == 'U') && n > 1 && isdigit((unsigned char)name[1])) {
		const char *sep = strstr(name, "__");
		if (!sep || (size_t)(sep - name) >= n)
			return sl_err_at(sc->err, SL_USAGE, path, 0, 0,
					 "a Flyway migration name needs '__' between version and description (V1__create_users.sql)");
		char *ver = sl_strndup(name + 1, (size_t)(sep - name - 1));
		for (char *p = ver; *p; p++)
			if (*p == '_')
				*p = '.';
		const char *desc = sep + 2;
		int rc = add_file(sc, SL_VERSIONED, SL_FLYWAY, ver, desc,
				  n - (size_t)(desc - name), name[0] == 'V', dialect, ac, path, rel);
		free(ver);
		return rc;
	}
	if (name[0] == 'R' && strncmp(name, "R__", 3) == 0)
		return add_file(sc, SL_REPEATABLE, SL_FLYWAY, NULL, name + 3, n - 3, 1,
				dialect, ac, path, rel);

	/* golang-migrate and dbmate: <digits>_<name> */
	size_t d = digits_prefix(name, n, 0);
	if (d == 0 || d >= n || name[d] != '_')
		return 0; /* not a migration: ignored, as Flyway does */
	char *ver = sl_strndup(name, d);
	int rc;
	if (dir >= 0) {
		rc = add_file(sc, SL_VERSIONED, SL_GOLANG_MIGRATE, ver, name + d + 1,
			      n - d - 1, dir, dialect, ac, path, rel);
	} else if (has_dbmate_marker(path)) {
		rc = add_file(sc, SL_VERSIONED, SL_DBMATE, ver, name + d + 1, n - d - 1, 1,
			      dialect, ac, path, rel);
	} else {
		rc = sl_err_at(sc->err, SL_USAGE, path, 1, 0,
			       "looks like a migration but has no '-- migrate:up' line (dbmate) and no .up.sql/.down.sql suffix (golang-migrate)");
	}
	free(ver);
	return rc;
}

static int scan_dir(struct scan *sc, const char *dir, const char *rel, int depth);

/* A diesel migration directory: <version>_<name>/up.sql [+ down.sql]. */
static int scan_diesel(struct scan *sc, const char *dirname, const char *dir,
		       const char *rel, int *is_diesel)
{
	*is_diesel = 0;
	size_t n = strlen(dirname);
	size_t d = digits_prefix(dirname, n, 1);
	if (d == 0 || d >= n || dirname[d] != '_')
		return 0;
	DIR *dh = opendir(dir);
	if (!dh)
		return 0;
	struct dirent *e;
	struct sl_strvec names = SL_STRVEC_INIT;
	while ((e = readdir(dh)))
		sl_strvec_push(&names, e->d_name);
	closedir(dh);
	int rc = 0;
	char *ver = sl_strndup(dirname, d);
	for (size_t i = 0; i < names.n && !rc; i++) {
		const char *f = names.v[i];
		size_t fl = strlen(f);
		if (!ends_with(f, fl, ".sql"))
			continue;
		fl -= 4;
		struct tags t;
		peel_tags(f, &fl, &t);
		const char *dialect = t.dialect;
		int up;
		if (fl == 2 && strncmp(f, "up", 2) == 0)
			up = 1;
		else if (fl == 4 && strncmp(f, "down", 4) == 0)
			up = 0;
		else
			continue;
		*is_diesel = 1;
		struct sl_buf p = SL_BUF_INIT, r = SL_BUF_INIT;
		sl_buf_printf(&p, "%s/%s", dir, f);
		sl_buf_printf(&r, "%s/%s", rel, f);
		rc = add_file(sc, SL_VERSIONED, SL_DIESEL, ver, dirname + d + 1, n - d - 1,
			      up, dialect, t.autocommit, p.s, r.s);
		sl_buf_free(&p);
		sl_buf_free(&r);
	}
	free(ver);
	sl_strvec_free(&names);
	return rc;
}

/* By name, ignoring the type prefix. */
static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a + 1, *(char *const *)b + 1);
}

static int scan_dir(struct scan *sc, const char *dir, const char *rel, int depth)
{
	if (depth > 16)
		return 0;
	DIR *dh = opendir(dir);
	if (!dh) {
		if (errno == ENOENT && depth == 0)
			return 0;
		return sl_err_at(sc->err, depth ? SL_USAGE : SL_USAGE, dir, 0, 0,
				 "cannot read the migrations directory: %s", strerror(errno));
	}
	/* names with their type as one string ("f" or "d" + name): readdir's
	 * d_type spares a stat per file, which dominated large histories */
	struct sl_strvec names = SL_STRVEC_INIT;
	struct dirent *e;
	while ((e = readdir(dh))) {
		if (e->d_name[0] == '.')
			continue;
		char t = e->d_type == DT_DIR ? 'd' : e->d_type == DT_REG ? 'f' : '?';
		if (t == '?' || e->d_type == DT_LNK) {
			struct sl_buf p = SL_BUF_INIT;
			struct stat st;
			sl_buf_printf(&p, "%s/%s", dir, e->d_name);
			t = stat(p.s, &st) != 0 ? 'x' : S_ISDIR(st.st_mode) ? 'd'
						     : S_ISREG(st.st_mode) ? 'f' : 'x';
			sl_buf_free(&p);
		}
		if (t == 'x')
			continue;
		struct sl_buf n = SL_BUF_INIT;
		sl_buf_addc(&n, t);
		sl_buf_adds(&n, e->d_name);
		sl_strvec_push_owned(&names, sl_buf_detach(&n));
	}
	closedir(dh);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_name);
	int rc = 0;
	for (size_t i = 0; i < names.n && !rc; i++) {
		const char *name = names.v[i] + 1;
		struct sl_buf p = SL_BUF_INIT, r = SL_BUF_INIT;
		sl_buf_printf(&p, "%s/%s", dir, name);
		if (rel[0])
			sl_buf_printf(&r, "%s/%s", rel, name);
		else
			sl_buf_adds(&r, name);
		if (names.v[i][0] == 'd') {
			int diesel = 0;
			rc = scan_diesel(sc, name, p.s, r.s, &diesel);
			if (!rc && !diesel)
				rc = scan_dir(sc, p.s, r.s, depth + 1);
		} else {
			rc = scan_file(sc, name, p.s, r.s);
		}
		sl_buf_free(&p);
		sl_buf_free(&r);
	}
	sl_strvec_free(&names);
	return rc;
}

static int cmp_mig(const void *a, const void *b)
{
	const struct sl_migration *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind == SL_VERSIONED ? -1 : 1;
	if (x->kind == SL_VERSIONED)
		return sl_version_cmp(x->version, y->version);
	return strcmp(x->description, y->description);
}

static const struct file *pick(const struct group *g, int up, const char *dialect)
{
	const struct file *generic = NULL;
	for (size_t i = 0; i < g->nfiles; i++) {
		const struct file *f = &g->files[i];
		if (f->up != up)
			continue;
		if (dialect && strcmp(f->dialect, dialect) == 0)
			return f;
		if (!f->dialect[0])
			generic = f;
	}
	return generic;
}

int sl_migrations_load(struct sl_migration_set *out, const char *dir,
		       const char *dialect, struct sl_error *err)
{
	memset(out, 0, sizeof(*out));
	struct scan sc = { .root = dir, .err = err };
	int rc = scan_dir(&sc, dir, "", 0);
	if (!rc) {
		out->dir = sl_strdup(dir);
		out->v = sl_calloc(sc.n ? sc.n : 1, sizeof(*out->v));
		for (size_t i = 0; i < sc.n && !rc; i++) {
			struct group *g = &sc.g[i];
			const struct file *up = pick(g, 1, dialect);
			const struct file *down = pick(g, 0, dialect);
			struct sl_migration *m = &out->v[out->n++];
			m->kind = g->kind;
			m->layout = g->layout;
			m->version = g->version ? sl_strdup(g->version) : NULL;
			m->description = sl_strdup(g->description);
			m->dialect = sl_strdup(up ? up->dialect : "");
			if (!up) {
				struct sl_buf others = SL_BUF_INIT;
				int any_up = 0;
				for (size_t k = 0; k < g->nfiles; k++)
					if (g->files[k].up && g->files[k].dialect[0]) {
						any_up = 1;
						if (!strstr(others.s, g->files[k].dialect))
							sl_buf_printf(&others, "%s%s", others.len ? ", " : "",
								      g->files[k].dialect);
					}
				if (!any_up) {
					rc = sl_err_at(err, SL_USAGE, g->files[0].path, 0, 0,
						       "undo/down script for version %s has no forward migration",
						       g->version ? g->version : "?");
					sl_buf_free(&others);
					break;
				}
				m->skipped = 1;
				m->skipped_dialects = sl_buf_detach(&others);
				/* Name a file so status can point at it. */
				for (size_t k = 0; k < g->nfiles; k++)
					if (g->files[k].up) {
						m->up_script = sl_strdup(g->files[k].rel);
						break;
					}
				continue;
			}
			m->up_path = sl_strdup(up->path);
			m->up_script = sl_strdup(up->rel);
			size_t pl = strlen(up->path);
			m->ops = ends_with(up->path, pl, ".yaml") || ends_with(up->path, pl, ".yml");
			m->target = dialect ? sl_strdup(dialect) : NULL;
			m->up_autocommit = up->autocommit;
			m->down_autocommit = down ? down->autocommit : up->autocommit;
			if (down) {
				m->down_path = sl_strdup(down->path);
				m->down_script = sl_strdup(down->rel);
			} else if (g->layout == SL_DBMATE) {
				m->down_path = sl_strdup(up->path);
				m->down_script = sl_strdup(up->rel);
			}
		}
		if (out->n)
			qsort(out->v, out->n, sizeof(*out->v), cmp_mig);
	}
	for (size_t i = 0; i < sc.n; i++)
		group_free(&sc.g[i]);
	free(sc.g);
	if (rc)
		sl_migrations_free(out);
	return rc;
}

void sl_migrations_free(struct sl_migration_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct sl_migration *m = &set->v[i];
		free(m->version);
		free(m->description);
		free(m->up_path);
		free(m->up_script);
		free(m->down_path);
		free(m->down_script);
		free(m->dialect);
		free(m->skipped_dialects);
		free(m->target);
	}
	free(set->v);
	free(set->dir);
	memset(set, 0, sizeof(*set));
}

/* ---- reading ------------------------------------------------------------ */

/* Is this line a dbmate marker "-- migrate:<what>"?  Sets *opts to the rest. */
static int dbmate_marker(const char *line, size_t n, const char *what, const char **opts)
{
	size_t i = 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i + 2 > n || strncmp(line + i, "--", 2) != 0)
		return 0;
	i += 2;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	size_t w = strlen(what);
	if (i + w > n || strncmp(line + i, what, w) != 0)
		return 0;
	if (i + w < n && !isspace((unsigned char)line[i + w]))
		return 0;
	*opts = line + i + w;
	return 1;
}

int sl_migration_read(const struct sl_migration *m, int up, struct sl_buf *sql,
		      char checksum[65], int *first_line, int *no_tx,
		      struct sl_error *err)
{
	const char *path = up ? m->up_path : m->down_path;
	*first_line = 1;
	*no_tx = 0;
	if (!path)
		return sl_err(err, SL_FAILED, "version %s has no %s script",
			      m->version ? m->version : m->description, up ? "forward" : "undo");
	struct sl_buf file = SL_BUF_INIT;
	if (read_file(path, &file, err)) {
		sl_buf_free(&file);
		return -1;
	}
	sl_sha256_hex(file.s, file.len, checksum);
	if (up ? m->up_autocommit : m->down_autocommit)
		*no_tx = 1;
	/* A UTF-8 byte order mark (Windows editors) is not SQL: skip it; the
	 * checksum above still covers the whole file. */
	size_t bom = file.len >= 3 && memcmp(file.s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	if (m->ops) {
		struct sl_ops ops;
		int rc = sl_ops_load(&ops, path, file.s + bom, file.len - bom, err);
		if (!rc) {
			rc = sl_ops_render(&ops, m->target, sql, err);
			sl_ops_free(&ops);
		}
		sl_buf_free(&file);
		return rc;
	}
	if (m->layout != SL_DBMATE) {
		sl_buf_add(sql, file.s + bom, file.len - bom);
		sl_buf_free(&file);
		return 0;
	}
	/* dbmate: one file, sections introduced by marker lines. */
	const char *want = up ? "migrate:up" : "migrate:down";
	int in = 0, found = 0, line = 0;
	const char *p = file.s + bom, *end = file.s + file.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *opts;
		line++;
		if (dbmate_marker(p, n, "migrate:up", &opts) ||
		    dbmate_marker(p, n, "migrate:down", &opts)) {
			in = dbmate_marker(p, n, want, &opts);
			if (in) {
				found = 1;
				*first_line = line + 1;
				size_t rest = n - (size_t)(opts - p);
				for (size_t i = 0; i + 17 <= rest; i++)
					if (strncmp(opts + i, "transaction:false", 17) == 0)
						*no_tx = 1;
			}
		} else if (in) {
			sl_buf_add(sql, p, n);
			sl_buf_addc(sql, '\n');
		}
		p = nl ? nl + 1 : end;
	}
	sl_buf_free(&file);
	if (!found)
		return sl_err_at(err, up ? SL_USAGE : SL_FAILED, path, 0, 0,
				 "no '-- %s' section", want);
	return 0;
}
