package main

import (
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// spliceEnv, when set, makes this binary the kernel splice relay instead
// of the benchmark: its value is the origin, its arguments the loopback
// address to listen on and the compiled csrc/splice.bpf.c. The splice relay is
// the ceiling of any proxy with a second TCP connection to the origin on
// this machine: it accepts and dials like the Go relay, then hands both
// sockets to a BPF verdict program that moves every byte from one to the
// other inside the kernel. Userspace only sets a connection up and passes
// its ends on.
const spliceEnv = "PADDOCK_BENCH_SPLICE_CHILD"

//go:embed csrc/splice.bpf.c
var spliceC []byte

// compileSplice compiles csrc/splice.bpf.c into dir and returns the object and
// the compiler's version.
func compileSplice(dir string) (obj, version string, err error) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		return "", "", err
	}
	src := filepath.Join(dir, "splice.bpf.c")
	if err := os.WriteFile(src, spliceC, 0o644); err != nil {
		return "", "", err
	}
	obj = filepath.Join(dir, "splice.bpf.o")
	out, _ := exec.Command(clang, "-print-multiarch").Output()
	args := spliceCompileArgs(clang, src, obj, strings.TrimSpace(string(out)))
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	v, _ := exec.Command(clang, "--version").Output()
	version, _, _ = strings.Cut(strings.TrimSpace(string(v)), "\n")
	return obj, version, nil
}

// spliceCompileArgs is the command compiling src into obj. linux/bpf.h
// includes asm/types.h, which Debian keeps in the host's multiarch
// directory, where clang does not look when it targets bpf.
func spliceCompileArgs(clang, src, obj, multiarch string) []string {
	args := []string{clang, "-O2", "-g", "-target", "bpf", "-c", src, "-o", obj}
	if multiarch != "" {
		args = append(args, "-idirafter", "/usr/include/"+multiarch)
	}
	return args
}

// splicer holds the verdict program and its maps, and where to dial.
type splicer struct {
	socks, peers *ebpf.Map
	prog         *ebpf.Program
	origin       unix.Sockaddr
}

// peer is csrc/splice.bpf.c's struct peer.
type peer struct{ Cookie, Bytes uint64 }

func loadSplicer(obj, origin string) (*splicer, error) {
	ap, err := netip.ParseAddrPort(origin)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("origin %q is not an IPv4 address and port", origin)
	}
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		return nil, err
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, err
	}
	s := &splicer{socks: coll.Maps["socks"], peers: coll.Maps["peers"], prog: coll.Programs["splice"],
		origin: &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}}
	// Attached to the map, the program runs for every socket put in it.
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{Target: s.socks.FD(), Program: s.prog, Attach: ebpf.AttachSkSKBVerdict}); err != nil {
		coll.Close()
		return nil, err
	}
	return s, nil
}

// serveSplice relays every connection accepted on the address in args[0]
// to origin until it is killed, like serveRelay.
func serveSplice(args []string, origin string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "splice relay: want two arguments, the address to listen on and the BPF object")
		return 2
	}
	s, err := loadSplicer(args[1], origin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "splice relay:", err)
		return 1
	}
	l, err := listenRaw(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "splice relay:", err)
		return 1
	}
	for {
		fd, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "splice relay:", err)
			return 1
		}
		go s.relay(fd)
	}
}

// listenRaw listens on an IPv4 address and port. The relay's sockets are
// plain blocking file descriptors, not net.Conns: the Go runtime's poller
// would be woken by every skb arriving on them, the very cost the kernel
// relay is there to leave out.
func listenRaw(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return -1, fmt.Errorf("%q is not an IPv4 address and port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 1024); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// relayed is one side of a relayed connection.
type relayed struct {
	fd     int
	cookie uint64
	base   uint64 // written(fd) before anything was relayed
}

// relay splices the accepted socket cfd to a new connection to the origin
// until both directions have ended, then takes both out of the maps and
// closes them.
func (s *splicer) relay(cfd int) {
	defer unix.Close(cfd)
	ofd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(ofd)
	if err := unix.Connect(ofd, s.origin); err != nil {
		return
	}
	var c [2]relayed // the client's side, the origin's
	for i, fd := range []int{cfd, ofd} {
		// As Go sets on its own connections, the Go relay's included.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c[i].fd = fd
		if c[i].cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE); err != nil {
			return
		}
		if c[i].base, err = written(fd); err != nil {
			return
		}
	}
	// Peers first, so that the verdict redirects as soon as a socket is
	// in the sockhash. The origin's socket goes in before the client's:
	// until both are in, a redirect has nowhere to go and the verdict
	// passes the skb to userspace, which might then forward it after
	// bytes that came later; but an HTTP origin says nothing before it
	// is asked, and nothing is asked before the client's socket is in.
	// Bytes the client sent before that wait in its socket's queue, and
	// the first read there (in pipe) runs the verdict over them in order.
	for i := range c {
		if err := s.peers.Put(c[i].cookie, peer{Cookie: c[1-i].cookie}); err != nil {
			return
		}
		defer s.peers.Delete(c[i].cookie)
	}
	for _, i := range []int{1, 0} {
		// The value is the socket's descriptor; the kernel keeps the socket.
		if err := s.socks.Update(c[i].cookie, uint64(c[i].fd), ebpf.UpdateNoExist); err != nil {
			return
		}
		// Out of the sockhash before it is closed (the deferred closes
		// run last). A socket that was reset has left it already.
		defer s.socks.Delete(c[i].cookie)
	}
	done := make(chan struct{})
	go func() {
		s.pipe(c[0], c[1])
		close(done)
	}()
	s.pipe(c[1], c[0])
	<-done
}

// pipe waits for the end of the stream arriving on from, and passes it
// on to to as a half close, as the Go relay does, so that whichever side
// closes first (wrk at the end of a run, nginx after its keep-alive
// limit) closes the other. The kernel does not redirect a FIN.
func (s *splicer) pipe(from, to relayed) {
	buf := make([]byte, 64<<10)
	var forwarded uint64
	for {
		// Whatever the verdict passed instead of redirecting is
		// forwarded from here; normally the read finds nothing, and
		// returns 0 once the stream has ended.
		n, _, err := unix.Recvfrom(from.fd, buf, unix.MSG_DONTWAIT)
		if n > 0 {
			if writeAll(to.fd, buf[:n]) != nil {
				break
			}
			forwarded += uint64(n)
			continue
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			break // the end of the stream (n == 0), or a reset
		}
		// Sleep until the stream ends. poll with POLLRDHUP alone is not
		// woken by the skbs the verdict redirects, only by a FIN or an
		// error.
		fds := []unix.PollFd{{Fd: int32(from.fd), Events: unix.POLLRDHUP}}
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			break
		}
	}
	s.flushed(from, to, forwarded)
	unix.Shutdown(to.fd, unix.SHUT_WR)
}

// flushed waits until every byte bound from from to to is in to's send
// queue. The kernel sends redirected skbs from a worker, later than the
// verdict ran: a half close any earlier would put the FIN before the last
// response nginx sent with its own FIN. It gives up after a second, or
// when to can no longer send.
func (s *splicer) flushed(from, to relayed, forwarded uint64) {
	var p peer
	if s.peers.Lookup(from.cookie, &p) != nil {
		return
	}
	want := to.base + p.Bytes + forwarded
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Microsecond) {
		n, err := written(to.fd)
		if err != nil || n >= want {
			return
		}
	}
}

// written is how many bytes were written to fd's send queue so far, plus
// a constant: what its peer acknowledged, then what it holds (read in
// this order, an acknowledgment arriving in between makes the sum short,
// never long).
func written(fd int) (uint64, error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, err
	}
	// The kernel's TCP states, which package unix names for BPF only.
	if info.State != unix.BPF_TCP_ESTABLISHED && info.State != unix.BPF_TCP_CLOSE_WAIT {
		return 0, errors.New("not sending")
	}
	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0, err
	}
	return info.Bytes_acked + uint64(outq), nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
