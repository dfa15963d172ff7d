# builtin:base: the floor every shipped policy stands on.
#
# What it gives: read access to the system (programs, libraries, /etc,
# /proc) and the handful of devices any program expects, and the general
# syscall allowlist of a developer tool.
#
# What it takes away, for every policy that extends it (an extending policy
# can add grants but never lift a denial):
#   - the credential stores of the usual tools, and any key, token or .env
#     file anywhere;
#   - writes to the files that would run code outside the sandbox later:
#     shell startup files, $PATH directories, git hooks and config, editor
#     tasks, agent settings and hooks, user services;
#   - the syscalls an unprivileged build never needs (mounts, modules, BPF,
#     ptrace, io_uring, namespaces, keyrings, ...), and the dangerous uses of
#     the ones it does need: socket families other than unix, IPv4, IPv6 and
#     netlink route; MPTCP, ICMP and SCTP; new user or mount namespaces
#     through clone; TIOCSTI and TIOCLINUX (typing into a terminal); resource
#     and scheduling changes to other processes.
policy "base" {
  description = "System read access, credential-store denials and syscall hardening shared by every builtin policy"
  mode        = "enforce"
}

filesystem {
  read = [
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/opt", "/etc",
    "/proc",
    "/sys/devices/system/cpu", "/sys/fs/cgroup", "/sys/kernel/mm/transparent_hugepage",
    "/run/systemd/resolve",
    "/dev/urandom", "/dev/random", "/dev/zero",
  ]
  write = ["/dev/null", "/dev/full", "/dev/tty", "/dev/pts", "/dev/ptmx"]

  deny = [
    # Credential stores.
    "${home}/.ssh", "${home}/.gnupg", "${home}/.aws", "${home}/.azure",
    "${home}/.config/gcloud", "${home}/.kube", "${home}/.docker/config.json",
    "${home}/.git-credentials", "${home}/.netrc", "${home}/.config/gh",
    "${home}/.password-store", "${home}/.vault-token", "${home}/.terraform.d/credentials.tfrc.json",
    "${home}/.cargo/credentials", "${home}/.cargo/credentials.toml", "${home}/.config/op",
    # Secrets by name, wherever they are.
    "**/.npmrc", "**/.pypirc", "**/.env*", "**/*.pem", "**/*.key", "**/*-service-account.json",
    # The host's own secrets, readable by root even without capabilities,
    # and Paddock's (credential files live there).
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh/ssh_host_*_key", "/etc/paddock",
  ]

  deny_write = [
    # Shell startup files run by the next shell the user opens.
    "${home}/.bashrc", "${home}/.bash_profile", "${home}/.bash_login", "${home}/.bash_logout",
    "${home}/.bash_aliases", "${home}/.profile", "${home}/.zshrc", "${home}/.zshenv",
    "${home}/.zprofile", "${home}/.zlogin", "${home}/.zlogout", "${home}/.config/fish",
    "${home}/.xprofile", "${home}/.xinitrc",
    # $PATH directories: a binary dropped there shadows a real one.
    "${home}/.local/bin", "${home}/bin", "${home}/go/bin", "${home}/.cargo/bin", "${home}/.npm-global/bin",
    # git runs hooks and config-defined commands for the user later.
    "**/.git/hooks", "**/.git/config", "**/.husky", "${home}/.gitconfig", "${home}/.config/git",
    # Editors and agents run tasks, hooks and MCP servers from these.
    "**/.vscode", "**/.idea", "**/.mcp.json",
    "**/.claude/settings.json", "**/.claude/settings.local.json", "**/.claude/hooks",
    "**/.claude/commands", "**/.claude/agents",
    # Services and autostart entries start code outside any sandbox.
    "${home}/.config/systemd", "${home}/.config/autostart",
  ]
}

syscalls {
  allow = ["@system-service"]
  deny  = ["@privileged", "@debug", "@mount", "@module", "@namespaces", "@keyring", "@io-uring", "@bpf", "@cpu-emulation", "@obsolete"]
  errno = "EPERM"

  # Sockets: unix, IPv4, IPv6, and netlink for the routing table (libc and Go
  # read interfaces through it). Everything else fails as if the kernel
  # lacked it, so programs fall back instead of aborting.
  restrict "socket" {
    arg   = "domain"
    in    = ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]
    errno = "EAFNOSUPPORT"
  }
  restrict "socket" {
    arg  = "type"
    mask = ["SOCK_TYPE_MASK"]
    in   = ["SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET", "SOCK_RAW"] # raw inet sockets also need CAP_NET_RAW, which is dropped
  }
  # Protocol 0 (the family default, and NETLINK_ROUTE), TCP and UDP. This
  # refuses MPTCP (Landlock's TCP rules do not see it), ICMP ping sockets,
  # SCTP and the other netlink families.
  restrict "socket" {
    arg   = "protocol"
    in    = [0, "IPPROTO_TCP", "IPPROTO_UDP"]
    errno = "EPROTONOSUPPORT"
  }
  restrict "socketpair" {
    arg   = "domain"
    in    = ["AF_UNIX"]
    errno = "EAFNOSUPPORT"
  }

  # No new namespaces through clone (unshare and setns are denied above).
  restrict "clone" {
    arg  = "flags"
    mask = ["CLONE_NEWUSER", "CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWCGROUP"]
    in   = [0]
  }

  # Nothing may type into a terminal or drive the console.
  restrict "ioctl" {
    arg    = "cmd"
    not_in = ["TIOCSTI", "TIOCLINUX"]
  }

  # Limits, priorities and CPU placement of this process only (pid 0):
  # Landlock's scoping does not cover these calls on other processes.
  restrict "prlimit64" {
    arg = "pid"
    in  = [0]
  }
  restrict "setpriority" {
    arg = "who"
    in  = [0]
  }
  restrict "sched_setaffinity" {
    arg = "pid"
    in  = [0]
  }
  restrict "sched_setscheduler" {
    arg = "pid"
    in  = [0]
  }
  restrict "sched_setparam" {
    arg = "pid"
    in  = [0]
  }
  restrict "sched_setattr" {
    arg = "pid"
    in  = [0]
  }
  restrict "ioprio_set" {
    arg = "who"
    in  = [0]
  }

  # The Linux personality, its 32-bit variant, and the query form.
  restrict "personality" {
    arg = "persona"
    in  = ["PER_LINUX", "PER_LINUX32", "0xffffffff"]
  }
}
