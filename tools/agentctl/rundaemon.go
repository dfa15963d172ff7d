package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/launch"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/internal/kernfs"
)

// daemonRun is a sandbox agentd made for one `agentctl run`: ephemeral, so
// agentd destroys it when agentctl exits, however it exits.
type daemonRun struct {
	cc  *grpc.ClientConn
	sbx *apiv1.Sandbox
}

// useDaemon decides between agentd and a standalone launch. A socket that
// is there but does not answer is an error, not a reason to fall back
// silently: whoever runs agentd expects its events and its enforcement.
func useDaemon(mode, socket string) (bool, error) {
	switch mode {
	case "never":
		return false, nil
	case "always":
		return true, nil
	case "auto":
		_, err := os.Stat(socket)
		return err == nil, nil
	}
	return false, fmt.Errorf("--agentd: %q is not auto, always or never", mode)
}

// startDaemonRun connects to agentd and returns the launch's side of it:
// the sandbox is made when the launcher has started the shim
// (launch.Daemon.Create), with the shim already in it. data is b's
// encoding, nil when it has none yet.
func startDaemonRun(socket string, b *bundle.Bundle, data []byte, workspace string) (*daemonRun, *launch.Daemon, error) {
	if data == nil {
		var err error
		if data, err = bundle.Encode(b); err != nil {
			return nil, nil, err
		}
	}
	cc, err := dial(socket)
	if err != nil {
		return nil, nil, err
	}
	// The connection's handshake goes on while the launch is planned.
	cc.Connect()
	dr := &daemonRun{cc: cc}
	d := &launch.Daemon{
		Create: func(pid int) (*launch.Sandbox, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sbx, err := apiv1.NewSandboxesClient(cc).Create(ctx, &apiv1.CreateSandboxRequest{
				Policy:    &apiv1.CreateSandboxRequest_Bundle{Bundle: data},
				Name:      "run-" + strconv.Itoa(os.Getpid()),
				Workspace: workspace,
				Ephemeral: true,
				Pid:       uint32(pid),
			})
			if err != nil {
				return nil, fmt.Errorf("agentd (%s): creating the sandbox: %w", socket, err)
			}
			dr.sbx = sbx
			return &launch.Sandbox{ID: sbx.GetId(), Cgroup: sbx.GetCgroup(), ProxyPort: uint16(sbx.GetProxyPort()), FileDeny: fileDeny(sbx),
				CABundle: sbx.GetCaBundle(), BaseURLs: sbx.GetBaseUrls()}, nil
		},
	}
	d.CABundle = caBundle(socket, b)
	return dr, d, nil
}

// caBundle is the CA file agentd on socket keeps for sandboxes with
// credentials, "" when b has none.
func caBundle(socket string, b *bundle.Bundle) string {
	if len(b.Credentials) == 0 {
		return ""
	}
	return filepath.Join(filepath.Dir(socket), apiv1.CABundleName)
}

// fileDeny is why agentd does not hold the policy's deny rules for sbx,
// "" when it does.
func fileDeny(sbx *apiv1.Sandbox) string {
	for _, dg := range sbx.GetDegraded() {
		if dg.GetLayer() == apiv1.Layer_LAYER_BPF_LSM {
			return dg.GetReason()
		}
	}
	if slices.Contains(sbx.GetEnforced(), apiv1.Layer_LAYER_BPF_LSM) {
		return ""
	}
	return "agentd does not say it enforces them"
}

// settle is how long a decision can take to reach the log: the hooks'
// ring buffer is read every 20 ms, then the pipeline writes.
const settle = 100 * time.Millisecond

// denials feeds the sandbox's denials, from the log, to sink.
func (dr *daemonRun) denials(sink events.Sink) error {
	time.Sleep(settle)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := apiv1.NewEventsClient(dr.cc).Subscribe(ctx, &apiv1.SubscribeRequest{
		SinceSeq: dr.sbx.GetAfterSeq(),
		Filter:   &apiv1.Filter{SandboxIds: []string{dr.sbx.GetId()}, Actions: []apiv1.Action{apiv1.Action_ACTION_DENY, apiv1.Action_ACTION_KILL}},
	})
	if err != nil {
		return err
	}
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		e := events.Event{Action: events.ActionDeny, Reason: ev.GetReason()}
		if n := ev.GetNetwork(); n != nil {
			e.Net = &events.Net{Host: n.GetHost(), Port: uint16(n.GetPort())}
		}
		sink.Emit(e)
	}
}

// close ends the run. A sandbox with nothing left running needs no
// waiting for: agentd watches this process and removes the sandbox as it
// exits. One with a process left is destroyed now, so that nothing of the
// sandbox outlives `agentctl run`.
func (dr *daemonRun) close() error {
	defer dr.cc.Close()
	if dr.sbx == nil || dr.emptied() {
		return nil // no sandbox was made, or nothing runs in it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := apiv1.NewSandboxesClient(dr.cc).Destroy(ctx, &apiv1.DestroySandboxRequest{Id: dr.sbx.GetId()}); err != nil {
		return fmt.Errorf("destroying agentd sandbox %s: %w", dr.sbx.GetId(), err)
	}
	return nil
}

// emptied reports whether the kernel says no process is left in the
// sandbox's cgroup; false when it cannot tell.
func (dr *daemonRun) emptied() bool {
	root, err := kernfs.Cgroup2Root()
	if err != nil {
		return false
	}
	data, err := os.ReadFile(filepath.Join(root, dr.sbx.GetCgroup(), "cgroup.events"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		if strings.TrimSpace(line) == "populated 0" {
			return true
		}
	}
	return false
}
