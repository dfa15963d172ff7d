/* The connect benchmark's timed loop and its listener; bench/connect
 * compiles this file with the system's C compiler at run time.
 *
 *   connect loop IP PORT N WARMUP   N timed iterations (after WARMUP
 *                                   untimed ones) of socket + SO_LINGER
 *                                   {1,0} + connect + close; prints
 *                                   "ok <ns per iteration>" or "err ..."
 *   connect serve                   listens on 127.0.0.1 (port chosen by
 *                                   the kernel), prints "port <n>", then
 *                                   accepts and closes forever
 *
 * The linger setting makes close send a reset, so no TIME_WAIT builds up
 * and the ephemeral ports never run out however many rounds run. */
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

static int loop(const char *ip, int port, long n, long warmup)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		printf("err address %s\n", ip);
		return 2;
	}
	struct linger lg = { 1, 0 };
	long long start = now_ns();
	for (long i = 0; i < warmup + n; i++) {
		if (i == warmup)
			start = now_ns();
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			printf("err socket %s\n", strerror(errno));
			return 1;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) {
			printf("err setsockopt %s\n", strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			printf("err connect %s (iteration %ld)\n", strerror(errno), i);
			return 1;
		}
		close(fd);
	}
	long long end = now_ns();
	printf("ok %.1f\n", (double)(end - start) / (double)n);
	return 0;
}

static int serve(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0) {
		printf("err socket %s\n", strerror(errno));
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
	if (argc == 6 && strcmp(argv[1], "loop") == 0)
		return loop(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
	if (argc == 2 && strcmp(argv[1], "serve") == 0)
		return serve();
	fprintf(stderr, "usage: %s loop IP PORT N WARMUP | serve\n", argv[0]);
	return 2;
}
