/*
 * ctl.h - ctl.c: the operator commands (agq-cancel(1)).
 *
 * agq-cancel, agq-hold, agq-release and agq-retry share this main.
 */
#ifndef AGQ_CTL_H
#define AGQ_CTL_H

/* The operator commands' shared main: OP is "cancel", "hold", "release"
 * or "retry" (agq-cancel(1)).  Returns an exit status. */
int agq_ctl_main(int argc, char **argv, const char *op);

/* The user an operator command acts as, for reasons and events: $USER
 * when set and not empty, else the name of getuid(2)'s passwd entry
 * (getpwuid(3)), else "unknown".  Borrowed (the environment's or static
 * storage). */
const char *agq_ctl_user(void);

#endif
