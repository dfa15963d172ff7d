package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// BenchmarkThroughput measures 1 KiB GETs on kept-alive connections,
// directly to an origin and through the proxy (explicit absolute-form and
// transparent origin-form), with 1 and 8 concurrent connections. The
// origin is nginx when it is installed (as in the performance target),
// else a minimal Go origin. Metrics: req/s and, for one connection, the
// median request latency.
//
//	go test -run '^$' -bench Throughput -benchtime 3s ./agentd/proxy
func BenchmarkThroughput(b *testing.B) {
	originAddr, kind := benchOrigin(b)
	b.Logf("origin: %s at %s", kind, originAddr)
	explicit := benchProxy(b, originAddr, false)
	transparent := benchProxy(b, originAddr, true)
	host := fmt.Sprintf("bench.test:%d", originAddr.Port())
	for _, conns := range []int{1, 8} {
		for _, mode := range []struct {
			name, addr, req string
		}{
			{"direct", originAddr.String(), "GET /1k HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
			{"explicit", explicit, "GET http://" + host + "/1k HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
			{"transparent", transparent, "GET /1k HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
		} {
			b.Run(fmt.Sprintf("%s/conns=%d", mode.name, conns), func(b *testing.B) {
				runLoad(b, mode.addr, mode.req, conns)
			})
		}
	}
}

// BenchmarkInterleaved compares the proxy with a direct connection when
// the machine is shared: each iteration is one round in which every mode
// runs for the same short slice of time, one after the other (in an order
// that rotates), so that background load hits all modes alike. It reports the median over
// rounds of each mode's req/s relative to direct, and for one connection
// the median latency each mode adds.
//
//	go test -run '^$' -bench Interleaved -benchtime 30x ./agentd/proxy
func BenchmarkInterleaved(b *testing.B) {
	originAddr, kind := benchOrigin(b)
	b.Logf("origin: %s at %s", kind, originAddr)
	explicit := benchProxy(b, originAddr, false)
	transparent := benchProxy(b, originAddr, true)
	host := fmt.Sprintf("bench.test:%d", originAddr.Port())
	modes := []struct {
		name, addr, req string
	}{
		{"direct", originAddr.String(), "GET /1k HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
		{"explicit", explicit, "GET http://" + host + "/1k HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
		{"transparent", transparent, "GET /1k HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"},
	}
	const slice = 100 * time.Millisecond
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			clients := make([][]*benchClient, len(modes))
			for m, mode := range modes {
				for range conns {
					c := newBenchClient(b, mode.addr, mode.req)
					if err := c.do(); err != nil {
						b.Fatal(err)
					}
					clients[m] = append(clients[m], c)
				}
			}
			ratios := make([][]float64, len(modes))
			lat := make([][]time.Duration, len(modes))
			rps := make([][]float64, len(modes))
			b.ResetTimer()
			for r := range b.N {
				var round [3]float64
				for i := range modes {
					m := (r + i) % len(modes) // rotate so that no mode always runs first
					n, elapsed, l := runSlice(b, clients[m], slice, conns == 1)
					round[m] = float64(n) / elapsed.Seconds()
					rps[m] = append(rps[m], round[m])
					lat[m] = append(lat[m], l...)
				}
				for m := range modes {
					ratios[m] = append(ratios[m], round[m]/round[0])
				}
			}
			b.StopTimer()
			for m, mode := range modes {
				b.ReportMetric(median(rps[m]), mode.name+"-req/s")
				if m > 0 {
					b.ReportMetric(median(ratios[m]), mode.name+"/direct")
				}
			}
			if conns == 1 {
				slices.Sort(lat[0])
				d0 := lat[0][len(lat[0])/2]
				b.ReportMetric(float64(d0.Nanoseconds())/1e3, "direct-p50-µs")
				for m := 1; m < len(modes); m++ {
					slices.Sort(lat[m])
					added := lat[m][len(lat[m])/2] - d0
					b.ReportMetric(float64(added.Nanoseconds())/1e3, modes[m].name+"-added-p50-µs")
				}
			}
			for _, cs := range clients {
				for _, c := range cs {
					c.c.Close()
				}
			}
		})
	}
}

// runSlice runs requests on every client for about d and returns how many
// completed, how long it took, and (when asked) each request's latency.
func runSlice(b *testing.B, clients []*benchClient, d time.Duration, latencies bool) (int, time.Duration, []time.Duration) {
	var total atomic.Int64
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := c.do(); err != nil {
					b.Error(err)
					return
				}
				if latencies {
					lat = append(lat, time.Since(t0))
				}
				n++
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	return int(total.Load()), time.Since(start), lat
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func runLoad(b *testing.B, addr, req string, conns int) {
	clients := make([]*benchClient, conns)
	for i := range clients {
		clients[i] = newBenchClient(b, addr, req)
		clients[i].do() // warm up: dial upstream, fill caches
	}
	var lat []time.Duration
	if conns == 1 {
		lat = make([]time.Duration, 0, b.N)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := c.do(); err != nil {
					b.Error(err)
					return
				}
				if lat != nil {
					lat = append(lat, time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	}
	for _, c := range clients {
		c.c.Close()
	}
}

// benchClient is a minimal keep-alive HTTP/1.1 client: it writes a fixed
// request and reads a Content-Length response.
type benchClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
	buf []byte
}

func newBenchClient(b *testing.B, addr, req string) *benchClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return &benchClient{c: c, br: bufio.NewReaderSize(c, 16<<10), req: []byte(req), buf: make([]byte, 16<<10)}
}

func (bc *benchClient) do() error {
	if _, err := bc.c.Write(bc.req); err != nil {
		return err
	}
	n := int64(-1)
	status := ""
	for {
		line, err := bc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if status == "" {
			status = string(line[:min(12, len(line))])
			continue
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("content-length:")) {
			n, _ = strconv.ParseInt(string(bytes.TrimSpace(line[15:])), 10, 64)
		}
	}
	if !strings.HasSuffix(status, " 200") || n < 0 {
		return fmt.Errorf("response %q, length %d", status, n)
	}
	_, err := io.CopyBuffer(io.Discard, io.LimitReader(bc.br, n), bc.buf)
	return err
}

// benchProxy starts a proxy whose policy allows bench.test and the
// origin's address; transparent makes Identify report the origin as the
// original destination.
func benchProxy(b *testing.B, origin netip.AddrPort, transparent bool) string {
	n := &bundle.Network{Listen: bundle.ListenNone, OnUnknown: bundle.VerdictDeny, AskTimeoutSeconds: 30}
	for i, p := range []string{"bench.test:*", origin.Addr().String() + ":*"} {
		n.Allow = append(n.Allow, bundle.HostRule{Pattern: p, Rule: bundle.Rule{Field: fmt.Sprintf("network.allow[%d]", i), Text: p}})
	}
	sb := &Sandbox{ID: "bench", Network: n}
	var orig netip.AddrPort
	if transparent {
		orig = origin
	}
	var count atomic.Int64
	p, err := New(Config{
		Identify: func(net.Conn) (Client, error) { return Client{Sandbox: sb, Orig: orig}, nil },
		Resolver: &fakeResolver{names: map[string][]netip.Addr{"bench.test": {origin.Addr()}}},
		Events:   events.SinkFunc(func(events.Event) { count.Add(1) }),
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go p.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// benchOrigin starts nginx serving a 1 KiB file on 127.0.0.2, or a small
// Go origin when nginx is not installed.
func benchOrigin(b *testing.B) (netip.AddrPort, string) {
	body := bytes.Repeat([]byte("x"), 1024)
	if path, err := exec.LookPath("nginx"); err == nil && os.Getenv("PADDOCK_BENCH_GO_ORIGIN") == "" {
		if addr, err := startNginx(b, path, body); err == nil {
			return addr, "nginx"
		} else {
			b.Logf("nginx did not start (%v); using the Go origin", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n"), body...)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), "go"
}

func startNginx(b *testing.B, path string, body []byte) (netip.AddrPort, error) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "1k"), body, 0o644); err != nil {
		return netip.AddrPort{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log crit;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/tmp;
	proxy_temp_path %[1]s/tmp;
	fastcgi_temp_path %[1]s/tmp;
	uwsgi_temp_path %[1]s/tmp;
	scgi_temp_path %[1]s/tmp;
	keepalive_requests 100000000;
	server {
		listen %[2]s;
		root %[1]s;
		location / { }
	}
}
`, dir, addr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return netip.AddrPort{}, err
	}
	cmd := exec.Command(path, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		return netip.AddrPort{}, err
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for range 100 {
		if c, err := net.Dial("tcp", addr.String()); err == nil {
			c.Close()
			return addr, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	return netip.AddrPort{}, fmt.Errorf("not listening: %s", log)
}
