/* The connect benchmark's timed loop and its listener; bench/connect
 * compiles this file with the system's C compiler at run time.
 *
 *   loop alt ROUNDS N WARMUP PROCS IP PORT [PROCS IP PORT]...
 *       For each round, for each case in an order that rotates from round
 *       to round: move this process into the case's cgroup (by writing 0
 *       to PROCS, its cgroup.procs), make WARMUP untimed iterations, then
 *       time N iterations of socket + SO_LINGER {1,0} + connect(IP:PORT)
 *       + close. Prints "t <round> <case> <ns per iteration>" per timed
 *       block, or "err ..." and exits 1 on the first failure.
 *   loop serve
 *       Listens on 127.0.0.1 (port chosen by the kernel), prints
 *       "port <n>", then accepts and closes forever.
 *
 * The linger setting makes close send a reset, so no TIME_WAIT builds up
 * and the ephemeral ports never run out however many rounds run. A
 * socket belongs to the cgroup of the task that created it, so after the
 * move every new socket is the new cgroup's. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct target {
	const char *procs;
	struct sockaddr_in sa;
};

static int enter(const char *procs)
{
	FILE *f = fopen(procs, "w");
	if (!f) {
		printf("err open %s: %s\n", procs, strerror(errno));
		return -1;
	}
	int ok = fputs("0\n", f) >= 0;
	if (fclose(f) != 0 || !ok) {
		printf("err moving into %s: %s\n", procs, strerror(errno));
		return -1;
	}
	return 0;
}

static int iterate(const struct sockaddr_in *sa, long n)
{
	struct linger lg = { 1, 0 };
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			printf("err socket %s\n", strerror(errno));
			return -1;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) {
			printf("err setsockopt %s\n", strerror(errno));
			return -1;
		}
		if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip);
			printf("err connect %s:%d: %s\n", ip, ntohs(sa->sin_port), strerror(errno));
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int alt(long rounds, long n, long warmup, struct target *t, int ncase)
{
	for (long r = 0; r < rounds; r++) {
		for (int k = 0; k < ncase; k++) {
			int c = (int)((r + k) % ncase);
			if (enter(t[c].procs) < 0 || iterate(&t[c].sa, warmup) < 0)
				return 1;
			long long start = now_ns();
			if (iterate(&t[c].sa, n) < 0)
				return 1;
			long long end = now_ns();
			printf("t %ld %d %.1f\n", r, c, (double)(end - start) / (double)n);
		}
		fflush(stdout);
	}
	return 0;
}

/* serve accepts and closes in a loop. A mark other than 0 is set on the
 * listener: the hooks send redirected connections only to a listener
 * bearing agentd's mark (bpf.Mark). */
static int serve(unsigned mark)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0) {
		printf("err socket %s\n", strerror(errno));
		return 1;
	}
	if (mark && setsockopt(l, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) {
		printf("err mark %s\n", strerror(errno));
		return 1;
	}
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4096) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0) {
		printf("err listen %s\n", strerror(errno));
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			close(c);
		else if (errno != EINTR && errno != ECONNABORTED)
			return 1;
	}
}

int main(int argc, char **argv)
{
	if (argc >= 8 && (argc - 5) % 3 == 0 && strcmp(argv[1], "alt") == 0) {
		int ncase = (argc - 5) / 3;
		struct target t[8];
		if (ncase > 8) {
			printf("err too many cases\n");
			return 2;
		}
		for (int i = 0; i < ncase; i++) {
			char **a = argv + 5 + 3 * i;
			t[i].procs = a[0];
			memset(&t[i].sa, 0, sizeof t[i].sa);
			t[i].sa.sin_family = AF_INET;
			t[i].sa.sin_port = htons(atoi(a[2]));
			if (inet_pton(AF_INET, a[1], &t[i].sa.sin_addr) != 1) {
				printf("err address %s\n", a[1]);
				return 2;
			}
		}
		return alt(atol(argv[2]), atol(argv[3]), atol(argv[4]), t, ncase);
	}
	if (argc == 2 && strcmp(argv[1], "serve") == 0)
		return serve(0);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve((unsigned)strtoul(argv[2], NULL, 0));
	fprintf(stderr, "usage: %s alt ROUNDS N WARMUP PROCS IP PORT... | serve\n", argv[0]);
	return 2;
}
