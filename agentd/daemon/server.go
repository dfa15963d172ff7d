//go:build linux

package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/paddock-sh/paddock/agentd/peer"
)

// newServer builds the unix socket's gRPC server: identity from the
// kernel at the handshake.
func newServer(d *Daemon) *grpc.Server {
	return newServerWith(d, peer.Credentials(), d.authorise)
}

// newServerWith builds a gRPC server on creds' identities: for every call,
// outermost first: metrics, recovery, logging, authorisation (authorise),
// rate limit, validation.
func newServerWith(d *Daemon, creds credentials.TransportCredentials, authorise func(context.Context) error, opts ...grpc.ServerOption) *grpc.Server {
	lim := &perCaller{m: map[string]*rate.Limiter{}}
	authz := func(ctx context.Context) (context.Context, error) { return ctx, authorise(ctx) }
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		if cr, ok := peer.FromContext(ctx); ok && cr.Remote() {
			fields = append(fields, "peer_cert", cr.Cert.Subject.String(), "peer_cert_serial", cr.Cert.SerialNumber.Text(16))
		} else if ok {
			fields = append(fields, "peer_uid", cr.UID, "peer_pid", cr.PID)
		}
		d.logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	panics := recovery.WithRecoveryHandler(func(p any) error {
		d.logger.Error("panic in an API handler", "panic", p, "stack", string(debug.Stack()))
		d.metrics.panics.Inc()
		return status.Error(codes.Internal, "internal error")
	})
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	return grpc.NewServer(append([]grpc.ServerOption{
		grpc.Creds(creds),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.MaxRecvMsgSize(4 << 20),
		// A Create carries its ~130 KB bundle: with HTTP/2's default 64 KB
		// windows the client stops halfway for a window update, a round
		// trip between the two processes' threads on every launch (~0.4
		// ms here). What a peer may send unread stays bounded by these
		// and MaxRecvMsgSize.
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(1 << 20),
		grpc.ChainUnaryInterceptor(
			d.metrics.grpc.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(panics),
			logging.UnaryServerInterceptor(logger, logOpts...),
			auth.UnaryServerInterceptor(authz),
			ratelimit.UnaryServerInterceptor(lim),
			validator.UnaryServerInterceptor(),
		),
		grpc.ChainStreamInterceptor(
			d.metrics.grpc.StreamServerInterceptor(),
			recovery.StreamServerInterceptor(panics),
			logging.StreamServerInterceptor(logger, logOpts...),
			auth.StreamServerInterceptor(authz),
			ratelimit.StreamServerInterceptor(lim),
			validator.StreamServerInterceptor(),
		),
	}, opts...)...)
}

// authorise refuses every call from inside a sandbox (its cgroup is below
// the daemon's), whoever the uid: a confined agent must not reach the
// daemon that confines it. Per-sandbox ownership is checked by each
// handler.
func (d *Daemon) authorise(ctx context.Context) error {
	cr, ok := peer.FromContext(ctx)
	if !ok {
		d.metrics.refused.WithLabelValues("no-identity").Inc()
		return status.Error(codes.Unauthenticated, "the caller's identity is unknown")
	}
	if cr.Remote() {
		// A certificate identity has no place on the local socket.
		d.metrics.refused.WithLabelValues("no-identity").Inc()
		return status.Error(codes.Unauthenticated, "a remote identity on the local socket")
	}
	if peer.Under(cr.Cgroup, d.subtree) {
		d.metrics.refused.WithLabelValues("sandboxed").Inc()
		d.logger.Warn("API call from inside a sandbox refused", "peer", cr.String())
		return status.Error(codes.PermissionDenied, "calls from inside a sandbox are refused")
	}
	return nil
}

// perCaller limits each caller (a uid on the local socket, a certificate on
// the remote listener) to a steady callRate calls a second (bursts of
// twice that), so one caller cannot starve the daemon for the others.
// Local root is not limited: it could stop the daemon anyway, and fleet
// tooling runs as root. An `agentctl run` makes four calls.
type perCaller struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const callRate = 200

func (p *perCaller) Limit(ctx context.Context) error {
	cr, _ := peer.FromContext(ctx)
	if cr.UID == 0 && !cr.Remote() {
		return nil
	}
	key := "uid:" + strconv.FormatUint(uint64(cr.UID), 10)
	if cr.Remote() {
		// The whole certificate, not its subject: two certificates may
		// share a subject.
		sum := sha256.Sum256(cr.Cert.Raw)
		key = "cert:" + hex.EncodeToString(sum[:])
	}
	p.mu.Lock()
	l := p.m[key]
	if l == nil {
		if len(p.m) > 4096 {
			clear(p.m)
		}
		l = rate.NewLimiter(callRate, 2*callRate)
		p.m[key] = l
	}
	p.mu.Unlock()
	if !l.Allow() {
		if cr.Remote() {
			return fmt.Errorf("%s: more than %d calls a second", cr, callRate)
		}
		return fmt.Errorf("uid %d: more than %d calls a second", cr.UID, callRate)
	}
	return nil
}
