//go:build linux

// Package netlab is a simulated internet for privileged network tests.
//
// A Lab is a second network namespace ("the internet") joined to the host
// namespace by a veth pair. Everything in it uses documentation addresses
// (TEST-NET) and the "test." zone, and nothing is forwarded or NATed, so no
// packet the lab produces can leave the machine:
//
//	host namespace                         the internet namespace
//	pdklabXXXXXXXX 198.51.100.1/24   <-->  pdkinet0 198.51.100.2/24
//	               2001:db8:100::1/64               2001:db8:100::2/64
//	route 203.0.113.0/24    via .2         default via 198.51.100.1 / 2001:db8:100::1
//	route 2001:db8:203::/64 via ::2        origin addresses (AddAddr) on lo
//	                                       DNS for "test." on 198.51.100.2:53 and [2001:db8:100::2]:53
//
// The veth ends know each other through static neighbour entries, and New
// and AddAddr return only once the kernel delivers packets to the new
// addresses, so the first packet a test sends is not lost.
//
// Origins (HTTPOrigin, TLSOrigin) and the DNS zone record everything they
// receive, and canaries in the host namespace (NewCanary, Lab.Canaries)
// record anything that reaches them, so tests can assert that a connection
// or a query did or did not happen.
//
// Only one Lab exists at a time on the machine: the host side addresses and
// routes are fixed, so New waits (a process-wide lock plus a file lock for
// other test binaries) until the previous Lab has been cleaned up. A test
// must therefore not call New twice, and a subtest must not call New while
// its parent holds a Lab; New fails the test instead of deadlocking when it
// sees that. Parallel tests that each call New run one after the other.
//
// The internet namespace is anonymous: it is held only by a file descriptor
// of the test process, so it (and with it the veth pair) disappears when the
// process exits, even after a crash. Veth links left behind by a previous
// run are deleted by New.
//
// The methods that take no error return report failures with t.Fatal and
// must be called from the test's goroutine.
package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The lab's fixed addresses. All are documentation addresses (RFC 5737, RFC 3849).
var (
	// HostAddr4 and HostAddr6 are the host side of the veth pair (the "LAN address").
	HostAddr4 = netip.MustParseAddr("198.51.100.1")
	HostAddr6 = netip.MustParseAddr("2001:db8:100::1")
	// NetAddr4 and NetAddr6 are the internet side of the veth pair, where the DNS server listens.
	NetAddr4 = netip.MustParseAddr("198.51.100.2")
	NetAddr6 = netip.MustParseAddr("2001:db8:100::2")
	// LinkPrefix4 and LinkPrefix6 are the veth pair's subnets.
	LinkPrefix4 = netip.MustParsePrefix("198.51.100.0/24")
	LinkPrefix6 = netip.MustParsePrefix("2001:db8:100::/64")
	// OriginPrefix4 and OriginPrefix6 hold the origin addresses, routed from the host via the veth.
	OriginPrefix4 = netip.MustParsePrefix("203.0.113.0/24")
	OriginPrefix6 = netip.MustParsePrefix("2001:db8:203::/64")
)

const (
	// linkPrefix starts the name of every host side veth link a Lab creates.
	linkPrefix = "pdklab"
	// peerName is the internet side of the veth pair, inside the lab namespace.
	peerName = "pdkinet0"
	// cleanupWait bounds how long cleanup waits for the lab's goroutines.
	cleanupWait = 10 * time.Second
)

// Lab is one simulated internet. Create it with New; it is torn down by the
// test's cleanup.
type Lab struct {
	t       testing.TB
	link    string         // host side veth name
	hostNS  netns.NsHandle // the namespace the test runs in
	ns      netns.NsHandle // the internet
	hostH   *netlink.Handle
	nsH     *netlink.Handle
	lo      netlink.Link // loopback inside the internet
	dir     string       // world-readable temp dir: CA file, unix canaries
	ca      *authority
	zone    *Zone
	release func()
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	addrs    map[netip.Addr]bool
	closers  []func()
	canaries *CanarySet
}

// New creates a Lab and registers its cleanup with t. It skips the test
// when not running as root, unless the environment variable CI is "true",
// in which case it fails it.
func New(t testing.TB) *Lab {
	t.Helper()
	requireRoot(t)
	l := &Lab{t: t, addrs: map[netip.Addr]bool{}, hostNS: -1, ns: -1}
	l.release = acquire(t)
	t.Cleanup(l.close)
	if err := l.setup(); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	return l
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("netlab: needs root (CI=true, so not skipping)")
	}
	t.Skip("netlab: needs root")
}

func (l *Lab) setup() error {
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return err
	}
	l.link = linkPrefix + hex.EncodeToString(suffix[:])

	dir, err := os.MkdirTemp("", "paddock-netlab-")
	if err != nil {
		return err
	}
	l.dir = dir
	// The workload under test runs as another uid and must be able to read
	// the CA and reach the unix canaries, so that only the sandbox stops it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}

	if l.hostNS, l.ns, err = newNetNS(); err != nil {
		return fmt.Errorf("creating the internet namespace: %w", err)
	}
	if l.hostH, err = netlink.NewHandleAt(l.hostNS, unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("netlink in the host namespace: %w", err)
	}
	if l.nsH, err = netlink.NewHandleAt(l.ns, unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("netlink in the internet namespace: %w", err)
	}
	if err := l.removeLeftovers(); err != nil {
		return err
	}
	if err := l.wire(); err != nil {
		return err
	}
	if l.ca, err = newAuthority(dir, hex.EncodeToString(suffix[:])); err != nil {
		return fmt.Errorf("test CA: %w", err)
	}
	if l.zone, err = l.startDNS(); err != nil {
		return fmt.Errorf("DNS server: %w", err)
	}
	return nil
}

// newNetNS returns handles to the current namespace and to a new one,
// leaving every thread in the current one.
func newNetNS() (host, lab netns.NsHandle, err error) {
	host, lab = -1, -1
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if host, err = netns.Get(); err != nil {
			runtime.UnlockOSThread()
			return
		}
		if err = unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return
		}
		lab, err = netns.Get()
		if e := netns.Set(host); e != nil {
			// The thread is stuck in the new namespace: returning with
			// it locked makes the runtime discard it.
			err = errors.Join(err, fmt.Errorf("returning to the host namespace: %w", e))
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
	if err != nil {
		if lab >= 0 {
			lab.Close()
		}
		if host >= 0 {
			host.Close()
		}
		return -1, -1, err
	}
	return host, lab, nil
}

// removeLeftovers deletes veth links from an earlier Lab of a process that
// died, or whose namespace the kernel is still tearing down. The lab lock is
// held, so no live Lab owns them.
func (l *Lab) removeLeftovers() error {
	links, err := l.hostH.LinkList()
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	for _, link := range links {
		name := link.Attrs().Name
		if !strings.HasPrefix(name, linkPrefix) {
			continue
		}
		l.t.Logf("netlab: deleting leftover link %s", name)
		if err := l.hostH.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("deleting leftover link %s: %w", name, err)
		}
	}
	return nil
}

// wire creates the veth pair, addresses and routes.
func (l *Lab) wire() error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.link},
		PeerName:      peerName,
		PeerNamespace: netlink.NsFd(l.ns),
	}
	if err := l.hostH.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating veth %s: %w", l.link, err)
	}
	host, err := l.hostH.LinkByName(l.link)
	if err != nil {
		return err
	}
	peer, err := l.nsH.LinkByName(peerName)
	if err != nil {
		return err
	}
	if l.lo, err = l.nsH.LinkByName("lo"); err != nil {
		return err
	}
	for _, s := range []struct {
		h    *netlink.Handle
		link netlink.Link
	}{{l.nsH, l.lo}, {l.nsH, peer}, {l.hostH, host}} {
		if err := s.h.LinkSetUp(s.link); err != nil {
			return fmt.Errorf("setting %s up: %w", s.link.Attrs().Name, err)
		}
	}

	// Until the kernel's link watcher has activated a new link (which it
	// may put off for up to a second) the link drops what it is given, and
	// a first ARP or neighbour solicitation lost that way costs a second.
	if err := waitOperUp(l.hostH, l.link); err != nil {
		return err
	}
	if err := waitOperUp(l.nsH, peerName); err != nil {
		return err
	}

	addrs := []struct {
		h      *netlink.Handle
		link   netlink.Link
		addr   netip.Addr
		prefix netip.Prefix
	}{
		{l.hostH, host, HostAddr4, LinkPrefix4},
		{l.hostH, host, HostAddr6, LinkPrefix6},
		{l.nsH, peer, NetAddr4, LinkPrefix4},
		{l.nsH, peer, NetAddr6, LinkPrefix6},
	}
	for _, a := range addrs {
		if err := a.h.AddrAdd(a.link, nlAddr(netip.PrefixFrom(a.addr, a.prefix.Bits()))); err != nil {
			return fmt.Errorf("adding %s to %s: %w", a.addr, a.link.Attrs().Name, err)
		}
	}

	if err := waitLocal(l.hostH, HostAddr6); err != nil {
		return err
	}
	if err := waitLocal(l.nsH, NetAddr6); err != nil {
		return err
	}

	// Static neighbour entries: no ARP or neighbour discovery on the veth.
	// (A nodad address joins its solicited-node group only later, from a
	// work queue, so a solicitation sent before then is lost and retried
	// a second later.)
	neighs := []struct {
		h    *netlink.Handle
		link netlink.Link
		addr netip.Addr
		mac  net.HardwareAddr
	}{
		{l.hostH, host, NetAddr4, peer.Attrs().HardwareAddr},
		{l.hostH, host, NetAddr6, peer.Attrs().HardwareAddr},
		{l.nsH, peer, HostAddr4, host.Attrs().HardwareAddr},
		{l.nsH, peer, HostAddr6, host.Attrs().HardwareAddr},
	}
	for _, n := range neighs {
		family := netlink.FAMILY_V4
		if n.addr.Is6() {
			family = netlink.FAMILY_V6
		}
		err := n.h.NeighSet(&netlink.Neigh{
			LinkIndex: n.link.Attrs().Index, Family: family, State: netlink.NUD_PERMANENT,
			IP: n.addr.AsSlice(), HardwareAddr: n.mac,
		})
		if err != nil {
			return fmt.Errorf("neighbour %s on %s: %w", n.addr, n.link.Attrs().Name, err)
		}
	}

	routes := []struct {
		h     *netlink.Handle
		route *netlink.Route
	}{
		// The host reaches the origins through the veth, and nothing else.
		{l.hostH, &netlink.Route{LinkIndex: host.Attrs().Index, Dst: ipNet(OriginPrefix4), Gw: NetAddr4.AsSlice()}},
		{l.hostH, &netlink.Route{LinkIndex: host.Attrs().Index, Dst: ipNet(OriginPrefix6), Gw: NetAddr6.AsSlice()}},
		// The internet answers whatever the host sends from any address.
		{l.nsH, &netlink.Route{LinkIndex: peer.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: HostAddr4.AsSlice()}},
		{l.nsH, &netlink.Route{LinkIndex: peer.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("::/0")), Gw: HostAddr6.AsSlice()}},
		// Every IPv4 origin address is local in the internet, so a
		// connection to one nobody listens on is refused at once rather
		// than dropped. (IPv6 cannot bind such addresses, so AddAddr still
		// adds them one by one.)
		{l.nsH, &netlink.Route{
			LinkIndex: l.lo.Attrs().Index, Dst: ipNet(OriginPrefix4),
			Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: netlink.SCOPE_HOST,
		}},
		{l.nsH, &netlink.Route{
			LinkIndex: l.lo.Attrs().Index, Dst: ipNet(OriginPrefix6),
			Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL,
		}},
	}
	for _, r := range routes {
		if err := r.h.RouteAdd(r.route); err != nil {
			return fmt.Errorf("adding route %s: %w", r.route, err)
		}
	}
	return nil
}

func waitOperUp(h *netlink.Handle, name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		link, err := h.LinkByName(name)
		if err != nil {
			return err
		}
		if link.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s is still %v after 5s", name, link.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLocal waits until the kernel delivers packets to a new local address.
// The kernel finishes adding an IPv6 address later, from a work queue, even
// without duplicate address detection: until then the address can be bound
// but packets to it are not delivered.
func waitLocal(h *netlink.Handle, a netip.Addr) error {
	if a.Is4() {
		return nil // IPv4 addresses are complete at once
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		routes, err := h.RouteGet(a.AsSlice())
		if err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("address %s is not local after 5s (%v, %v)", a, routes, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Is6() {
		// No duplicate address detection: usable at once.
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// HostLink is the name of the host side of the veth pair.
func (l *Lab) HostLink() string { return l.link }

// NetNSPath is a path naming the internet namespace while the Lab lives,
// for tools such as nsenter --net=PATH.
func (l *Lab) NetNSPath() string {
	return "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(l.ns))
}

// Do runs fn on an OS thread inside the internet namespace. Sockets fn
// creates stay in that namespace and can be used from any goroutine. Code
// that fn starts in other goroutines runs in the host namespace.
func (l *Lab) Do(fn func() error) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return errors.New("netlab: the Lab is closed")
	}
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err = netns.Set(l.ns); err != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("netlab: entering the internet namespace: %w", err)
			return
		}
		err = fn()
		if e := netns.Set(l.hostNS); e != nil {
			// Leave the thread locked: the runtime discards it.
			err = errors.Join(err, fmt.Errorf("netlab: leaving the internet namespace: %w", e))
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
	return err
}

// AddAddr adds origin addresses inside the internet. Each must be in
// OriginPrefix4 or OriginPrefix6; adding one twice is harmless.
func (l *Lab) AddAddr(addrs ...netip.Addr) {
	l.t.Helper()
	for _, a := range addrs {
		if err := l.addAddr(a); err != nil {
			l.t.Fatalf("netlab: %v", err)
		}
	}
}

func (l *Lab) addAddr(a netip.Addr) error {
	a = a.Unmap()
	if !OriginPrefix4.Contains(a) && !OriginPrefix6.Contains(a) {
		return fmt.Errorf("origin address %s is outside %s and %s", a, OriginPrefix4, OriginPrefix6)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("the Lab is closed")
	}
	if l.addrs[a] {
		return nil
	}
	if err := l.nsH.AddrAdd(l.lo, nlAddr(netip.PrefixFrom(a, a.BitLen()))); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding origin address %s: %w", a, err)
	}
	if err := waitLocal(l.nsH, a); err != nil {
		return err
	}
	l.addrs[a] = true
	return nil
}

// addListenAddr adds the host of a listen address when it is an origin address.
func (l *Lab) addListenAddr(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil // a name or an empty host: leave it to net.Listen
	}
	if OriginPrefix4.Contains(a.Unmap()) || OriginPrefix6.Contains(a) {
		return l.addAddr(a)
	}
	return nil
}

// Listen is net.Listen inside the internet namespace. A listen address in
// the origin prefixes is added first (AddAddr). Use IP literals: names are
// resolved by the host. The listener is closed by the Lab's cleanup if not
// before.
func (l *Lab) Listen(network, address string) (net.Listener, error) {
	if err := l.addListenAddr(address); err != nil {
		return nil, err
	}
	var ln net.Listener
	err := l.Do(func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, err
	}
	l.onClose(func() { ln.Close() })
	return ln, nil
}

// ListenPacket is net.ListenPacket inside the internet namespace, like Listen.
func (l *Lab) ListenPacket(network, address string) (net.PacketConn, error) {
	if err := l.addListenAddr(address); err != nil {
		return nil, err
	}
	var pc net.PacketConn
	err := l.Do(func() (err error) {
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, err
	}
	l.onClose(func() { pc.Close() })
	return pc, nil
}

// onClose registers fn to run at cleanup, before the namespace goes away
// (in reverse order of registration). After cleanup it runs fn at once.
func (l *Lab) onClose(fn func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		fn()
		return
	}
	l.closers = append(l.closers, fn)
	l.mu.Unlock()
}

// goroutine runs fn in a goroutine that cleanup waits for.
func (l *Lab) goroutine(fn func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		fn()
	}()
}

func (l *Lab) close() {
	l.mu.Lock()
	l.closed = true
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	if !waitTimeout(&l.wg, cleanupWait) {
		l.t.Errorf("netlab: lab goroutines still running %v after cleanup began", cleanupWait)
	}
	if l.hostH != nil {
		if l.link != "" {
			// Deleting one end deletes the pair and the routes through it.
			if link, err := l.hostH.LinkByName(l.link); err == nil {
				if err := l.hostH.LinkDel(link); err != nil {
					l.t.Errorf("netlab: deleting %s: %v", l.link, err)
				}
			}
		}
		l.hostH.Close()
	}
	if l.nsH != nil {
		l.nsH.Close()
	}
	if l.ns >= 0 {
		l.ns.Close() // the last reference: the kernel destroys the namespace
	}
	if l.hostNS >= 0 {
		l.hostNS.Close()
	}
	if l.dir != "" {
		if err := os.RemoveAll(l.dir); err != nil {
			l.t.Errorf("netlab: %v", err)
		}
	}
	l.release()
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// The lab lock: one Lab at a time in the process (labSem, with the holder's
// test name for deadlock reports) and on the machine (a file lock).
var (
	labSem    = make(chan struct{}, 1)
	holderMu  sync.Mutex
	holderFor string
)

const lockName = "paddock-netlab.lock"

func acquire(t testing.TB) (release func()) {
	t.Helper()
	name := t.Name()
	limit := waitLimit(t)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	check := func() {
		t.Helper()
		holderMu.Lock()
		h := holderFor
		holderMu.Unlock()
		if h != "" && (h == name || strings.HasPrefix(name, h+"/")) {
			t.Fatalf("netlab: %s already holds a Lab; New would wait for ever (one Lab at a time, held until its test's cleanup)", h)
		}
	}
	for acquired := false; !acquired; {
		check()
		select {
		case labSem <- struct{}{}:
			acquired = true
		case <-tick.C:
			holderMu.Lock()
			h := holderFor
			holderMu.Unlock()
			t.Logf("netlab: waiting for the Lab held by %s", h)
		case <-deadline.C:
			holderMu.Lock()
			h := holderFor
			holderMu.Unlock()
			t.Fatalf("netlab: gave up after %v waiting for the Lab held by %s", limit, h)
		}
	}
	holderMu.Lock()
	holderFor = name
	holderMu.Unlock()
	unlockProcess := func() {
		holderMu.Lock()
		holderFor = ""
		holderMu.Unlock()
		<-labSem
	}

	f, err := lockFile(t, limit)
	if err != nil {
		unlockProcess()
		t.Fatalf("netlab: %v", err)
	}
	return func() {
		f.Close() // drops the flock
		unlockProcess()
	}
}

// waitLimit is how long New waits for another Lab: until shortly before
// the test binary's deadline, or ten minutes.
func waitLimit(t testing.TB) time.Duration {
	limit := 10 * time.Minute
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			limit = time.Until(dl) - 15*time.Second
		}
	}
	return max(limit, time.Second)
}

// lockFile takes the machine-wide lab lock: an exclusive flock on a file in
// /run (or the temp dir), released when the file is closed or the process
// exits.
func lockFile(t testing.TB, limit time.Duration) (*os.File, error) {
	t.Helper()
	var f *os.File
	var err error
	for _, dir := range []string{"/run", os.TempDir()} {
		if f, err = os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening the lock file: %w", err)
	}
	start := time.Now()
	logged := start
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if time.Since(start) > limit {
			f.Close()
			return nil, fmt.Errorf("gave up after %v waiting for the Lab of process %s", limit, readHolder(f))
		}
		if time.Since(logged) > 10*time.Second {
			logged = time.Now()
			t.Logf("netlab: waiting for the Lab of process %s", readHolder(f))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if s := strings.TrimSpace(string(b[:n])); s != "" {
		return s
	}
	return "(unknown)"
}
