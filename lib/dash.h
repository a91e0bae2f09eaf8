/*
 * dash.h - the dashboard page of agq-dash(1) and agq-sync --html.
 * Conventions are those of util.h.
 */
#ifndef AGQ_DASH_H
#define AGQ_DASH_H

#include "spool.h"

/* One self-contained HTML page (inline CSS, inline SVG charts, no
 * script, nothing fetched from the network) for SNAP (agq_status_snapshot)
 * and STATS (agq_stats with a time series; may be NULL): health, uptime
 * and connected agents; the tasks per state and the queue per lane; agent
 * cards (state, capabilities, slots, running tasks, host, heartbeat,
 * uptime, resources); recent completions with links (the pull request of
 * meta.pr_url, the task's output) and failures with reasons; throughput
 * and latency charts; tokens and cost; the AGQ_DASH_PRS newest pull
 * request records (agq_dash_prs: id, task and title, branch, short head
 * sha, state, the forge's URL as a link when it is http(s)); the open
 * PRs with their review round, approvals of required and review state
 * (agq_prs_open) and the AGQ_DASH_MERGED last merged ones with their
 * merge commit, method and time from submit to merge (agq_prs_merged),
 * issue 18.  The page reloads itself every
 * REFRESH_S seconds (<meta http-equiv="refresh">; 0: never).  Every count
 * shown carries an id ("count-queue", "lane-high", "agents-alive", ...)
 * so tests and scripts can read it.  malloc'd. */
char *agq_dash_render(const struct agq_spool *sp, const json_t *snap,
                      const json_t *stats, int refresh_s);

/* How many PR records the page and /status.json show at most. */
#define AGQ_DASH_PRS 50
/* How many merged PRs (agq_prs_merged) they show at most. */
#define AGQ_DASH_MERGED 20

/* The PR records of SP (agq_pr_list: prs/{open,merged,closed}/, each with
 * its "state"), newest created_at first, at most MAX of them; an empty
 * array when there are none or they cannot be read.  New reference. */
json_t *agq_dash_prs(const struct agq_spool *sp, size_t max);

/* The refresh interval of the dash_refresh setting in seconds (default
 * 15). */
int agq_dash_refresh(const struct agq_spool *sp);

/* Serve the page (and the snapshot as /status.json, with the members
 * "stats", "prs" (agq_dash_prs), "prs_open" (agq_prs_open) and
 * "prs_merged" (agq_prs_merged)) over HTTP on 127.0.0.1:PORT with
 * libmicrohttpd until SIGINT or SIGTERM; PORT 0 picks a free port.  Each request renders afresh with the stats window
 * SINCE_S seconds back.  Prints "listening on http://127.0.0.1:PORT/" on
 * standard output once listening.  Returns an exit status. */
int agq_dash_serve(const struct agq_spool *sp, int port, double since_s,
                   int refresh_s);

#endif
