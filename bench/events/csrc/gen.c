/* The event benchmark's load generator; bench/events compiles this file
 * with the system's C compiler at run time.
 *
 *   gen PORT
 *       Prints "ready", then reads commands from stdin, one a line:
 *
 *       go SECONDS MAX ERRNO RATE
 *           Creates a UDP socket and calls connect(127.0.0.1:PORT) on it
 *           over and over for SECONDS or MAX calls, whichever comes
 *           first: as fast as it can when RATE is 0, otherwise at most
 *           RATE calls a second (it sleeps whenever it is ahead). Every
 *           call must fail with ERRNO, or succeed when ERRNO is 0; a
 *           refused connect leaves the socket as it was, and a UDP
 *           connect sends nothing, so every call is the same decision
 *           again. Prints "done <calls> <ns>", or "err ..." and exits 1
 *           on a call that did anything else.
 *       quit
 *           Exits 0.
 *
 * A socket belongs to the cgroup of the task that created it, so the
 * benchmark moves this process (it writes its pid to a cgroup.procs)
 * before sending "go", and each "go" makes a new socket. */
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

static int run(const struct sockaddr_in *sa, double seconds, long long max, int want, double rate)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		printf("err socket: %s\n", strerror(errno));
		return -1;
	}
	long long start = now_ns();
	long long stop = start + (long long)(seconds * 1e9);
	long long calls = 0;
	while (calls < max) {
		int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
		int e = r == 0 ? 0 : errno;
		if (e != want) {
			printf("err connect after %lld calls: %s (errno %d, want %d)\n", calls, e ? strerror(e) : "succeeded", e, want);
			return -1;
		}
		calls++;
		if ((calls & 63) != 0)
			continue;
		long long t = now_ns();
		if (t >= stop)
			break;
		if (rate > 0) {
			/* Ahead of the schedule: sleep until this call's time. */
			long long due = start + (long long)((double)calls * 1e9 / rate);
			if (due > t) {
				struct timespec ts = { (due - t) / 1000000000LL, (due - t) % 1000000000LL };
				nanosleep(&ts, NULL);
			}
		}
	}
	long long end = now_ns();
	close(fd);
	printf("done %lld %lld\n", calls, end - start);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	printf("ready\n");
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		double seconds, rate;
		long long max;
		int want;
		if (strcmp(line, "quit\n") == 0)
			return 0;
		if (sscanf(line, "go %lf %lld %d %lf", &seconds, &max, &want, &rate) != 4) {
			printf("err bad command: %s", line);
			return 1;
		}
		if (run(&sa, seconds, max, want, rate) < 0)
			return 1;
	}
	return 0;
}
