//go:build linux

package egress

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/redact"
	"github.com/paddock-sh/paddock/bpf"
)

// collect reads the world's events until done says it has what it needs,
// or for at most two seconds.
func (w *world) collect(done func([]events.Event) bool) []events.Event {
	var got []events.Event
	deadline := time.After(2 * time.Second)
	for !done(got) {
		select {
		case e := <-w.events:
			got = append(got, e)
		case <-deadline:
			return got
		}
	}
	return got
}

// TestProcEvents: the exec and exit of a sandboxed process reach the sink
// with the sandbox's id, its process and ancestors, and a command line
// whose secrets never leave the hub.
func TestProcEvents(t *testing.T) {
	w := newWorld(t)
	const secret = "sk-ant-api03-paddockTestSecret0123456789abcdef"
	const password = "hunter2-paddock-test"
	argv := []string{"/bin/sh", "-c", "exit 3", "sh", "--token", secret, "--password=" + password, "GITHUB_TOKEN=" + secret, "plain"}
	_, code := w.run(t, w.sandbox, argv...)
	if code != 3 {
		t.Fatalf("the command exited %d", code)
	}
	// An outsider in Paddock's subtree, then a marker: the records are
	// read in order, so once the marker's exit is here the outsider's
	// records, had there been any, are too.
	w.run(t, w.outsider, "/bin/sh", "-c", "exit 4", "paddock-outsider")
	w.run(t, w.sandbox, "/bin/sh", "-c", "exit 5")

	got := w.collect(func(evs []events.Event) bool {
		return slices.ContainsFunc(evs, func(e events.Event) bool { return e.Exit != nil && e.Exit.Code == 5 })
	})
	var exec, exit *events.Event
	for i, e := range got {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) || strings.Contains(string(b), password) {
			t.Errorf("an event carries the secret: %s", b)
		}
		if strings.Contains(string(b), "paddock-outsider") || (e.Exit != nil && e.Exit.Code == 4) {
			t.Errorf("a process in no sandbox was reported: %s", b)
		}
		if e.Exec != nil && slices.Contains(e.Exec.Argv, "exit 3") {
			exec = &got[i]
		}
		if e.Exit != nil && e.Exit.Code == 3 {
			exit = &got[i]
		}
	}
	if exec == nil || exit == nil {
		t.Fatalf("exec %v, exit %v among %d events", exec != nil, exit != nil, len(got))
	}
	want := []string{"/bin/sh", "-c", "exit 3", "sh", "--token", redact.Redacted, "--password=" + redact.Redacted, "GITHUB_TOKEN=" + redact.Redacted, "plain"}
	if exec.Sandbox != "sbx-test" || exec.Layer != events.LayerDaemon || exec.Action != events.ActionLog ||
		exec.Exec.Exe != "/bin/sh" || !slices.Equal(exec.Exec.Argv, want) {
		t.Errorf("exec event: %+v %+v", exec, exec.Exec)
	}
	p := exec.Proc
	if p == nil || p.PID == 0 || p.CgroupID == 0 || p.Exe != "/bin/sh" || p.Comm != "sh" || len(p.Ancestors) == 0 || p.Ancestors[0].PID != uint32(os.Getpid()) {
		t.Errorf("exec event's process: %+v", p)
	}
	if exit.Sandbox != "sbx-test" || exit.Layer != events.LayerDaemon || exit.Action != events.ActionLog || exit.Proc == nil || exit.Proc.PID != p.PID {
		t.Errorf("exit event: %+v %+v", exit, exit.Proc)
	}
}

// TestToEvent: records converted without a kernel: file denials (BPF-LSM,
// which this kernel may refuse to load) and an exec whose argv the kernel
// cut short.
func TestToEvent(t *testing.T) {
	sb := &sandbox{id: "sbx-1"}
	ev := toEvent(bpf.Event{Hook: bpf.HookFileOpen, Action: bpf.Deny, Reason: bpf.ReasonFile, PID: 9, Comm: "cat",
		Cgroup: 77, Path: "/home/u/.ssh/id_ed25519", Rule: 1}, sb)
	if ev.Layer != events.LayerBPFLSM || ev.Action != events.ActionDeny || ev.Sandbox != "sbx-1" || ev.Net != nil ||
		ev.File == nil || ev.File.Path != "/home/u/.ssh/id_ed25519" || ev.File.Operation != "open" ||
		!slices.Equal(ev.File.Access, []string{"read"}) || ev.Proc.CgroupID != 77 || ev.Rule != "" {
		t.Errorf("file open denial: %+v %+v", ev, ev.File)
	}
	ev = toEvent(bpf.Event{Hook: bpf.HookRename, Action: bpf.Deny, Reason: bpf.ReasonFile, Path: "/w/.git/hooks\xff", Write: true}, nil)
	if ev.File == nil || ev.File.Operation != "rename" || ev.File.Path != "/w/.git/hooks\uFFFD" ||
		!slices.Equal(ev.File.Access, []string{"write"}) || ev.Sandbox != "" {
		t.Errorf("rename denial: %+v %+v", ev, ev.File)
	}
	ev = toEvent(bpf.Event{Hook: bpf.HookExec, PID: 5, Exec: &bpf.Exec{Filename: "/bin/x\xff",
		Argv: []string{"x", "--token", "sk-ant-abcdefghijk", "sk-ant-abcdefghijk"}, ArgvTruncated: true}}, sb)
	if ev.Exec == nil || ev.Exec.Exe != "/bin/x\uFFFD" || !slices.Equal(ev.Exec.Argv, []string{"x", "--token", redact.Redacted, redact.Redacted + "\u2026"}) {
		t.Errorf("exec with a cut argv: %+v", ev.Exec)
	}
	ev = toEvent(bpf.Event{Hook: bpf.HookExit, PID: 5, Exit: &bpf.Exit{Code: -1, Signal: 9}}, sb)
	if ev.Exit == nil || ev.Exit.Code != -1 || ev.Exit.Signal != 9 || ev.Layer != events.LayerDaemon || ev.Action != events.ActionLog {
		t.Errorf("exit by a signal: %+v %+v", ev, ev.Exit)
	}
}
