//go:build linux

// Command agentd is Paddock's privileged daemon: it loads and pins the BPF
// programs, runs sandboxes in its cgroup subtree with their network forced
// through its egress proxy, keeps the durable event log, and serves the
// gRPC API on a unix socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/daemon"
	"github.com/paddock-sh/paddock/compiler/policy"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("agentd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: agentd [flags]

Paddock's privileged daemon. Runs as root (the systemd unit in agentd/dist
starts it); agentctl talks to it over its unix socket.

Remote readers (SOC dashboards, log collectors) may be served the same API
on TCP with mutual TLS: give --listen-tcp, --tls-cert, --tls-key and
--client-ca together. A client certificate signed by the client CA may read
(the Events service: every sandbox's events, and Info); one that also
carries the URI SAN `+"`"+`paddock:role:admin`+"`"+` may manage sandboxes, as root.
TLS 1.3 only; the files are read once, at start.

Flags:
`)
		fs.PrintDefaults()
	}
	state := fs.String("state-dir", daemon.DefaultStateDir, "root-owned directory for the event log and sandbox records")
	sock := fs.String("socket", daemon.DefaultSocket, "the API's unix socket")
	pins := fs.String("pin-dir", daemon.DefaultPinDir, "bpffs directory the programs and maps are pinned under")
	cgroupRoot := fs.String("cgroup-root", "", "the cgroup2 directory (absolute path) sandboxes live below; default: paddock below the cgroup2 mount")
	unixDir := fs.String("unix-dir", daemon.DefaultUnixDir, "root-owned directory where the unix sockets policies list are pinned by bind mounts")
	export := fs.String("export-jsonl", "", "also write every event as a JSON line to this `FILE` (root-only, rotated to FILE.1 at 256 MiB), for log shippers")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this TCP address (e.g. 127.0.0.1:9464); off when empty")
	listenTCP := fs.String("listen-tcp", "", "also serve the API on this TCP address with mutual TLS, for remote readers (e.g. 0.0.0.0:7443); needs --tls-cert, --tls-key and --client-ca; off when empty")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) of the TCP listener; owned by root, writable by root only")
	tlsKey := fs.String("tls-key", "", "PEM private key of the TCP listener; owned by root and readable by root only (mode 0600 or 0400)")
	clientCA := fs.String("client-ca", "", "PEM CA certificates that sign the TCP listener's client certificates; owned by root, writable by root only")
	upstreamCA := fs.String("upstream-ca", "", "PEM CA certificates that verify the servers credentials are injected for, instead of the system's (a private API); empty: the system's")
	jsonLogs := fs.Bool("log-json", false, "log as JSON lines instead of text")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "agentd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Println("agentd", strings.TrimPrefix(policy.CompilerVersion, "policyc "))
		return 0
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *jsonLogs {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	logger := slog.New(h)

	// Credentials' secrets live in this process: no core dumps, and no
	// /proc/PID/mem or environ for same-uid processes without
	// CAP_SYS_PTRACE (Landlock already keeps sandboxes out).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		logger.Warn("could not make agentd non-dumpable", "err", err)
	}
	d, err := daemon.Start(daemon.Config{StateDir: *state, Socket: *sock, CgroupRoot: *cgroupRoot, PinDir: *pins, ExportJSONL: *export, UnixDir: *unixDir, Logger: logger, Version: strings.TrimPrefix(policy.CompilerVersion, "policyc "),
		RemoteListen: *listenTCP, TLSCert: *tlsCert, TLSKey: *tlsKey, ClientCA: *clientCA,
		UpstreamCA: *upstreamCA})
	if err != nil {
		logger.Error("agentd could not start", "err", err)
		return 1
	}
	if *metrics != "" {
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			logger.Error("metrics listener", "err", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.MetricsHandler())
		go http.Serve(ln, mux)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		logger.Info("stopping; enforcement stays in the kernel", "signal", s.String())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	}()
	if err := d.Serve(); err != nil {
		logger.Error("serving the API", "err", err)
		return 1
	}
	return 0
}
