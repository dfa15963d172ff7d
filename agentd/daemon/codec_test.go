//go:build linux

package daemon

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// TestSubscribeStoredEqualsDecoded: an unfiltered root reader gets events
// as the log stores them (storedEvent); a filtered one gets them decoded
// and re-encoded. Both must read exactly the same events.
func TestSubscribeStoredEqualsDecoded(t *testing.T) {
	kerneltest.Privileged(t)
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	cc := client(t, td.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sbx := apiv1.NewSandboxesClient(cc)
	for range 3 {
		created, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}, Name: "codec"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: created.Id}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(f *apiv1.Filter) []*apiv1.Event {
		st, err := apiv1.NewEventsClient(cc).Subscribe(ctx, &apiv1.SubscribeRequest{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		var out []*apiv1.Event
		for {
			ev, err := st.Recv()
			if err != nil {
				return out
			}
			out = append(out, ev)
		}
	}
	// Wait for the last destroy to be logged.
	deadline := time.Now().Add(5 * time.Second)
	var stored []*apiv1.Event
	for time.Now().Before(deadline) {
		if stored = read(nil); len(stored) >= 7 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	all := &apiv1.Filter{Actions: []apiv1.Action{apiv1.Action_ACTION_LOG, apiv1.Action_ACTION_ALLOW, apiv1.Action_ACTION_DENY, apiv1.Action_ACTION_REDIRECT, apiv1.Action_ACTION_KILL}}
	decoded := read(all)
	if len(stored) < 7 || len(stored) != len(decoded) {
		t.Fatalf("stored path read %d events, decoded path %d (want the same, at least 7)", len(stored), len(decoded))
	}
	for i := range stored {
		if stored[i].Seq != uint64(i+1) || !proto.Equal(stored[i], decoded[i]) {
			t.Fatalf("event %d differs:\nstored  %v\ndecoded %v", i, stored[i], decoded[i])
		}
	}
}
