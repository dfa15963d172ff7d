package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

func TestParseDone(t *testing.T) {
	r, err := parseDone("133750 170258750 10000513 0 35366 0 2 1 70.000 143.500 79.900")
	if err != nil {
		t.Fatal(err)
	}
	want := result{requests: 133750, bytes: 170258750, durationUS: 10000513, readErr: 35366, statusErr: 2, timeouts: 1, p50: 70, p99: 143.5, mean: 79.9}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	if _, err := parseDone("1 2 3"); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestParseConns(t *testing.T) {
	if c, err := parseConns("1, 8"); err != nil || len(c) != 2 || c[0] != 1 || c[1] != 8 {
		t.Fatalf("%v %v", c, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-2"} {
		if _, err := parseConns(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The policy allows the origin and nothing else, not even another port of
// the same address or a name for it.
func TestPolicy(t *testing.T) {
	n, err := policy("127.0.0.1:18080")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host string
		port uint16
		want string
	}{
		{"127.0.0.1", 18080, bundle.VerdictAllow},
		{"127.0.0.1", 18081, bundle.VerdictDeny},
		{"localhost", 18080, bundle.VerdictDeny},
		{"example.com", 80, bundle.VerdictDeny},
	} {
		d, err := n.Decide(c.host, c.port)
		if err != nil || d.Verdict != c.want {
			t.Errorf("%s:%d: %+v %v, want %s", c.host, c.port, d, err, c.want)
		}
	}
}

// The timed script must leave wrk's request static: a request function
// would make wrk call Lua for every request.
func TestScripts(t *testing.T) {
	for _, s := range []string{timedScript("http://127.0.0.1:1/1k.bin", "127.0.0.1:1"), checkScript("/1k.bin", "127.0.0.1:1")} {
		if strings.Contains(s, "request =") || strings.Contains(s, "function request") {
			t.Errorf("script defines request():\n%s", s)
		}
	}
	if strings.Contains(timedScript("/", "h"), "response") {
		t.Error("the timed script hooks responses")
	}
}

// echoOrigin accepts one connection, answers "got LINE" to each of its
// first lines, then closes it.
func echoOrigin(t *testing.T, lines int) net.Listener {
	t.Helper()
	origin, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { origin.Close() })
	go func() {
		c, err := origin.Accept()
		if err != nil {
			return
		}
		r := bufio.NewReader(c)
		for range lines {
			line, _ := r.ReadString('\n')
			io.WriteString(c, "got "+line)
		}
		c.Close()
	}()
	return origin
}

// The relay passes bytes both ways, and the origin's close on to the
// client (as nginx closes a connection after its keep-alive limit).
func TestRelay(t *testing.T) {
	origin := echoOrigin(t, 1)
	front, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	go func() {
		c, err := front.Accept()
		if err == nil {
			relay(c.(*net.TCPConn), origin.Addr().String())
		}
	}()
	c, err := net.Dial("tcp4", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hello\n")
	got, err := io.ReadAll(c) // ends only if the origin's close came through
	if err != nil || string(got) != "got hello\n" {
		t.Fatalf("%q %v", got, err)
	}
}

// The splice relay passes bytes both ways in the kernel, including those
// the client sent before its socket was in the sockhash, and passes the
// origin's close on to the client. It needs clang and root.
func TestSplice(t *testing.T) {
	kerneltest.Privileged(t) // loads a BPF program
	if _, err := exec.LookPath("clang"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: clang must be installed (.ci/run installs it)")
		}
		t.Skip("needs clang")
	}
	origin := echoOrigin(t, 2)
	obj, _, err := compileSplice(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSplicer(obj, origin.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	front, err := listenRaw("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(front)
	sa, err := unix.Getsockname(front)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		fd, _, err := unix.Accept4(front, unix.SOCK_CLOEXEC)
		if err == nil {
			s.relay(fd)
		}
	}()
	c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hello\n") // most likely before the relay has dialled
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "got hello\n" {
		t.Fatalf("%q %v", line, err)
	}
	io.WriteString(c, "again\n") // redirected by the verdict
	got, err := io.ReadAll(r)    // ends only if the origin's close came through
	if err != nil || string(got) != "got again\n" {
		t.Fatalf("%q %v", got, err)
	}
}
