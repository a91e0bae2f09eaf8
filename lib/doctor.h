/*
 * doctor.h - doctor.c: agq-doctor(8).
 *
 * Uses everything below it that a check needs.
 */
#ifndef AGQ_DOCTOR_H
#define AGQ_DOCTOR_H

#include <jansson.h>

/* Check this installation for agent work, with the spool SPOOL_ARG (NULL:
 * the default): the spool and configuration, every backend executable,
 * the price table, the CLI lock file and each CLI in it (found in PATH,
 * its version from version_args, whether each option word of the command
 * line agq_cli_argv builds, up to "--", and each of its "flags" appears in
 * the output of help_args, and whether each of "flags" stands there
 * before "--"; agq-doctor(8)), the API keys (present, never shown), the
 * lease against the heartbeats, the skew between this host's clock and
 * the spool's file server's (.clock-probe; agq.conf clock_skew_max), the
 * spool's mount against the recommended set for NFS (/proc/self/mountinfo,
 * or the file $AGQ_MOUNTINFO, a test hook) and the registered endpoints'
 * health.  Returns {"status": "ok"|"fail",
 * "failed": N, "checks": [{check, status "ok"|"warn"|"fail", detail}]}. */
json_t *agq_doctor(const char *spool_arg);

#endif
