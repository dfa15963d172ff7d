//go:build linux

package daemon

import (
	"testing"

	"google.golang.org/protobuf/proto"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// TestClean: text from a workload cannot rewrite a terminal or a
// dashboard, and cannot make its event unmarshalable.
func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path.txt":         "plain/path.txt",
		"evil\x1b[2Jname":        "evil[2Jname",
		"a\u202egnp.exe":         "agnp.exe",
		"zero\u200bwidth":        "zerowidth",
		"line\nbreak\r":          "linebreak",
		"bad\xff\xfeutf8":        "bad\uFFFDutf8",
		"caf\u00e9 \u65e5\u672c": "caf\u00e9 \u65e5\u672c",
	} {
		got := clean(in)
		if got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
		if _, err := proto.Marshal(&apiv1.Event{Reason: got}); err != nil {
			t.Errorf("clean(%q) does not marshal: %v", in, err)
		}
	}
}

// TestRuleLocation: the rule an event names arrives with its source
// location, not as one string.
func TestRuleLocation(t *testing.T) {
	ev := fromLayer(events.Event{Layer: events.LayerProxy, Action: events.ActionDeny, Rule: bundle.Rule{Field: "network.deny[1]", File: "agent.hcl", Line: 14}.String()})
	if r := ev.GetRule(); r.GetField() != "network.deny[1]" || r.GetFile() != "agent.hcl" || r.GetLine() != 14 {
		t.Fatalf("rule: %v", r)
	}
}
