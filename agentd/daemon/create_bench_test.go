//go:build linux

package daemon

import (
	"context"
	"fmt"
	"testing"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// BenchmarkCreate measures Sandboxes.Create through the API of an
// in-process agentd with the builtin base bundle, as `agentctl run` sends
// it (Destroy is outside the timing): the round trip, decoding, cgroup,
// limits, network policy and record. bench/launch measures Create against
// a real agentd process. The cases differ in how many other sandboxes
// exist: on a server agentd holds many, and making or removing one must
// not cost in proportion to the others.
func BenchmarkCreate(b *testing.B) {
	kerneltest.Privileged(b)
	td := startDaemon(b, b.TempDir(), kerneltest.PinDir(b))
	sbx := apiv1.NewSandboxesClient(client(b, td.socket))
	ctx := context.Background()
	req := &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(b)}}
	var others []string
	defer func() {
		for _, id := range others {
			sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: id})
		}
	}()
	for _, n := range []int{0, 64} {
		for len(others) < n {
			created, err := sbx.Create(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			others = append(others, created.Id)
		}
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			for b.Loop() {
				created, err := sbx.Create(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: created.Id}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
