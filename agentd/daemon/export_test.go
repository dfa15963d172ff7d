//go:build linux

package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// TestExportJSONL: every event lands in the export file as one JSON line,
// in sequence; a restarted daemon goes on where the file stopped, with
// nothing missing and nothing repeated.
func TestExportJSONL(t *testing.T) {
	kerneltest.Privileged(t)
	state, pins := t.TempDir(), kerneltest.PinDir(t)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	opt := func(c *Config) { c.ExportJSONL = file }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for round := range 2 {
		t.Run("", func(t *testing.T) { exportRound(t, ctx, round, state, pins, opt, file) })
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the export file must be root-only: %v %v", st.Mode(), err)
	}
}

func exportRound(t *testing.T, ctx context.Context, round int, state, pins string, opt func(*Config), file string) {
	{
		td := startDaemon(t, state, pins, opt)
		sbx := apiv1.NewSandboxesClient(client(t, td.socket))
		created, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}, Name: "export"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: created.Id}); err != nil {
			t.Fatal(err)
		}
		// The destroy's lifecycle event may still be on its way to the
		// log: wait until it is in the file and the file holds the whole
		// log.
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, last := exportedUpTo(t, file), td.d.pipe.log.Stats().Last
			data, _ := os.ReadFile(file)
			if got == last && strings.Contains(string(data), created.Id) && strings.Count(string(data), `"phase":"destroyed"`) == round+1 && strings.Count(string(data), `"phase":"daemon-started"`) == round+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the export file reaches #%d, the log #%d:\n%s", round, got, last, data)
			}
			time.Sleep(20 * time.Millisecond)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
		td.d.Shutdown(ctx2)
		cancel2()
	}
}

// exportedUpTo checks that the file's events are numbered 1, 2, 3... with
// a created and a destroyed event among them, and returns the last number.
func exportedUpTo(t *testing.T, file string) uint64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want uint64 = 1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct {
			Seq string `json:"seq"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		var seq uint64
		if err := json.Unmarshal([]byte(ev.Seq), &seq); err != nil {
			t.Fatalf("seq %q: %v", ev.Seq, err)
		}
		if seq != want {
			t.Fatalf("the export file holds #%d where #%d belongs", seq, want)
		}
		want++
	}
	return want - 1
}
