// loop.c: bench/syscall's measuring program. It installs the seccomp
// programs named on its command line (raw struct sock_filter arrays, in
// order), checks in /proc/self/status that the kernel holds as many filters
// as the variant expects, then times blocks of system calls with
// CLOCK_MONOTONIC when told to. Every variant of the benchmark runs this
// same binary; only its filters, or the sandbox it is started in, differ.
//
// usage: loop [-f FILE | -F FILE]... [-e N | -m N] [-p PROBES] CALL=ITERS...
//   -f FILE  install FILE's program (flags: TSYNC)
//   -F FILE  install FILE's program with SECCOMP_FILTER_FLAG_LOG too
//   -e N     exit 3 unless Seccomp_filters is exactly N after the installs
//   -m N     exit 3 unless it is at least N
//   -p LIST  print the outcome of the probes (calls policies refuse) named
//            in LIST, comma-separated, or "all"
//   CALL     getpid, openat, read, socket or ioctl; ITERS calls per block
//
// It prints "status FIELD=VALUE...", a "probe NAME RESULT" line per probe
// and "ready", then serves its stdin line by line: "b K" times one block
// of the K-th call of its command line and prints "ns CALL NS" (ns per
// call); "w K" runs one untimed block and prints "ok"; end of input exits.
// So the benchmark keeps every variant's loop running and asks them for a
// block each in turn, and blocks that are compared run milliseconds apart.
//
// Everything the timed loops need is opened before the filters are
// installed, and the output is written with write(2) from a static buffer,
// so a narrow synthetic policy only has to allow openat, read, close,
// write, sched_getscheduler, exit_group and the calls measured.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILTERS 8
#define MAX_CALLS 8

static char out[16384];
static size_t outlen;

static void emit(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + outlen, sizeof out - outlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		outlen += (size_t)n < sizeof out - outlen ? (size_t)n : sizeof out - outlen - 1;
}

static void flush(void) {
	size_t off = 0;
	while (off < outlen) {
		ssize_t n = write(1, out + off, outlen - off);
		if (n <= 0)
			_exit(4);
		off += (size_t)n;
	}
	outlen = 0;
}

static void die(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0) {
		if (write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
			_exit(2);
	}
	_exit(2);
}

struct filter {
	struct sock_fprog prog;
	unsigned flags;
	const char *path;
};

static void readprog(struct filter *f, const char *path, unsigned flags) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("loop: %s: %s\n", path, strerror(errno));
	static struct sock_filter buf[MAX_FILTERS][BPF_MAXINSNS + 1];
	static int used;
	if (used == MAX_FILTERS)
		die("loop: more than %d filters\n", MAX_FILTERS);
	ssize_t n = read(fd, buf[used], sizeof buf[used]);
	close(fd);
	if (n <= 0 || n % sizeof(struct sock_filter) != 0 || n > (ssize_t)(BPF_MAXINSNS * sizeof(struct sock_filter)))
		die("loop: %s: not a program of 1 to %d instructions (%zd bytes)\n", path, BPF_MAXINSNS, n);
	f->prog.len = (unsigned short)(n / sizeof(struct sock_filter));
	f->prog.filter = buf[used++];
	f->flags = flags;
	f->path = path;
}

// status copies the fields of /proc/self/status this benchmark records into
// the output and returns Seccomp_filters.
static int status(void) {
	static char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("loop: /proc/self/status: %s\n", strerror(errno));
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		die("loop: reading /proc/self/status failed\n");
	buf[n] = 0;
	int filters = -1;
	emit("status");
	static const char *fields[] = {"NoNewPrivs", "Seccomp", "Seccomp_filters", "Speculation_Store_Bypass", "CapEff"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		size_t len = strlen(fields[i]);
		for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
			if (strncmp(line, fields[i], len) != 0 || line[len] != ':')
				continue;
			char *v = line + len + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			char *end = strchr(v, '\n');
			int vlen = end ? (int)(end - v) : (int)strlen(v);
			emit(" %s=", fields[i]);
			for (int k = 0; k < vlen; k++)
				emit("%c", v[k] == ' ' ? '_' : v[k]);
			if (strcmp(fields[i], "Seccomp_filters") == 0)
				filters = atoi(v);
			break;
		}
	}
	// The scheduling policy the loop runs under: bench/syscall runs every
	// variant under the same one (SCHED_FIFO where it may) and checks it.
	int policy = sched_getscheduler(0);
	emit(" Sched=%s\n", policy == SCHED_FIFO ? "FIFO" : policy == SCHED_OTHER ? "OTHER" : "other");
	return filters;
}

static int zero_fd, pipe_fd[2];
static long getpid_arg;

static void fail(const char *call) { die("loop: %s failed: %s\n", call, strerrorname_np(errno)); }

static void do_getpid(long n) {
	for (long i = 0; i < n; i++)
		if (syscall(SYS_getpid, getpid_arg, 0, 0, 0, 0, 0) <= 0)
			fail("getpid");
}

static void do_openat(long n) {
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail("openat");
		if (close(fd) != 0)
			fail("close");
	}
}

static void do_read(long n) {
	char c;
	for (long i = 0; i < n; i++)
		if (read(zero_fd, &c, 1) != 1)
			fail("read");
}

static void do_socket(long n) {
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			fail("socket");
		if (close(fd) != 0)
			fail("close");
	}
}

static void do_ioctl(long n) {
	int avail;
	for (long i = 0; i < n; i++)
		if (ioctl(pipe_fd[0], FIONREAD, &avail) != 0)
			fail("ioctl");
}

static const struct {
	const char *name;
	void (*run)(long);
} calls[] = {
	{"getpid", do_getpid}, {"openat", do_openat}, {"read", do_read}, {"socket", do_socket}, {"ioctl", do_ioctl},
};

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const char *outcome(long r) { return r < 0 ? strerrorname_np(errno) : "ok"; }

static const char *probe_list;

static int wanted(const char *name) {
	if (!strcmp(probe_list, "all"))
		return 1;
	size_t len = strlen(name);
	for (const char *p = probe_list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == 0))
			return 1;
	return 0;
}

// probes makes calls that restrictive policies refuse and prints how each
// ended: "ok" or the errno's name. The arguments are fixed; bench/syscall
// knows them and predicts what its own programs answer.
static void probes(void) {
	long r;
	if (wanted("keyctl")) {
		r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3L /* KEY_SPEC_SESSION_KEYRING */, 0L);
		emit("probe keyctl %s\n", outcome(r));
	}
	if (wanted("unshare_newuser")) {
		// In a child, so this process keeps its namespaces.
		pid_t pid = fork();
		if (pid == 0)
			_exit(syscall(SYS_unshare, (long)CLONE_NEWUSER) == 0 ? 0 : errno);
		int st = 0;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			emit("probe unshare_newuser fork-failed\n");
		else if (WEXITSTATUS(st) == 0)
			emit("probe unshare_newuser ok\n");
		else
			emit("probe unshare_newuser %s\n", strerrorname_np(WEXITSTATUS(st)));
	}
	if (wanted("ioctl_tiocsti")) {
		char c = 0;
		r = syscall(SYS_ioctl, (long)pipe_fd[0], (long)TIOCSTI, &c);
		emit("probe ioctl_tiocsti %s\n", outcome(r));
	}
	if (wanted("socket_packet")) {
		r = syscall(SYS_socket, (long)AF_PACKET, (long)SOCK_RAW, 0L);
		emit("probe socket_packet %s\n", outcome(r));
		if (r >= 0)
			close((int)r);
	}
	if (wanted("getpid_arg1")) {
		r = syscall(SYS_getpid, 1L, 0L, 0L, 0L, 0L, 0L);
		emit("probe getpid_arg1 %s\n", outcome(r));
	}
}

// readline reads one line of stdin into buf (without its newline); it
// returns 0 at the end of input.
static int readline(char *buf, size_t size) {
	static char in[256];
	static size_t have, pos;
	size_t n = 0;
	for (;;) {
		if (pos == have) {
			ssize_t r = read(0, in, sizeof in);
			if (r <= 0)
				return 0;
			have = (size_t)r;
			pos = 0;
		}
		char c = in[pos++];
		if (c == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = c;
	}
	buf[n] = 0;
	return 1;
}

int main(int argc, char **argv) {
	struct filter filters[MAX_FILTERS];
	int nfilters = 0, expect = -1, at_least = -1;
	struct {
		int call;
		long iters;
	} todo[MAX_CALLS];
	int ntodo = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "-f") || !strcmp(a, "-F")) && i + 1 < argc) {
			if (nfilters == MAX_FILTERS)
				die("loop: more than %d filters\n", MAX_FILTERS);
			unsigned flags = SECCOMP_FILTER_FLAG_TSYNC | (a[1] == 'F' ? SECCOMP_FILTER_FLAG_LOG : 0);
			readprog(&filters[nfilters++], argv[++i], flags);
		} else if (!strcmp(a, "-e") && i + 1 < argc) {
			expect = atoi(argv[++i]);
		} else if (!strcmp(a, "-m") && i + 1 < argc) {
			at_least = atoi(argv[++i]);
		} else if (!strcmp(a, "-p") && i + 1 < argc) {
			probe_list = argv[++i];
		} else if (strchr(a, '=') && ntodo < MAX_CALLS) {
			size_t len = (size_t)(strchr(a, '=') - a);
			int found = -1;
			for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
				if (strlen(calls[k].name) == len && !strncmp(a, calls[k].name, len))
					found = (int)k;
			long iters = atol(strchr(a, '=') + 1);
			if (found < 0 || iters < 1)
				die("loop: bad call %s\n", a);
			todo[ntodo].call = found;
			todo[ntodo++].iters = iters;
		} else {
			die("usage: loop [-f FILE | -F FILE]... [-e N | -m N] [-p PROBES] CALL=ITERS...\n");
		}
	}

	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0 || pipe2(pipe_fd, O_CLOEXEC) != 0)
		die("loop: /dev/zero or pipe2: %s\n", strerror(errno));

	if (nfilters > 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die("loop: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
	for (int i = 0; i < nfilters; i++)
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filters[i].flags, &filters[i].prog) != 0)
			die("loop: installing %s (%u instructions): %s\n", filters[i].path, filters[i].prog.len, strerror(errno));

	int n = status();
	if (expect >= 0 && n != expect) {
		flush();
		die("loop: Seccomp_filters is %d, the variant expects %d\n", n, expect);
	}
	if (at_least >= 0 && n < at_least) {
		flush();
		die("loop: Seccomp_filters is %d, the variant expects at least %d\n", n, at_least);
	}
	if (probe_list)
		probes();
	emit("ready\n");
	flush();

	char line[64];
	while (readline(line, sizeof line)) {
		char cmd = line[0];
		int k = atoi(line + 1);
		if ((cmd != 'b' && cmd != 'w') || line[1] != ' ' || k < 0 || k >= ntodo)
			die("loop: bad request \"%s\"\n", line);
		double start = now_ns();
		calls[todo[k].call].run(todo[k].iters);
		double took = now_ns() - start;
		if (cmd == 'b')
			emit("ns %s %.3f\n", calls[todo[k].call].name, took / (double)todo[k].iters);
		else
			emit("ok\n");
		flush();
	}
	return 0;
}
