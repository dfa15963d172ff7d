package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/proxy"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// childEnv, when set, makes this binary the Paddock proxy process instead of
// the benchmark: its value is the one origin ("127.0.0.1:port") the policy
// allows. The benchmark re-executes itself this way so that wrk, the
// origin and the proxy are separate processes, as they are in production.
const childEnv = "PADDOCK_BENCH_PROXY_CHILD"

// profileEnv names a file the proxy child writes its CPU profile to, for
// whoever wants to see where the proxy's time goes under wrk.
const profileEnv = "PADDOCK_BENCH_PROXY_CPUPROFILE"

// policy is the network policy of the benchmark's sandbox: one IP rule
// naming the origin, everything else denied.
func policy(origin string) (*bundle.Network, error) {
	p, err := hostpattern.ParsePattern(origin)
	if err != nil {
		return nil, fmt.Errorf("origin %q: %w", origin, err)
	}
	pat := p.String()
	return &bundle.Network{
		Allow: []bundle.HostRule{{
			Pattern: pat,
			Rule:    bundle.Rule{File: "bench", Line: 1, Field: "network.allow[0]", Text: pat},
		}},
		Listen:            bundle.ListenNone,
		OnUnknown:         bundle.VerdictDeny,
		AskTimeoutSeconds: 30,
	}, nil
}

// serveChild runs Paddock's egress proxy on a free loopback port for the
// sandbox whose policy allows only origin. It writes "ready <addr>" to
// stdout, answers "stats" lines on stdin with its event counts, and shuts
// down when stdin reaches its end (the benchmark closed it, or died).
func serveChild(origin string) int {
	nw, err := policy(origin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy child:", err)
		return 1
	}
	sb := &proxy.Sandbox{ID: "bench", Network: nw}
	var allowed, denied atomic.Int64
	p, err := proxy.New(proxy.Config{
		Identify: func(net.Conn) (proxy.Client, error) { return proxy.Client{Sandbox: sb}, nil },
		Events: events.SinkFunc(func(e events.Event) {
			if e.Action == events.ActionAllow {
				allowed.Add(1)
			} else {
				denied.Add(1)
			}
		}),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy child:", err)
		return 1
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy child:", err)
		return 1
	}
	if path := os.Getenv(profileEnv); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "proxy child: profile:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(l) }()
	fmt.Printf("ready %s\n", l.Addr())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			fmt.Printf("stats %d %d\n", allowed.Load(), denied.Load())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.Shutdown(ctx)
	<-served
	return 0
}
