package apiv1

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// Validation of requests, called by the server's validator interceptor
// before any handler runs: a malformed call is refused with
// InvalidArgument and a message naming the field.

const (
	maxName     = 64
	maxFilter   = 64
	maxBundle   = 2 << 20
	maxHCL      = 1 << 20
	maxPath     = 4096
	maxIDLength = 64
)

func checkName(field, s string) error {
	if len(s) > maxName {
		return fmt.Errorf("%s: longer than %d bytes", field, maxName)
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_.", r)) {
			return fmt.Errorf("%s: %q has a character other than letters, digits, - _ .", field, s)
		}
	}
	return nil
}

func checkID(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s: empty", field)
	}
	if len(s) > maxIDLength {
		return fmt.Errorf("%s: longer than %d bytes", field, maxIDLength)
	}
	return checkName(field, s)
}

func checkPolicy(bundle []byte, src *PolicySource) error {
	switch {
	case len(bundle) > 0 && src != nil:
		return errors.New("policy: give a bundle or a source, not both")
	case len(bundle) > maxBundle:
		return fmt.Errorf("bundle: larger than %d bytes", maxBundle)
	case src != nil:
		if len(src.GetHcl()) == 0 {
			return errors.New("source.hcl: empty")
		}
		if len(src.GetHcl()) > maxHCL {
			return fmt.Errorf("source.hcl: larger than %d bytes", maxHCL)
		}
		if len(src.GetFilename()) > maxPath || strings.ContainsRune(src.GetFilename(), 0) {
			return errors.New("source.filename: too long or holds a NUL")
		}
	case len(bundle) == 0:
		return errors.New("policy: give a bundle or a source")
	}
	return nil
}

// Validate checks a CreateSandboxRequest.
func (r *CreateSandboxRequest) Validate() error {
	if err := checkPolicy(r.GetBundle(), r.GetSource()); err != nil {
		return err
	}
	if err := checkName("name", r.GetName()); err != nil {
		return err
	}
	if w := r.GetWorkspace(); w != "" {
		if len(w) > maxPath || !filepath.IsAbs(w) || filepath.Clean(w) != w || strings.ContainsRune(w, 0) {
			return fmt.Errorf("workspace: %q is not an absolute, clean path", w)
		}
	}
	if p := r.GetPid(); p == 1 {
		return fmt.Errorf("pid: %d is not a process that can enter a sandbox", p)
	}
	return nil
}

// Validate checks an AttachRequest.
func (r *AttachRequest) Validate() error {
	if r.GetPid() <= 1 {
		return fmt.Errorf("pid: %d is not a process that can be attached", r.GetPid())
	}
	if err := checkPolicy(r.GetBundle(), r.GetSource()); err != nil {
		return err
	}
	return checkName("name", r.GetName())
}

// Validate checks a GetSandboxRequest.
func (r *GetSandboxRequest) Validate() error { return checkID("id", r.GetId()) }

// Validate checks a DestroySandboxRequest.
func (r *DestroySandboxRequest) Validate() error { return checkID("id", r.GetId()) }

// Validate checks a SubscribeRequest.
func (r *SubscribeRequest) Validate() error {
	if _, ok := Mode_name[int32(r.GetMode())]; !ok {
		return fmt.Errorf("mode: unknown value %d", r.GetMode())
	}
	f := r.GetFilter()
	if len(f.GetSandboxIds())+len(f.GetLayers())+len(f.GetActions()) > maxFilter {
		return fmt.Errorf("filter: more than %d entries", maxFilter)
	}
	for i, id := range f.GetSandboxIds() {
		if err := checkID(fmt.Sprintf("filter.sandbox_ids[%d]", i), id); err != nil {
			return err
		}
	}
	for i, l := range f.GetLayers() {
		if _, ok := Layer_name[int32(l)]; !ok || l == Layer_LAYER_UNSPECIFIED {
			return fmt.Errorf("filter.layers[%d]: unknown layer %d", i, l)
		}
	}
	for i, a := range f.GetActions() {
		if _, ok := Action_name[int32(a)]; !ok || a == Action_ACTION_UNSPECIFIED {
			return fmt.Errorf("filter.actions[%d]: unknown action %d", i, a)
		}
	}
	return nil
}

// Validate checks an EnterRequest.
func (r *EnterRequest) Validate() error {
	if err := checkID("id", r.GetId()); err != nil {
		return err
	}
	if r.GetPid() <= 1 {
		return fmt.Errorf("pid: %d is not a process that can enter a sandbox", r.GetPid())
	}
	return nil
}

// Validate checks a WatchApprovalsRequest.
func (r *WatchApprovalsRequest) Validate() error {
	if len(r.GetSandboxIds()) > maxFilter {
		return fmt.Errorf("sandbox_ids: more than %d entries", maxFilter)
	}
	for i, id := range r.GetSandboxIds() {
		if err := checkID(fmt.Sprintf("sandbox_ids[%d]", i), id); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks an AnswerApprovalRequest.
func (r *AnswerApprovalRequest) Validate() error {
	if err := checkID("id", r.GetId()); err != nil {
		return err
	}
	if _, ok := Decision_name[int32(r.GetDecision())]; !ok || r.GetDecision() == Decision_DECISION_UNSPECIFIED {
		return fmt.Errorf("decision: give deny, allow once, allow for the sandbox or allow permanently (got %d)", r.GetDecision())
	}
	return nil
}
