/* dash.c - the dashboard page and its HTTP server (dash.h). */

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <microhttpd.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "stats.h"
#include "sync.h"
#include "git.h"
#include "prrec.h"
#include "prview.h"
#include "dash.h"

#define JI(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
#define JS(o, k) json_string_value(json_object_get((o), (k)))
#define JN(o, k) json_number_value(json_object_get((o), (k)))

/* S as HTML text or attribute value. */
static void
esc(struct agq_sbuf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': agq_sb_printf(b, "&amp;"); break;
		case '<': agq_sb_printf(b, "&lt;"); break;
		case '>': agq_sb_printf(b, "&gt;"); break;
		case '"': agq_sb_printf(b, "&quot;"); break;
		case '\'': agq_sb_printf(b, "&#39;"); break;
		default: agq_sb_printf(b, "%c", *s);
		}
	}
}

/* A link target only when it is http(s): nothing else from a task file
 * becomes an href. */
static int
http_url(const char *u)
{
	return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7));
}

static void
duration(struct agq_sbuf *b, double s)
{
	if (s < 0 || isnan(s))
		agq_sb_printf(b, "-");
	else if (s < 120)
		agq_sb_printf(b, "%.0f s", s);
	else if (s < 7200)
		agq_sb_printf(b, "%.0f min", s / 60);
	else if (s < 172800)
		agq_sb_printf(b, "%.1f h", s / 3600);
	else
		agq_sb_printf(b, "%.1f d", s / 86400);
}

static const char css[] =
"body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;"
"color:#1d2330}"
"header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;"
"flex-wrap:wrap;gap:24px;align-items:baseline}"
"header h1{font-size:18px;margin:0}header .sub{color:#aab3c5}"
"main{padding:16px 20px;display:grid;gap:16px;"
"grid-template-columns:repeat(auto-fit,minmax(340px,1fr))}"
"section{background:#fff;border-radius:6px;padding:12px 16px;"
"box-shadow:0 1px 2px rgba(0,0,0,.08)}"
"section.wide{grid-column:1/-1}"
"h2{font-size:15px;margin:0 0 8px}"
".counts{display:flex;flex-wrap:wrap;gap:8px}"
".count{background:#f4f5f7;border-radius:4px;padding:6px 10px;min-width:64px}"
".count b{display:block;font-size:20px}"
".cards{display:flex;flex-wrap:wrap;gap:10px}"
".card{border:1px solid #dde1e8;border-radius:6px;padding:8px 10px;"
"min-width:200px;flex:1}"
".badge{display:inline-block;border-radius:10px;padding:0 8px;"
"font-size:12px;color:#fff;background:#7a8599}"
".idle{background:#2e8b57}.busy{background:#1f6feb}"
".draining{background:#b8860b}.offline{background:#c0392b}"
".down{background:#7a8599}.ok{background:#2e8b57}.warn{background:#c0392b}"
".pr-open{background:#1f6feb}.pr-merged{background:#8250df}"
".pr-closed{background:#7a8599}"
".rs-reviewing{background:#1f6feb}.rs-changes{background:#e67e22}"
".rs-approval{background:#b8860b}.rs-merging{background:#8250df}"
".rs-other{background:#7a8599}"
"table{border-collapse:collapse;width:100%}"
"td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eceef2;"
"vertical-align:top}"
"th{font-weight:600;color:#4a5468}"
"code{font-size:12px}.muted{color:#7a8599}"
"svg text{font:11px system-ui,sans-serif;fill:#4a5468}";

static void
count(struct agq_sbuf *b, const char *id, const char *label, long long n)
{
	agq_sb_printf(b, "<div class=\"count\"><b id=\"%s\">%lld</b>%s</div>",
	    id, n, label);
}

/* A bar chart of the lanes. */
static void
lanes_svg(struct agq_sbuf *b, const json_t *lanes)
{
	static const char *names[] = { "urgent", "high", "normal", "low" };
	static const char *colors[] = { "#c0392b", "#e67e22", "#1f6feb",
	    "#7a8599" };
	long long max = 1;
	for (int i = 0; i < 4; i++)
		if (JI(lanes, names[i]) > max)
			max = JI(lanes, names[i]);
	agq_sb_printf(b, "<svg width=\"320\" height=\"96\" role=\"img\" "
	    "aria-label=\"queue depth by lane\">");
	for (int i = 0; i < 4; i++) {
		long long n = JI(lanes, names[i]);
		int w = (int)(230.0 * (double)n / (double)max);
		agq_sb_printf(b, "<text x=\"0\" y=\"%d\">%s</text>"
		    "<rect x=\"60\" y=\"%d\" width=\"%d\" height=\"16\" "
		    "fill=\"%s\"/><text x=\"%d\" y=\"%d\" id=\"lane-%s\">%lld"
		    "</text>", 12 + 24 * i, names[i], 24 * i, w ? w : 1,
		    colors[i], 66 + w, 12 + 24 * i, names[i], n);
	}
	agq_sb_printf(b, "</svg>");
}

/* Bars of done (green) and failed (red) per bucket of the series. */
/* The charts' geometry (SVG user units): width, height, the plot's top
 * and height; each chart picks its left margin L for its axis labels. */
enum { SVG_W = 330, SVG_H = 140, SVG_T = 10, SVG_PH = 110 };

/* Open a chart: the <svg> element named LABEL for screen readers, the x
 * axis from L, and the y axis's labels TOP (its maximum) and 0. */
static void
svg_open(struct agq_sbuf *b, const char *label, int L, const char *top)
{
	agq_sb_printf(b, "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" "
	    "role=\"img\" aria-label=\"%s\">", SVG_W, SVG_H, label);
	agq_sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
	    "stroke=\"#bbb\"/><text x=\"0\" y=\"%d\">%s</text>"
	    "<text x=\"0\" y=\"%d\">0</text>", L, SVG_T + SVG_PH, SVG_W,
	    SVG_T + SVG_PH, SVG_T + 8, top, SVG_T + SVG_PH);
}

/* Close a chart with its legend: NAME1 in COLOR1 at L, NAME2 in COLOR2
 * DX further right. */
static void
svg_close(struct agq_sbuf *b, int L, int dx, const char *name1,
          const char *color1, const char *name2, const char *color2)
{
	agq_sb_printf(b, "<text x=\"%d\" y=\"%d\">%s</text><rect x=\"%d\" "
	    "y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text "
	    "x=\"%d\" y=\"%d\">%s</text><rect x=\"%d\" y=\"%d\" width=\"10\" "
	    "height=\"10\" fill=\"%s\"/></svg>", L + 14, SVG_H - 2, name1, L,
	    SVG_H - 11, color1, L + dx + 14, SVG_H - 2, name2, L + dx,
	    SVG_H - 11, color2);
}

static void
throughput_svg(struct agq_sbuf *b, const json_t *series)
{
	const json_t *d = json_object_get(series, "done");
	const json_t *f = json_object_get(series, "failed");
	size_t n = json_array_size(d);
	long long max = 1;
	for (size_t i = 0; i < n; i++) {
		long long v = json_integer_value(json_array_get(d, i)) +
		    json_integer_value(json_array_get(f, i));
		if (v > max)
			max = v;
	}
	const int W = SVG_W, L = 30, T = SVG_T, PH = SVG_PH;
	char top[32];
	snprintf(top, sizeof top, "%lld", max);
	svg_open(b, "throughput", L, top);
	double bw = n ? (double)(W - L) / (double)n : 0;
	for (size_t i = 0; i < n; i++) {
		long long dv = json_integer_value(json_array_get(d, i));
		long long fv = json_integer_value(json_array_get(f, i));
		double hd = PH * (double)dv / (double)max;
		double hf = PH * (double)fv / (double)max;
		double x = L + bw * (double)i + 1;
		if (dv)
			agq_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"#2e8b57\"><title>%lld done"
			    "</title></rect>", x, T + PH - hd, bw - 2, hd, dv);
		if (fv)
			agq_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"#c0392b\"><title>%lld failed"
			    "</title></rect>", x, T + PH - hd - hf, bw - 2, hf, fv);
	}
	svg_close(b, L, 56, "done", "#2e8b57", "failed", "#c0392b");
}

/* Lines of the mean run and wait time per bucket (ms). */
static void
latency_svg(struct agq_sbuf *b, const json_t *series)
{
	const json_t *r = json_object_get(series, "run_mean_ms");
	const json_t *w = json_object_get(series, "wait_mean_ms");
	size_t n = json_array_size(r);
	double max = 1;
	for (size_t i = 0; i < n; i++) {
		double a = json_number_value(json_array_get(r, i));
		double c = json_number_value(json_array_get(w, i));
		max = fmax(max, fmax(a, c));
	}
	const int W = SVG_W, L = 44, T = SVG_T, PH = SVG_PH;
	char top[32];
	snprintf(top, sizeof top, "%.1f s", max / 1000);
	svg_open(b, "latency", L, top);
	double step = n > 1 ? (double)(W - L - 8) / (double)(n - 1) : 0;
	const json_t *lines[2] = { r, w };
	const char *colors[2] = { "#1f6feb", "#e67e22" };
	for (int k = 0; k < 2; k++) {
		int open = 0;
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(lines[k], i);
			if (!json_is_number(v)) {
				if (open)
					agq_sb_printf(b, "\"/>");
				open = 0;
				continue;
			}
			if (!open)
				agq_sb_printf(b, "<polyline fill=\"none\" "
				    "stroke=\"%s\" stroke-width=\"2\" points=\"",
				    colors[k]);
			open = 1;
			agq_sb_printf(b, "%.1f,%.1f ", L + 4 + step * (double)i,
			    T + PH - PH * json_number_value(v) / max);
		}
		if (open)
			agq_sb_printf(b, "\"/>");
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(lines[k], i);
			if (json_is_number(v))
				agq_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" "
				    "r=\"2.5\" fill=\"%s\"><title>%.0f ms</title>"
				    "</circle>", L + 4 + step * (double)i, T + PH -
				    PH * json_number_value(v) / max, colors[k],
				    json_number_value(v));
		}
	}
	svg_close(b, L, 96, "run (mean)", colors[0], "wait (mean)", colors[1]);
}

static void
recent_table(struct agq_sbuf *b, const struct agq_spool *sp,
             const json_t *arr, int failed)
{
	if (!json_array_size(arr)) {
		agq_sb_printf(b, "<p class=\"muted\">none yet</p>");
		return;
	}
	agq_sb_printf(b, "<table><tr><th>when</th><th>task</th><th>agent</th>"
	    "<th>%s</th></tr>", failed ? "reason" : "links");
	size_t i;
	json_t *r;
	json_array_foreach(arr, i, r) {
		const char *id = JS(r, "id") ? JS(r, "id") : "";
		agq_sb_printf(b, "<tr><td>");
		esc(b, JS(r, "ts"));
		agq_sb_printf(b, "</td><td><code>");
		esc(b, id);
		agq_sb_printf(b, "</code><br>");
		esc(b, JS(r, "title"));
		agq_sb_printf(b, "</td><td>");
		esc(b, JS(r, "agent"));
		agq_sb_printf(b, "</td><td>");
		if (failed) {
			esc(b, JS(r, "reason"));
			agq_sb_printf(b, "<br>");
		}
		if (http_url(JS(r, "pr_url"))) {
			agq_sb_printf(b, "<a href=\"");
			esc(b, JS(r, "pr_url"));
			agq_sb_printf(b, "\">pull request</a> ");
		}
		if (agq_id_valid(id)) {
			agq_sb_printf(b, "<a href=\"file://");
			esc(b, sp->root);
			agq_sb_printf(b, "/out/");
			esc(b, id);
			agq_sb_printf(b, "/\">output</a>");
		}
		agq_sb_printf(b, "</td></tr>");
	}
	agq_sb_printf(b, "</table>");
}

json_t *
agq_dash_prs(const struct agq_spool *sp, size_t max)
{
	json_t *all = agq_pr_list(sp, NULL), *out = json_array();
	for (size_t k = json_array_size(all); k-- > 0 &&
	    json_array_size(out) < max;)
		json_array_append(out, json_array_get(all, k));
	json_decref(all);
	return out;
}

/* The PR records PRS (agq_dash_prs), one row each. */
static void
pr_table(struct agq_sbuf *b, const json_t *prs)
{
	if (!json_array_size(prs)) {
		agq_sb_printf(b, "<p class=\"muted\">none yet</p>");
		return;
	}
	agq_sb_printf(b, "<table><tr><th>PR</th><th>task</th><th>branch</th>"
	    "<th>head</th><th>state</th><th>forge</th></tr>");
	size_t i;
	json_t *r;
	json_array_foreach(prs, i, r) {
		const char *st = JS(r, "state") ? JS(r, "state") : "open";
		const char *head = JS(r, "head") ? JS(r, "head") : "";
		char shortsha[8];
		snprintf(shortsha, sizeof shortsha, "%s", head);
		agq_sb_printf(b, "<tr class=\"pr\" data-state=\"");
		esc(b, st);
		agq_sb_printf(b, "\"><td><code>");
		esc(b, JS(r, "id"));
		agq_sb_printf(b, "</code></td><td><code>");
		esc(b, JS(r, "task"));
		agq_sb_printf(b, "</code><br>");
		esc(b, JS(r, "title"));
		agq_sb_printf(b, "</td><td>");
		esc(b, JS(r, "branch"));
		agq_sb_printf(b, "</td><td><code>");
		esc(b, shortsha);
		agq_sb_printf(b, "</code></td><td><span class=\"badge pr-%s\">",
		    strspn(st, "abcdefghijklmnopqrstuvwxyz") == strlen(st) ? st :
		    "closed");
		esc(b, st);
		agq_sb_printf(b, "</span></td><td>");
		if (http_url(JS(r, "url"))) {
			agq_sb_printf(b, "<a href=\"");
			esc(b, JS(r, "url"));
			agq_sb_printf(b, "\">");
			if (json_is_integer(json_object_get(r, "number")))
				agq_sb_printf(b, "#%lld", JI(r, "number"));
			else
				agq_sb_printf(b, "pull request");
			agq_sb_printf(b, "</a>");
		} else {
			agq_sb_printf(b, "<span class=\"muted\">no forge</span>");
		}
		agq_sb_printf(b, "</td></tr>");
	}
	agq_sb_printf(b, "</table>");
}

/* The badge class of a review state of agq_pr_review_state. */
static const char *
rs_class(const char *rs)
{
	static const char *const m[][2] = { { "reviewing", "rs-reviewing" },
	    { "changes requested", "rs-changes" }, { "awaiting approval",
	    "rs-approval" }, { "merging", "rs-merging" }, { NULL, NULL } };
	for (int i = 0; rs && m[i][0]; i++)
		if (!strcmp(rs, m[i][0]))
			return m[i][1];
	return "rs-other";
}

/* A cell with the PR's id, and its task and title under it. */
static void
pr_cells(struct agq_sbuf *b, const json_t *r)
{
	agq_sb_printf(b, "<td><code>");
	esc(b, JS(r, "id"));
	agq_sb_printf(b, "</code>");
	if (http_url(JS(r, "url"))) {
		agq_sb_printf(b, " <a href=\"");
		esc(b, JS(r, "url"));
		agq_sb_printf(b, "\">#%lld</a>", JI(r, "number"));
	}
	agq_sb_printf(b, "</td><td><code>");
	esc(b, JS(r, "task"));
	agq_sb_printf(b, "</code><br>");
	esc(b, JS(r, "title"));
	agq_sb_printf(b, "</td>");
}

/* The open PRs OPEN (agq_prs_open): round, approvals of required, the
 * review state. */
static void
open_pr_table(struct agq_sbuf *b, const json_t *open)
{
	if (!json_array_size(open)) {
		agq_sb_printf(b, "<p class=\"muted\">none open</p>");
		return;
	}
	agq_sb_printf(b, "<table><tr><th>PR</th><th>task</th><th>round</th>"
	    "<th>approvals</th><th>state</th></tr>");
	size_t i;
	json_t *r;
	json_array_foreach(open, i, r) {
		const char *rs = JS(r, "review_state");
		agq_sb_printf(b, "<tr class=\"pr-open\" data-review=\"");
		esc(b, rs);
		agq_sb_printf(b, "\">");
		pr_cells(b, r);
		agq_sb_printf(b, "<td class=\"round\">%lld</td><td class=\""
		    "approvals\">%lld/%lld</td><td><span class=\"badge %s\">",
		    JI(r, "round"), JI(r, "approvals"), JI(r, "required"),
		    rs_class(rs));
		esc(b, rs);
		agq_sb_printf(b, "</span></td></tr>");
	}
	agq_sb_printf(b, "</table>");
}

/* The merged PRs MERGED (agq_prs_merged): merge commit, method, time
 * from submit to merge. */
static void
merged_pr_table(struct agq_sbuf *b, const json_t *merged)
{
	if (!json_array_size(merged)) {
		agq_sb_printf(b, "<p class=\"muted\">none merged yet</p>");
		return;
	}
	agq_sb_printf(b, "<table><tr><th>PR</th><th>task</th><th>merged</th>"
	    "<th>commit</th><th>method</th><th>submit to merge</th></tr>");
	size_t i;
	json_t *r;
	json_array_foreach(merged, i, r) {
		const json_t *m = json_object_get(r, "merged");
		char sha[8];
		snprintf(sha, sizeof sha, "%s", JS(m, "sha") ? JS(m, "sha") : "");
		agq_sb_printf(b, "<tr class=\"pr-merged\">");
		pr_cells(b, r);
		agq_sb_printf(b, "<td>");
		esc(b, JS(m, "at"));
		agq_sb_printf(b, "</td><td><code class=\"sha\">");
		esc(b, sha);
		agq_sb_printf(b, "</code></td><td class=\"method\">");
		esc(b, JS(m, "method"));
		agq_sb_printf(b, "</td><td class=\"ttm\">");
		const json_t *ttm = json_object_get(r, "time_to_merge_s");
		duration(b, json_is_number(ttm) ? json_number_value(ttm) : -1);
		agq_sb_printf(b, "</td></tr>");
	}
	agq_sb_printf(b, "</table>");
}

/* The host resources an agent publishes (agq-run(8): load1, cpus,
 * mem_total_mb, mem_available_mb, gpus), and any other number or string
 * member as it is. */
static void
resources(struct agq_sbuf *b, const json_t *res)
{
	if (!json_is_object(res) || !json_object_size(res))
		return;
	agq_sb_printf(b, "<br><span class=\"res\">host:");
	json_t *l1 = json_object_get(res, "load1");
	json_t *cpus = json_object_get(res, "cpus");
	if (json_is_number(l1))
		agq_sb_printf(b, " load %.2f", json_number_value(l1));
	if (json_is_integer(cpus))
		agq_sb_printf(b, "%s%lld cpus", json_is_number(l1) ? " on " : " ",
		    (long long)json_integer_value(cpus));
	json_t *mt = json_object_get(res, "mem_total_mb");
	json_t *ma = json_object_get(res, "mem_available_mb");
	if (json_is_number(mt) && json_is_number(ma))
		agq_sb_printf(b, ", memory %.1f of %.1f GiB free",
		    json_number_value(ma) / 1024, json_number_value(mt) / 1024);
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(res, "gpus"), i, g) {
		agq_sb_printf(b, ", GPU ");
		esc(b, json_string_value(json_object_get(g, "name")));
		agq_sb_printf(b, " %.1f of %.1f GiB used", json_number_value(
		    json_object_get(g, "mem_used_mb")) / 1024, json_number_value(
		    json_object_get(g, "mem_total_mb")) / 1024);
	}
	const char *key;
	json_t *v;
	static const char *known[] = { "load1", "load5", "load15", "cpus",
	    "mem_total_mb", "mem_available_mb", "gpus", NULL };
	json_object_foreach((json_t *)res, key, v) {
		int k = 0;
		while (known[k] && strcmp(known[k], key))
			k++;
		if (known[k] || !(json_is_string(v) || json_is_number(v)))
			continue;
		agq_sb_printf(b, ", ");
		esc(b, key);
		agq_sb_printf(b, " ");
		if (json_is_string(v))
			esc(b, json_string_value(v));
		else
			agq_sb_printf(b, "%g", json_number_value(v));
	}
	agq_sb_printf(b, "</span>");
}

static void
agent_cards(struct agq_sbuf *b, const json_t *agents)
{
	if (!json_array_size(agents)) {
		agq_sb_printf(b, "<p class=\"muted\">no agent registered</p>");
		return;
	}
	agq_sb_printf(b, "<div class=\"cards\">");
	size_t i, k;
	json_t *a, *v;
	json_array_foreach(agents, i, a) {
		const char *st = JS(a, "state") ? JS(a, "state") : "?";
		agq_sb_printf(b, "<div class=\"card agent\" data-state=\"");
		esc(b, st);
		agq_sb_printf(b, "\"><b>");
		esc(b, JS(a, "name"));
		agq_sb_printf(b, "</b> <span class=\"badge %s\">",
		    strspn(st, "abcdefghijklmnopqrstuvwxyz") == strlen(st) ? st :
		    "down");
		esc(b, st);
		agq_sb_printf(b, "</span><br><span class=\"muted\">");
		esc(b, JS(a, "host"));
		agq_sb_printf(b, " pid %lld, %lld slot%s</span><br>capabilities: ",
		    JI(a, "pid"), JI(a, "slots"), JI(a, "slots") == 1 ? "" : "s");
		json_array_foreach(json_object_get(a, "capabilities"), k, v) {
			agq_sb_printf(b, "%s", k ? ", " : "");
			esc(b, json_string_value(v));
		}
		if (!json_array_size(json_object_get(a, "capabilities")))
			agq_sb_printf(b, "-");
		agq_sb_printf(b, "<br>running: ");
		json_array_foreach(json_object_get(a, "running"), k, v) {
			agq_sb_printf(b, "%s<code>", k ? " " : "");
			esc(b, json_string_value(v));
			agq_sb_printf(b, "</code>");
		}
		if (!json_array_size(json_object_get(a, "running")))
			agq_sb_printf(b, "-");
		agq_sb_printf(b, "<br>heartbeat ");
		duration(b, JN(a, "heartbeat_age_s"));
		agq_sb_printf(b, " ago");
		if (json_object_get(a, "uptime_s")) {
			agq_sb_printf(b, ", up ");
			duration(b, JN(a, "uptime_s"));
		}
		static const char *exec[] = { "backends", "models", "endpoints",
		    NULL };
		for (int e = 0; exec[e]; e++) {
			const json_t *arr = json_object_get(a, exec[e]);
			if (!json_array_size(arr))
				continue;
			agq_sb_printf(b, "<br>%s: ", exec[e]);
			json_array_foreach((json_t *)arr, k, v) {
				agq_sb_printf(b, "%s", k ? ", " : "");
				esc(b, json_string_value(v));
			}
		}
		resources(b, json_object_get(a, "resources"));
		agq_sb_printf(b, "</div>");
	}
	agq_sb_printf(b, "</div>");
}

static void
lat_row(struct agq_sbuf *b, const char *name, const json_t *l)
{
	agq_sb_printf(b, "<tr><td>%s</td><td>%lld</td>", name, JI(l, "n"));
	static const char *k[] = { "p50_ms", "p90_ms", "p99_ms", "max_ms" };
	for (int i = 0; i < 4; i++) {
		json_t *v = json_object_get(l, k[i]);
		if (json_is_number(v))
			agq_sb_printf(b, "<td>%.2f s</td>", json_number_value(v) /
			    1000);
		else
			agq_sb_printf(b, "<td>-</td>");
	}
	agq_sb_printf(b, "</tr>");
}

char *
agq_dash_render(const struct agq_spool *sp, const json_t *snap,
                const json_t *stats, int refresh_s)
{
	struct agq_sbuf b = { 0 };
	const json_t *c = json_object_get(snap, "counts");
	const json_t *h = json_object_get(snap, "health");
	agq_sb_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">");
	if (refresh_s > 0)
		agq_sb_printf(&b, "<meta http-equiv=\"refresh\" content=\"%d\">",
		    refresh_s);
	agq_sb_printf(&b, "<meta name=\"viewport\" content=\"width=device-width"
	    "\"><title>agq: ");
	esc(&b, JS(snap, "spool"));
	agq_sb_printf(&b, "</title><style>%s</style></head><body>\n", css);
	/* header: health, uptime, agents */
	const char *hs = JS(h, "status") ? JS(h, "status") : "warn";
	agq_sb_printf(&b, "<header><h1>agq</h1><span class=\"sub\">");
	esc(&b, JS(snap, "spool"));
	agq_sb_printf(&b, "</span><span>health <span id=\"health\" "
	    "class=\"badge %s\">%s</span></span>", strcmp(hs, "ok") ? "warn" :
	    "ok", strcmp(hs, "ok") ? "warn" : "ok");
	agq_sb_printf(&b, "<span><b id=\"agents-alive\">%lld</b> of <b "
	    "id=\"agents-total\">%lld</b> agents connected</span>",
	    JI(h, "agents_alive"), JI(h, "agents_total"));
	agq_sb_printf(&b, "<span>scheduler ");
	json_t *sr = json_object_get(h, "sched_running");
	if (json_is_true(sr)) {
		agq_sb_printf(&b, "up <span id=\"uptime\">");
		if (json_object_get(h, "uptime_s"))
			duration(&b, JN(h, "uptime_s"));
		else
			agq_sb_printf(&b, "(since before the journal's tail)");
		agq_sb_printf(&b, "</span>");
	} else {
		agq_sb_printf(&b, json_is_false(sr) ? "<b>not running</b>" :
		    "unknown");
	}
	agq_sb_printf(&b, "</span><span class=\"sub\">as of ");
	esc(&b, JS(snap, "time"));
	if (refresh_s > 0)
		agq_sb_printf(&b, ", refreshes every %d s", refresh_s);
	agq_sb_printf(&b, "</span></header>\n<main>\n");
	if (json_array_size(json_object_get(h, "problems"))) {
		agq_sb_printf(&b, "<section class=\"wide\" id=\"problems\"><h2>"
		    "Problems</h2><ul>");
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(h, "problems"), i, p) {
			agq_sb_printf(&b, "<li>");
			esc(&b, json_string_value(p));
			agq_sb_printf(&b, "</li>");
		}
		agq_sb_printf(&b, "</ul></section>\n");
	}
	/* counts and lanes */
	agq_sb_printf(&b, "<section><h2>Tasks</h2><div class=\"counts\">");
	static const char *states[] = { "queue", "active", "defer", "hold",
	    "blocked", "review", "approval", "done", "dead", "inbox",
	    "corrupt", NULL };
	for (int i = 0; states[i]; i++) {
		char id[32];
		snprintf(id, sizeof id, "count-%s", states[i]);
		count(&b, id, states[i], JI(c, states[i]));
	}
	agq_sb_printf(&b, "</div></section>\n<section><h2>Queue depth by lane"
	    "</h2>");
	lanes_svg(&b, json_object_get(c, "queue_lanes"));
	json_t *oq = json_object_get(h, "oldest_queued_s");
	if (json_is_number(oq)) {
		agq_sb_printf(&b, "<p>oldest queued task waiting ");
		duration(&b, json_number_value(oq));
		agq_sb_printf(&b, "</p>");
	}
	agq_sb_printf(&b, "</section>\n");
	/* agents */
	agq_sb_printf(&b, "<section class=\"wide\"><h2>Agents</h2>");
	agent_cards(&b, json_object_get(snap, "agents"));
	agq_sb_printf(&b, "</section>\n");
	/* charts */
	if (stats) {
		const json_t *se = json_object_get(stats, "series");
		const json_t *w = json_object_get(stats, "window");
		agq_sb_printf(&b, "<section><h2>Throughput</h2><p><b "
		    "id=\"throughput\">%.2f</b> done per minute since ",
		    JN(stats, "throughput_per_min"));
		esc(&b, JS(w, "since"));
		agq_sb_printf(&b, " (<span id=\"window-done\">%lld</span> done, "
		    "%lld dead, %lld retries, %lld reclaims)</p>",
		    JI(json_object_get(stats, "events"), "done"),
		    JI(json_object_get(stats, "events"), "dead"),
		    JI(json_object_get(stats, "events"), "retries"),
		    JI(json_object_get(stats, "events"), "reclaims"));
		if (json_is_object(se)) {
			throughput_svg(&b, se);
			agq_sb_printf(&b, "<p class=\"muted\">one bar per %.0f s"
			    "</p>", JN(se, "bucket_s"));
		}
		agq_sb_printf(&b, "</section>\n<section><h2>Latency</h2>");
		if (json_is_object(se))
			latency_svg(&b, se);
		const json_t *l = json_object_get(stats, "latency");
		agq_sb_printf(&b, "<table><tr><th></th><th>n</th><th>p50</th>"
		    "<th>p90</th><th>p99</th><th>max</th></tr>");
		lat_row(&b, "wait", json_object_get(l, "wait"));
		lat_row(&b, "run", json_object_get(l, "run"));
		agq_sb_printf(&b, "</table></section>\n");
		const json_t *tk = json_object_get(stats, "tokens");
		if (json_array_size(tk)) {
			agq_sb_printf(&b, "<section><h2>Tokens and cost</h2><table>"
			    "<tr><th>backend</th><th>model</th><th>runs</th>"
			    "<th>in</th><th>out</th><th>USD</th></tr>");
			size_t i;
			json_t *t;
			json_array_foreach(tk, i, t) {
				agq_sb_printf(&b, "<tr><td>");
				esc(&b, JS(t, "backend"));
				agq_sb_printf(&b, "</td><td>");
				esc(&b, JS(t, "model"));
				agq_sb_printf(&b, "</td><td>%lld</td><td>%.0f</td>"
				    "<td>%.0f</td><td>%.4f</td></tr>", JI(t, "runs"),
				    JN(t, "tokens_in"), JN(t, "tokens_out"),
				    JN(t, "cost_usd"));
			}
			agq_sb_printf(&b, "</table></section>\n");
		}
	}
	const json_t *rec = json_object_get(snap, "recent");
	agq_sb_printf(&b, "<section class=\"wide\" id=\"recent-done\"><h2>"
	    "Recent completions</h2>");
	recent_table(&b, sp, json_object_get(rec, "done"), 0);
	agq_sb_printf(&b, "</section>\n<section class=\"wide\" "
	    "id=\"recent-failed\"><h2>Recent failures</h2>");
	recent_table(&b, sp, json_object_get(rec, "failed"), 1);
	json_t *po = agq_prs_open(sp, AGQ_DASH_PRS);
	agq_sb_printf(&b, "</section>\n<section class=\"wide\" id=\"prs-open\">"
	    "<h2>Open pull requests</h2><p class=\"muted\"><b id=\""
	    "count-prs-open\">%zu</b> under review, awaiting approval or "
	    "merging, newest first</p>", json_array_size(po));
	open_pr_table(&b, po);
	json_decref(po);
	json_t *pm = agq_prs_merged(sp, AGQ_DASH_MERGED);
	agq_sb_printf(&b, "</section>\n<section class=\"wide\" id=\""
	    "prs-merged\"><h2>Merged pull requests</h2><p class=\"muted\"><b "
	    "id=\"count-prs-merged\">%zu</b> last merged (at most %d)</p>",
	    json_array_size(pm), AGQ_DASH_MERGED);
	merged_pr_table(&b, pm);
	json_decref(pm);
	json_t *prs = agq_dash_prs(sp, AGQ_DASH_PRS);
	agq_sb_printf(&b, "</section>\n<section class=\"wide\" id=\"prs\"><h2>"
	    "Pull requests</h2><p class=\"muted\"><b id=\"count-prs\">%zu"
	    "</b> newest first (at most %d)</p>", json_array_size(prs),
	    AGQ_DASH_PRS);
	pr_table(&b, prs);
	json_decref(prs);
	agq_sb_printf(&b, "</section>\n</main></body></html>\n");
	return b.s;
}

int
agq_dash_refresh(const struct agq_spool *sp)
{
	int64_t us;
	const char *v = agq_obs_get(sp, "dash_refresh", "15");
	if (agq_parse_duration(v, &us) < 0 || us < 1000000)
		return 15;
	return (int)(us / 1000000);
}

/* ---- serving ------------------------------------------------------------- */

struct served {
	const struct agq_spool *sp;
	double since_s;
	int refresh_s;
};

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url,
       const char *method, const char *version, const char *upload,
       size_t *upload_size, void **state)
{
	struct served *S = cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	int64_t now = agq_now_us();
	char *body = NULL;
	const char *type = "text/html; charset=utf-8";
	unsigned code = MHD_HTTP_OK;
	json_t *snap = NULL, *st = NULL;
	if (!strcmp(url, "/") || !strcmp(url, "/index.html") ||
	    !strcmp(url, "/status.json")) {
		snap = agq_status_snapshot(S->sp, now, 10);
		struct agq_stats_opts o = { now - (int64_t)(S->since_s * 1e6),
		    now, 30, 0, 0 };
		st = agq_stats(S->sp, &o);
	}
	if (!strcmp(url, "/status.json")) {
		if (st)
			json_object_set(snap, "stats", st);
		json_object_set_new(snap, "prs", agq_dash_prs(S->sp,
		    AGQ_DASH_PRS));
		json_object_set_new(snap, "prs_open", agq_prs_open(S->sp,
		    AGQ_DASH_PRS));
		json_object_set_new(snap, "prs_merged", agq_prs_merged(S->sp,
		    AGQ_DASH_MERGED));
		char *s = json_dumps(snap, JSON_COMPACT |
		    JSON_REAL_PRECISION(12));
		body = agq_xasprintf("%s\n", s ? s : "{}");
		free(s);
		type = "application/json";
	} else if (snap) {
		body = agq_dash_render(S->sp, snap, st, S->refresh_s);
	} else {
		code = MHD_HTTP_NOT_FOUND;
		body = agq_xstrdup("not found\n");
		type = "text/plain";
	}
	json_decref(snap);
	json_decref(st);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
	    body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

int
agq_dash_serve(const struct agq_spool *sp, int port, double since_s,
               int refresh_s)
{
	struct served S = { sp, since_s, refresh_s };
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* blocked before the server's thread starts, so it inherits the
	 * mask and sigwait below gets them */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD,
	    (uint16_t)port, NULL, NULL, answer, &S,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_END);
	if (!d) {
		agq_warn("cannot listen on 127.0.0.1:%d (in use, or not "
		    "allowed)", port);
		return EX_UNAVAILABLE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d,
	    MHD_DAEMON_INFO_BIND_PORT);
	printf("listening on http://127.0.0.1:%u/\n", info ?
	    (unsigned)info->port : (unsigned)port);
	if (agq_flush_stdout() < 0) {
		MHD_stop_daemon(d);
		return EX_IOERR;
	}
	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
