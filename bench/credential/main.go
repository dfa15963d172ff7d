// Command credential measures what credential injection costs: HTTPS
// requests (1 KiB responses, kept-alive connections) from a client to a
// local origin, directly, through Paddock's proxy as a plain CONNECT tunnel
// (a host no credential is bound to), and through the proxy terminating
// TLS and injecting a secret (a bound host). The three paths run in the
// same rounds, interleaved; each path's added latency is its median minus
// the direct median of the same round, and the target is that termination
// adds at most twice what tunnelling adds.
//
// The proxy runs in a child process (this binary, re-executed), so it does
// not share a Go runtime with the client and origin. Before timing, the
// benchmark checks that the origin got the secret on the bound host and
// the placeholder on the other.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/proxy"
	"github.com/paddock-sh/paddock/bench/internal/report"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

const (
	childEnv    = "PADDOCK_CREDBENCH_PROXY"
	secret      = "bench-secret-0123456789abcdef"
	placeholder = "paddock:cred:bench"
	targetRatio = 2.0 // termination's added latency, at most this times tunnelling's
)

var paths = []string{"direct", "tunnel", "terminate"}

func main() {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := serveProxy(dir); err != nil {
			fmt.Fprintln(os.Stderr, "credential bench proxy:", err)
			os.Exit(1)
		}
		return
	}
	dur := flag.Duration("d", 3*time.Second, "duration of each timed run")
	rounds := flag.Int("rounds", 5, "rounds; each runs every path at every connection count once")
	out := flag.String("o", "bench/results/credential.md", "write the markdown report to this file (\"\": stdout only)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file, for bench/report (default: -o's name with .json)")
	flag.Parse()
	if err := run(*dur, *rounds, *out, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		os.Exit(1)
	}
}

// origin serves 1 KiB and remembers the last Authorization per host.
type origin struct {
	mu   sync.Mutex
	auth map[string]string
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.auth[r.Host] = r.Header.Get("Authorization")
	o.mu.Unlock()
	w.Write(body)
}

var body = []byte(strings.Repeat("x", 1024))

func run(dur time.Duration, rounds int, out, jsonOut string) error {
	machine := report.ThisMachine()
	dir, err := os.MkdirTemp("", "paddock-credbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	originCA, err := credential.NewEphemeralCA()
	if err != nil {
		return err
	}
	os.WriteFile(filepath.Join(dir, "origin-ca.pem"), originCA.CertPEM(), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	o := &origin{auth: map[string]string{}}
	srv := &http.Server{Handler: o, TLSConfig: &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return originCA.Leaf(h.ServerName)
	}}}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), childEnv+"="+dir)
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("proxy child: %v", err)
	}
	proxyAddr := strings.TrimSpace(line)
	proxyCA, err := os.ReadFile(filepath.Join(dir, "proxy-ca.pem"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(originCA.CertPEM())
	roots.AppendCertsFromPEM(proxyCA)

	urls := map[string]string{
		"direct":    fmt.Sprintf("https://direct.bench:%d/", port),
		"tunnel":    fmt.Sprintf("https://open.bench:%d/", port),
		"terminate": fmt.Sprintf("https://bound.bench:%d/", port),
	}
	client := func(path string) *http.Client {
		tr := &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots},
			MaxIdleConnsPerHost: 1,
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1, as most SDKs
		}
		if path == "direct" {
			var d net.Dialer
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, ln.Addr().String())
			}
		} else {
			pu, _ := url.Parse("http://" + proxyAddr)
			tr.Proxy = http.ProxyURL(pu)
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}

	// Not timed: the paths work and the secret goes where it should.
	for _, p := range paths {
		req, _ := http.NewRequest("GET", urls[p], nil)
		req.Header.Set("Authorization", "Bearer "+placeholder)
		resp, err := client(p).Do(req)
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	o.mu.Lock()
	bound, open := o.auth[fmt.Sprintf("bound.bench:%d", port)], o.auth[fmt.Sprintf("open.bench:%d", port)]
	o.mu.Unlock()
	if bound != "Bearer "+secret || open != "Bearer "+placeholder {
		return fmt.Errorf("check failed: the bound host got %q, the open host %q", bound, open)
	}

	type key struct {
		path  string
		conns int
	}
	rps := map[key][]float64{}
	p50 := map[key][]float64{}
	added := map[key][]float64{}
	for r := 0; r < rounds; r++ {
		for _, c := range []int{1, 8} {
			med := map[string]float64{}
			for _, p := range paths {
				n, lat, err := load(client, p, urls[p], c, dur)
				if err != nil {
					return err
				}
				k := key{p, c}
				rps[k] = append(rps[k], float64(n)/dur.Seconds())
				med[p] = report.Quantile(lat, 0.5)
				p50[k] = append(p50[k], med[p])
			}
			for _, p := range paths[1:] {
				added[key{p, c}] = append(added[key{p, c}], med[p]-med["direct"])
			}
			fmt.Fprintf(os.Stderr, "round %d, %d conns: p50 direct %.0f µs, tunnel %.0f, terminate %.0f\n", r+1, c, med["direct"], med["tunnel"], med["terminate"])
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Credential injection: TLS termination against tunnelling\n\n")
	fmt.Fprintf(&b, "%s, %d rounds of %s per path and connection count, interleaved. HTTPS GETs of 1 KiB over kept-alive HTTP/1.1 connections to a Go origin on loopback; the proxy in its own process. Machine: %d CPUs, load %s.\n\n",
		report.Command("credential"), rounds, dur, runtime.NumCPU(), report.Loadavg())
	fmt.Fprintln(&b, "| conns | path | req/s (median) | ratio to direct | p50 latency µs | added p50 µs (p10–p90 over rounds) |")
	fmt.Fprintln(&b, "|---:|---|---:|---:|---:|---:|")
	verdicts := []string{}
	for _, c := range []int{1, 8} {
		d := report.Quantile(rps[key{"direct", c}], 0.5)
		for _, p := range paths {
			k := key{p, c}
			r := report.Quantile(rps[k], 0.5)
			add := "—"
			if p != "direct" {
				add = fmt.Sprintf("%.0f (%.0f–%.0f)", report.Quantile(added[k], 0.5), report.Quantile(added[k], 0.1), report.Quantile(added[k], 0.9))
			}
			fmt.Fprintf(&b, "| %d | %s | %.0f | %.2f× | %.0f | %s |\n", c, p, r, r/d, report.Quantile(p50[k], 0.5), add)
		}
		tun, term := report.Quantile(added[key{"tunnel", c}], 0.5), report.Quantile(added[key{"terminate", c}], 0.5)
		ratio := term / tun
		verdicts = append(verdicts, fmt.Sprintf("- %d connection(s): termination adds %.0f µs, tunnelling %.0f µs: %.2f× (target at most %.0f×): **%s**", c, term, tun, ratio, targetRatio, report.Verdict(ratio <= targetRatio)))
	}
	fmt.Fprintln(&b)
	for _, v := range verdicts {
		fmt.Fprintln(&b, v)
	}
	fmt.Fprintln(&b, "\nTermination costs a TLS handshake per new connection on each side and a decrypt and encrypt per request; on kept-alive connections only the latter is paid per request, which is what this measures. The secret check above ran before timing.")

	// The same, machine-readable, for bench/report.
	res := &report.Result{Bench: "credential", Title: "Credential injection: TLS termination against tunnelling",
		Command: report.Command("credential"), Date: time.Now().UTC(), Machine: machine}
	plot := report.Plot{Name: "credential-throughput", Title: "HTTPS requests per second through each path, ratio to direct", Kind: report.Bars,
		XLabel: "client connections", YLabel: "× direct req/s (median of per-round ratios, p10–p90)", Refs: []report.Ref{{Y: 1, Label: "direct"}}}
	table := report.Table{Caption: "Medians over the rounds; added latency paired with the direct run of the same round",
		Header: []string{"connections", "path", "req/s", "× direct", "p50 µs", "added p50 µs"}}
	for _, p := range paths {
		s := report.Series{Name: p}
		for _, c := range []int{1, 8} {
			ratio, _ := report.PairedRatio(rps[key{p, c}], rps[key{"direct", c}])
			s.Points = append(s.Points, report.PointOf(fmt.Sprintf("%d", c), ratio))
			add := "–"
			if p != "direct" {
				add = fmt.Sprintf("%.0f", report.Quantile(added[key{p, c}], 0.5))
			}
			table.Rows = append(table.Rows, []string{fmt.Sprint(c), p, fmt.Sprintf("%.0f", report.Quantile(rps[key{p, c}], 0.5)),
				fmt.Sprintf("%.2f×", ratio.Median), fmt.Sprintf("%.0f", report.Quantile(p50[key{p, c}], 0.5)), add})
		}
		plot.Series = append(plot.Series, s)
	}
	for _, c := range []int{1, 8} {
		tun, term := report.Quantile(added[key{"tunnel", c}], 0.5), report.Quantile(added[key{"terminate", c}], 0.5)
		conns := "1 connection"
		if c != 1 {
			conns = fmt.Sprintf("%d connections", c)
		}
		res.Claims = append(res.Claims, report.NewClaim(fmt.Sprintf("Credential injection at %s: termination's added latency at most %.0f× tunnelling's", conns, targetRatio),
			report.Stat{Median: term / tun}, "×", "tunnelling's", "<=", targetRatio,
			fmt.Sprintf("termination adds %.0f µs, tunnelling %.0f µs (medians of the per-round differences from direct)", term, tun)))
	}
	res.Plots = append(res.Plots, plot)
	res.Tables = append(res.Tables, table)
	return report.Publish(out, jsonOut, []byte(b.String()), res)
}

// load runs conns clients on path for dur, each sending requests one after
// another on its own kept-alive connection, and returns the count and the
// latencies in µs.
func load(client func(string) *http.Client, path, u string, conns int, dur time.Duration) (int64, []float64, error) {
	var n atomic.Int64
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(path)
			defer c.CloseIdleConnections()
			var mine []float64
			// Warm: the connection and handshakes are made before timing.
			if err := get(c, u); err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := get(c, u); err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				mine = append(mine, float64(time.Since(t0).Microseconds()))
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, nil, fmt.Errorf("%s: %v", path, firstErr)
	}
	return n.Load(), lat, nil
}

func get(c *http.Client, u string) error {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+placeholder)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// serveProxy is the child: Paddock's proxy with one sandbox whose
// credential is bound to bound.bench, both names resolving to loopback.
func serveProxy(dir string) error {
	ca, err := credential.NewEphemeralCA()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "proxy-ca.pem"), ca.CertPEM(), 0o600); err != nil {
		return err
	}
	originPEM, err := os.ReadFile(filepath.Join(dir, "origin-ca.pem"))
	if err != nil {
		return err
	}
	upstream := x509.NewCertPool()
	if blk, _ := pem.Decode(originPEM); blk == nil || !upstream.AppendCertsFromPEM(originPEM) {
		return errors.New("origin CA")
	}
	rule := func(f string) bundle.Rule { return bundle.Rule{File: "bench.hcl", Line: 1, Field: f, Text: f} }
	n := &bundle.Network{Listen: bundle.ListenNone, OnUnknown: bundle.VerdictDeny, AskTimeoutSeconds: 30}
	for i, p := range []string{"bound.bench:*", "open.bench:*", "127.0.0.1:*"} {
		n.Allow = append(n.Allow, bundle.HostRule{Pattern: p, Rule: rule(fmt.Sprintf("network.allow[%d]", i))})
	}
	set, err := credential.New([]bundle.Credential{{
		Name: "bench", Hosts: []string{"bound.bench"}, Header: "Authorization", Format: "Bearer %s",
		Source: "env:X", Placeholder: placeholder, Rule: rule("credential.bench"),
	}}, func(bundle.Credential) ([]byte, error) { return []byte(secret), nil })
	if err != nil {
		return err
	}
	sb := &proxy.Sandbox{ID: "bench", Network: n, Credentials: set}
	p, err := proxy.New(proxy.Config{
		Identify:      func(net.Conn) (proxy.Client, error) { return proxy.Client{Sandbox: sb}, nil },
		Resolver:      loopbackResolver{},
		CA:            ca,
		UpstreamRoots: upstream,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return p.Serve(ln)
}

type loopbackResolver struct{}

func (loopbackResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if slices.Contains([]string{"bound.bench", "open.bench"}, host) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
