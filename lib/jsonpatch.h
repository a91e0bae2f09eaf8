/*
 * jsonpatch.h - jsonpatch.c: JSON Patch (RFC 6902), JSON Pointer (RFC
 * 6901) and JSON Merge Patch (RFC 7396) on jansson values.
 *
 * The plan documents' patches (agq-plan(1)).  Debian has no maintained C
 * library for them (there are Python, Go, Rust and .NET ones), hence this
 * file.  Pure: no I/O.  Uses util only.
 */
#ifndef AGQ_JSONPATCH_H
#define AGQ_JSONPATCH_H

#include <stddef.h>
#include <jansson.h>

/* The value at the JSON Pointer PTR (RFC 6901: "" the whole document,
 * else "/" followed by reference tokens separated by "/", with "~1" for
 * "/" and "~0" for "~"; an array index is "0" or a decimal without a
 * leading zero) in DOC.  Borrowed (lives as long as DOC), or NULL with
 * the reason in ERR (SIZE bytes): a pointer not starting with "/", a "~"
 * not followed by 0 or 1, a missing member, an index out of range or not
 * a number, a token into a scalar. */
json_t *agq_jsonptr_get(json_t *doc, const char *ptr, char *err,
                        size_t size);

/* RFC 6902 JSON Patch: apply PATCH (a JSON array of operation objects:
 * "op" add|remove|replace|move|copy|test, "path" and "from" JSON Pointers,
 * "value") to a deep copy of DOC (any JSON value, not changed), operation
 * after operation.  All or nothing (RFC 6902 section 5): the patched copy
 * (a new reference) when every operation applied, else NULL with the
 * first failure in ERR (SIZE bytes), "operation 2 (remove): path /a/b:
 * no member 'b'", DOC's copy dropped.  "-" as the last token of an add's
 * path appends to an array (RFC 6901 section 4).  A test compares as
 * RFC 6902 section 4.6 says: numbers by value (1 equals 1.0), objects
 * whatever their members' order, arrays element by element.  Members
 * of an operation other than those it uses are ignored (section 4). */
json_t *agq_jsonpatch_apply(const json_t *doc, const json_t *patch,
                            char *err, size_t size);

/* RFC 7396 JSON Merge Patch: DOC (any JSON value, not changed) merged
 * with PATCH as the RFC's MergePatch function does (section 2): a patch
 * that is not an object replaces the document; an object's members are
 * merged recursively, a null member removing the target's.  Never fails:
 * a new reference (NULL only when out of memory). */
json_t *agq_mergepatch_apply(const json_t *doc, const json_t *patch);

/* Are A and B the same JSON value as RFC 6902 section 4.6 defines it
 * (numbers by numeric value, objects as unordered sets of members)?
 * 1 or 0. */
int agq_json_same(const json_t *a, const json_t *b);

#endif
