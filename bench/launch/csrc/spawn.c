/* The launch benchmark's spawner; bench/launch compiles this file with the
 * system's C compiler at run time.
 *
 * It reads requests from stdin and, for each, forks, sets the child's
 * credentials and working directory, execs the command with the given
 * environment (output to /dev/null), waits for it and prints
 *
 *     ok <ns> <maxrss KiB> <exit status>
 *
 * or "err ..." when the request cannot be carried out. The time runs from
 * just before fork to the return of wait4; the peak RSS is wait4's
 * ru_maxrss for the child (the largest single process of its tree).
 *
 * The benchmark itself is a Go program whose heap is tens of MiB: Go
 * starts a child from a vfork that shares that memory, and Linux carries
 * its high-water mark into the child's ru_maxrss. This small process
 * forks a copy of itself instead, so the floor under every launch's peak
 * RSS is its own, about a MiB.
 *
 * A request is a sequence of NUL-terminated fields:
 *     UID GID DIR NENV ENV... NARGV ARGV...
 * UID -1 keeps this process's credentials. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFIELDS 256

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* field reads one NUL-terminated field into a fresh string; NULL at the
 * end of input. */
static char *field(void)
{
	char *s = NULL;
	size_t n = 0;
	ssize_t len = getdelim(&s, &n, '\0', stdin);
	if (len <= 0 || s[len - 1] != '\0') {
		free(s);
		return NULL;
	}
	return s;
}

static long number(const char *s)
{
	return s ? strtol(s, NULL, 10) : -2;
}

int main(void)
{
	for (;;) {
		char *f = field();
		if (!f)
			return 0;
		long uid = number(f);
		free(f);
		f = field();
		long gid = number(f);
		free(f);
		char *dir = field();
		f = field();
		long nenv = number(f);
		free(f);
		if (!dir || nenv < 0 || nenv >= MAXFIELDS) {
			printf("err bad request\n");
			fflush(stdout);
			return 1;
		}
		char *env[MAXFIELDS + 1], *argv[MAXFIELDS + 1];
		for (long i = 0; i < nenv; i++)
			env[i] = field();
		env[nenv] = NULL;
		f = field();
		long nargv = number(f);
		free(f);
		if (nargv < 1 || nargv >= MAXFIELDS) {
			printf("err bad request\n");
			fflush(stdout);
			return 1;
		}
		for (long i = 0; i < nargv; i++)
			argv[i] = field();
		argv[nargv] = NULL;

		long long start = now_ns();
		pid_t pid = fork();
		if (pid < 0) {
			printf("err fork: %s\n", strerror(errno));
			fflush(stdout);
			return 1;
		}
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
				_exit(126);
			if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0))
				_exit(126);
			if (dir[0] && chdir(dir) < 0)
				_exit(126);
			execve(argv[0], argv, env);
			_exit(127);
		}
		int status;
		struct rusage ru;
		if (wait4(pid, &status, 0, &ru) < 0) {
			printf("err wait4: %s\n", strerror(errno));
			fflush(stdout);
			return 1;
		}
		long long end = now_ns();
		printf("ok %lld %ld %d\n", end - start, ru.ru_maxrss, status);
		fflush(stdout);
		free(dir);
		for (long i = 0; i < nenv; i++)
			free(env[i]);
		for (long i = 0; i < nargv; i++)
			free(argv[i]);
	}
}
