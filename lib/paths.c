/* paths.c - compiled-in paths.  The Makefile builds this file twice: for the
 * source tree (the in-tree spool/, etc/, bin/, libexec/) and for `make
 * install` (PREFIX/var/spool/agq, PREFIX/etc/agq, ...). */
#include "paths.h"

#ifndef AGQ_SPOOL_DIR
#error "AGQ_SPOOL_DIR must be defined by the Makefile"
#endif

const char agq_default_spool[] = AGQ_SPOOL_DIR;
const char agq_default_conf[] = AGQ_CONF_FILE;
const char agq_bindir[] = AGQ_BIN_DIR;
const char agq_libexecdir[] = AGQ_LIBEXEC_DIR;
