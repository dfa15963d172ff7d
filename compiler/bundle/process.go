package bundle

import (
	"fmt"
	"strings"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
)

// Credential binds a secret to the hosts (and optionally paths and methods)
// it may be sent to. The secret itself is never in a bundle: Source says
// where the daemon reads it, and the sandbox sees Placeholder.
type Credential struct {
	Name        string   `json:"name"`
	Hosts       []string `json:"hosts"` // canonical exact names
	Paths       []string `json:"paths"` // path prefixes; empty means any
	Methods     []string `json:"methods"`
	Env         string   `json:"env"`    // the variable that holds the placeholder inside the sandbox
	Header      string   `json:"header"` // the request header the proxy fills
	Format      string   `json:"format"` // the header value, with %s for the secret
	Source      string   `json:"source"` // "file:/abs/path" or "env:NAME" (the daemon's environment)
	Placeholder string   `json:"placeholder"`
	// StripHeaders are response headers removed before the sandbox sees a
	// response of a bound host.
	StripHeaders []string `json:"strip_response_headers,omitempty"`
	// BaseURLEnv, when set, is the variable that gets the URL of the
	// sandbox's plain-HTTP reverse listener for the (single) bound host.
	BaseURLEnv string `json:"base_url_env,omitempty"`
	Rule       Rule   `json:"rule"`
}

// PlaceholderFor is the value the sandbox sees in place of a credential.
func PlaceholderFor(name string) string { return "paddock:cred:" + name }

func (c *Credential) validate() error {
	if c.Placeholder != PlaceholderFor(c.Name) {
		return fmt.Errorf("placeholder %q does not match the name", c.Placeholder)
	}
	if len(c.Hosts) == 0 {
		return fmt.Errorf("no hosts")
	}
	for _, h := range c.Hosts {
		p, err := hostpattern.ParsePattern(h)
		if err != nil {
			return err
		}
		if p.Kind != hostpattern.Exact || p.String() != h {
			return fmt.Errorf("host %q is not a canonical exact name", h)
		}
	}
	if strings.Count(c.Format, "%s") != 1 || strings.Count(c.Format, "%") != 1 {
		return fmt.Errorf("format %q must contain %%s exactly once and no other %%", c.Format)
	}
	if c.BaseURLEnv != "" && len(c.Hosts) != 1 {
		return fmt.Errorf("base_url_env needs exactly one host")
	}
	scheme, rest, _ := strings.Cut(c.Source, ":")
	if (scheme != "file" && scheme != "env") || rest == "" || scheme == "file" && !strings.HasPrefix(rest, "/") {
		return fmt.Errorf("source %q is not file:/absolute/path or env:NAME", c.Source)
	}
	return nil
}

// Process is the process section: who the workload runs as, its limits,
// environment and capabilities.
type Process struct {
	User         string   `json:"user"` // "inherit", a user name or a numeric uid
	Limits       Limits   `json:"limits"`
	EnvPass      []string `json:"env_pass"` // names passed through from the launching environment
	EnvSet       []EnvVar `json:"env_set"`  // set to fixed values, after EnvPass
	Capabilities []string `json:"capabilities"`
}

// EnvVar is one fixed environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Limits are resource limits; zero means unlimited.
type Limits struct {
	MemoryBytes uint64 `json:"memory_bytes"`
	Pids        uint64 `json:"pids"`
	MilliCPUs   uint64 `json:"milli_cpus"`
	OpenFiles   uint64 `json:"open_files"`
	FileBytes   uint64 `json:"file_bytes"`
	CPUSeconds  uint64 `json:"cpu_seconds"`
}

func (p *Process) validate() error {
	if p.User == "" {
		return fmt.Errorf("user: empty")
	}
	for _, n := range append(append([]string{}, p.EnvPass...), names(p.EnvSet)...) {
		if !validEnvName(n) {
			return fmt.Errorf("env: %q is not a variable name", n)
		}
	}
	return nil
}

func names(vs []EnvVar) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

// Capabilities are the capability names a policy may keep, in the kernel's
// numbering (linux/capability.h): a name's index is its number.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// CapabilityNumber returns the kernel's number for a capability name.
func CapabilityNumber(name string) (int, bool) {
	for i, c := range Capabilities {
		if c == name {
			return i, true
		}
	}
	return 0, false
}
