//go:build linux

package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/egress"
	"github.com/paddock-sh/paddock/agentd/fsdeny"
	"github.com/paddock-sh/paddock/agentd/limits"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/bpf"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/internal/kernfs"
)

// record is what the daemon keeps of a sandbox, on disk (one JSON file per
// sandbox under the state directory) and in memory.
type record struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner uint32 `json:"owner_uid"`
	// ReversePorts are the loopback ports of the credentials' reverse
	// listeners, by base URL variable: the workload holds their URLs.
	ReversePorts map[string]uint16 `json:"reverse_ports,omitempty"`
	Created      time.Time         `json:"created"`
	Workspace    string            `json:"workspace"`
	Limits       limits.Limits     `json:"limits"`
	// BundleHash names the bundle, kept once per checksum under the
	// state directory (bundles/); Bundle is where records written before
	// that kept it.
	BundleHash string `json:"bundle_hash"`
	Bundle     []byte `json:"bundle,omitempty"`
	Attached   bool   `json:"attached"` // a running tree under the network layer only
	// Creator, for an ephemeral sandbox: destroyed when it exits.
	Creator *Creator `json:"creator,omitempty"`
	// Approved are the destinations approvals allowed for this sandbox
	// (approvals.go); guarded by sandboxes.mu once the record is listed.
	Approved []approvedDest `json:"approved,omitempty"`
	// AfterSeq is the log's last sequence number before the sandbox
	// existed: a client reads the sandbox's events from there.
	AfterSeq uint64 `json:"after_seq"`

	b     *bundle.Bundle
	files string // why the BPF-LSM deny rules do not hold, "" when they do
	dir   string // cgroup2 directory
	cg    uint64
	group *limits.Group
	// overlay says what the approvals overlay added to the network policy.
	overlay string
}

// sandboxes owns the sandbox records.
type sandboxes struct {
	d  *Daemon
	mu sync.RWMutex
	m  map[string]*record

	// gone keeps destroyed sandboxes for a while, for their last
	// decisions: the hooks' ring buffer is read every 20 ms, so a
	// workload's final connect can reach the pipeline after its sandbox
	// was destroyed, and must still be attributed to it.
	gone []goneRecord

	bundles bundleCache

	enterMu  sync.Mutex // one Enter at a time: check-then-move
	watchMu  sync.Mutex
	watchers map[string]*os.File // ephemeral sandboxes' creator pidfds
}

func (s *sandboxes) recordPath(id string) string {
	return filepath.Join(s.d.cfg.StateDir, "sandboxes", id+".json")
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return "sbx-" + hex.EncodeToString(b[:])
}

// bundleCache keeps decoded bundles by the SHA-256 of the bytes a client
// sent: every `agentctl run` of the same policy sends the same bundle,
// and decoding and verifying one (JSON, its checksum over a re-encoding)
// is most of what a Create costs. Bounded; a Bundle is never changed
// after decoding, so entries are shared.
type bundleCache struct {
	mu sync.Mutex
	m  map[[32]byte]decoded
}

type decoded struct {
	b    *bundle.Bundle
	data []byte // the encoding, as sent or as Encode made it
}

const bundleCacheSize = 64

// policyOf decodes or compiles what a client sent, and returns it with
// its encoding.
func (c *bundleCache) policyOf(bundleBytes []byte, src *apiv1.PolicySource) (*bundle.Bundle, []byte, error) {
	switch {
	case len(bundleBytes) > 0:
		key := sha256.Sum256(bundleBytes)
		c.mu.Lock()
		d, ok := c.m[key]
		c.mu.Unlock()
		if ok {
			return d.b, d.data, nil
		}
		b, err := bundle.Decode(bundleBytes, "bundle")
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "bundle: %v", err)
		}
		data := bytes.Clone(bundleBytes)
		c.mu.Lock()
		if c.m == nil || len(c.m) >= bundleCacheSize {
			c.m = map[[32]byte]decoded{}
		}
		c.m[key] = decoded{b, data}
		c.mu.Unlock()
		return b, data, nil
	case src != nil:
		name := filepath.Base(src.GetFilename())
		if name == "." || name == "/" || name == "" {
			name = "policy.hcl"
		}
		res := policy.LoadDetached(name, src.GetHcl(), nil)
		if res.Diags.HasErrors() || res.Policy == nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "%s: %s", name, res.Diags.Error())
		}
		b, err := policy.Compile(res.Policy)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
		}
		data, err := bundle.Encode(b)
		if err != nil {
			return nil, nil, status.Errorf(codes.Internal, "encoding the bundle: %v", err)
		}
		return b, data, nil
	}
	return nil, nil, status.Error(codes.InvalidArgument, "policy: give a bundle or a policy source")
}

// vars resolves the templates of a sandbox's policy for its owner.
func vars(owner uint32, workspace string) (bundle.Vars, error) {
	u, err := user.LookupId(strconv.Itoa(int(owner)))
	if err != nil {
		return bundle.Vars{}, fmt.Errorf("owner uid %d: %w", owner, err)
	}
	return bundle.Vars{Workspace: workspace, Home: u.HomeDir, Tmp: os.TempDir(), User: u.Username}, nil
}

// putFileRules lowers the policy's filesystem deny rules for the BPF-LSM
// hooks (DESIGN.md D5) and writes them for the sandbox's cgroup. What the
// hooks cannot hold (no BPF-LSM on this kernel, a rule they cannot
// express) is recorded in r.files and shown as degraded; the launcher's
// masks at launch still cover what exists. Only a failure to write the
// maps is an error.
func (s *sandboxes) putFileRules(r *record) error {
	r.files = ""
	if len(r.b.Filesystem.Deny) == 0 {
		return nil
	}
	if err := s.d.hub.FileEnforcement(); err != nil {
		// Lowering searches the denied trees: not worth it for rules
		// nothing would apply.
		r.files = err.Error()
		return nil
	}
	v, err := vars(r.Owner, r.Workspace)
	if err != nil {
		r.files = err.Error()
		return nil
	}
	rfs, err := r.b.Filesystem.Resolve(v)
	if err != nil {
		r.files = "resolving the deny rules: " + err.Error()
		return nil
	}
	low, lerr := fsdeny.Lower(rfs.Deny, func(i int) uint32 { return uint32(i + 1) }, fsdeny.DefaultLimits)
	names := make([]string, len(rfs.Deny))
	for i, d := range rfs.Deny {
		names[i] = d.Rule.String()
	}
	err = s.d.hub.PutFileRules(r.dir, low.Rules, names)
	var notes []string
	if errors.Is(err, bpf.ErrNotEnforced) {
		notes = append(notes, err.Error())
	} else if err != nil {
		return err
	}
	if lerr != nil {
		notes = append(notes, lerr.Error())
	}
	r.files = strings.Join(notes, "; ")
	return nil
}

// unixPaths resolves the unix socket allowlist. The daemon's own socket is
// never on it, whatever the policy says.
func (s *sandboxes) unixPaths(r *record) (map[string]bundle.Rule, error) {
	v, err := vars(r.Owner, r.Workspace)
	if err != nil {
		return nil, err
	}
	out := map[string]bundle.Rule{}
	for _, u := range r.b.Network.UnixSockets {
		p, err := bundle.Expand(u.Path, v, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.Rule, err)
		}
		if filepath.Clean(p) == filepath.Clean(s.d.cfg.Socket) {
			continue
		}
		out[p] = u.Rule
	}
	return out, nil
}

func effectiveLimits(b *bundle.Bundle, req *apiv1.Limits) limits.Limits {
	l := limits.Limits{MemoryBytes: b.Process.Limits.MemoryBytes, Pids: uint32(min(b.Process.Limits.Pids, 1<<31)), CPUMillis: uint32(min(b.Process.Limits.MilliCPUs, 1<<31))}
	// A request may tighten the policy's limits, never loosen them.
	tighten := func(cur uint64, want uint64) uint64 {
		if want != 0 && (cur == 0 || want < cur) {
			return want
		}
		return cur
	}
	l.MemoryBytes = tighten(l.MemoryBytes, req.GetMemoryBytes())
	l.Pids = uint32(tighten(uint64(l.Pids), uint64(req.GetPids())))
	l.CPUMillis = uint32(tighten(uint64(l.CPUMillis), uint64(req.GetCpuMillis())))
	return l
}

// create makes a sandbox: its cgroup, its limits, its network policy in
// the BPF maps and the proxy, and its record. On any error nothing of it
// is left.
func (s *sandboxes) create(owner uint32, name, workspace string, b *bundle.Bundle, data []byte, lim limits.Limits, attached bool, creator *Creator) (_ *record, err error) {
	// r is not the named result: the undo functions below use it after an
	// error return has set the result to nil.
	r := &record{ID: newID(), Name: name, Owner: owner, Created: time.Now().UTC(), Workspace: workspace, Limits: lim, BundleHash: b.Checksum, Attached: attached, Creator: creator, b: b,
		AfterSeq: s.d.pipe.log.Stats().Last}
	if err := s.saveBundle(b.Checksum, data); err != nil {
		return nil, status.Errorf(codes.Internal, "storing the bundle: %v", err)
	}
	r.dir = filepath.Join(s.d.cgroupRoot, r.ID)
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		return nil, status.Errorf(codes.Internal, "sandbox cgroup: %v", err)
	}
	undo := []func(){func() { kernfs.RemoveCgroup(r.dir, time.Second) }}
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if r.cg, err = bpf.CgroupID(r.dir); err != nil {
		return nil, status.Errorf(codes.Internal, "sandbox cgroup: %v", err)
	}
	if r.group, err = limits.Apply(r.dir, filepath.Base(s.d.cgroupRoot), r.ID, lim); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "resource limits: %v", err)
	}
	undo = append(undo, func() { r.group.Remove() })
	ups, err := s.unixPaths(r)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	if err := secretsOutOfReach(b, owner, workspace); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	set, err := loadCredentials(b, owner)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	if r.ReversePorts, err = s.d.hub.Add(r.ID, r.dir, s.network(r), ups, egress.Creds{Set: set}); err != nil {
		return nil, status.Errorf(codes.Internal, "network policy: %v", err)
	}
	undo = append(undo, func() { s.d.hub.Remove(r.dir) })
	if err := s.putFileRules(r); err != nil {
		return nil, status.Errorf(codes.Internal, "filesystem deny rules: %v", err)
	}
	if err := s.save(r); err != nil {
		return nil, status.Errorf(codes.Internal, "sandbox record: %v", err)
	}
	s.mu.Lock()
	s.m[r.ID] = r
	s.mu.Unlock()
	if r.Creator != nil {
		s.watchCreator(r)
	}
	return r, nil
}

// bundlePath is where the bundle with checksum sum is kept.
func (s *sandboxes) bundlePath(sum string) (string, error) {
	hexSum, ok := strings.CutPrefix(sum, "sha256:")
	if _, err := hex.DecodeString(hexSum); !ok || err != nil || len(hexSum) != 64 {
		return "", fmt.Errorf("bundle checksum %q is not sha256:HEX", sum)
	}
	return filepath.Join(s.d.cfg.StateDir, "bundles", hexSum+".bundle"), nil
}

// saveBundle keeps a bundle once: the many sandboxes of one policy share
// its file. Old files are not removed (they are small and few).
func (s *sandboxes) saveBundle(sum string, data []byte) error {
	path, err := s.bundlePath(sum)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + "." + newID() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadBundle reads a record's bundle back.
func (s *sandboxes) loadBundle(r *record) ([]byte, error) {
	if len(r.Bundle) > 0 {
		return r.Bundle, nil
	}
	path, err := s.bundlePath(r.BundleHash)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

func (s *sandboxes) save(r *record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := s.recordPath(r.ID) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.recordPath(r.ID))
}

type goneRecord struct {
	r    *record
	when time.Time
}

// keepGone is how long a destroyed sandbox's events are still attributed
// to it.
const keepGone = 30 * time.Second

// recent finds a live sandbox by id, or one destroyed in the last
// keepGone, for attributing events; never for the API.
func (s *sandboxes) recent(id string, cg uint64) *record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id != "" {
		if r := s.m[id]; r != nil {
			return r
		}
	}
	for _, r := range s.m {
		if cg != 0 && r.cg == cg {
			return r
		}
	}
	for _, g := range s.gone {
		if (id != "" && g.r.ID == id) || (cg != 0 && g.r.cg == cg) {
			return g.r
		}
	}
	return nil
}

// destroy kills what runs in the sandbox and removes everything of it.
// The record leaves the table first: a second destroy (the creator's exit
// racing an explicit Destroy) finds nothing to do.
func (s *sandboxes) destroy(r *record) error {
	s.mu.Lock()
	if s.m[r.ID] != r {
		s.mu.Unlock()
		return nil
	}
	delete(s.m, r.ID)
	now := time.Now()
	kept := s.gone[:0]
	for _, g := range s.gone {
		if now.Sub(g.when) < keepGone {
			kept = append(kept, g)
		}
	}
	s.gone = append(kept, goneRecord{r, now})
	s.mu.Unlock()
	s.watchMu.Lock()
	if f := s.watchers[r.ID]; f != nil {
		f.Close()
	}
	s.watchMu.Unlock()
	var errs []error
	if !r.Attached {
		// cgroup.kill (cgroup2) kills the whole tree at once, without the
		// race of reading pids and signalling them one by one.
		if err := os.WriteFile(filepath.Join(r.dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.d.hub.Remove(r.dir))
	if r.Attached {
		// The processes stay; they go back to the cgroup the daemon's
		// parent directory is, without a network policy... which would be
		// no network at all below our root. Move them out to the root.
		if err := moveAll(r.dir, s.d.cgroup2); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, kernfs.RemoveCgroup(r.dir, 3*time.Second))
	if r.group != nil {
		errs = append(errs, r.group.Remove())
	}
	if err := os.Remove(s.recordPath(r.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func moveAll(from, to string) error {
	b, err := os.ReadFile(filepath.Join(from, "cgroup.procs"))
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(string(b)) {
		if err := os.WriteFile(filepath.Join(to, "cgroup.procs"), []byte(f), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// adopt reloads the records of an earlier daemon: sandboxes whose cgroup
// still exists get their network policy back; the others are gone and
// their records are removed.
func (s *sandboxes) adopt() (adopted []string, gone []string, err error) {
	dir := filepath.Join(s.d.cfg.StateDir, "sandboxes")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return adopted, gone, err
		}
		r := &record{}
		if err := json.Unmarshal(data, r); err != nil || r.ID+".json" != e.Name() {
			s.d.logger.Warn("unreadable sandbox record, left in place", "file", path, "err", err)
			continue
		}
		bdata, err := s.loadBundle(r)
		if err == nil {
			r.b, err = bundle.Decode(bdata, path)
		}
		if err == nil && r.BundleHash != "" && r.b.Checksum != r.BundleHash {
			err = fmt.Errorf("bundle %s holds %s", r.BundleHash, r.b.Checksum)
		}
		if err != nil {
			s.d.logger.Warn("sandbox record with a bad bundle, left in place", "file", path, "err", err)
			continue
		}
		r.dir = filepath.Join(s.d.cgroupRoot, r.ID)
		if r.cg, err = bpf.CgroupID(r.dir); err != nil {
			os.Remove(path)
			limits.Adopt(filepath.Base(s.d.cgroupRoot), r.ID).Remove()
			gone = append(gone, r.ID)
			continue
		}
		r.group = limits.Adopt(filepath.Base(s.d.cgroupRoot), r.ID)
		ups, err := s.unixPaths(r)
		if err == nil {
			// A secret that cannot be read now leaves its placeholder
			// uninjected: the sandbox keeps its network, fails closed on
			// that credential, and the log says why.
			set, cerr := loadCredentials(r.b, r.Owner)
			if cerr != nil {
				s.d.logger.Error("sandbox re-adopted without its credentials", "sandbox", r.ID, "err", cerr)
			}
			_, err = s.d.hub.Add(r.ID, r.dir, s.network(r), ups, egress.Creds{Set: set, Ports: r.ReversePorts})
		}
		if err == nil {
			err = s.putFileRules(r)
		}
		if err != nil {
			// Its cgroup stays with no sandbox entry: no network at all.
			s.d.logger.Error("sandbox not re-adopted; its processes have no network", "sandbox", r.ID, "err", err)
			continue
		}
		s.mu.Lock()
		s.m[r.ID] = r
		s.mu.Unlock()
		adopted = append(adopted, r.ID)
		if r.Creator != nil {
			s.watchCreator(r)
		}
	}
	sort.Strings(adopted)
	return adopted, gone, nil
}

// approvedDest is a destination allowed for one sandbox by an approval.
type approvedDest struct {
	Pattern string    `json:"pattern"`  // host:port, a host pattern
	ID      string    `json:"approval"` // the approval's id
	By      string    `json:"by"`       // who answered: "uid N" or a certificate
	At      time.Time `json:"at"`
}

// approve adds a destination to r's approved list and saves the record;
// on error nothing changed.
func (s *sandboxes) approve(r *record, ad approvedDest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[r.ID] != r {
		return status.Errorf(codes.FailedPrecondition, "sandbox %s is gone", r.ID)
	}
	prev := r.Approved
	r.Approved = append(slices.Clip(prev), ad)
	if err := s.save(r); err != nil {
		r.Approved = prev
		return status.Errorf(codes.Internal, "saving the sandbox record: %v", err)
	}
	return nil
}

// network is the network policy a sandbox runs with: its bundle's, plus
// the entries of the approvals overlay of its owner and policy when the
// policy asks (approvals.go). r.overlay says what was added, for the
// lifecycle event.
func (s *sandboxes) network(r *record) *bundle.Network {
	r.overlay = ""
	rules, path, err := s.d.approvals.overlayRules(r)
	if err != nil {
		s.d.logger.Error("approvals overlay not applied", "sandbox", r.ID, "err", err)
		r.overlay = fmt.Sprintf("; the approvals overlay %s is not applied: %v", path, err)
		return &r.b.Network
	}
	if len(rules) == 0 {
		return &r.b.Network
	}
	n := r.b.Network // the bundle is shared: a copy
	n.Allow = append(slices.Clip(n.Allow), rules...)
	r.overlay = fmt.Sprintf("; %d destinations allowed by the approvals overlay %s", len(rules), path)
	return &n
}

func (s *sandboxes) get(id string) *record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[id]
}

// byCgroup finds the sandbox whose cgroup id is cg, live or destroyed in
// the last keepGone (see recent). Sandboxes cannot make cgroups of their
// own (the directory is root's), so an exact match is all there is. A
// scan: there are few sandboxes per host.
func (s *sandboxes) byCgroup(cg uint64) *record { return s.recent("", cg) }

// pids lists the processes in a sandbox's cgroup.
func (r *record) pids() []uint32 {
	b, err := os.ReadFile(filepath.Join(r.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []uint32
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.ParseUint(f, 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

func (s *sandboxes) proto(r *record) *apiv1.Sandbox {
	pids := r.pids()
	st := apiv1.State_STATE_READY
	if len(pids) > 0 {
		st = apiv1.State_STATE_RUNNING
	}
	rel, _ := filepath.Rel(s.d.cgroup2, r.dir)
	sb := &apiv1.Sandbox{
		Id: r.ID, Name: r.Name, OwnerUid: r.Owner, PolicyName: r.b.Metadata.Policy, BundleHash: r.b.Checksum,
		Cgroup: "/" + rel, CgroupId: r.cg, State: st, Created: timestamppb.New(r.Created), Pids: pids,
		Limits:    &apiv1.Limits{MemoryBytes: r.Limits.MemoryBytes, Pids: r.Limits.Pids, CpuMillis: r.Limits.CPUMillis},
		ProxyPort: uint32(s.d.hub.ProxyPort()),
		BaseUrls:  map[string]string{},
		AfterSeq:  r.AfterSeq,
		Enforced:  []apiv1.Layer{apiv1.Layer_LAYER_CGROUP_BPF, apiv1.Layer_LAYER_PROXY, apiv1.Layer_LAYER_DNS},
	}
	if len(r.b.Credentials) > 0 {
		sb.CaBundle = s.d.caBundle
	}
	for env, port := range r.ReversePorts {
		sb.BaseUrls[env] = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	switch {
	case len(r.b.Filesystem.Deny) == 0:
	case r.files == "":
		sb.Enforced = append(sb.Enforced, apiv1.Layer_LAYER_BPF_LSM)
	default:
		sb.Degraded = append(sb.Degraded, &apiv1.Degraded{Layer: apiv1.Layer_LAYER_BPF_LSM, Reason: r.files})
	}
	if r.Attached {
		sb.Degraded = append(sb.Degraded,
			&apiv1.Degraded{Layer: apiv1.Layer_LAYER_SECCOMP, Reason: "attached to a running process tree: seccomp applies only to processes started under it"},
			&apiv1.Degraded{Layer: apiv1.Layer_LAYER_LANDLOCK, Reason: "attached to a running process tree: Landlock applies only to processes started under it"},
		)
	}
	return sb
}

// ---- the Sandboxes service ----

type sandboxService struct {
	apiv1.UnimplementedSandboxesServer
	s *sandboxes
}

// visible returns the sandbox if the caller may see it: its owner or root.
func (svc *sandboxService) visible(ctx context.Context, id string) (*record, error) {
	cr, _ := peer.FromContext(ctx)
	r := svc.s.get(id)
	if r == nil || (cr.UID != 0 && cr.UID != r.Owner) {
		// Another user's sandbox is reported as absent, not as forbidden:
		// its existence is not the caller's business.
		return nil, status.Errorf(codes.NotFound, "no sandbox %q", id)
	}
	return r, nil
}

func (svc *sandboxService) Create(ctx context.Context, req *apiv1.CreateSandboxRequest) (*apiv1.Sandbox, error) {
	cr, _ := peer.FromContext(ctx)
	b, data, err := svc.s.bundles.policyOf(req.GetBundle(), req.GetSource())
	if err != nil {
		return nil, err
	}
	var creator *Creator
	if req.GetEphemeral() {
		start, err := procStart(int(cr.PID))
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "reading the calling process %d: %v", cr.PID, err)
		}
		creator = &Creator{PID: int(cr.PID), Start: start}
	}
	r, err := svc.s.create(cr.UID, req.GetName(), req.GetWorkspace(), b, data, effectiveLimits(b, req.GetLimits()), false, creator)
	if err != nil {
		return nil, err
	}
	svc.s.d.lifecycle(r, "created", fmt.Sprintf("by uid %d (pid %d)", cr.UID, cr.PID)+r.overlay)
	if pid := req.GetPid(); pid != 0 {
		if err := svc.start(cr, r, int(pid)); err != nil {
			derr := svc.s.destroy(r)
			detail := fmt.Sprintf("its first process %d could not enter", pid)
			if derr != nil {
				detail += "; " + derr.Error()
			}
			svc.s.d.lifecycle(r, "destroyed", detail)
			return nil, err
		}
	}
	return svc.s.proto(r), nil
}

func (svc *sandboxService) List(ctx context.Context, _ *apiv1.ListSandboxesRequest) (*apiv1.ListSandboxesResponse, error) {
	cr, _ := peer.FromContext(ctx)
	svc.s.mu.RLock()
	var rs []*record
	for _, r := range svc.s.m {
		if cr.UID == 0 || cr.UID == r.Owner {
			rs = append(rs, r)
		}
	}
	svc.s.mu.RUnlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].Created.Before(rs[j].Created) })
	out := &apiv1.ListSandboxesResponse{}
	for _, r := range rs {
		out.Sandboxes = append(out.Sandboxes, svc.s.proto(r))
	}
	return out, nil
}

func (svc *sandboxService) Get(ctx context.Context, req *apiv1.GetSandboxRequest) (*apiv1.Sandbox, error) {
	r, err := svc.visible(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return svc.s.proto(r), nil
}

func (svc *sandboxService) Destroy(ctx context.Context, req *apiv1.DestroySandboxRequest) (*apiv1.DestroySandboxResponse, error) {
	r, err := svc.visible(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	cr, _ := peer.FromContext(ctx)
	err = svc.s.destroy(r)
	svc.s.d.lifecycle(r, "destroyed", fmt.Sprintf("by uid %d (pid %d)", cr.UID, cr.PID))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "destroying %s: %v", r.ID, err)
	}
	return &apiv1.DestroySandboxResponse{}, nil
}

func (svc *sandboxService) Attach(ctx context.Context, req *apiv1.AttachRequest) (*apiv1.Sandbox, error) {
	cr, _ := peer.FromContext(ctx)
	pid := int(req.GetPid())
	// The caller may attach only its own processes (root any), and never
	// one that is already in a sandbox.
	st, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "no process %d", pid)
	}
	if owner := fileUID(st); cr.UID != 0 && owner != cr.UID {
		return nil, status.Errorf(codes.PermissionDenied, "process %d belongs to uid %d", pid, owner)
	}
	cg, err := peer.CgroupOf(pid)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "process %d: %v", pid, err)
	}
	if peer.Under(cg, svc.s.d.subtree) {
		return nil, status.Errorf(codes.FailedPrecondition, "process %d is already in a sandbox", pid)
	}
	b, data, err := svc.s.bundles.policyOf(req.GetBundle(), req.GetSource())
	if err != nil {
		return nil, err
	}
	r, err := svc.s.create(cr.UID, req.GetName(), "", b, data, limits.Limits{}, true, nil)
	if err != nil {
		return nil, err
	}
	// Move the tree: every process whose cgroup is the root's. Children
	// forked during the move follow their parent's cgroup at fork time;
	// a second pass catches them.
	for pass := 0; pass < 2; pass++ {
		for _, p := range tree(pid) {
			_ = os.WriteFile(filepath.Join(r.dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0)
		}
	}
	svc.s.d.lifecycle(r, "attached", fmt.Sprintf("process tree of pid %d, by uid %d; network layer only: sockets it opened before stay outside", pid, cr.UID))
	return svc.s.proto(r), nil
}

// loadCredentials reads the secrets of b's credentials for a sandbox of
// owner; an error names the credential and where the policy defines it.
func loadCredentials(b *bundle.Bundle, owner uint32) (*credential.Set, error) {
	return credential.New(b.Credentials, func(c bundle.Credential) ([]byte, error) {
		secret, err := credential.Load(c, credential.Owner{UID: owner})
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, c.Rule)
		}
		return secret, nil
	})
}

// secretsOutOfReach refuses a policy whose filesystem rules would let the
// workload read a credential's secret file itself: the proxy keeping the
// secret out of requests would then protect nothing.
func secretsOutOfReach(b *bundle.Bundle, owner uint32, workspace string) error {
	var files []bundle.Credential
	for _, c := range b.Credentials {
		if strings.HasPrefix(c.Source, "file:") {
			files = append(files, c)
		}
	}
	if len(files) == 0 {
		return nil
	}
	v, err := vars(owner, workspace)
	if err != nil {
		return err
	}
	rfs, err := b.Filesystem.Resolve(v)
	if err != nil {
		return err
	}
	for _, c := range files {
		path := strings.TrimPrefix(c.Source, "file:")
		if d := rfs.Decide(path, false); d.Verdict == bundle.VerdictAllow {
			return fmt.Errorf("credential %s (%s): the sandbox could read its secret file %s itself (%s); add the file to filesystem.deny", c.Name, c.Rule, path, d.Reason)
		}
	}
	return nil
}
