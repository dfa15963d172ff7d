//go:build linux

// Package daemon is agentd: it owns the BPF state (loaded and pinned once),
// the sandboxes (cgroups below its own root-owned subtree, their network
// policy in BPF maps and the egress proxy), the durable event log, and the
// gRPC API that reads and manages them (DESIGN.md D2, D7, D8, D9).
//
// Enforcement outlives the daemon: links and maps are pinned, Landlock and
// seccomp live on the processes. While the daemon is down, redirected
// connections reach a closed port and fail; on restart it re-adopts its
// pinned state and its sandboxes, and records the gap.
package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/egress"
	"github.com/paddock-sh/paddock/internal/kernfs"
	"golang.org/x/sys/unix"
)

// Defaults, for a system-wide daemon.
const (
	DefaultStateDir = "/var/lib/paddock"
	DefaultSocket   = "/run/paddock/agentd.sock"
	DefaultPinDir   = "/sys/fs/bpf/paddock"
	DefaultUnixDir  = "/run/paddock/unix"
	cgroupName      = "paddock"
)

// Config configures the daemon.
type Config struct {
	StateDir string // root-owned: the event log and the sandbox records
	Socket   string // the API; its directory is created root-owned, 0755
	// CgroupRoot is the cgroup2 directory sandboxes live below; "" means
	// "paddock" below the cgroup2 mount.
	CgroupRoot string
	PinDir     string // on bpffs; "" means DefaultPinDir
	// UnixDir holds the pinned unix sockets sandboxes may reach (package
	// unixpin); "" means DefaultUnixDir. Sandboxes must share the
	// daemon's mount namespace to see it.
	UnixDir string
	// ExportJSONL, when set, is a file every event is also written to as
	// a JSON line, for log shippers; rotated to FILE.1 at 256 MiB.
	ExportJSONL string
	Logger      *slog.Logger
	Version     string
	// RemoteListen, when set, also serves the API on this TCP address with
	// mutual TLS (remote.go): TLSCert and TLSKey are the server's PEM files
	// (the key owned by root, mode 0600 or stricter), ClientCA the PEM CAs
	// that sign client certificates.
	RemoteListen, TLSCert, TLSKey, ClientCA string
	// UpstreamCA, when set, is a PEM file of the CAs that verify the
	// servers the proxy injects credentials for, instead of the system's
	// (a private API, a test).
	UpstreamCA string
	// Upstream are the recursive DNS servers the stub and the proxy ask;
	// nil means /etc/resolv.conf's.
	Upstream []netip.AddrPort
}

// Daemon is a running agentd.
type Daemon struct {
	cfg        Config
	logger     *slog.Logger
	cgroup2    string // the cgroup2 mount
	cgroupRoot string
	subtree    string // cgroupRoot as /proc/PID/cgroup writes it: relative to cgroup2, with a leading /
	hub        *egress.Hub
	pipe       *pipeline
	sbx        *sandboxes
	caBundle   string    // the CA bundle file sandboxes with credentials trust
	export     *exporter // nil when not exporting
	srv        *grpc.Server
	ln         net.Listener
	metrics    *metrics
	remote     *remote // the mutual-TLS listener, if configured
	audit      *auditReader
	approvals  *approvals
}

// Start prepares everything and listens; Serve then answers calls.
func Start(cfg Config) (_ *Daemon, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("agentd must run as root")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.UnixDir == "" {
		cfg.UnixDir = DefaultUnixDir
	}
	if cfg.PinDir == "" {
		cfg.PinDir = DefaultPinDir
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, logger: cfg.Logger}
	if d.remote, err = loadRemote(cfg); err != nil {
		return nil, err
	}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	if err := mountKernelFS(filepath.Dir(cfg.PinDir)); err != nil {
		return nil, err
	}
	if err := rootDir(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	if err := rootDir(filepath.Join(cfg.StateDir, "sandboxes"), 0o700); err != nil {
		return nil, err
	}
	if err := rootDir(filepath.Dir(cfg.Socket), 0o755); err != nil {
		return nil, err
	}
	if err := rootDir(cfg.PinDir, 0o700); err != nil {
		return nil, err
	}
	if d.cgroup2, err = kernfs.Cgroup2Root(); err != nil {
		return nil, err
	}
	d.cgroupRoot = cfg.CgroupRoot
	if d.cgroupRoot == "" {
		d.cgroupRoot = filepath.Join(d.cgroup2, cgroupName)
	}
	if err := rootDir(d.cgroupRoot, 0o755); err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(d.cgroup2, d.cgroupRoot)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("cgroup root %s is not below the cgroup2 mount %s", d.cgroupRoot, d.cgroup2)
	}
	d.subtree = "/" + rel

	d.metrics = newMetrics()
	if d.pipe, err = openPipeline(d, filepath.Join(cfg.StateDir, "events")); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.pipe.close() })

	// The local CA terminates HTTPS to credentials' hosts; its key stays
	// in the state directory, the bundle sandboxes trust sits beside the
	// socket, where any sandbox's owner can read it. Not *.pem: policies
	// deny those as keys.
	ca, err := credential.LoadCA(filepath.Join(cfg.StateDir, "ca"))
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	d.caBundle = filepath.Join(filepath.Dir(cfg.Socket), apiv1.CABundleName)
	if err := ca.WriteBundle(d.caBundle); err != nil {
		return nil, fmt.Errorf("local CA bundle: %w", err)
	}
	var upstreamRoots *x509.CertPool
	if cfg.UpstreamCA != "" {
		pemBytes, err := os.ReadFile(cfg.UpstreamCA)
		if err != nil {
			return nil, err
		}
		upstreamRoots = x509.NewCertPool()
		if !upstreamRoots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s holds no PEM certificate", cfg.UpstreamCA)
		}
	}
	// The sandbox table exists before the hub: the hub's first events
	// (from sandboxes to re-adopt) look their sandbox up in it.
	d.sbx = &sandboxes{d: d, m: map[string]*record{}, watchers: map[string]*os.File{}}
	d.approvals = newApprovals(d)
	if d.hub, err = egress.Start(egress.Config{CgroupRoot: d.cgroupRoot, PinDir: cfg.PinDir, UnixDir: cfg.UnixDir, Events: d.pipe,
		CA: ca, UpstreamRoots: upstreamRoots, Upstream: cfg.Upstream, Ask: d.approvals.ask}); err != nil {
		return nil, fmt.Errorf("network layer: %w", err)
	}
	// On a failed start the pinned enforcement stays; only this process's
	// handles go.
	cleanup = append(cleanup, func() { d.hub.Release() })

	adopted, gone, err := d.sbx.adopt()
	if err != nil {
		return nil, fmt.Errorf("re-adopting sandboxes: %w", err)
	}
	// A marker that only a clean Shutdown removes: finding it means the
	// last agentd was killed or crashed, and what it held in memory is
	// lost; the log says so.
	running := filepath.Join(cfg.StateDir, "agentd.running")
	prev, _ := os.ReadFile(running)
	if err := os.WriteFile(running, []byte(time.Now().UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		return nil, err
	}
	d.pipe.daemonStarted(adopted, gone, strings.TrimSpace(string(prev)))
	if cfg.ExportJSONL != "" {
		if d.export, err = startExport(d.pipe, cfg.ExportJSONL, cfg.StateDir); err != nil {
			return nil, err
		}
		cleanup = append(cleanup, d.export.close)
	}
	d.audit = startAudit(d) // seccomp and Landlock denials
	cleanup = append(cleanup, d.audit.stop)

	// The socket: removed if a stale one is there (the directory is ours
	// and root-only writable, so nothing else can have put it there).
	if err := os.Remove(cfg.Socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return nil, err
	}
	// Every local user may connect; what each may do is decided per call
	// from the kernel's word on who they are.
	if err := os.Chmod(cfg.Socket, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	d.ln = ln
	cleanup = append(cleanup, func() { ln.Close() })
	d.srv = newServer(d)
	apiv1.RegisterSandboxesServer(d.srv, &sandboxService{s: d.sbx})
	apiv1.RegisterEventsServer(d.srv, &eventService{d: d})
	apiv1.RegisterApprovalsServer(d.srv, &approvalService{a: d.approvals})
	d.metrics.initServer(d.srv)
	if err := d.listenRemote(); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, d.closeRemote)
	d.logger.Info("agentd ready", "socket", cfg.Socket, "state", cfg.StateDir, "cgroup", d.cgroupRoot,
		"proxy_port", d.hub.ProxyPort(), "adopted", len(adopted), "gone", len(gone))
	return d, nil
}

// Serve answers API calls until Shutdown.
func (d *Daemon) Serve() error {
	d.serveRemote()
	err := d.srv.Serve(d.ln)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Shutdown stops the API and the proxy and closes the log. Enforcement
// stays in the kernel (pinned links and maps); a restarted daemon adopts it.
func (d *Daemon) Shutdown(ctx context.Context) {
	remoteDone := d.stopRemote(ctx)
	done := make(chan struct{})
	go func() { d.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.srv.Stop()
	}
	<-remoteDone
	d.sbx.stopWatching()
	d.pipe.stopRing() // the hub's maps close now
	d.hub.Release()
	d.audit.stop()
	d.pipe.close()
	os.Remove(filepath.Join(d.cfg.StateDir, "agentd.running"))
	os.Remove(d.cfg.Socket)
}

// ProxyPort is the egress proxy's port on 127.0.0.1 and ::1.
func (d *Daemon) ProxyPort() uint16 { return d.hub.ProxyPort() }

// CgroupRoot is the cgroup2 directory the sandboxes live below.
func (d *Daemon) CgroupRoot() string { return d.cgroupRoot }

// mountKernelFS mounts bpffs at bpfDir and securityfs, when missing.
func mountKernelFS(bpfDir string) error {
	if _, err := kernfs.MountBPF(bpfDir); err != nil {
		return err
	}
	var st unix.Statfs_t
	const securityfsMagic = 0x73636673
	if unix.Statfs("/sys/kernel/security", &st) == nil && st.Type != securityfsMagic {
		if err := unix.Mount("securityfs", "/sys/kernel/security", "securityfs", 0, ""); err != nil {
			return fmt.Errorf("mounting securityfs: %w", err)
		}
	}
	return nil
}

// rootDir makes dir (and refuses one it finds) unless it is a real
// directory owned by root that no one else can write to.
func rootDir(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s must be a directory owned by root and writable by root only (it is %v, uid %d)", dir, st.Mode(), sys.Uid)
	}
	return nil
}

func fileUID(st os.FileInfo) uint32 { return st.Sys().(*syscall.Stat_t).Uid }

// tree lists pid and its descendants, from /proc's children lists.
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && len(out) < 65536; i++ {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", out[i]))
		for _, t := range ents {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", out[i], t.Name()))
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
	}
	return out
}
