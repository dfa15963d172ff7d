package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/daemon"
	"github.com/paddock-sh/paddock/internal/kernfs"
)

// startAgentd runs an agentd for the suite, in this process, with state,
// cgroup subtree, pins and socket of its own, and sets testSocket.
func startAgentd(dir string) (stop func(), err error) {
	cg2, err := kernfs.Cgroup2Root()
	if err != nil {
		return nil, err
	}
	if _, err := kernfs.MountBPF("/sys/fs/bpf"); err != nil {
		return nil, err
	}
	pins, err := os.MkdirTemp("/sys/fs/bpf", "paddock-agentctl-test-")
	if err != nil {
		return nil, err
	}
	// Short: pinned unix sockets' paths must fit a socket address.
	short, err := os.MkdirTemp("", "pdk")
	if err != nil {
		os.RemoveAll(pins)
		return nil, err
	}
	root := filepath.Join(cg2, fmt.Sprintf("paddock-agentctl-test-%d", os.Getpid()))
	cfg := daemon.Config{
		StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "run", "agentd.sock"),
		CgroupRoot: root, PinDir: pins, UnixDir: filepath.Join(short, "u"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test",
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		os.RemoveAll(pins)
		os.RemoveAll(short)
		return nil, err
	}
	go d.Serve()
	testSocket = cfg.Socket
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		kernfs.RemoveCgroup(root, 2*time.Second)
		kernfs.RemoveV1(filepath.Base(root), 2*time.Second)
		os.RemoveAll(pins)
		os.RemoveAll(short)
	}, nil
}

// TestAgentdRun: with agentd, `agentctl run` as an unprivileged user puts
// the workload in an agentd sandbox: its cgroup is one of agentd's, a
// program that ignores the proxy variables is sent to agentd's proxy and
// refused (the origin, a canary, is never reached), agentd's log holds the
// decision under the sandbox's id, and the sandbox is gone afterwards.
func TestAgentdRun(t *testing.T) {
	s := newSandbox(t, "agentd")
	denied := newOrigin(t)
	r := s.run("/bin/sh", "-c", "grep ^0:: /proc/self/cgroup; "+s.probe+" connect "+denied.addr)
	if !strings.Contains(r.out, "/paddock-agentctl-test-") || !strings.Contains(r.out, "/sbx-") {
		t.Fatalf("the workload is not in an agentd sandbox:\n%s", r.out)
	}
	if n := denied.hits.Load(); n != 0 {
		t.Fatalf("a loopback origin the policy does not name was reached %d times:\n%s", n, r.out)
	}
	var id string
	for _, line := range strings.Split(r.out, "\n") {
		if cg, ok := strings.CutPrefix(line, "0::"); ok {
			id = filepath.Base(cg)
		}
	}
	cc, err := dial(testSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	// Decisions reach the log within milliseconds of being made, not
	// necessarily before agentctl exits: follow the log for a while.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := apiv1.NewEventsClient(cc).Subscribe(ctx, &apiv1.SubscribeRequest{Follow: true, Filter: &apiv1.Filter{SandboxIds: []string{id}}})
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	refused := false
	for !refused || len(phases) < 3 {
		ev, err := st.Recv()
		if err != nil {
			break
		}
		if lc := ev.GetLifecycle(); lc != nil {
			phases = append(phases, lc.Phase)
		}
		if n := ev.GetNetwork(); n != nil && ev.Action != apiv1.Action_ACTION_ALLOW && n.Orig == denied.addr {
			refused = true
		}
	}
	if !refused {
		t.Errorf("agentd's log has no decision on the connection to %s by sandbox %s", denied.addr, id)
	}
	if strings.Join(phases, ",") != "created,started,destroyed" {
		t.Errorf("sandbox %s lifecycle: %v, want created, started, destroyed", id, phases)
	}
	list, err := apiv1.NewSandboxesClient(cc).List(context.Background(), &apiv1.ListSandboxesRequest{})
	if err != nil || len(list.Sandboxes) != 0 {
		t.Errorf("sandboxes left after the run: %v %v", list, err)
	}
}
