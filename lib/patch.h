/*
 * patch.h - patch.c: a model's answer as a patch to its task's tree
 * (issue 16; agq-backend(7), Editing through patches).
 *
 * A prompt task run by an HTTP backend (ollama, openai, anthropic) that
 * edits through patches (agq_task_edits_by_patch) is asked for one fenced
 * ```diff block in the format of git diff; the attempt (attempt.c) takes
 * the diff out of the answer and applies it to the task's work tree with
 * libgit2 (agq_git_apply), and a diff that is missing or does not apply is
 * a failed iteration whose reason goes back to the model.  Uses util, out
 * and git; libgit2 to find the top of the work tree.
 */
#ifndef AGQ_PATCH_H
#define AGQ_PATCH_H

#include <stddef.h>
#include <jansson.h>

/* The reason given when an answer holds no diff (agq_patch_extract). */
#define AGQ_PATCH_NONE "the answer has no diff block"

/* The unified diff in TEXT, a model's answer (NUL-terminated; NULL is
 * taken as ""), as a new NUL-terminated string (free(3) it) of *LEN bytes
 * (LEN may be NULL), or NULL with errno ENOENT when there is none
 * (AGQ_PATCH_NONE).  What is taken, in this order of preference:
 *   1. every fenced block (CommonMark "fenced code blocks": a line of at
 *      least three ` or ~, up to three spaces before it) whose info
 *      string's first word is "diff" or "patch" (any case), all of them
 *      in the order they come, joined: models often give one block per
 *      file, and the diffs of several files one after another are one
 *      diff;
 *   2. else every other fenced block whose first line starts with
 *      "diff --git " or "--- ", joined;
 *   3. else the answer from its first line that starts with
 *      "diff --git ", or the whole answer when it starts (after blank
 *      lines) with "--- ".
 * A block ends at a line of the same fence character, at least as many,
 * with nothing but blanks after it, at the line's very start: a diff's
 * lines all start with ' ', '+', '-', '@', '\' or a header word, so a
 * context line " ```" of a Markdown file does not end it.  A block left
 * open runs to the end of the answer.  Text after a bare diff (3.) is
 * cut where a line can no longer belong to it (agq_patch_trim).  When
 * every line of the answer ends in CR LF, the CRs are dropped (an
 * answer's line ends, not the files'); and the diff always ends with a
 * newline, which git_diff_from_buffer(3) needs for its last line. */
char *agq_patch_extract(const char *text, size_t *len);

/* The length of the part of the unified diff P (N bytes) that is a diff:
 * up to the first line, outside a hunk's counted lines (the "@@ -l,s
 * +l,s @@" counts of git-diff(1), GENERATING PATCH TEXT WITH -P), that
 * is neither a header line of git's diff format (diff --git, index, ---,
 * +++, old/new/deleted file mode, similarity/dissimilarity index,
 * rename/copy from/to, Binary files, "\ No newline at end of file") nor a
 * hunk header nor blank; all N when there is none. */
size_t agq_patch_trim(const char *p, size_t n);

/* The number of files the unified diff P (N bytes) changes: its
 * "diff --git " lines, or without any its "+++ " lines outside hunks. */
int agq_patch_files(const char *p, size_t n);

/* The unified diff P (N bytes) with its hunk headers made right for the
 * files under TOP (the work tree's top) as they are now, as models get
 * them wrong: each hunk's counts are those of its lines (an empty line in
 * a hunk is an empty context line, and empty lines at its end beyond its
 * counts are dropped), "@@ @@" without numbers is given them, and its old
 * start is where its context and removed lines are in the file (the
 * place nearest the start it gave, after the hunk before; as it gave when
 * they are nowhere, and git_apply(3) will say so), the new start following
 * from it and the hunks before (git-diff(1), GENERATING PATCH TEXT WITH
 * -P).  libgit2 neither recounts nor looks elsewhere than the start given.
 * Nothing else changes: a hunk whose lines do not match still fails.  A
 * new string of *LEN bytes; *FIXED gets the number of hunk headers
 * rewritten. */
char *agq_patch_repair(const char *top, const char *p, size_t n,
                       size_t *len, int *fixed);

/* One patch step of iteration K of MAX of an attempt (attempt.c), after
 * the backend answered ANSWER (borrowed, may be NULL), for a task run in
 * DIR (in a git work tree: its top, or a directory below it as a task
 * with git and a cwd has), with its output directory open as DFD: the
 * diff of the answer (agq_patch_extract), its hunk headers repaired
 * (agq_patch_repair), is written to out/ID/patch-K.diff (through DFD,
 * agq_write_at) and applied to the work tree holding DIR (found as git(1)
 * finds it, searching upwards; the diff's paths are relative to its top)
 * with agq_git_apply: all of it or nothing.  The iteration's object IT
 * gets "patch": {"files" (agq_patch_files; 0 without a diff), "repaired"
 * (hunk headers rewritten), "applied" (bool), "error" (the reason, or
 * null)}.  Returns 0 when it applied.
 * Returns 1 when there was no diff or it did not apply: IT's and AG's
 * (the attempt's agent.json) "status" become "patch_failed", AG's "error"
 * "patch_failed: REASON (iteration K of MAX)", and *FEEDBACK (malloc'd or
 * NULL; the old text is freed) the corrective text for the next
 * iteration, sent to the model as the task's "verify_feedback": the
 * reason, and that nothing of that answer was applied. */
int agq_patch_step(const char *answer, const char *dir, int dfd, int k,
                   int max, json_t *it, json_t *ag, char **feedback);

#endif
