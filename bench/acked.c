/* acked - run agq-submit ARGS..., and print the CLOCK_REALTIME (in
 * microseconds) at which its acknowledgement (the id on stdout) arrived,
 * then the id.  Used by the latency benchmark. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	int p[2];
	if (argc < 2 || pipe(p) < 0)
		return 64;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	close(p[1]);
	char buf[256];
	ssize_t n = read(p[0], buf, sizeof buf - 1);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int st;
	waitpid(pid, &st, 0);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	printf("%lld %s", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
