package launch

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/proxy"
	"github.com/paddock-sh/paddock/agentd/shim"
)

// egress serves the sandbox's network from the launcher: the proxy and the
// loopback forwarders, on sockets the shim created inside the sandbox's
// namespace. Upstream connections leave from the launcher's namespace.
type egress struct {
	proxy     *proxy.Proxy
	listeners []net.Listener
	wg        sync.WaitGroup
	sink      events.Sink
	sandbox   string
}

// startEgress receives the shim's listening sockets on conn and serves
// them.
func (l *Launch) startEgress(conn *os.File) (*egress, error) {
	want := len(l.spec.Net.Listen)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	files, err := shim.ReceiveListeners(conn, want)
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	e := &egress{sink: l.opts.Events, sandbox: l.sandboxID()}
	if e.sink == nil {
		e.sink = events.Discard
	}
	for _, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			e.close()
			return nil, fmt.Errorf("serving a sandbox socket: %w", err)
		}
		e.listeners = append(e.listeners, ln)
	}
	sb := &proxy.Sandbox{ID: e.sandbox, Network: &l.opts.Bundle.Network}
	e.proxy, err = proxy.New(proxy.Config{
		// The listener lives in this sandbox's own namespace: whoever
		// connects to it is the sandbox.
		Identify: func(net.Conn) (proxy.Client, error) { return proxy.Client{Sandbox: sb}, nil },
		Events:   e.sink,
	})
	if err != nil {
		e.close()
		return nil, err
	}
	for i, ln := range e.listeners {
		e.wg.Add(1)
		if i < 2 { // 127.0.0.1 and ::1 on ProxyPort
			go func() { defer e.wg.Done(); _ = e.proxy.Serve(ln) }()
			continue
		}
		fw := l.Forwards[i-2]
		go func() { defer e.wg.Done(); e.forward(ln, fw) }()
	}
	return e, nil
}

func (l *Launch) sandboxID() string {
	return "agentctl-" + strconv.Itoa(os.Getpid())
}

// forward connects each connection to the same loopback port of the host.
func (e *egress) forward(ln net.Listener, fw Forward) {
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(fw.Port)))
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", target, 10*time.Second)
			ev := events.Event{Time: time.Now(), Sandbox: e.sandbox, Layer: events.LayerProxy, Action: events.ActionAllow, Rule: fw.Rule,
				Reason: "a loopback port the policy names, forwarded to the host", Net: &events.Net{Op: "forward", Proto: "tcp", Host: "127.0.0.1", Port: fw.Port}}
			if err != nil {
				ev.Reason = "forwarding to the host's loopback failed: " + err.Error()
				e.sink.Emit(ev)
				return
			}
			e.sink.Emit(ev)
			defer up.Close()
			done := make(chan struct{})
			go func() { _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
			_, _ = io.Copy(c, up)
			<-done
		}()
	}
}

func (e *egress) close() {
	for _, ln := range e.listeners {
		ln.Close()
	}
	if e.proxy != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = e.proxy.Shutdown(ctx)
		cancel()
	}
}
