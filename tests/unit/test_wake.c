/* Unit tests for lib/wake.c: signals caught, spool directories watched. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "agq.h"
#include "wake.h"
#include "unit.h"

static volatile sig_atomic_t caught;
static void on_signal(int sig) { caught = sig; }

int
main(void)
{
	agq_setprog("test_wake");

	/* signals: the handler, the flags asked for, nothing else */
	agq_signals_catch(on_signal, 0, SIGUSR1, SIGUSR2, 0);
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	CHECK(sa.sa_handler == on_signal && !(sa.sa_flags & SA_RESTART),
	    "caught without SA_RESTART");
	sigaction(SIGUSR2, NULL, &sa);
	CHECK(sa.sa_handler == on_signal, "every signal of the list caught");
	raise(SIGUSR2);
	CHECK(caught == SIGUSR2, "the handler runs");
	agq_signals_catch(on_signal, SA_RESTART, SIGUSR1, 0);
	sigaction(SIGUSR1, NULL, &sa);
	CHECK(sa.sa_flags & SA_RESTART, "SA_RESTART when asked (signal(2))");

	/* watches: a spool of two directories */
	char root[] = "/tmp/test_wake.XXXXXX";
	if (!mkdtemp(root))
		return 1;
	struct agq_spool sp;
	memset(&sp, 0, sizeof sp);
	sp.root = root;
	char p[128];
	snprintf(p, sizeof p, "%s/done", root);
	mkdir(p, 0700);
	const struct agq_watch w[] = { { "done", IN_MOVED_TO | IN_CREATE },
	    { "", IN_CREATE }, { NULL, 0 } };
	CHECK(agq_watch_spool(&sp, w) == 0, "two directories watched");
	snprintf(p, sizeof p, "%s/done/x.json", root);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	struct inotify_event *ev = inotifytools_next_event(1);
	const char *dir = ev ? inotifytools_filename_from_wd(ev->wd) : NULL;
	char want[128];
	snprintf(want, sizeof want, "%s/done", root);
	CHECK(ev && ev->len && !strcmp(ev->name, "x.json") && dir &&
	    !strncmp(dir, want, strlen(want)), "an event names its directory");
	snprintf(p, sizeof p, "%s/y", root);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	ev = inotifytools_next_event(1);
	dir = ev ? inotifytools_filename_from_wd(ev->wd) : NULL;
	CHECK(ev && ev->len && !strcmp(ev->name, "y") && dir &&
	    !strncmp(dir, root, strlen(root)), "\"\" watches the root");
	inotifytools_cleanup();

	/* a missing directory: -1, ENOENT, reported, cleaned up */
	const struct agq_watch bad[] = { { "done", IN_CREATE },
	    { "nosuch", IN_CREATE }, { NULL, 0 } };
	int fd = dup(2);
	int nul = open("/dev/null", O_WRONLY);
	dup2(nul, 2);           /* the report is expected */
	int r = agq_watch_spool(&sp, bad);
	int e = errno;
	dup2(fd, 2);
	close(fd);
	close(nul);
	CHECK(r == -1 && e == ENOENT, "a missing directory: -1, ENOENT");
	CHECK(agq_watch_spool(&sp, w) == 0, "set up again after a failure");
	inotifytools_cleanup();

	/* the waiter: inotify on a local spool, polling on a remote one */
	struct agq_waiter wt;
	CHECK(agq_waiter_setup(&wt, &sp, w, -1, 1, 0) == 0 && wt.watching &&
	    wt.poll_us == 0, "a local spool: watched");
	agq_waiter_end(&wt);
	sp.remote = 1;
	CHECK(agq_waiter_setup(&wt, &sp, w, -1, 1, 0) == 0 && !wt.watching &&
	    wt.poll_us == 1000000, "a remote spool: polled every second");
	agq_waiter_end(&wt);
	CHECK(agq_waiter_setup(&wt, &sp, w, 0, 1, 0) == 0 && wt.watching,
	    "--poll 0: watched even so");
	agq_waiter_end(&wt);
	sp.remote = 0;
	CHECK(agq_waiter_setup(&wt, &sp, w, 0.01, 1, 0) == 0 && !wt.watching &&
	    wt.poll_us == 10000, "--poll S on a local spool: polled");
	int64_t t0 = agq_mono_us();
	CHECK(agq_waiter_next(&wt) == NULL && agq_mono_us() - t0 >= 10000 &&
	    wt.due, "a poll waits its period, returns no event, is due");
	agq_waiter_end(&wt);
	CHECK(agq_waiter_setup(&wt, &sp, w, 5, 1, 0) == 0, "--poll 5");
	t0 = agq_mono_us();
	CHECK(agq_waiter_next(&wt) == NULL && agq_mono_us() - t0 < 2000000 &&
	    !wt.due, "a long period: back within a second, not due yet");
	agq_waiter_end(&wt);

	snprintf(p, sizeof p, "%s/done/x.json", root);
	unlink(p);
	snprintf(p, sizeof p, "%s/y", root);
	unlink(p);
	snprintf(p, sizeof p, "%s/done", root);
	rmdir(p);
	rmdir(root);
	DONE();
}
