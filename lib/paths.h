/*
 * paths.h - paths.c: the compiled-in locations.
 *
 * paths.c is built differently for the source tree and for `make install`
 * (the Makefile's SRC_PATHS and INST_PATHS).
 */
#ifndef AGQ_PATHS_H
#define AGQ_PATHS_H

/* Compiled-in paths (paths.c, built differently for the source tree and
 * for `make install`): default spool, etc/agq.conf, bin and libexec dirs.
 * Borrowed static strings. */
extern const char agq_default_spool[];
extern const char agq_default_conf[];
extern const char agq_bindir[];
extern const char agq_libexecdir[];

#endif
