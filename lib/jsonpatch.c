/* jsonpatch.c - JSON Patch (RFC 6902), JSON Pointer (RFC 6901), JSON Merge
 * Patch (RFC 7396) on jansson values: jsonpatch.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "jsonpatch.h"

/* A JSON Pointer split into its reference tokens, unescaped. */
struct ptr {
	char **tok;
	size_t n;
};

static void
ptr_free(struct ptr *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->tok[i]);
	free(p->tok);
	p->tok = NULL;
	p->n = 0;
}

/* Split S into P (RFC 6901 section 3 and 4: "~1" is "/", "~0" is "~",
 * any other "~" is an error).  0, or -1 with ERR. */
static int
ptr_parse(const char *s, struct ptr *p, char *err, size_t size)
{
	p->tok = NULL;
	p->n = 0;
	if (!*s)
		return 0;
	if (*s != '/')
		return agq_errf(err, size, "pointer '%s' does not start with "
		    "'/'", s);
	size_t cap = 0;
	while (*s == '/') {
		s++;
		size_t len = strcspn(s, "/");
		char *t = agq_xmalloc(len + 1), *o = t;
		for (size_t i = 0; i < len; i++) {
			if (s[i] != '~') {
				*o++ = s[i];
			} else if (i + 1 < len && (s[i + 1] == '0' ||
			    s[i + 1] == '1')) {
				*o++ = s[++i] == '0' ? '~' : '/';
			} else {
				free(t);
				ptr_free(p);
				return agq_errf(err, size, "pointer: '~' not "
				    "followed by 0 or 1 (RFC 6901)");
			}
		}
		*o = '\0';
		p->tok = agq_grow(p->tok, &cap, p->n, sizeof *p->tok, 8);
		p->tok[p->n++] = t;
		s += len;
	}
	return 0;
}

/* TOK as an index of an array of SIZE elements (RFC 6901 section 4: "0"
 * or digits without a leading zero; "-", the element after the last,
 * only when END): 0 with *IDX (at most SIZE, or below SIZE unless END),
 * or -1 with ERR. */
static int
arr_index(const char *tok, size_t asize, int end, size_t *idx, char *err,
          size_t size)
{
	if (end && !strcmp(tok, "-")) {
		*idx = asize;
		return 0;
	}
	if (!*tok || strspn(tok, "0123456789") != strlen(tok) ||
	    (tok[0] == '0' && tok[1]) || strlen(tok) > 18)
		return agq_errf(err, size, "'%s' is not an array index", tok);
	*idx = (size_t)strtoull(tok, NULL, 10);
	if (*idx > asize || (*idx == asize && !end))
		return agq_errf(err, size, "index %s is out of range (the "
		    "array has %zu elements)", tok, asize);
	return 0;
}

/* The value at the first N tokens of P in DOC, borrowed; NULL with ERR. */
static json_t *
walk(json_t *doc, const struct ptr *p, size_t n, char *err, size_t size)
{
	json_t *v = doc;
	for (size_t i = 0; i < n; i++) {
		const char *t = p->tok[i];
		if (json_is_object(v)) {
			json_t *c = json_object_get(v, t);
			if (!c) {
				agq_errf(err, size, "no member '%s'", t);
				return NULL;
			}
			v = c;
		} else if (json_is_array(v)) {
			size_t idx;
			if (arr_index(t, json_array_size(v), 0, &idx, err,
			    size) < 0)
				return NULL;
			v = json_array_get(v, idx);
		} else {
			agq_errf(err, size, "'%s' names a member of a %s", t,
			    json_is_string(v) ? "string" : json_is_null(v) ?
			    "null" : json_is_boolean(v) ? "boolean" :
			    "number");
			return NULL;
		}
	}
	return v;
}

json_t *
agq_jsonptr_get(json_t *doc, const char *s, char *err, size_t size)
{
	struct ptr p;
	if (ptr_parse(s, &p, err, size) < 0)
		return NULL;
	json_t *v = walk(doc, &p, p.n, err, size);
	ptr_free(&p);
	return v;
}

/* RFC 6902 section 4.1: add VALUE (stolen) at P in *ROOT. */
static int
op_add(json_t **root, const struct ptr *p, json_t *value, char *err,
       size_t size)
{
	if (p->n == 0) {
		json_decref(*root);
		*root = value;
		return 0;
	}
	json_t *parent = walk(*root, p, p->n - 1, err, size);
	const char *last = p->tok[p->n - 1];
	size_t idx;
	if (!parent) {
		json_decref(value);
		return -1;
	}
	if (json_is_object(parent))
		return json_object_set_new(parent, last, value);
	if (json_is_array(parent)) {
		if (arr_index(last, json_array_size(parent), 1, &idx, err,
		    size) < 0) {
			json_decref(value);
			return -1;
		}
		return json_array_insert_new(parent, idx, value);
	}
	json_decref(value);
	return agq_errf(err, size, "the parent of '%s' is not an object or "
	    "an array", last);
}

/* RFC 6902 section 4.2: remove the value at P in ROOT; not the document
 * itself. */
static int
op_remove(json_t *root, const struct ptr *p, char *err, size_t size)
{
	if (p->n == 0)
		return agq_errf(err, size, "cannot remove the whole document");
	json_t *parent = walk(root, p, p->n - 1, err, size);
	const char *last = p->tok[p->n - 1];
	size_t idx;
	if (!parent)
		return -1;
	if (json_is_object(parent)) {
		if (json_object_del(parent, last) < 0)
			return agq_errf(err, size, "no member '%s'", last);
		return 0;
	}
	if (json_is_array(parent)) {
		if (arr_index(last, json_array_size(parent), 0, &idx, err,
		    size) < 0)
			return -1;
		return json_array_remove(parent, idx);
	}
	return agq_errf(err, size, "'%s' names a member of a scalar", last);
}

/* A string member NAME of operation OP, or NULL with ERR. */
static const char *
member(const json_t *op, const char *name, char *err, size_t size)
{
	const char *s = json_string_value(json_object_get(op, name));
	if (!s)
		agq_errf(err, size, "\"%s\": %s", name,
		    json_object_get(op, name) ? "not a string" : "missing");
	return s;
}

/* Apply operation OP to *ROOT.  0 or -1 with ERR. */
static int
apply_op(json_t **root, const json_t *op, char *err, size_t size)
{
	if (!json_is_object(op))
		return agq_errf(err, size, "not an object");
	const char *name = member(op, "op", err, size);
	const char *path = name ? member(op, "path", err, size) : NULL;
	if (!path)
		return -1;
	json_t *value = json_object_get(op, "value");
	int needv = !strcmp(name, "add") || !strcmp(name, "replace") ||
	    !strcmp(name, "test");
	int needf = !strcmp(name, "move") || !strcmp(name, "copy");
	if (!needv && !needf && strcmp(name, "remove"))
		return agq_errf(err, size, "\"op\": unknown operation '%s'",
		    name);
	if (needv && !value)
		return agq_errf(err, size, "\"value\": missing");
	const char *from = needf ? member(op, "from", err, size) : NULL;
	if (needf && !from)
		return -1;
	struct ptr p, f = { NULL, 0 };
	char why[512];
	if (ptr_parse(path, &p, why, sizeof why) < 0)
		return agq_errf(err, size, "\"path\": %s", why);
	if (from && ptr_parse(from, &f, why, sizeof why) < 0) {
		ptr_free(&p);
		return agq_errf(err, size, "\"from\": %s", why);
	}
	int rc = -1;
	const char *where = path;
	json_t *v;
	if (!strcmp(name, "add")) {
		rc = op_add(root, &p, json_deep_copy(value), why, sizeof why);
	} else if (!strcmp(name, "remove")) {
		rc = op_remove(*root, &p, why, sizeof why);
	} else if (!strcmp(name, "replace")) {
		/* the target must exist (section 4.3) */
		if (walk(*root, &p, p.n, why, sizeof why))
			rc = (p.n ? op_remove(*root, &p, why, sizeof why) : 0)
			    ? -1 : op_add(root, &p, json_deep_copy(value), why,
			    sizeof why);
	} else if (!strcmp(name, "test")) {
		v = walk(*root, &p, p.n, why, sizeof why);
		if (v && agq_json_same(v, value))
			rc = 0;
		else if (v)
			snprintf(why, sizeof why, "test failed: the value "
			    "differs");
	} else {
		size_t fl = strlen(from);
		where = from;
		/* move: "from" must not be a proper prefix of "path"
		 * (section 4.4): a value cannot move into itself */
		if (!strcmp(name, "move") && !strncmp(path, from, fl) &&
		    path[fl] == '/') {
			snprintf(why, sizeof why, "\"path\" %s is inside "
			    "\"from\"", path);
		} else if ((v = walk(*root, &f, f.n, why, sizeof why))) {
			where = path;
			if (!strcmp(name, "copy")) {
				rc = op_add(root, &p, json_deep_copy(v), why,
				    sizeof why);
			} else if (!strcmp(path, from)) {
				rc = 0;
			} else {
				json_incref(v);
				if (op_remove(*root, &f, why, sizeof why) < 0)
					json_decref(v);
				else
					rc = op_add(root, &p, v, why, sizeof why);
			}
		}
	}
	ptr_free(&p);
	ptr_free(&f);
	if (rc < 0)
		return agq_errf(err, size, "%s %s: %s", where == path ?
		    "path" : "from", where[0] ? where : "\"\"", why);
	return 0;
}

json_t *
agq_jsonpatch_apply(const json_t *doc, const json_t *patch, char *err,
                    size_t size)
{
	if (!json_is_array(patch)) {
		agq_errf(err, size, "a JSON Patch is an array of operations "
		    "(RFC 6902)");
		return NULL;
	}
	json_t *root = json_deep_copy(doc);
	size_t i;
	json_t *op;
	json_array_foreach(patch, i, op) {
		char why[768];
		if (apply_op(&root, op, why, sizeof why) < 0) {
			const char *name = json_string_value(
			    json_object_get(op, "op"));
			agq_errf(err, size, "operation %zu%s%s%s: %s", i,
			    name ? " (" : "", name ? name : "", name ? ")" : "",
			    why);
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

json_t *
agq_mergepatch_apply(const json_t *doc, const json_t *patch)
{
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	json_t *t = json_is_object(doc) ? json_deep_copy(doc) :
	    json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)patch, k, v) {
		if (json_is_null(v)) {
			json_object_del(t, k);
		} else {
			json_t *m = agq_mergepatch_apply(json_object_get(t, k),
			    v);
			json_object_set_new(t, k, m);
		}
	}
	return t;
}

int
agq_json_same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!agq_json_same(json_array_get(a, i),
			    json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !agq_json_same(v, w))
				return 0;
		}
		return 1;
	}
	return json_equal((json_t *)a, (json_t *)b);
}
