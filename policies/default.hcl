# builtin:default: the fence Paddock uses when no policy is given.
#
# A general AI coding agent working in one repository:
#   - reads the system and the workspace; writes only the workspace and a
#     private temporary directory (caches are pointed there too, so nothing
#     the agent writes is run later by the user's own tools);
#   - never reads credential stores or secrets, and never writes the files
#     that would run code outside the sandbox later (from builtin:base);
#   - reaches the network only through the egress proxy, and only the model
#     API and the code host; set var.extra_hosts for package registries
#     (policyc build --var extra_hosts=registry.example.com,...);
#   - may not change modes, owners, extended attributes or times of files by
#     path: Landlock does not cover those calls, so without the daemon's
#     BPF-LSM layer they would reach files outside the fence. Changing times
#     through an open descriptor (touch, futimens) still works. Tools that
#     chmod by path (git config, some linkers) fail with EPERM under this
#     policy; builtin:ci-runner allows them.
policy "default" {
  description = "AI coding agent in one workspace: system read-only, workspace writable, model API and code host only"
  mode        = "enforce"
  extends     = ["builtin:base"]
}

variable "extra_hosts" {
  default     = []
  description = "More destinations the agent may reach, such as a team's package registries"
}

filesystem {
  read  = ["${home}/.gitconfig", "${home}/.config/git"]
  write = ["${workspace}", "${tmp}"]
}

network {
  allow = concat([
    "api.anthropic.com",
    "github.com", "api.github.com", "codeload.github.com",
    "objects.githubusercontent.com", "raw.githubusercontent.com",
    "github.com:22",
  ], var.extra_hosts)
  deny       = ["169.254.169.254"]
  listen     = "loopback"
  on_unknown = "deny"
}

syscalls {
  allow = ["utimensat"]
  deny = ["chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "setxattr", "lsetxattr",
  "removexattr", "lremovexattr", "setxattrat", "removexattrat", "utime", "utimes", "futimesat"]

  # utimensat with a NULL path acts on an open descriptor (futimens), which
  # Landlock already vetted when the file was opened.
  restrict "utimensat" {
    arg = "pathname"
    in  = [0]
  }
}

process {
  user   = "inherit"
  limits = { memory = "8GiB", pids = 2048, open_files = 8192 }
  env = {
    pass = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "COLORTERM", "TZ", "EDITOR", "PAGER"]
    set = {
      TMPDIR           = "${tmp}"
      XDG_CACHE_HOME   = "${tmp}/cache"
      GOCACHE          = "${tmp}/go-build"
      npm_config_cache = "${tmp}/npm"
      PIP_CACHE_DIR    = "${tmp}/pip"
    }
  }
}
