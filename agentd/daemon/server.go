//go:build linux

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paddock-sh/paddock/agentd/peer"
)

// newServer builds the gRPC server: identity from the kernel at the
// handshake, then for every call, outermost first: metrics, recovery,
// logging, authorisation, rate limit, validation.
func newServer(d *Daemon) *grpc.Server {
	lim := &perUID{m: map[uint32]*rate.Limiter{}}
	authz := func(ctx context.Context) (context.Context, error) { return ctx, d.authorise(ctx) }
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		if cr, ok := peer.FromContext(ctx); ok {
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
	return grpc.NewServer(
		grpc.Creds(peer.Credentials()),
		grpc.MaxRecvMsgSize(4<<20),
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
	)
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
	if peer.Under(cr.Cgroup, d.subtree) {
		d.metrics.refused.WithLabelValues("sandboxed").Inc()
		d.logger.Warn("API call from inside a sandbox refused", "peer", cr.String())
		return status.Error(codes.PermissionDenied, "calls from inside a sandbox are refused")
	}
	return nil
}

// perUID limits each uid to a steady 50 calls a second (bursts of 100),
// so one user cannot starve the daemon for the others.
type perUID struct {
	mu sync.Mutex
	m  map[uint32]*rate.Limiter
}

func (p *perUID) Limit(ctx context.Context) error {
	cr, _ := peer.FromContext(ctx)
	p.mu.Lock()
	l := p.m[cr.UID]
	if l == nil {
		if len(p.m) > 4096 {
			clear(p.m)
		}
		l = rate.NewLimiter(50, 100)
		p.m[cr.UID] = l
	}
	p.mu.Unlock()
	if !l.Allow() {
		return fmt.Errorf("uid %d: more than 50 calls a second", cr.UID)
	}
	return nil
}
