package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// Approvals: a destination the policy does not name, under on_unknown =
// "ask", is held while Config.Ask asks someone (agentd publishes the
// request on its API). Every connection of one sandbox to the same
// host:port that arrives while a request is pending waits on that one
// request; the answer, or the policy's timeout, releases them all. A
// connection whose client goes away stops waiting, and a request nobody
// waits on any more is withdrawn (its context is cancelled). A sandbox
// has at most Config.MaxAsks requests pending: beyond that, connections
// to further unknown destinations are refused without asking, so a
// workload cannot bury the approver under requests.
//
// Nothing is resolved before the answer: looking the name up would already
// carry it out of the host. An allowed destination then goes through
// exactly the checks of one the policy allows (its addresses are checked,
// so an approved name that resolves to loopback or metadata addresses is
// still refused unless the policy names them).

// AskRequest is one destination held for an answer.
type AskRequest struct {
	Sandbox *Sandbox
	Host    string // canonical name or IP address
	Port    uint16
	// How the first held connection arrived: connect-tunnel, http, socks5,
	// tls or tcp, and its client end, original destination (transparent
	// mode) and process id when the kernel said (0: unknown).
	Op     string
	Client netip.AddrPort
	Orig   netip.AddrPort
	PID    uint32
	// Deadline is when the held connections are denied without an answer.
	Deadline time.Time
}

// Answer is a decision on an AskRequest.
type Answer struct {
	Allow bool
	// Rule names what decided, for events: an approval, or the policy
	// overlay entry that allowed the destination.
	Rule string
	// Reason says who decided what, for the client and the events.
	Reason string
}

// DefaultMaxAsks is Config.MaxAsks's default.
const DefaultMaxAsks = 16

// askGrace is how long a held connection waits past the deadline for the
// asker to report the timeout itself before it gives up on it.
const askGrace = time.Second

type askKey struct {
	sandbox string
	host    string
	port    uint16
}

// pendingAsk is one request and the connections waiting on it.
type pendingAsk struct {
	key      askKey
	deadline time.Time
	cancel   context.CancelFunc
	waiters  int           // guarded by asks.mu
	done     chan struct{} // closed once ans and err are set
	ans      Answer
	err      error
}

// asks are the pending requests of every sandbox.
type asks struct {
	mu      sync.Mutex
	m       map[askKey]*pendingAsk
	pending map[string]int // per sandbox id: requests whose asker has not returned
}

// join adds a waiter to the pending request for req's sandbox and
// host:port, or starts one. It returns nil and a reason when the sandbox
// has too many requests pending.
func (p *Proxy) join(req AskRequest) (*pendingAsk, string) {
	a := &p.asks
	k := askKey{req.Sandbox.ID, req.Host, req.Port}
	a.mu.Lock()
	defer a.mu.Unlock()
	if pa := a.m[k]; pa != nil && time.Now().Before(pa.deadline) {
		pa.waiters++
		return pa, ""
	} else if pa != nil {
		// Timing out as we speak: this connection asks anew.
		delete(a.m, k)
	}
	if a.m == nil {
		a.m, a.pending = map[askKey]*pendingAsk{}, map[string]int{}
	}
	if n := a.pending[k.sandbox]; n >= p.cfg.MaxAsks {
		return nil, fmt.Sprintf("%d requests of this sandbox already wait for an answer", n)
	}
	ctx, cancel := context.WithDeadline(context.Background(), req.Deadline)
	pa := &pendingAsk{key: k, deadline: req.Deadline, cancel: cancel, waiters: 1, done: make(chan struct{})}
	a.m[k] = pa
	a.pending[k.sandbox]++
	go p.runAsk(ctx, pa, req)
	return pa, ""
}

// runAsk asks, publishes the answer to the waiters and forgets the request.
func (p *Proxy) runAsk(ctx context.Context, pa *pendingAsk, req AskRequest) {
	defer func() {
		if r := recover(); r != nil {
			pa.err = fmt.Errorf("the asker failed: %v", r)
			p.log.Error("proxy: panic in the asker", "panic", r)
		}
		pa.cancel()
		a := &p.asks
		a.mu.Lock()
		if a.m[pa.key] == pa {
			delete(a.m, pa.key)
		}
		if a.pending[pa.key.sandbox]--; a.pending[pa.key.sandbox] <= 0 {
			delete(a.pending, pa.key.sandbox)
		}
		a.mu.Unlock()
		close(pa.done)
	}()
	pa.ans, pa.err = p.cfg.Ask(ctx, req)
	if pa.err == nil && ctx.Err() != nil && !pa.ans.Allow {
		pa.err = ctx.Err()
	}
}

// leave removes a waiter that stopped waiting; the last one withdraws the
// request: it leaves the table at once, so a later connection asks anew.
func (p *Proxy) leave(pa *pendingAsk) {
	a := &p.asks
	a.mu.Lock()
	pa.waiters--
	last := pa.waiters == 0
	if last && a.m[pa.key] == pa {
		delete(a.m, pa.key)
	}
	a.mu.Unlock()
	if last {
		pa.cancel()
	}
}

// pendingAsks reports how many requests the sandbox has pending (tests).
func (p *Proxy) pendingAsks(sandbox string) int {
	p.asks.mu.Lock()
	defer p.asks.mu.Unlock()
	return p.asks.pending[sandbox]
}

// hold holds the connection c, which asks for h:port in the way op, until
// the answer. It returns the allowing Answer, or the refusal. rule is the
// rule the policy's decision named, if any.
func (p *Proxy) hold(c *conn, op string, h hostpattern.Host, port uint16, rule string) (Answer, *outcome) {
	name := h.String()
	sb := c.cl.Sandbox
	if p.cfg.Ask == nil {
		return Answer{}, refused(name, port, rule, fmt.Sprintf("no rule allows %s:%d and approvals need agentd, which is not answering for this proxy; denied", name, port))
	}
	if h.IsIP() {
		// An address the proxy would refuse anyway is not worth a question.
		if o := p.checkAddr(sb, h, h.IP, port); o != nil {
			return Answer{}, o
		}
	}
	timeout := time.Duration(sb.Network.AskTimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	req := AskRequest{Sandbox: sb, Host: name, Port: port, Op: op, Client: c.client, Orig: c.cl.Orig, PID: c.cl.PID,
		Deadline: time.Now().Add(timeout)}
	pa, full := p.join(req)
	if pa == nil {
		return Answer{}, refused(name, port, rule, fmt.Sprintf("no rule allows %s:%d and %s; refused without asking", name, port, full))
	}
	gone, stop := c.watchGone()
	defer stop()
	wait := time.NewTimer(time.Until(pa.deadline) + askGrace)
	defer wait.Stop()
	select {
	case <-pa.done:
	case <-gone:
		p.leave(pa)
		return Answer{}, refused(name, port, rule, fmt.Sprintf("%s:%d: the client went away while the connection was held for an answer", name, port))
	case <-wait.C:
		p.leave(pa)
		return Answer{}, refused(name, port, rule, timedOut(name, port, timeout))
	}
	switch {
	case errors.Is(pa.err, context.DeadlineExceeded):
		return Answer{}, refused(name, port, rule, timedOut(name, port, timeout))
	case errors.Is(pa.err, context.Canceled):
		return Answer{}, refused(name, port, rule, fmt.Sprintf("%s:%d: the request was withdrawn; denied", name, port))
	case pa.err != nil:
		return Answer{}, refused(name, port, rule, fmt.Sprintf("%s:%d: nobody could be asked (%v); denied", name, port, pa.err))
	case !pa.ans.Allow:
		why := pa.ans.Reason
		if why == "" {
			why = "denied by an approver"
		}
		return Answer{}, refused(name, port, pa.ans.Rule, fmt.Sprintf("%s:%d: %s", name, port, why))
	}
	return pa.ans, nil
}

func timedOut(name string, port uint16, timeout time.Duration) string {
	return fmt.Sprintf("%s:%d: no answer within %s; denied", name, port, timeout)
}

// watchGone reports, by closing gone, that the client closed or reset its
// end while the connection is held. It reads ahead into the client's
// buffered reader, so nothing the client sends is lost; once the buffer is
// full it stops watching (the deadline still ends the wait). stop ends the
// watch and restores a header deadline for what the caller reads next.
func (c *conn) watchGone() (gone <-chan struct{}, stop func()) {
	ch := make(chan struct{})
	exited := make(chan struct{})
	c.c.SetReadDeadline(time.Time{})
	go func() {
		defer close(exited)
		for {
			n := c.br.Buffered()
			if n >= c.br.Size() {
				return
			}
			if _, err := c.br.Peek(n + 1); err != nil {
				if !isTimeout(err) {
					close(ch)
				}
				return
			}
		}
	}()
	return ch, func() {
		c.c.SetReadDeadline(time.Unix(1, 0))
		<-exited
		c.c.SetReadDeadline(time.Now().Add(c.p.cfg.HeaderTimeout))
	}
}

// check decides whether c's sandbox may reach hostText:port, holding the
// connection for an answer when the policy says ask. op names the way the
// connection asked, for the request.
func (c *conn) check(op, hostText string, port uint16) (*dest, *outcome) {
	return c.p.check(c, op, hostText, port)
}
