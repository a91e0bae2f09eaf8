/* stats.c - the numbers of a spool: agq-stats, the agq-status snapshot,
 * and the journal line scanner they share (stats.h). */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "throttle.h"
#include "journal.h"
#include "agent.h"
#include "archive.h"
#include "stats.h"

/* ---- scanning journal lines -------------------------------------------- */

static const char *
skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* P at an opening quote: the position after the closing one, or NULL. */
static const char *
skip_str(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\') {
			p++;
			continue;
		}
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20)
			return NULL;
	}
	return NULL;
}

/* P at the first character of a value: the position after it, or NULL. */
static const char *
skip_val(const char *p, const char *e)
{
	if (p >= e)
		return NULL;
	if (*p == '"')
		return skip_str(p, e);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		while (p < e) {
			if (*p == '"') {
				if (!(p = skip_str(p, e)))
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
			p++;
		}
		return NULL;
	}
	const char *s = p;
	while (p < e && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' ||
	    *p == '.'))
		p++;
	return p > s ? p : NULL;
}

int
agq_jscan(const char *line, size_t len, struct agq_jline *jl)
{
	const char *p = line, *e = line + len;
	jl->n = 0;
	p = skip_ws(p, e);
	if (p >= e || *p != '{')
		return -1;
	p = skip_ws(p + 1, e);
	if (p < e && *p == '}')
		return skip_ws(p + 1, e) == e ? 0 : -1;
	for (;;) {
		if (p >= e || *p != '"')
			return -1;
		const char *k = p + 1, *ke = skip_str(p, e);
		if (!ke)
			return -1;
		p = skip_ws(ke, e);
		if (p >= e || *p != ':')
			return -1;
		p = skip_ws(p + 1, e);
		const char *v = p, *ve = skip_val(p, e);
		if (!ve)
			return -1;
		if (jl->n < AGQ_JFIELDS) {
			struct agq_jfield *f = &jl->f[jl->n++];
			f->key = k;
			f->klen = (size_t)(ke - 1 - k);
			f->val = v;
			f->vlen = (size_t)(ve - v);
		}
		p = skip_ws(ve, e);
		if (p < e && *p == ',') {
			p = skip_ws(p + 1, e);
			continue;
		}
		if (p < e && *p == '}')
			return skip_ws(p + 1, e) == e ? 0 : -1;
		return -1;
	}
}

const struct agq_jfield *
agq_jget(const struct agq_jline *jl, const char *key)
{
	size_t n = strlen(key);
	for (int i = 0; i < jl->n; i++)
		if (jl->f[i].klen == n && !memcmp(jl->f[i].key, key, n))
			return &jl->f[i];
	return NULL;
}

char *
agq_jstr(const struct agq_jline *jl, const char *key, char *buf,
         size_t size)
{
	const struct agq_jfield *f = agq_jget(jl, key);
	if (!f || f->vlen < 2 || f->val[0] != '"' || size == 0)
		return NULL;
	const char *s = f->val + 1;
	size_t n = f->vlen - 2;
	if (!memchr(s, '\\', n)) {
		if (n >= size)
			return NULL;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return buf;
	}
	json_t *j = json_loadb(f->val, f->vlen, JSON_DECODE_ANY, NULL);
	const char *d = json_string_value(j);
	char *r = NULL;
	if (d && strlen(d) < size) {
		strcpy(buf, d);
		r = buf;
	}
	json_decref(j);
	return r;
}

/* A `dep_fail` event EV of line JL that ended its task in dead/ (a parent
 * failed, on_dep_fail cancel: agq-task(5)): counted as a cancellation. */
static int
dep_cancel(const struct agq_jline *jl, const char *ev)
{
	char to[16];
	return !strcmp(ev, "dep_fail") && agq_jstr(jl, "to", to, sizeof to) &&
	    !strcmp(to, "dead");
}

int
agq_jnum(const struct agq_jline *jl, const char *key, double *out)
{
	const struct agq_jfield *f = agq_jget(jl, key);
	char tmp[64];
	if (!f || f->vlen == 0 || f->vlen >= sizeof tmp ||
	    !(isdigit((unsigned char)f->val[0]) || f->val[0] == '-'))
		return -1;
	memcpy(tmp, f->val, f->vlen);
	tmp[f->vlen] = '\0';
	char *end;
	errno = 0;
	double d = strtod(tmp, &end);
	if (*end || errno)
		return -1;
	*out = d;
	return 0;
}

static int
dig(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t
agq_jtime(const struct agq_jline *jl)
{
	char s[64];
	if (!agq_jstr(jl, "ts", s, sizeof s))
		return -1;
	/* The writers' form: 2026-11-21T23:44:27.123456Z (27 bytes). */
	if (strlen(s) == 27 && s[4] == '-' && s[7] == '-' && s[10] == 'T' &&
	    s[13] == ':' && s[16] == ':' && s[19] == '.' && s[26] == 'Z') {
		int y = dig(s, 4), mo = dig(s + 5, 2), d = dig(s + 8, 2);
		int h = dig(s + 11, 2), mi = dig(s + 14, 2), se = dig(s + 17, 2);
		int us = dig(s + 20, 6);
		if (y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 &&
		    h >= 0 && h < 24 && mi >= 0 && mi < 60 && se >= 0 &&
		    se <= 60 && us >= 0)
			return ((days_from_civil(y, mo, d) * 86400 + h * 3600 +
			    mi * 60 + se) * 1000000) + us;
	}
	int64_t t;
	return agq_parse_time(s, &t) == 0 ? t : -1;
}

int
agq_parse_since(const char *s, int64_t now_us, int64_t *us)
{
	int64_t v;
	if (agq_parse_time(s, &v) == 0 && strchr(s, '-')) {
		*us = v;
		return 0;
	}
	if (agq_parse_duration(s, &v) == 0 &&
	    strspn(s, "0123456789.") != strlen(s)) {
		*us = now_us - v;
		return 0;
	}
	if (agq_parse_time(s, &v) == 0) {
		*us = v;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* ---- stats over the journal -------------------------------------------- */

struct samples { int64_t *v; size_t n, cap; double sum; };

static void
sample_add(struct samples *s, int64_t v)
{
	s->v = agq_grow(s->v, &s->cap, s->n, sizeof *s->v, 1024);
	s->v[s->n++] = v;
	s->sum += (double)v;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double
ms3(int64_t us)
{
	return round((double)us / 1000.0 * 1000.0) / 1000.0;
}

/* Nearest-rank percentile P (0 < P <= 100) of sorted S: the value at rank
 * ceil(P/100 * n), 1-based. */
static int64_t
pct(const struct samples *s, double p)
{
	size_t r = (size_t)ceil(p / 100.0 * (double)s->n);
	if (r < 1)
		r = 1;
	if (r > s->n)
		r = s->n;
	return s->v[r - 1];
}

static json_t *
summary(struct samples *s)
{
	if (s->n == 0)
		return json_pack("{s:i}", "n", 0);
	qsort(s->v, s->n, sizeof *s->v, cmp64);
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}",
	    "n", (json_int_t)s->n,
	    "min_ms", ms3(s->v[0]), "p50_ms", ms3(pct(s, 50)),
	    "p90_ms", ms3(pct(s, 90)), "p99_ms", ms3(pct(s, 99)),
	    "max_ms", ms3(s->v[s->n - 1]),
	    "mean_ms", ms3((int64_t)(s->sum / (double)s->n)));
}

static long count_dir(const struct agq_spool *sp, const char *rel,
                      const char *suffix);

struct agent_acc {
	char name[65];
	int64_t busy_us;
	long started, done, failed;
	int slots;
};

struct tok_acc {
	char backend[128], model[128];
	long tasks;
	double tin, tout, cost;
	long costed;            /* runs that said their cost */
};

struct bucket { long done, failed, nrun, nwait; double run_us, wait_us; };

struct st {
	const struct agq_spool *sp;
	const struct agq_stats_opts *o;
	int64_t since, now;
	json_t *ready;          /* id -> when it became ready (us) */
	json_t *open;           /* id -> [start us, agent] */
	json_t *agent_ix;       /* name -> index in agents */
	json_t *tok_ix;         /* "backend\tmodel" -> index in toks */
	json_t *tok_ids;        /* ids whose finish carried token fields */
	struct agent_acc *agents;
	size_t nagents, capagents;
	struct tok_acc *toks;
	size_t ntoks, captoks;
	struct samples wait, run;
	struct bucket *b;
	int64_t bucket_us, b0;
	long lines, damaged, submitted, started, finished, done, dead,
	    retries, op_retries, reclaims, cancels, rejects, handbacks,
	    stales, agents_up, agents_down, holds, alerts, syncs;
	int64_t first_ts, last_ts;
	json_t *recent_done, *recent_failed;    /* ring arrays, oldest first */
	long pr_opened;         /* pr_open events in the window */
	json_t *pr_ids;         /* ids of the tasks that opened them -> true */
	json_t *task_tok;       /* id -> [tokens_in, tokens_out, cost_usd,
	                         * finish events that said their cost] of its
	                         * finish events, until it ends without a PR
	                         * opened in the window */
	/* issue 18: reviews and merges */
	long pr_merged, pr_closed;      /* merge, pr_close events in window */
	json_t *rounds;         /* coder id -> its highest review round of the
	                         * review_wait events in the window */
	json_t *rev_tok;        /* coder id -> its review tasks' sums, as
	                         * task_tok's, until the coder ends */
	json_t *merged_ids;     /* coder ids of the merges counted */
	struct samples to_merge;        /* submit to merge, us */
	double merged_cost;     /* coder + review tasks, summed over merges */
	long merged_costed;     /* merged PRs whose cost is known */
	json_t *arc_merges;     /* coder id -> [merge ts, its cost known,
	                         * the PR's cost known] of the merges whose
	                         * task file was gone: looked up in the
	                         * archive after the journal (archived_merge) */
};

static struct agent_acc *
agent_get(struct st *S, const char *name)
{
	json_t *ix = json_object_get(S->agent_ix, name);
	if (ix)
		return &S->agents[json_integer_value(ix)];
	S->agents = agq_grow(S->agents, &S->capagents, S->nagents,
	    sizeof *S->agents, 16);
	struct agent_acc *a = &S->agents[S->nagents];
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	json_object_set_new(S->agent_ix, name, json_integer((json_int_t)
	    S->nagents));
	S->nagents++;
	return a;
}

static struct tok_acc *
tok_get(struct st *S, const char *backend, const char *model)
{
	char key[300];
	snprintf(key, sizeof key, "%s\t%s", backend, model);
	json_t *ix = json_object_get(S->tok_ix, key);
	if (ix)
		return &S->toks[json_integer_value(ix)];
	S->toks = agq_grow(S->toks, &S->captoks, S->ntoks, sizeof *S->toks, 8);
	struct tok_acc *t = &S->toks[S->ntoks];
	memset(t, 0, sizeof *t);
	snprintf(t->backend, sizeof t->backend, "%s", backend);
	snprintf(t->model, sizeof t->model, "%s", model);
	json_object_set_new(S->tok_ix, key, json_integer((json_int_t)S->ntoks));
	S->ntoks++;
	return t;
}

/* Add the busy interval [A, B] (us) of agent NAME, clipped to the
 * window. */
static void
busy_add(struct st *S, const char *name, int64_t a, int64_t b)
{
	if (a < S->since)
		a = S->since;
	if (b > S->now)
		b = S->now;
	if (b > a && name[0])
		agent_get(S, name)->busy_us += b - a;
}

static struct bucket *
bucket_at(struct st *S, int64_t ts)
{
	if (!S->b || ts < S->b0 || S->bucket_us <= 0)
		return NULL;
	int64_t i = (ts - S->b0) / S->bucket_us;
	if (i >= S->o->buckets)
		i = S->o->buckets - 1;
	return &S->b[i];
}

static void
ring_push(json_t *ring, json_t *item, int max)
{
	if (max <= 0) {
		json_decref(item);
		return;
	}
	if ((int)json_array_size(ring) >= max)
		json_array_remove(ring, 0);
	json_array_append_new(ring, item);
}

/* The token and cost fields of a finish event or a result.json into
 * T[0] (tokens_in), T[1] (tokens_out), T[2] (cost_usd), 0 when absent
 * (or null: a model without a price): which of them it has, the bits
 * HAVE_TIN, HAVE_TOUT, HAVE_COST; 0 for none. */
enum { HAVE_TIN = 1, HAVE_TOUT = 2, HAVE_COST = 4 };
static int
line_tokens(const struct agq_jline *jl, double t[3])
{
	int have = 0;
	t[0] = t[1] = t[2] = 0;
	have |= agq_jnum(jl, "tokens_in", &t[0]) == 0 ? HAVE_TIN : 0;
	have |= agq_jnum(jl, "tokens_out", &t[1]) == 0 ? HAVE_TOUT : 0;
	have |= agq_jnum(jl, "cost_usd", &t[2]) == 0 ? HAVE_COST : 0;
	return have;
}

/* A cost in US dollars rounded to the micro-dollar, or JSON null when
 * none of what was summed said its cost (KNOWN 0): agq-stats(1) shows
 * it as "unknown", not as a cost of 0.  New reference. */
static json_t *
cost_json(double cost, long known)
{
	return known ? json_real(round(cost * 1e6) / 1e6) : json_null();
}

/* Token and cost fields of a finish event or a result.json, into the
 * accumulator of its backend and model. */
static int
tokens_from_line(struct st *S, const struct agq_jline *jl)
{
	double v[3];
	int have = line_tokens(jl, v);
	if (!have)
		return 0;
	double tin = v[0], tout = v[1], cost = v[2];
	char be[128], mo[128];
	if (!agq_jstr(jl, "backend", be, sizeof be))
		strcpy(be, "unknown");
	if (!agq_jstr(jl, "model", mo, sizeof mo))
		strcpy(mo, "unknown");
	struct tok_acc *t = tok_get(S, be, mo);
	t->tasks++;
	t->tin += tin;
	t->tout += tout;
	t->cost += cost;
	t->costed += (have & HAVE_COST) != 0;
	return 1;
}

/* A task whose finish events carried no token fields: take them from its
 * out/ID/result.json when issue-3 style backends wrote them there. */
static void
tokens_from_result(struct st *S, const char *id)
{
	if (!agq_id_valid(id) || json_object_get(S->tok_ids, id))
		return;
	char *p = agq_spool_path(S->sp, "out/%s/result.json", id);
	size_t len;
	char *buf = agq_read_file(p, 1024 * 1024, &len, NULL);
	free(p);
	if (!buf)
		return;
	struct agq_jline jl;
	if (agq_jscan(buf, len, &jl) == 0)
		tokens_from_line(S, &jl);
	free(buf);
}

/* Add the tokens and cost T of a finish event of task ID to its sum in
 * MAP (task_tok, or rev_tok by the coder's id), kept for the cost per
 * PR; HAVE as line_tokens returned. */
static void
task_tok_add(json_t *map, const char *id, const double t[3], int have)
{
	json_t *a = json_object_get(map, id);
	if (!a) {
		json_object_set_new(map, id, json_pack("[f, f, f, f]",
		    t[0], t[1], t[2], (have & HAVE_COST) ? 1.0 : 0.0));
		return;
	}
	double add[4] = { t[0], t[1], t[2], (have & HAVE_COST) ? 1 : 0 };
	for (size_t k = 0; k < 4; k++)
		json_real_set(json_array_get(a, k), json_real_value(
		    json_array_get(a, k)) + add[k]);
}

/* The tokens and cost the finish events of task ID said, summed (its
 * out/ID/result.json when they said none) into T[0..2]: 1 when its cost
 * is known, else 0. */
static int
task_cost(struct st *S, const char *id, double t[3])
{
	json_t *a = json_object_get(S->task_tok, id);
	t[0] = t[1] = t[2] = 0;
	if (a) {
		for (size_t k = 0; k < 3; k++)
			t[k] = json_real_value(json_array_get(a, k));
		return json_real_value(json_array_get(a, 3)) > 0;
	}
	if (!agq_id_valid(id))
		return 0;
	char *p = agq_spool_path(S->sp, "out/%s/result.json", id);
	size_t len;
	char *buf = agq_read_file(p, 1024 * 1024, &len, NULL);
	free(p);
	struct agq_jline jl;
	int known = buf && agq_jscan(buf, len, &jl) == 0 &&
	    (line_tokens(&jl, t) & HAVE_COST);
	free(buf);
	return known;
}

/* A merge event in the window for coder task ID at TS (agq-journal(5),
 * issue 18), counted once per task: its time from submit (the task
 * file's submitted_at) and its cost with its review tasks' (agq-stats(1),
 * "Pull requests").  A task agq-clean archived since (no task file) is
 * kept in arc_merges for archived_merge. */
static void
merge_event(struct st *S, const char *id, int64_t ts)
{
	json_object_set_new(S->merged_ids, id, json_true());
	S->pr_merged++;
	struct agq_loc loc;
	json_t *t = agq_task_find(S->sp, id, &loc) == 0 ?
	    agq_task_read(loc.path) : NULL;
	int64_t sub = agq_task_time(t, "submitted_at", -1);
	if (sub > 0 && ts >= sub)
		sample_add(&S->to_merge, ts - sub);
	double c[3];
	int known = task_cost(S, id, c);
	json_t *r = json_object_get(S->rev_tok, id);
	int costed = known || json_real_value(json_array_get(r, 3)) > 0;
	S->merged_cost += c[2] + json_real_value(json_array_get(r, 2));
	S->merged_costed += costed;
	if (!t && agq_id_valid(id))
		json_object_set_new(S->arc_merges, id, json_pack("[I, b, b]",
		    (json_int_t)ts, known, costed));
	json_decref(t);
}

/* One record of the archive (agq_archive_each): when its task is one of
 * arc_merges, its time from submit (the archived task's submitted_at)
 * and, when the journal said no cost for it, the cost of its archived
 * result.json (what task_cost reads from out/ID/, which agq-clean
 * removed).  1 once none is left to find. */
static int
archived_merge(const char *line, size_t len, const char *id, void *arg)
{
	struct st *S = arg;
	json_t *m = json_object_get(S->arc_merges, id);
	json_t *rec = m ? json_loadb(line, len, 0, NULL) : NULL;
	if (!rec)
		return 0;
	int64_t ts = json_integer_value(json_array_get(m, 0));
	int64_t sub = agq_task_time(json_object_get(rec, "task"),
	    "submitted_at", -1);
	if (sub > 0 && ts >= sub)
		sample_add(&S->to_merge, ts - sub);
	char *res = json_is_object(json_object_get(rec, "result")) ?
	    json_dumps(json_object_get(rec, "result"), JSON_COMPACT) : NULL;
	struct agq_jline jl;
	double t[3] = { 0, 0, 0 };
	if (!json_is_true(json_array_get(m, 1)) && res && agq_jscan(res,
	    strlen(res), &jl) == 0 && (line_tokens(&jl, t) & HAVE_COST)) {
		S->merged_cost += t[2];
		S->merged_costed += !json_is_true(json_array_get(m, 2));
	}
	free(res);
	json_decref(rec);
	json_object_del(S->arc_merges, id);
	return json_object_size(S->arc_merges) == 0;
}

/* The cost per PR of agq-stats(1): the pr_open events of the window, the
 * PR records per state now (prs/STATE/ of agq-spool(5)), and the tokens
 * and cost of the tasks that opened those PRs summed (their finish
 * events, else their out/ID/result.json) and per task.  New reference. */
static json_t *
prs_summary(struct st *S)
{
	double sum[3] = { 0, 0, 0 };
	long costed = 0;        /* tasks whose cost is known */
	const char *id;
	json_t *v;
	json_object_foreach(S->pr_ids, id, v) {
		double t[3];
		costed += task_cost(S, id, t);
		for (size_t k = 0; k < 3; k++)
			sum[k] += t[k];
	}
	size_t n = json_object_size(S->pr_ids);
	json_t *per = n ? json_pack("{s:f, s:f, s:o}", "tokens_in",
	    round(sum[0] / (double)n * 1000) / 1000, "tokens_out",
	    round(sum[1] / (double)n * 1000) / 1000, "cost_usd",
	    cost_json(sum[2] / (double)n, costed)) : json_null();
	/* review rounds per PR: the highest round of each reviewed PR */
	long nr = 0, rmax = 0;
	double rsum = 0;
	json_object_foreach(S->rounds, id, v) {
		long r = (long)json_integer_value(v);
		nr++;
		rsum += (double)r;
		rmax = r > rmax ? r : rmax;
	}
	json_t *rounds = json_pack("{s:i, s:o, s:i}", "prs", (int)nr, "mean",
	    nr ? json_real(round(rsum / (double)nr * 1000) / 1000) :
	    json_null(), "max", (int)rmax);
	json_t *merged = json_pack("{s:i, s:o, s:o}", "n", (int)S->pr_merged,
	    "cost_usd", cost_json(S->merged_cost, S->merged_costed),
	    "cost_per_pr_usd", S->pr_merged ? cost_json(S->merged_cost /
	    (double)S->pr_merged, S->merged_costed) : json_null());
	return json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:{s:i, s:i, s:i}, "
	    "s:i, s:f, s:f, s:o, s:o}",
	    "opened", (int)S->pr_opened, "merged", (int)S->pr_merged,
	    "closed", (int)S->pr_closed, "review_rounds", rounds,
	    "time_to_merge", summary(&S->to_merge), "merges", merged,
	    "by_state",
	    "open", (int)count_dir(S->sp, "prs/open", ".json"),
	    "merged", (int)count_dir(S->sp, "prs/merged", ".json"),
	    "closed", (int)count_dir(S->sp, "prs/closed", ".json"),
	    "tasks", (int)n, "tokens_in", sum[0], "tokens_out", sum[1],
	    "cost_usd", cost_json(sum[2], costed), "per_pr", per);
}

static void
event(struct st *S, const struct agq_jline *jl, int64_t ts)
{
	char ev[32], id[80], agent[80];
	if (!agq_jstr(jl, "ev", ev, sizeof ev))
		return;
	if (!agq_jstr(jl, "id", id, sizeof id))
		id[0] = '\0';
	if (!agq_jstr(jl, "agent", agent, sizeof agent))
		agent[0] = '\0';
	int in = ts >= S->since && ts <= S->now;
	if (in) {
		if (!S->first_ts || ts < S->first_ts)
			S->first_ts = ts;
		if (ts > S->last_ts)
			S->last_ts = ts;
	}
	char st[16];
	if (!strcmp(ev, "submit") || !strcmp(ev, "accept")) {
		if (in)
			S->submitted++;
		if (id[0] && (!agq_jstr(jl, "state", st, sizeof st) ||
		    !strcmp(st, "queue")))
			json_object_set_new(S->ready, id, json_integer(ts));
	} else if (!strcmp(ev, "promote") || !strcmp(ev, "release") ||
	    !strcmp(ev, "handback") || !strcmp(ev, "reclaim")) {
		if (id[0]) {
			json_object_set_new(S->ready, id, json_integer(ts));
			json_t *op = json_object_get(S->open, id);
			if (op && !strcmp(ev, "reclaim")) {
				busy_add(S, json_string_value(json_array_get(op,
				    1)), json_integer_value(json_array_get(op,
				    0)), ts);
				json_object_del(S->open, id);
			}
		}
		if (in && !strcmp(ev, "reclaim"))
			S->reclaims++;
		if (in && !strcmp(ev, "handback"))
			S->handbacks++;
	} else if (!strcmp(ev, "start")) {
		if (in) {
			S->started++;
			if (agent[0])
				agent_get(S, agent)->started++;
		}
		if (!id[0])
			return;
		json_t *r = json_object_get(S->ready, id);
		if (r) {
			int64_t w = ts - json_integer_value(r);
			if (in && w >= 0) {
				sample_add(&S->wait, w);
				struct bucket *b = bucket_at(S, ts);
				if (b) {
					b->nwait++;
					b->wait_us += (double)w;
				}
			}
			json_object_del(S->ready, id);
		}
		json_object_set_new(S->open, id, json_pack("[I, s]",
		    (json_int_t)ts, agent));
	} else if (!strcmp(ev, "finish")) {
		double dms;
		int has_dur = agq_jnum(jl, "duration_ms", &dms) == 0 && dms >= 0;
		json_t *op = id[0] ? json_object_get(S->open, id) : NULL;
		if (has_dur) {
			int64_t d = (int64_t)(dms * 1000);
			busy_add(S, agent, ts - d, ts);
			if (in) {
				sample_add(&S->run, d);
				struct bucket *b = bucket_at(S, ts);
				if (b) {
					b->nrun++;
					b->run_us += (double)d;
				}
			}
		} else if (op) {
			busy_add(S, agent, json_integer_value(json_array_get(op,
			    0)), ts);
		}
		if (op)
			json_object_del(S->open, id);
		if (in) {
			S->finished++;
			if (tokens_from_line(S, jl) && id[0])
				json_object_set_new(S->tok_ids, id, json_true());
		}
		double t[3];
		int have = id[0] ? line_tokens(jl, t) : 0;
		char parent[65];
		if (have)
			task_tok_add(S->task_tok, id, t, have);
		if (have && agq_task_child_of(id, parent) == 'r')
			task_tok_add(S->rev_tok, parent, t, have);
	} else if (!strcmp(ev, "stale")) {
		if (id[0])
			json_object_del(S->open, id);
		if (in)
			S->stales++;
	} else if (!strcmp(ev, "done") || !strcmp(ev, "dead") ||
	    !strcmp(ev, "cancel") || dep_cancel(jl, ev)) {
		int ok = !strcmp(ev, "done");
		if (id[0])
			json_object_del(S->ready, id);
		if (id[0] && !json_object_get(S->pr_ids, id))
			json_object_del(S->task_tok, id);
		if (id[0])
			json_object_del(S->rev_tok, id);
		if (!in)
			return;
		if (ok)
			S->done++;
		else if (!strcmp(ev, "dead"))
			S->dead++;
		else
			S->cancels++;
		if (agent[0]) {
			struct agent_acc *a = agent_get(S, agent);
			if (ok)
				a->done++;
			else
				a->failed++;
		}
		struct bucket *b = bucket_at(S, ts);
		if (b) {
			if (ok)
				b->done++;
			else
				b->failed++;
		}
		if (id[0] && strcmp(ev, "cancel") && strcmp(ev, "dep_fail"))
			tokens_from_result(S, id);
		if (id[0])
			json_object_del(S->tok_ids, id);
		char reason[512], tsb[32];
		if (!agq_jstr(jl, "reason", reason, sizeof reason))
			reason[0] = '\0';
		json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ts",
		    agq_fmt_time(ts, tsb), "ev", ev, "id", id, "agent", agent,
		    "reason", reason);
		ring_push(ok ? S->recent_done : S->recent_failed, item,
		    S->o->recent);
	} else if (!strcmp(ev, "retry")) {
		if (id[0] && agq_jget(jl, "by"))
			json_object_set_new(S->ready, id, json_integer(ts));
		if (in) {
			if (agq_jget(jl, "by"))
				S->op_retries++;
			else
				S->retries++;
		}
	} else if (in) {
		if (!strcmp(ev, "reject"))
			S->rejects++;
		else if (!strcmp(ev, "hold"))
			S->holds++;
		else if (!strcmp(ev, "agent_up"))
			S->agents_up++;
		else if (!strcmp(ev, "agent_down"))
			S->agents_down++;
		else if (!strcmp(ev, "alert"))
			S->alerts++;
		else if (!strcmp(ev, "sync"))
			S->syncs++;
		else if (!strcmp(ev, "pr_open")) {
			S->pr_opened++;
			if (id[0])
				json_object_set_new(S->pr_ids, id, json_true());
		} else if (!strcmp(ev, "pr_close"))
			S->pr_closed++;
		else if (!strcmp(ev, "review_wait") && id[0]) {
			double r;
			if (agq_jnum(jl, "round", &r) == 0 && r >= 1 && r >
			    json_integer_value(json_object_get(S->rounds, id)))
				json_object_set_new(S->rounds, id,
				    json_integer((json_int_t)r));
		} else if (!strcmp(ev, "merge") && id[0] &&
		    !json_object_get(S->merged_ids, id))
			merge_event(S, id, ts);
	}
	if (!strcmp(ev, "hold") && id[0])
		json_object_del(S->ready, id);
}

static int
acc_by_name(const void *a, const void *b)
{
	return strcmp(((const struct agent_acc *)a)->name,
	    ((const struct agent_acc *)b)->name);
}

/* The journal's first event time, for a window without --since. */
static int64_t
first_time(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int64_t t = -1;
	struct agq_jline jl;
	while (t < 0 && (n = getline(&line, &cap, f)) > 0)
		if (agq_jscan(line, (size_t)n, &jl) == 0)
			t = agq_jtime(&jl);
	free(line);
	rewind(f);
	return t;
}

json_t *
agq_stats(const struct agq_spool *sp, const struct agq_stats_opts *o)
{
	struct st S;
	memset(&S, 0, sizeof S);
	S.sp = sp;
	S.o = o;
	S.now = o->now_us;
	/* The journal, or with ROTATED every journal file in chain order. */
	char **names = NULL, *one[1] = { "journal" };
	size_t nfiles = 1, fi = 0;
	if (o->rotated && agq_journal_files(sp, &names, &nfiles) < 0)
		return NULL;
	char **files = o->rotated ? names : one;
	FILE *f = NULL;
	for (; fi < nfiles && !f; fi++) {
		char *jp = agq_spool_path(sp, "%s", files[fi]);
		f = fopen(jp, "re");
		int e = errno;
		free(jp);
		if (!f && e != ENOENT) {
			if (names)
				agq_journal_files_free(names, nfiles);
			errno = e;
			return NULL;
		}
	}
	S.since = o->since_us;
	if (S.since <= 0) {
		int64_t t = f ? first_time(f) : -1;
		S.since = t > 0 && t < S.now ? t : S.now;
	}
	S.ready = json_object();
	S.open = json_object();
	S.agent_ix = json_object();
	S.tok_ix = json_object();
	S.tok_ids = json_object();
	S.recent_done = json_array();
	S.recent_failed = json_array();
	S.pr_ids = json_object();
	S.task_tok = json_object();
	S.rounds = json_object();
	S.rev_tok = json_object();
	S.merged_ids = json_object();
	S.arc_merges = json_object();
	if (o->buckets > 0) {
		S.b = calloc((size_t)o->buckets, sizeof *S.b);
		if (!S.b)
			agq_die(71, "out of memory");
		S.b0 = S.since;
		S.bucket_us = (S.now - S.since + o->buckets - 1) / o->buckets;
		if (S.bucket_us < 1000000)
			S.bucket_us = 1000000;
	}
	while (f) {
		/* Large reads: the journal is read once, front to back. */
		static char iobuf[1 << 16];
		setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		struct agq_jline jl;
		while ((n = getline(&line, &cap, f)) > 0) {
			S.lines++;
			int64_t ts;
			if (agq_jscan(line, (size_t)n, &jl) < 0 ||
			    (ts = agq_jtime(&jl)) < 0) {
				S.damaged++;
				continue;
			}
			if (ts > S.now)
				continue;
			event(&S, &jl, ts);
		}
		int err = ferror(f);
		free(line);
		fclose(f);
		f = NULL;
		if (err) {
			errno = EIO;
			/* fall through: report what was read */
		}
		/* the next file of the chain (a rotated one gone meanwhile
		 * is skipped) */
		for (; fi < nfiles && !f; fi++) {
			char *jp = agq_spool_path(sp, "%s", files[fi]);
			f = fopen(jp, "re");
			free(jp);
		}
	}
	if (names)
		agq_journal_files_free(names, nfiles);
	/* merged tasks agq-clean archived: one pass over the archive */
	if (json_object_size(S.arc_merges))
		agq_archive_each(sp, archived_merge, &S);

	/* Runs still open: count them to now when the task is still active. */
	const char *key;
	json_t *v;
	json_object_foreach(S.open, key, v) {
		struct agq_loc loc;
		if (agq_task_find(sp, key, &loc) == 0 &&
		    loc.state == AGQ_ST_ACTIVE)
			busy_add(&S, json_string_value(json_array_get(v, 1)),
			    json_integer_value(json_array_get(v, 0)), S.now);
	}

	double window_s = (double)(S.now - S.since) / 1e6;
	json_t *counts = agq_status_counts(sp);
	long archived = agq_archive_count(sp);  /* agq-clean(8) moved them */
	json_object_set_new(counts, "archived", json_integer(archived > 0 ?
	    archived : 0));
	json_t *regs = agq_status_agents(sp, S.now);
	size_t i;
	json_array_foreach(regs, i, v) {
		struct agent_acc *a = agent_get(&S, json_string_value(
		    json_object_get(v, "name")));
		a->slots = (int)json_integer_value(json_object_get(v, "slots"));
	}
	if (S.nagents > 1)
		qsort(S.agents, S.nagents, sizeof *S.agents, acc_by_name);
	json_t *agents = json_array();
	for (size_t k = 0; k < S.nagents; k++) {
		struct agent_acc *a = &S.agents[k];
		int slots = a->slots > 0 ? a->slots : 1;
		double busy = (double)a->busy_us / 1e6;
		json_array_append_new(agents, json_pack("{s:s, s:i, s:f, s:f, "
		    "s:i, s:i, s:i}", "name", a->name, "slots", slots,
		    "busy_s", round(busy * 1000) / 1000, "utilization",
		    window_s > 0 ? round(busy / (window_s * slots) * 10000) /
		    10000 : 0.0, "started", (int)a->started, "done",
		    (int)a->done, "failed", (int)a->failed));
	}
	json_t *toks = json_array();
	for (size_t k = 0; k < S.ntoks; k++) {
		struct tok_acc *t = &S.toks[k];
		json_array_append_new(toks, json_pack("{s:s, s:s, s:i, s:f, "
		    "s:f, s:o}", "backend", t->backend, "model", t->model,
		    "runs", (int)t->tasks, "tokens_in", t->tin, "tokens_out",
		    t->tout, "cost_usd", cost_json(t->cost, t->costed)));
	}
	json_t *series = json_null();
	if (S.b) {
		json_t *d = json_array(), *fl = json_array(), *rm = json_array(),
		    *wm = json_array();
		for (int k = 0; k < o->buckets; k++) {
			json_array_append_new(d, json_integer(S.b[k].done));
			json_array_append_new(fl, json_integer(S.b[k].failed));
			json_array_append_new(rm, S.b[k].nrun ? json_real(ms3(
			    (int64_t)(S.b[k].run_us / (double)S.b[k].nrun))) :
			    json_null());
			json_array_append_new(wm, S.b[k].nwait ? json_real(ms3(
			    (int64_t)(S.b[k].wait_us / (double)S.b[k].nwait))) :
			    json_null());
		}
		char t0[32];
		series = json_pack("{s:s, s:f, s:o, s:o, s:o, s:o}", "start",
		    agq_fmt_time(S.b0, t0), "bucket_s", (double)S.bucket_us / 1e6,
		    "done", d, "failed", fl, "run_mean_ms", rm, "wait_mean_ms",
		    wm);
	}
	char t1[32], t2[32];
	json_t *events = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
	    "submitted", (int)S.submitted, "started", (int)S.started,
	    "finished", (int)S.finished, "done", (int)S.done,
	    "dead", (int)S.dead, "cancelled", (int)S.cancels,
	    "retries", (int)S.retries, "operator_retries", (int)S.op_retries,
	    "reclaims", (int)S.reclaims, "handbacks", (int)S.handbacks,
	    "stale", (int)S.stales, "rejects", (int)S.rejects,
	    "agent_up", (int)S.agents_up, "agent_down", (int)S.agents_down,
	    "alerts", (int)S.alerts, "syncs", (int)S.syncs);
	/* newest first */
	json_t *rd = json_array(), *rf = json_array();
	for (size_t k = json_array_size(S.recent_done); k-- > 0;)
		json_array_append(rd, json_array_get(S.recent_done, k));
	for (size_t k = json_array_size(S.recent_failed); k-- > 0;)
		json_array_append(rf, json_array_get(S.recent_failed, k));
	agq_recent_enrich(sp, rd);
	agq_recent_enrich(sp, rf);
	json_t *out = json_pack("{s:s, s:{s:s, s:s, s:f}, s:{s:I, s:I}, "
	    "s:o, s:o, s:f, s:{s:o, s:o}, s:o, s:o, s:o, s:{s:o, s:o}}",
	    "spool", sp->root,
	    "window", "since", agq_fmt_time(S.since, t1), "until",
	    agq_fmt_time(S.now, t2), "seconds", window_s,
	    "journal", "lines", (json_int_t)S.lines, "damaged",
	    (json_int_t)S.damaged,
	    "counts", counts, "events", events,
	    "throughput_per_min", window_s > 0 ? round((double)S.done /
	    (window_s / 60) * 1000) / 1000 : 0.0,
	    "latency", "wait", summary(&S.wait), "run", summary(&S.run),
	    "agents", agents, "tokens", toks, "series", series,
	    "recent", "done", rd, "failed", rf);
	json_object_set_new(out, "prs", prs_summary(&S));
	json_decref(regs);
	json_decref(S.ready);
	json_decref(S.open);
	json_decref(S.agent_ix);
	json_decref(S.tok_ix);
	json_decref(S.tok_ids);
	json_decref(S.recent_done);
	json_decref(S.recent_failed);
	json_decref(S.pr_ids);
	json_decref(S.task_tok);
	json_decref(S.rounds);
	json_decref(S.rev_tok);
	json_decref(S.merged_ids);
	json_decref(S.arc_merges);
	free(S.to_merge.v);
	free(S.agents);
	free(S.toks);
	free(S.wait.v);
	free(S.run.v);
	free(S.b);
	return out;
}

/* ---- the state snapshot ------------------------------------------------ */

/* Entries of ROOT/REL ending in SUFFIX (NULL: any), dot names skipped. */
static long
count_dir(const struct agq_spool *sp, const char *rel, const char *suffix)
{
	char *p = agq_spool_path(sp, "%s", rel);
	DIR *d = opendir(p);
	free(p);
	if (!d)
		return 0;
	long n = 0;
	struct dirent *de;
	size_t sl = suffix ? strlen(suffix) : 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		size_t l = strlen(de->d_name);
		if (suffix && (l < sl || strcmp(de->d_name + l - sl, suffix)))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

json_t *
agq_status_counts(const struct agq_spool *sp)
{
	json_t *lanes = json_object();
	long queued = 0;
	for (int l = 0; l < AGQ_NLANES; l++) {
		char rel[32];
		snprintf(rel, sizeof rel, "queue/%s", agq_lane_name(l));
		long n = count_dir(sp, rel, ".json");
		queued += n;
		json_object_set_new(lanes, agq_lane_name(l), json_integer(n));
	}
	long active = 0;
	char *actdir = agq_spool_path(sp, "active");
	DIR *d = opendir(actdir);
	free(actdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char rel[128];
			snprintf(rel, sizeof rel, "active/%.64s", de->d_name);
			active += count_dir(sp, rel, ".json");
		}
		closedir(d);
	}
	long corrupt = count_dir(sp, "corrupt", NULL) - count_dir(sp,
	    "corrupt", ".why");
	return json_pack("{s:i, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i}",
	    "inbox", (int)count_dir(sp, "inbox", NULL),
	    "queue_lanes", lanes, "queue", (int)queued,
	    "defer", (int)count_dir(sp, "defer", ".json"),
	    "hold", (int)count_dir(sp, "hold", ".json"), "active", (int)active,
	    "done", (int)count_dir(sp, "done", ".json"),
	    "dead", (int)count_dir(sp, "dead", ".json"), "corrupt",
	    (int)corrupt, "review", (int)count_dir(sp, "review", ".json"),
	    "approval", (int)count_dir(sp, "approval", ".json"),
	    "blocked", (int)count_dir(sp, "blocked", ".json"));
}

struct agents_arg { const struct agq_spool *sp; json_t *list; int64_t now;
    int64_t server_now; };

static int
agent_one(const char *fname, void *arg)
{
	struct agents_arg *A = arg;
	size_t n = strlen(fname);
	if (n <= 5 || strcmp(fname + n - 5, ".json"))
		return 0;
	char name[80];
	snprintf(name, sizeof name, "%.*s", (int)(n - 5), fname);
	json_t *a = agq_agent_read(A->sp, name);
	if (!a)
		return 0;
	int64_t now = A->now;
	const char *st = json_string_value(json_object_get(a, "state"));
	int64_t beat = agq_agent_mtime_us(A->sp, name);  /* server clock */
	int alive = agq_agent_live(a, beat, A->server_now,
	    A->sp->conf.lease_s);
	const char *shown = !alive ? (st && !strcmp(st, "down") ? "down" :
	    "offline") : (st && !strcmp(st, "degraded")) ||
	    agq_agent_touched_only(a, beat, A->sp->conf.lease_s) ?
	    "degraded" : st ? st : "idle";
	int64_t up = agq_task_time(a, "started_at", 0);
	json_t *running = json_array();
	char *dp = agq_spool_path(A->sp, "active/%s", name);
	DIR *dir = opendir(dp);
	free(dp);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			if (de->d_name[0] != '.' && l > 5 &&
			    !strcmp(de->d_name + l - 5, ".json"))
				json_array_append_new(running, json_stringn(
				    de->d_name, l - 5));
		}
		closedir(dir);
	}
	json_t *caps = json_object_get(a, "capabilities");
	caps = json_is_array(caps) ? json_incref(caps) : json_array();
	json_t *o = json_pack("{s:s, s:s, s:I, s:o, s:o, s:f, s:s?, s:I}",
	    "name", name, "state", shown,
	    "slots", agq_task_int(a, "slots", 1), "running", running,
	    "capabilities", caps,
	    "heartbeat_age_s", beat >= 0 ? (double)(A->server_now - beat) /
	    1e6 : -1.0,
	    "host", json_string_value(json_object_get(a, "host")),
	    "pid", agq_task_int(a, "pid", 0));
	if (json_is_string(json_object_get(a, "boot_id")))
		json_object_set(o, "boot_id", json_object_get(a, "boot_id"));
	if (up > 0) {
		json_object_set(o, "started_at", json_object_get(a,
		    "started_at"));
		json_object_set_new(o, "uptime_s", json_real(alive ?
		    (double)(now - up) / 1e6 : 0.0));
	}
	json_t *res = json_object_get(a, "resources");
	if (json_is_object(res))
		json_object_set(o, "resources", res);
	/* what the agent executes (agq-run --backend, --endpoint, --model) */
	static const char *exec_keys[] = { "backends", "endpoints", "models",
	    NULL };
	for (int k = 0; exec_keys[k]; k++)
		if (json_is_array(json_object_get(a, exec_keys[k])))
			json_object_set(o, exec_keys[k], json_object_get(a,
			    exec_keys[k]));
	if (!strcmp(shown, "degraded")) {       /* agq-run(8), A full disk */
		static const char *deg_keys[] = { "reason", "since", NULL };
		for (int k = 0; deg_keys[k]; k++)
			if (json_is_string(json_object_get(a, deg_keys[k])))
				json_object_set(o, deg_keys[k],
				    json_object_get(a, deg_keys[k]));
	}
	json_array_append_new(A->list, o);
	json_decref(a);
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	return strcmp(json_string_value(json_object_get(x, "name")),
	    json_string_value(json_object_get(y, "name")));
}

json_t *
agq_status_agents(const struct agq_spool *sp, int64_t now_us)
{
	/* heartbeats are mtimes the file server set: judged by its clock
	 * (.clock-probe), NOW_US moved by how far ours is off */
	int64_t probe, before = agq_now_us();
	int64_t off = agq_clock_probe(sp, &probe) == 0 ? probe - (before +
	    agq_now_us()) / 2 : 0;
	struct agents_arg A = { sp, json_array(), now_us, now_us + off };
	char *ad = agq_spool_path(sp, "agents");
	agq_dir_each(ad, agent_one, &A);
	free(ad);
	size_t n = json_array_size(A.list);
	if (n < 2)
		return A.list;
	json_t **v = agq_xmalloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(A.list, i));
	qsort(v, n, sizeof *v, by_name);
	json_t *sorted = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sorted, v[i]);
	free(v);
	json_decref(A.list);
	return sorted;
}

void
agq_recent_enrich(const struct agq_spool *sp, json_t *arr)
{
	size_t i;
	json_t *it;
	json_array_foreach(arr, i, it) {
		const char *id = json_string_value(json_object_get(it, "id"));
		struct agq_loc loc;
		if (!id || !agq_id_valid(id) || agq_task_find(sp, id, &loc) < 0)
			continue;
		json_t *t = agq_task_read(loc.path);
		if (!t)
			continue;
		json_object_set_new(it, "state", json_string(agq_state_name(
		    loc.state)));
		json_t *title = json_object_get(t, "title");
		json_t *cmd = json_object_get(t, "cmd");
		if (json_is_string(title))
			json_object_set(it, "title", title);
		else if (json_is_string(cmd))
			json_object_set(it, "title", cmd);
		else if (json_is_array(cmd)) {
			char buf[256] = "";
			size_t k, n = 0;
			json_t *w;
			json_array_foreach(cmd, k, w)
				n += (size_t)snprintf(buf + n, n < sizeof buf ?
				    sizeof buf - n : 0, "%s%s", k ? " " : "",
				    json_string_value(w) ? json_string_value(w) :
				    "?");
			json_object_set_new(it, "title", json_string(buf));
		}
		json_object_set_new(it, "lane", json_string(agq_lane_name(
		    agq_task_lane(t))));
		json_object_set_new(it, "attempts", json_integer(
		    (json_int_t)json_array_size(json_object_get(t,
		    "attempts"))));
		json_t *pr = json_object_get(json_object_get(t, "meta"),
		    "pr_url");
		if (json_is_string(pr))
			json_object_set(it, "pr_url", pr);
		json_decref(t);
	}
}

/* One line of journal_tail: keep it when it is one of the N newest done
 * or failed events, or the newest sched_up. */
struct tail_arg {
	int n, nd, nf;
	json_t *done, *failed;
	int64_t *sched_up;
};

static int
tail_line(const struct agq_jline *jl, int64_t t, void *arg)
{
	struct tail_arg *A = arg;
	char ev[32];
	if (!agq_jstr(jl, "ev", ev, sizeof ev))
		return 0;
	int isd = !strcmp(ev, "done");
	int isf = !strcmp(ev, "dead") || !strcmp(ev, "cancel") ||
	    dep_cancel(jl, ev);
	if ((isd && A->nd < A->n) || (isf && A->nf < A->n)) {
		char id[80] = "", ag[80] = "", reason[512] = "", ts[32];
		agq_jstr(jl, "id", id, sizeof id);
		agq_jstr(jl, "agent", ag, sizeof ag);
		agq_jstr(jl, "reason", reason, sizeof reason);
		json_array_append_new(isd ? A->done : A->failed, json_pack("{s:s, "
		    "s:s, s:s, s:s, s:s}", "ts", agq_fmt_time(t, ts), "ev", ev,
		    "id", id, "agent", ag, "reason", reason));
		if (isd)
			A->nd++;
		else
			A->nf++;
	} else if (!*A->sched_up && !strcmp(ev, "sched_up")) {
		*A->sched_up = t;
	}
	return A->nd >= A->n && A->nf >= A->n && *A->sched_up;
}

int
agq_journal_back(const struct agq_spool *sp, off_t limit,
                 int (*fn)(const struct agq_jline *jl, int64_t ts, void *arg),
                 void *arg)
{
	char *p = agq_spool_path(sp, "journal");
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	struct stat sb;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	off_t stop = sb.st_size > limit ? sb.st_size - limit : 0;
	/* a torn last line (a writer killed mid-line) has no newline: the
	 * reader takes its last byte for one, and the line is skipped */
	char last = '\n';
	if (sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) != 1) {
		close(fd);
		return -1;
	}
	struct agq_jrev r;
	agq_jrev_open(&r, fd, sb.st_size);
	const char *line;
	size_t len;
	off_t off;
	int rc, torn = last != '\n';
	while ((rc = agq_jrev_prev(&r, &line, &len, &off)) == 1 &&
	    off >= stop) {
		struct agq_jline jl;
		int64_t t;
		if (torn)
			torn = 0;
		else if (line && agq_jscan(line, len, &jl) == 0 &&
		    (t = agq_jtime(&jl)) >= 0 && fn(&jl, t, arg))
			break;
	}
	int e = errno;
	agq_jrev_close(&r);
	close(fd);
	errno = e;
	return rc < 0 ? -1 : 0;
}

/* The last N done and failed (dead, cancel) events and the last sched_up,
 * read backwards from the journal's end (at most 8 MiB of it). */
static void
journal_tail(const struct agq_spool *sp, int n, json_t *done,
             json_t *failed, int64_t *sched_up)
{
	*sched_up = 0;
	struct tail_arg A = { n, 0, 0, done, failed, sched_up };
	agq_journal_back(sp, 8 << 20, tail_line, &A);
}

/* Is .sched.lock held?  Read from /proc/locks, without taking the lock
 * (a probe that took it could make a starting agq-sched fail).  1 yes,
 * 0 no, -1 unknown. */
static int
sched_running(const struct agq_spool *sp)
{
	char *p = agq_spool_path(sp, ".sched.lock");
	struct stat sb;
	int r = stat(p, &sb);
	free(p);
	if (r < 0)
		return 0;
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return -1;
	char line[256];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		unsigned maj, min;
		unsigned long ino;
		char *q = strstr(line, "FLOCK");
		if (!q)
			continue;
		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" */
		char *dev = NULL;
		for (char *t = strtok(q, " \t"); t; t = strtok(NULL, " \t"))
			if (strchr(t, ':') && sscanf(t, "%x:%x:%lu", &maj,
			    &min, &ino) == 3) {
				dev = t;
				break;
			}
		if (dev && ino == (unsigned long)sb.st_ino &&
		    makedev(maj, min) == sb.st_dev)
			found = 1;
	}
	fclose(f);
	return found;
}

/* When the task longest in the queue got there: the oldest modification
 * time of a queue file (a task file is rewritten when it changes state;
 * a rename keeps it), 0 when the queue is empty.  stat(2) only, no
 * parsing, so it stays cheap on a long queue. */
struct oldest { int64_t t; };
static int
oldest_one(const struct agq_loc *loc, const char *id, void *arg)
{
	struct oldest *O = arg;
	struct stat sb;
	const char *base = strrchr(loc->path, '/');
	/* through the directory's descriptor: one name to look up, not the
	 * whole path, for each of a long queue's files */
	if (loc->dirfd >= 0 && base ? fstatat(loc->dirfd, base + 1, &sb,
	    AT_SYMLINK_NOFOLLOW) < 0 : stat(loc->path, &sb) < 0)
		return 0;
	int64_t s = (int64_t)sb.st_mtim.tv_sec * 1000000 +
	    sb.st_mtim.tv_nsec / 1000;
	if (!O->t || s < O->t)
		O->t = s;
	return 0;
}

/* The newest `wait` event of each task, read backwards from the journal's
 * end down to the oldest queued task's time (no event of a queued task is
 * older), at most 8 MiB of it. */
struct waits { int64_t from; json_t *by_id; };

static int
wait_line(const struct agq_jline *jl, int64_t t, void *arg)
{
	struct waits *W = arg;
	if (t < W->from)
		return 1;
	char ev[16], id[80], reason[1024] = "", since[40] = "";
	if (!agq_jstr(jl, "ev", ev, sizeof ev) || strcmp(ev, "wait") ||
	    !agq_jstr(jl, "id", id, sizeof id) ||
	    json_object_get(W->by_id, id))
		return 0;
	const struct agq_jfield *r = agq_jget(jl, "routable");
	agq_jstr(jl, "reason", reason, sizeof reason);
	agq_jstr(jl, "since", since, sizeof since);
	json_object_set_new(W->by_id, id, json_pack("{s:b, s:s, s:s}",
	    "routable", r && r->vlen == 4 && !memcmp(r->val, "true", 4),
	    "reason", reason, "since", since));
	return 0;
}

/* The queued tasks that no agent can take (their newest `wait` event says
 * so) for longer than route_wait (agq.conf; agq-sched(8)): a new array of
 * {id, reason, since, waited_s}, oldest first as journaled.  OLDEST is
 * when the task longest in the queue got there (oldest_one). */
static json_t *
unroutable(const struct agq_spool *sp, int64_t now_us, int64_t oldest)
{
	json_t *out = json_array();
	int64_t wait_us;
	if (agq_parse_duration(agq_backend_setting(&sp->conf, "route_wait",
	    "60"), &wait_us) < 0)
		wait_us = 60000000;
	struct waits W = { oldest - 1000000, json_object() };
	agq_journal_back(sp, 8 << 20, wait_line, &W);
	const char *id;
	json_t *w;
	json_object_foreach(W.by_id, id, w) {
		const char *since = json_string_value(json_object_get(w,
		    "since"));
		struct agq_loc loc;
		int64_t t;
		if (json_is_true(json_object_get(w, "routable")) ||
		    agq_parse_since(since, now_us, &t) < 0 ||
		    now_us - t <= wait_us || agq_task_find(sp, id, &loc) < 0 ||
		    loc.state != AGQ_ST_QUEUE)
			continue;
		json_array_append_new(out, json_pack("{s:s, s:O, s:s, s:f}",
		    "id", id, "reason", json_object_get(w, "reason"), "since",
		    since, "waited_s", (double)(now_us - t) / 1e6));
	}
	json_decref(W.by_id);
	return out;
}

json_t *
agq_status_snapshot(const struct agq_spool *sp, int64_t now_us, int recent)
{
	json_t *counts = agq_status_counts(sp);
	json_t *agents = agq_status_agents(sp, now_us);
	json_t *done = json_array(), *failed = json_array();
	int64_t sched_up = 0;
	journal_tail(sp, recent, done, failed, &sched_up);
	agq_recent_enrich(sp, done);
	agq_recent_enrich(sp, failed);

	int alive = 0;
	size_t i;
	json_t *a;
	json_array_foreach(agents, i, a) {
		const char *s = json_string_value(json_object_get(a, "state"));
		alive += strcmp(s, "offline") && strcmp(s, "down");
	}
	int sched = sched_running(sp);
	struct oldest O = { 0 };
	if (json_integer_value(json_object_get(counts, "queue")) > 0)
		agq_each_task(sp, AGQ_ST_QUEUE, oldest_one, &O);
	json_t *problems = json_array();
	if (sched == 0)
		json_array_append_new(problems, json_string("no scheduler is "
		    "running"));
	if (json_array_size(agents) && !alive)
		json_array_append_new(problems, json_string("no agent is "
		    "alive"));
	json_int_t corrupt = json_integer_value(json_object_get(counts,
	    "corrupt"));
	if (corrupt > 0)
		json_array_append_new(problems, json_sprintf("%lld quarantined "
		    "file(s) in corrupt/", (long long)corrupt));
	if (json_integer_value(json_object_get(counts, "queue")) > 0 && !alive)
		json_array_append_new(problems, json_string("tasks are queued "
		    "but no agent is alive"));
	json_t *stuck = O.t ? unroutable(sp, now_us, O.t) : json_array();
	if (json_array_size(stuck))
		json_array_append_new(problems, json_sprintf("%zu task(s) "
		    "waited longer than route_wait with no agent that can take "
		    "them (%s: %s)", json_array_size(stuck), json_string_value(
		    json_object_get(json_array_get(stuck, 0), "id")),
		    json_string_value(json_object_get(json_array_get(stuck, 0),
		    "reason"))));
	struct statvfs vfs;
	json_t *disk = json_null();
	if (statvfs(sp->root, &vfs) == 0) {
		double free_b = (double)vfs.f_bavail * (double)vfs.f_frsize;
		double tot = (double)vfs.f_blocks * (double)vfs.f_frsize;
		disk = json_pack("{s:f, s:f}", "free_bytes", free_b,
		    "total_bytes", tot);
		if (tot > 0 && free_b / tot < 0.05)
			json_array_append_new(problems, json_string("less than "
			    "5% disk space free on the spool"));
	}
	char t1[32];
	json_t *health = json_pack("{s:s, s:o, s:i, s:i, s:o, s:o, s:o, s:o}",
	    "status", json_array_size(problems) ? "warn" : "ok",
	    "sched_running", sched < 0 ? json_null() : json_boolean(sched),
	    "agents_alive", alive, "agents_total", (int)json_array_size(agents),
	    "oldest_queued_s", O.t ? json_real((double)(now_us - O.t) / 1e6) :
	    json_null(),
	    "sched_up_since", sched == 1 && sched_up ? json_string(
	    agq_fmt_time(sched_up, t1)) : json_null(),
	    "disk", disk, "problems", problems);
	json_object_set_new(health, "unroutable", stuck);
	if (sched == 1 && sched_up)
		json_object_set_new(health, "uptime_s", json_real(
		    (double)(now_us - sched_up) / 1e6));
	char t2[32];
	return json_pack("{s:s, s:s, s:o, s:o, s:{s:o, s:o}, s:o, s:o}",
	    "spool", sp->root, "time", agq_fmt_time(now_us, t2),
	    "counts", counts, "agents", agents,
	    "recent", "done", done, "failed", failed, "health", health,
	    "paused", agq_throttle_list(sp, now_us, 0));
}

/* ---- settings of agq-sync, agq-dash and agq-alert ---------------------- */

const char *
agq_obs_get(const struct agq_spool *sp, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(sp->conf.obs, key));
	return v ? v : dflt;
}

int
agq_obs_bool(const struct agq_spool *sp, const char *key)
{
	return agq_conf_bool(agq_obs_get(sp, key, "no")) == 1;
}
