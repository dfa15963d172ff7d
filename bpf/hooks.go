//go:build linux

// Package bpf holds Paddock's kernel hooks: the cgroup socket hooks, the
// BPF-LSM filesystem hooks (deny rules) and the process exec and exit
// tracepoints, their C sources, the object and Go bindings bpf2go
// generates from them, and the loader.
//
// The programs are attached once, to the root of Paddock's cgroup subtree
// (DESIGN.md D2). A sandbox is a child cgroup plus a few map entries keyed
// by its cgroup id; a task in the subtree whose cgroup is no sandbox is
// refused every socket operation. With a pin directory the maps and links
// outlive the process that loaded them, so enforcement survives a daemon
// crash and a restarted daemon adopts what it finds.
//
// The filesystem hooks are LSM programs, which not every kernel lets one
// load (BPF-LSM must be among the active LSMs, and the kernel must allow
// BPF trampolines). Without them the socket hooks work as before, and
// FileEnforcement and PutFileRules say that file rules are not enforced.
//
// The process tracepoints (tp_btf, which need the kernel's BTF but no BPF
// trampoline) are global, like the LSM programs, and report the exec and
// exit of processes in sandbox cgroups only.
package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// Hooks is a loaded set of programs and maps.
type Hooks struct {
	objs  hooksObjects
	links []link.Link
	dir   string
	// lsmErr says why the filesystem hooks are not loaded or attached;
	// nil once they are attached.
	lsmErr error
	// checkErr says why the fs_check_file iterator did not load.
	checkErr error
	checkMu  sync.Mutex // one CheckFile question at a time
	fsMu     sync.Mutex // one change of file rules at a time
	// owned lists each sandbox's map entries (owned.go).
	ownMu sync.Mutex
	owned map[uint64]*owned
}

// attachments lists each program with its attach point. The order is the
// order of attachment: sock_create and the address hooks before sockops,
// so that no socket is ever redirected without its origin being recorded.
func (h *Hooks) attachments() []struct {
	name string
	prog *ebpf.Program
	at   ebpf.AttachType
} {
	p := &h.objs.hooksPrograms
	return []struct {
		name string
		prog *ebpf.Program
		at   ebpf.AttachType
	}{
		{"sock_create", p.SockCreate, ebpf.AttachCGroupInetSockCreate},
		{"sockops", p.SockopsEstablished, ebpf.AttachCGroupSockOps},
		{"connect4", p.Connect4, ebpf.AttachCGroupInet4Connect},
		{"connect6", p.Connect6, ebpf.AttachCGroupInet6Connect},
		{"sendmsg4", p.Sendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{"sendmsg6", p.Sendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
		{"recvmsg4", p.Recvmsg4, ebpf.AttachCGroupUDP4Recvmsg},
		{"recvmsg6", p.Recvmsg6, ebpf.AttachCGroupUDP6Recvmsg},
		{"getpeername4", p.Getpeername4, ebpf.AttachCgroupInet4GetPeername},
		{"getpeername6", p.Getpeername6, ebpf.AttachCgroupInet6GetPeername},
		{"bind4", p.Bind4, ebpf.AttachCGroupInet4Bind},
		{"bind6", p.Bind6, ebpf.AttachCGroupInet6Bind},
		{"connect_unix", p.ConnectUnix, ebpf.AttachCgroupUnixConnect},
		{"sendmsg_unix", p.SendmsgUnix, ebpf.AttachCgroupUnixSendmsg},
	}
}

// Load loads the programs and maps into the kernel. With a non-empty
// pinDir (a directory on a bpffs mount), the maps are pinned under
// pinDir/maps by name, and maps already pinned there are reused: a
// restarted daemon keeps its sandboxes' policy and its connections'
// origins. The socket hooks and the process tracepoints must load; the
// filesystem hooks may fail to (FileEnforcement says why), and the rest
// works without them.
func Load(pinDir string) (*Hooks, error) {
	spec, err := loadHooks()
	if err != nil {
		return nil, fmt.Errorf("bpf: reading the embedded object: %w", err)
	}
	var opts ebpf.CollectionOptions
	if pinDir != "" {
		maps := filepath.Join(pinDir, "maps")
		if err := os.MkdirAll(maps, 0o700); err != nil {
			return nil, fmt.Errorf("bpf: %w", err)
		}
		for name, m := range spec.Maps {
			if !strings.HasPrefix(name, ".") { // not .bss and the like
				m.Pinning = ebpf.PinByName
			}
		}
		opts.Maps.PinPath = maps
	}
	opts.Cache = btf.NewCache()
	h := &Hooks{dir: pinDir, lsmErr: errors.New("the filesystem hooks are not attached")}
	if err := spec.LoadAndAssign(&h.objs.hooksMaps, &opts); err != nil {
		return nil, fmt.Errorf("bpf: loading the maps: %w", err)
	}
	h.scanOwned()
	// The programs load in groups, over the maps just loaded: the socket
	// hooks, the process tracepoints, the filesystem (LSM) hooks, the
	// fs_check_file iterator.
	opts.MapReplacements = map[string]*ebpf.Map{}
	mv := reflect.ValueOf(&h.objs.hooksMaps).Elem()
	for i := range mv.NumField() {
		opts.MapReplacements[mv.Type().Field(i).Tag.Get("ebpf")] = mv.Field(i).Interface().(*ebpf.Map)
	}
	isLSM := func(p *ebpf.ProgramSpec) bool { return p.Type == ebpf.LSM }
	isCheck := func(p *ebpf.ProgramSpec) bool { return p.Name == "fs_check_file" }
	isProc := func(p *ebpf.ProgramSpec) bool { return p.Type == ebpf.Tracing && p.AttachType == ebpf.AttachTraceRawTp }
	if err := h.loadPrograms(spec, opts, func(p *ebpf.ProgramSpec) bool { return !isLSM(p) && !isCheck(p) && !isProc(p) }); err != nil {
		h.objs.Close()
		return nil, fmt.Errorf("bpf: loading the hooks: %w", err)
	}
	if err := h.loadPrograms(spec, opts, isProc); err != nil {
		h.objs.Close()
		return nil, fmt.Errorf("bpf: loading the process exec and exit tracepoints (tp_btf programs on "+
			"sched_process_exec and sched_process_exit; they need the kernel's BTF at /sys/kernel/btf/vmlinux): %w", err)
	}
	if err := h.loadPrograms(spec, opts, isLSM); err != nil {
		h.lsmErr = fmt.Errorf("%w: loading the filesystem hooks: %w%s", ErrNoBPFLSM, err, lsmHint(err))
	}
	if err := h.loadPrograms(spec, opts, isCheck); err != nil {
		h.checkErr = fmt.Errorf("bpf: loading the fs_check_file iterator: %w", err)
	}
	return h, nil
}

// lsmHint explains the usual reasons a kernel refuses LSM programs.
func lsmHint(err error) string {
	if !errors.Is(err, os.ErrPermission) {
		return ""
	}
	active := "unknown"
	if b, err := os.ReadFile("/sys/kernel/security/lsm"); err == nil {
		active = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf(" (EPERM: the kernel refuses LSM programs; \"bpf\" must be among the active LSMs, here %s, "+
		"and the kernel must allow BPF trampolines, which fentry programs need too)", active)
}

// loadPrograms loads the programs of spec that keep selects and assigns
// them to h.objs by their ebpf tag.
func (h *Hooks) loadPrograms(spec *ebpf.CollectionSpec, opts ebpf.CollectionOptions, keep func(*ebpf.ProgramSpec) bool) error {
	cs := spec.Copy()
	for name, p := range cs.Programs {
		if !keep(p) {
			delete(cs.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(cs, opts)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("the kernel's verifier refused them: %+v", ve)
		}
		return err
	}
	defer coll.Close() // the clones of the maps; programs taken below
	pv := reflect.ValueOf(&h.objs.hooksPrograms).Elem()
	for i := range pv.NumField() {
		name := pv.Type().Field(i).Tag.Get("ebpf")
		if p, ok := coll.Programs[name]; ok {
			pv.Field(i).Set(reflect.ValueOf(p))
			delete(coll.Programs, name)
		}
	}
	return nil
}

// Attach attaches every program to the cgroup2 directory cgroupDir; every
// cgroup below it is then hooked. With a pin directory, each link is
// pinned under pinDir/links, and a link already pinned there is updated
// in place to the newly loaded program, so there is no moment without a
// hook. Attach is all or nothing for the socket hooks and the process
// tracepoints: on error, what it attached is detached. The filesystem
// hooks (global LSM programs, scoped to cgroupDir's subtree in the kernel)
// are attached after them; when they cannot be, Attach still succeeds, and
// FileEnforcement says why.
func (h *Hooks) Attach(cgroupDir string) error {
	if len(h.links) > 0 {
		return errors.New("bpf: already attached")
	}
	if err := h.setScope(cgroupDir); err != nil {
		return err
	}
	var linksDir string
	if h.dir != "" {
		linksDir = filepath.Join(h.dir, "links")
		if err := os.MkdirAll(linksDir, 0o700); err != nil {
			return fmt.Errorf("bpf: %w", err)
		}
	}
	var made []link.Link
	fail := func(err error) error {
		for _, l := range made {
			if h.dir != "" {
				l.Unpin()
			}
			l.Close()
		}
		return err
	}
	cg, err := CgroupID(cgroupDir)
	if err != nil {
		return err
	}
	for _, a := range h.attachments() {
		if linksDir != "" {
			pin := filepath.Join(linksDir, a.name)
			if l, err := link.LoadPinnedLink(pin, nil); err == nil {
				// A pinned link is reused only if it still holds this
				// very cgroup. One whose cgroup was removed (severed: id
				// 0) is replaced. One that hooks another, live cgroup is
				// left alone and the attach fails: detaching it would
				// unhook whatever sandboxes live there.
				var held uint64
				if info, err := l.Info(); err == nil && info.Cgroup() != nil {
					held = info.Cgroup().CgroupId
				}
				switch held {
				case cg:
					if err := l.Update(a.prog); err != nil {
						l.Close()
						return fail(fmt.Errorf("bpf: updating the pinned %s link: %w", a.name, err))
					}
					h.links = append(h.links, l)
					continue
				case 0:
					l.Unpin()
					l.Close()
				default:
					l.Close()
					return fail(fmt.Errorf("bpf: the pinned %s link in %s hooks cgroup id %d, not %s: start with the cgroup root it was made for, or remove the pins once nothing runs there", a.name, linksDir, held, cgroupDir))
				}
			}
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupDir, Attach: a.at, Program: a.prog})
		if err != nil {
			return fail(fmt.Errorf("bpf: attaching %s to %s: %w", a.name, cgroupDir, err))
		}
		made = append(made, l)
		if linksDir != "" {
			if err := l.Pin(filepath.Join(linksDir, a.name)); err != nil {
				return fail(fmt.Errorf("bpf: pinning the %s link: %w", a.name, err))
			}
		}
	}
	if err := h.attachGlobal(linksDir, h.procAttachments()); err != nil {
		return fail(fmt.Errorf("bpf: the process exec and exit tracepoints: %w", err))
	}
	h.links = append(h.links, made...)
	if h.objs.FsFileOpen != nil {
		if err := h.attachGlobal(linksDir, h.lsmAttachments()); err != nil {
			h.lsmErr = fmt.Errorf("%w: %w", ErrNoBPFLSM, err)
		} else {
			h.lsmErr = nil
		}
	}
	return nil
}

// global is a program attached to a kernel hook rather than to a cgroup.
type global struct {
	name   string
	attach func() (link.Link, error)
}

// lsmAttachments lists the filesystem hooks.
func (h *Hooks) lsmAttachments() []global {
	p := &h.objs.hooksPrograms
	lsm := func(name string, prog *ebpf.Program) global {
		return global{name, func() (link.Link, error) { return link.AttachLSM(link.LSMOptions{Program: prog}) }}
	}
	return []global{
		lsm("fs_file_open", p.FsFileOpen), lsm("fs_file_truncate", p.FsFileTruncate), lsm("fs_path_truncate", p.FsPathTruncate),
		lsm("fs_path_mknod", p.FsPathMknod), lsm("fs_path_mkdir", p.FsPathMkdir), lsm("fs_path_symlink", p.FsPathSymlink),
		lsm("fs_path_link", p.FsPathLink), lsm("fs_path_rename", p.FsPathRename), lsm("fs_path_unlink", p.FsPathUnlink),
		lsm("fs_path_rmdir", p.FsPathRmdir), lsm("fs_path_chmod", p.FsPathChmod), lsm("fs_path_chown", p.FsPathChown),
	}
}

// procAttachments lists the process tracepoints.
func (h *Hooks) procAttachments() []global {
	p := &h.objs.hooksPrograms
	tp := func(name string, prog *ebpf.Program) global {
		return global{name, func() (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
		}}
	}
	return []global{tp("proc_exec", p.ProcExec), tp("proc_exit", p.ProcExit)}
}

// setScope limits the filesystem hooks to the tasks in cgroupDir's
// subtree; every other task is let through after one helper call.
func (h *Hooks) setScope(cgroupDir string) error {
	fd, err := os.Open(cgroupDir)
	if err != nil {
		return fmt.Errorf("bpf: %w", err)
	}
	defer fd.Close()
	if err := h.objs.FsScope.Put(uint32(0), uint32(fd.Fd())); err != nil {
		return fmt.Errorf("bpf: setting the scope of the filesystem hooks: %w", err)
	}
	return nil
}

// attachGlobal attaches programs of kernel hooks (LSM, tracepoints).
// Their links cannot be updated in place, so a link already pinned is
// replaced: the new one is attached and pinned beside it first, then the
// old pin is removed (which releases the old link) and the new pin renamed
// into its place. Both are attached for a moment, never neither (a
// tracepoint may report an exec twice then, never miss it). Until every
// new link is attached the old ones stay untouched.
func (h *Hooks) attachGlobal(linksDir string, gs []global) error {
	type pending struct {
		l        link.Link
		tmp, pin string
	}
	var made []pending
	fail := func(err error) error {
		for _, p := range made {
			if p.tmp != "" {
				os.Remove(p.tmp)
			}
			p.l.Close()
		}
		return err
	}
	for _, a := range gs {
		l, err := a.attach()
		if err != nil {
			return fail(fmt.Errorf("attaching %s: %w", a.name, err))
		}
		p := pending{l: l}
		if linksDir != "" {
			p.pin = filepath.Join(linksDir, a.name)
			p.tmp = p.pin + "-new" // bpffs refuses names with a dot
			os.Remove(p.tmp)
			if err := l.Pin(p.tmp); err != nil {
				l.Close()
				return fail(fmt.Errorf("pinning the %s link: %w", a.name, err))
			}
		}
		made = append(made, p)
	}
	for i, p := range made {
		if p.pin != "" {
			if err := os.Remove(p.pin); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fail(fmt.Errorf("replacing the pinned %s link: %w", filepath.Base(p.pin), err))
			}
			if err := p.l.Pin(p.pin); err != nil {
				return fail(fmt.Errorf("replacing the pinned %s link: %w", filepath.Base(p.pin), err))
			}
			made[i].tmp = ""
		}
	}
	for _, p := range made {
		h.links = append(h.links, p.l)
	}
	return nil
}

// Detach removes the hooks from the cgroup and their pins. Sockets of
// sandboxes still running are then unhooked: only call it when none is.
func (h *Hooks) Detach() error {
	var errs []error
	for _, l := range h.links {
		if h.dir != "" {
			if err := l.Unpin(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := l.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
			errs = append(errs, err)
		}
		l.Close()
	}
	h.links = nil
	return errors.Join(errs...)
}

// Unpin removes the map pins (after Detach, when tearing everything down).
func (h *Hooks) Unpin() error {
	if h.dir == "" {
		return nil
	}
	var errs []error
	for _, m := range h.maps() {
		if err := m.Unpin(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (h *Hooks) maps() []*ebpf.Map {
	m := &h.objs.hooksMaps
	return []*ebpf.Map{m.Events, m.LoopbackPorts, m.Lost, m.OrigByCookie, m.OrigByPeer, m.Sandboxes, m.SettingsMap, m.UnixPaths,
		m.FsInodes, m.FsNames, m.FsPolicies, m.FsQueries, m.FsScope, m.FsScratch}
}

// Close releases the process's handles. Pinned links and maps stay in the
// kernel; unpinned links are detached.
func (h *Hooks) Close() error {
	for _, l := range h.links {
		l.Close()
	}
	h.links = nil
	return h.objs.Close()
}

// Settings are the addresses the hooks redirect to.
type Settings struct {
	// Proxy is the egress proxy's port, listening on both Proxy4 and
	// Proxy6 (default 127.0.0.1 and ::1). Redirected TCP arrives there,
	// and a workload that dials it on purpose is in explicit mode.
	ProxyPort      uint16
	Proxy4, Proxy6 netip.Addr
}

// Configure writes the settings. Connections already redirected keep their
// destination.
func (h *Hooks) Configure(s Settings) error {
	if s.ProxyPort == 0 {
		return errors.New("bpf: the proxy port is 0")
	}
	if !s.Proxy4.IsValid() {
		s.Proxy4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !s.Proxy6.IsValid() {
		s.Proxy6 = netip.IPv6Loopback()
	}
	if !s.Proxy4.Is4() || !s.Proxy4.IsLoopback() || !s.Proxy6.Is6() || !s.Proxy6.IsLoopback() {
		return fmt.Errorf("bpf: the proxy must listen on loopback addresses, not %s and %s", s.Proxy4, s.Proxy6)
	}
	var v hooksSettings
	a4 := s.Proxy4.As4()
	v.ProxyIp4 = ne32(a4[:])
	a6 := s.Proxy6.As16()
	for i := range 4 {
		v.ProxyIp6[i] = ne32(a6[4*i:])
	}
	v.ProxyPort = uint32(htons(s.ProxyPort))
	return h.objs.SettingsMap.Put(uint32(0), &v)
}
