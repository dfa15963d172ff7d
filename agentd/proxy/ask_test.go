package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/paddock-sh/paddock/agentd/events"
)

// approver is a fake Config.Ask: it records each request and waits for
// the test's answer, or for the request's context to end.
type approver struct {
	mu    sync.Mutex
	reqs  []AskRequest
	ended []error // ctx.Err() of each request that ended without an answer
	calls chan *asked
}

type asked struct {
	req    AskRequest
	ctx    context.Context
	answer chan Answer
}

func newApprover() *approver { return &approver{calls: make(chan *asked, 64)} }

func (a *approver) ask(ctx context.Context, req AskRequest) (Answer, error) {
	q := &asked{req: req, ctx: ctx, answer: make(chan Answer, 1)}
	a.mu.Lock()
	a.reqs = append(a.reqs, req)
	a.mu.Unlock()
	a.calls <- q
	select {
	case ans := <-q.answer:
		return ans, nil
	case <-ctx.Done():
		a.mu.Lock()
		a.ended = append(a.ended, ctx.Err())
		a.mu.Unlock()
		return Answer{}, ctx.Err()
	}
}

// next waits for the next request.
func (a *approver) next(t *testing.T) *asked {
	t.Helper()
	select {
	case q := <-a.calls:
		return q
	case <-time.After(5 * time.Second):
		t.Fatal("no approval request")
		return nil
	}
}

func (a *approver) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func (a *approver) endings() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.ended...)
}

var allowOnce = Answer{Allow: true, Rule: "approval apr-1: allow once by uid 1000", Reason: "allowed once by uid 1000 (approval apr-1)"}

// askWorld is the test world with on_unknown = "ask" and names that no
// rule allows: unknown.test (resolving to the allowed origin's address,
// which the policy allows by address) and sneaky.test (resolving to the
// canary on 127.0.0.1).
func askWorld(t *testing.T, timeout int) (*world, *approver, *testProxy) {
	w := newWorld(t)
	w.net.OnUnknown = "ask"
	w.net.AskTimeoutSeconds = timeout
	w.res.set("unknown.test", "127.0.0.2")
	w.res.set("unknown2.test", "127.0.0.2")
	w.res.set("sneaky.test", "127.0.0.1")
	ap := newApprover()
	tp := w.start(t, netip.AddrPort{}, func(c *Config) { c.Ask = ap.ask; c.MaxAsks = 3 })
	return w, ap, tp
}

// get sends an absolute-form GET through the proxy on a new connection
// and returns the connection with its reader; the response is read by
// the caller.
func sendGet(t *testing.T, tp *testProxy, authority string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := tp.dial(t)
	fmt.Fprintf(c, "GET http://%s/held HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	return c, bufio.NewReader(c)
}

// TestAskAllow: a request to a destination no rule names is held, nothing
// is resolved until the answer, and an allow lets it through as if a rule
// allowed it; the event names the approval.
func TestAskAllow(t *testing.T) {
	w, ap, tp := askWorld(t, 30)
	target := fmt.Sprintf("unknown.test:%d", w.allowed.addr.Port())
	_, br := sendGet(t, tp, target)
	q := ap.next(t)
	if q.req.Host != "unknown.test" || q.req.Port != w.allowed.addr.Port() || q.req.Op != "http" || q.req.Sandbox != w.sb ||
		!q.req.Client.IsValid() || time.Until(q.req.Deadline) < 25*time.Second {
		t.Fatalf("request %+v", q.req)
	}
	w.res.mu.Lock()
	asked := strings.Join(w.res.asked, ",")
	w.res.mu.Unlock()
	if strings.Contains(asked, "unknown.test") {
		t.Fatal("the held name was resolved before the answer")
	}
	q.answer <- allowOnce
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=allowed ") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	e := tp.events.waitFor(t, "allow", func(e events.Event) bool { return e.Action == events.ActionAllow })
	if e.Rule != allowOnce.Rule || !strings.Contains(e.Reason, "allowed once by uid 1000") || e.Net.Host != "unknown.test" {
		t.Errorf("event %+v", e)
	}
}

// TestAskDenyAndTimeout: a denial and a request nobody answers in time are
// refused with a reason the client can read; the origin is never reached.
func TestAskDenyAndTimeout(t *testing.T) {
	w, ap, tp := askWorld(t, 1)
	target := fmt.Sprintf("unknown.test:%d", w.allowed.addr.Port())
	_, br := sendGet(t, tp, target)
	ap.next(t).answer <- Answer{Rule: "approval apr-2: deny by uid 0", Reason: "denied by uid 0 (approval apr-2)"}
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 403 || !strings.Contains(body, "denied by uid 0") {
		t.Fatalf("deny: %d %q", resp.StatusCode, body)
	}

	start := time.Now()
	_, br = sendGet(t, tp, target)
	ap.next(t) // never answered
	resp, body = readResp(t, br, "GET")
	if resp.StatusCode != 403 || !strings.Contains(body, "no answer within 1s; denied") {
		t.Fatalf("timeout: %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("held for %v, want about 1s", d)
	}
	if w.allowed.hits() != 0 || tp.dials.Load() != 0 {
		t.Errorf("origin reached: %d hits, %d dials", w.allowed.hits(), tp.dials.Load())
	}
	if got := ap.endings(); len(got) != 1 || got[0] != context.DeadlineExceeded {
		t.Errorf("the asker saw %v, want a deadline", got)
	}
}

// TestAskAllowedNameStillChecked: approving a name does not approve the
// addresses it resolves to: one that resolves to loopback is refused and
// the canary is not reached.
func TestAskAllowedNameStillChecked(t *testing.T) {
	w, ap, tp := askWorld(t, 30)
	_, br := sendGet(t, tp, fmt.Sprintf("sneaky.test:%d", w.canary.addr.Port()))
	ap.next(t).answer <- allowOnce
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 403 || !strings.Contains(body, "loopback") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if w.canary.hits() != 0 {
		t.Fatal("canary reached")
	}
	// A guarded address is refused without asking at all.
	_, br = sendGet(t, tp, "169.254.169.254:80")
	resp, _ = readResp(t, br, "GET")
	if resp.StatusCode != 403 || ap.count() != 1 {
		t.Fatalf("metadata address: %d, %d requests", resp.StatusCode, ap.count())
	}
}

// TestAskCoalesces: concurrent connections to the same host:port wait on
// one request, and its answer releases them all; another port is another
// request.
func TestAskCoalesces(t *testing.T) {
	w, ap, tp := askWorld(t, 30)
	target := fmt.Sprintf("unknown.test:%d", w.allowed.addr.Port())
	var brs []*bufio.Reader
	for range 3 {
		_, br := sendGet(t, tp, target)
		brs = append(brs, br)
	}
	q := ap.next(t)
	// The other two join it: wait until the proxy holds three waiters.
	waitWaiters(t, tp.p, askKey{w.sb.ID, "unknown.test", w.allowed.addr.Port()}, 3)
	if ap.count() != 1 {
		t.Fatalf("%d requests for one destination", ap.count())
	}
	q.answer <- allowOnce
	for i, br := range brs {
		resp, body := readResp(t, br, "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("connection %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// Once answered, the next connection asks again (allow once).
	_, br := sendGet(t, tp, target)
	ap.next(t).answer <- Answer{Reason: "denied"}
	if resp, _ := readResp(t, br, "GET"); resp.StatusCode != 403 {
		t.Fatalf("after the answer: %d", resp.StatusCode)
	}
}

func waitWaiters(t *testing.T, p *Proxy, k askKey, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		p.asks.mu.Lock()
		got := 0
		if pa := p.asks.m[k]; pa != nil {
			got = pa.waiters
		}
		p.asks.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters on %v, want %d", got, k, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAskWithdrawn: a client that goes away stops waiting; the request is
// withdrawn only when nobody else waits on it.
func TestAskWithdrawn(t *testing.T) {
	w, ap, tp := askWorld(t, 30)
	target := fmt.Sprintf("unknown.test:%d", w.allowed.addr.Port())
	k := askKey{w.sb.ID, "unknown.test", w.allowed.addr.Port()}
	c1, _ := sendGet(t, tp, target)
	q := ap.next(t)
	_, br2 := sendGet(t, tp, target)
	waitWaiters(t, tp.p, k, 2)
	c1.Close()
	waitWaiters(t, tp.p, k, 1)
	if q.ctx.Err() != nil {
		t.Fatal("the request was withdrawn while a connection still waits on it")
	}
	q.answer <- allowOnce
	if resp, _ := readResp(t, br2, "GET"); resp.StatusCode != 200 {
		t.Fatalf("the remaining connection: %d", resp.StatusCode)
	}

	c3, _ := sendGet(t, tp, target)
	q = ap.next(t)
	c3.Close()
	select {
	case <-q.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the request was not withdrawn when its only connection went away")
	}
	if err := q.ctx.Err(); err != context.Canceled {
		t.Fatalf("withdrawn with %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); tp.p.pendingAsks(w.sb.ID) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the withdrawn request still counts as pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tp.events.waitFor(t, "withdrawal", func(e events.Event) bool { return strings.Contains(e.Reason, "went away") })
}

// TestAskPendingCap: a sandbox has at most MaxAsks requests pending; more
// are refused at once, without asking, and the room comes back as
// requests are answered.
func TestAskPendingCap(t *testing.T) {
	w, ap, tp := askWorld(t, 30)
	var qs []*asked
	for i := range 3 {
		sendGet(t, tp, fmt.Sprintf("unknown.test:%d", 1000+i))
		qs = append(qs, ap.next(t))
	}
	_, br := sendGet(t, tp, fmt.Sprintf("unknown2.test:%d", w.allowed.addr.Port()))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 403 || !strings.Contains(body, "3 requests of this sandbox already wait") || ap.count() != 3 {
		t.Fatalf("beyond the cap: %d %q, %d requests", resp.StatusCode, body, ap.count())
	}
	// Joining a pending request is not a new request.
	sendGet(t, tp, "unknown.test:1000")
	waitWaiters(t, tp.p, askKey{w.sb.ID, "unknown.test", 1000}, 2)
	qs[2].answer <- Answer{Reason: "denied"}
	for deadline := time.Now().Add(5 * time.Second); tp.p.pendingAsks(w.sb.ID) != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d pending", tp.p.pendingAsks(w.sb.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, br = sendGet(t, tp, fmt.Sprintf("unknown2.test:%d", w.allowed.addr.Port()))
	ap.next(t).answer <- allowOnce
	if resp, _ := readResp(t, br, "GET"); resp.StatusCode != 200 {
		t.Fatalf("after room came back: %d", resp.StatusCode)
	}
}

// TestAskEveryMode: CONNECT, SOCKS5 and transparent connections are held
// and released alike.
func TestAskEveryMode(t *testing.T) {
	w, ap, tp := askWorld(t, 30)
	port := w.allowed.addr.Port()
	target := fmt.Sprintf("unknown.test:%d", port)

	t.Run("connect", func(t *testing.T) {
		c := tp.dial(t)
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		q := ap.next(t)
		if q.req.Op != "connect-tunnel" {
			t.Errorf("op %q", q.req.Op)
		}
		q.answer <- allowOnce
		resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		resp, body := roundTrip(t, c, br, "GET /t HTTP/1.1\r\nHost: "+target+"\r\n\r\n", "GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=allowed ") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("socks5", func(t *testing.T) {
		d, err := xproxy.SOCKS5("tcp", tp.addr, nil, xproxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, err := d.Dial("tcp", target)
			done <- result{c, err}
		}()
		q := ap.next(t)
		if q.req.Op != "socks5" {
			t.Errorf("op %q", q.req.Op)
		}
		q.answer <- allowOnce
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.c.Close()
		r.c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(r.c, "GET /s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target)
		if _, body := readResp(t, bufio.NewReader(r.c), "GET"); !strings.HasPrefix(body, "origin=allowed ") {
			t.Fatalf("%q", body)
		}
		// Refused: the SOCKS reply says "not allowed".
		go func() {
			_, err := d.Dial("tcp", "unknown2.test:81")
			done <- result{nil, err}
		}()
		ap.next(t).answer <- Answer{Reason: "denied"}
		if r := <-done; r.err == nil || !strings.Contains(r.err.Error(), "not allowed") {
			t.Fatalf("denied SOCKS5: %v", r.err)
		}
	})
	t.Run("transparent", func(t *testing.T) {
		// Redirected from the allowed origin's address, Host names a
		// host no rule allows: decided on the Host, so asked.
		ttp := w.start(t, w.allowed.addr, func(c *Config) { c.Ask = ap.ask })
		c := ttp.dial(t)
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /tr HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		q := ap.next(t)
		if q.req.Op != "http" || q.req.Orig != w.allowed.addr {
			t.Errorf("request %+v", q.req)
		}
		q.answer <- allowOnce
		resp, body := readResp(t, br, "GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin=allowed ") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
}
