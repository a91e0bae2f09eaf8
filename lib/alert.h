/*
 * alert.h - agq-alert(1): rules from etc/agq.conf evaluated against the
 * spool, the journal and endpoints; alert state kept in the spool.
 * Conventions are those of util.h.
 */
#ifndef AGQ_ALERT_H
#define AGQ_ALERT_H

#include "spool.h"

/* Evaluate every configured rule of SP's configuration once, at NOW_US
 * (agq-alert(1) lists the rules).  Under the spool lock .alert.lock it
 * reads SPOOL/alerts.json (the alerts firing and the conditions pending
 * their "for" time), compares, and for each alert that starts or clears:
 * journals an `alert` event, runs the alert_hook command (sh -c) with the
 * alert as JSON on its standard input (killed after HOOK_TIMEOUT_S), and
 * adds the alert to the "started" or "cleared" array of the result; then
 * writes the new state back (tmp + fsync + rename).  Returns a new object
 * {"active": [...], "started": [...], "cleared": [...], "errors": [...]}
 * (errors: hooks that failed, endpoints that could not be probed is not an
 * error but an alert), or NULL with errno when the state cannot be read
 * or written (the caller reports it). */
json_t *agq_alert_run(const struct agq_spool *sp, int64_t now_us,
                      double hook_timeout_s);

#endif
