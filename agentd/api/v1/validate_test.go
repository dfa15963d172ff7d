package apiv1

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

type validator interface {
	proto.Message
	Validate() error
}

func requests() []validator {
	return []validator{&CreateSandboxRequest{}, &AttachRequest{}, &GetSandboxRequest{}, &DestroySandboxRequest{}, &SubscribeRequest{}, &EnterRequest{}, &WatchApprovalsRequest{}, &AnswerApprovalRequest{}}
}

// FuzzValidate feeds arbitrary wire bytes to every request type, as a
// hostile client would: decoding and validation must never panic, and
// whatever passes validation must hold the invariants the handlers rely
// on (ids and names of bounded, safe characters; absolute clean paths;
// bounded sizes; a real pid).
func FuzzValidate(f *testing.F) {
	for _, m := range []proto.Message{
		&CreateSandboxRequest{Policy: &CreateSandboxRequest_Source{Source: &PolicySource{Filename: "a.hcl", Hcl: []byte("policy \"x\" {}")}}, Name: "n", Workspace: "/w"},
		&EnterRequest{Id: "sbx-0123", Pid: 42},
		&SubscribeRequest{SinceSeq: 3, Filter: &Filter{SandboxIds: []string{"sbx-1"}}},
		&GetSandboxRequest{Id: "../etc"},
		&WatchApprovalsRequest{SandboxIds: []string{"sbx-1", "../x"}, Follow: true},
		&AnswerApprovalRequest{Id: "apr-0123456789abcdef", Decision: Decision_DECISION_ALLOW_ONCE},
		&AnswerApprovalRequest{Id: "apr-1", Decision: 9},
	} {
		b, _ := proto.Marshal(m)
		for k := range requests() {
			f.Add(uint8(k), b)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		rs := requests()
		r := rs[int(kind)%len(rs)]
		if proto.Unmarshal(data, r) != nil {
			return
		}
		if r.Validate() != nil {
			return
		}
		safe := func(field, s string) {
			if len(s) > maxIDLength || strings.ContainsAny(s, "/\\\x00 ") || strings.Contains(s, "..") && strings.Trim(s, ".") == "" {
				t.Fatalf("%T: %s %q passed validation", r, field, s)
			}
		}
		switch r := r.(type) {
		case *CreateSandboxRequest:
			safe("name", r.GetName())
			if w := r.GetWorkspace(); w != "" && (!filepath.IsAbs(w) || filepath.Clean(w) != w) {
				t.Fatalf("workspace %q passed validation", w)
			}
			if len(r.GetBundle()) == 0 && r.GetSource() == nil || len(r.GetBundle()) > maxBundle {
				t.Fatalf("policy of %d bytes passed validation", len(r.GetBundle()))
			}
		case *EnterRequest:
			safe("id", r.GetId())
			if r.GetId() == "" || r.GetPid() <= 1 {
				t.Fatalf("enter %q pid %d passed validation", r.GetId(), r.GetPid())
			}
		case *GetSandboxRequest:
			safe("id", r.GetId())
		case *DestroySandboxRequest:
			safe("id", r.GetId())
		case *AttachRequest:
			if r.GetPid() <= 1 {
				t.Fatalf("attach pid %d passed validation", r.GetPid())
			}
		case *WatchApprovalsRequest:
			if len(r.GetSandboxIds()) > maxFilter {
				t.Fatalf("%d sandbox ids passed validation", len(r.GetSandboxIds()))
			}
			for _, id := range r.GetSandboxIds() {
				safe("sandbox_ids", id)
			}
		case *AnswerApprovalRequest:
			safe("id", r.GetId())
			if d := r.GetDecision(); d < Decision_DECISION_DENY || d > Decision_DECISION_ALLOW_PERMANENT {
				t.Fatalf("decision %d passed validation", d)
			}
		}
	})
}

func TestValidateRefuses(t *testing.T) {
	for _, c := range []validator{
		&GetSandboxRequest{Id: "../etc"},
		&GetSandboxRequest{Id: ""},
		&EnterRequest{Id: "sbx-1", Pid: 1},
		&CreateSandboxRequest{Policy: &CreateSandboxRequest_Bundle{Bundle: []byte("x")}, Workspace: "relative"},
		&CreateSandboxRequest{Policy: &CreateSandboxRequest_Bundle{Bundle: []byte("x")}, Name: "a b"},
		&CreateSandboxRequest{},
		&AnswerApprovalRequest{Id: "apr-1"},
		&AnswerApprovalRequest{Id: "apr-1", Decision: 5},
		&AnswerApprovalRequest{Id: "../apr", Decision: Decision_DECISION_DENY},
		&AnswerApprovalRequest{Decision: Decision_DECISION_DENY},
		&WatchApprovalsRequest{SandboxIds: []string{"a/b"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%T %v passed validation", c, c)
		}
	}
}
