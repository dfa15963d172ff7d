# builtin:offline: work on local files with no network at all.
#
# For reviewing untrusted code, running a model-generated script, or any task
# that should never talk to anything: no destination is allowed, nothing may
# listen, and no unix socket is reachable. Loopback connections fail too, so
# local services (databases, the Docker socket, other sandboxes) are out of
# reach. The workspace and a private temporary directory are writable; file
# modes, owners, attributes and times cannot be changed at all.
policy "offline" {
  description = "No network: workspace writable, everything else read-only or denied"
  mode        = "enforce"
  extends     = ["builtin:base"]
}

filesystem {
  read  = ["${home}/.gitconfig", "${home}/.config/git"]
  write = ["${workspace}", "${tmp}"]
}

network {
  allow        = []
  unix_sockets = []
  listen       = "none"
  on_unknown   = "deny"
}

syscalls {
  deny = ["@file-metadata"]
}

process {
  user   = "inherit"
  limits = { memory = "4GiB", pids = 1024, open_files = 4096 }
  env = {
    pass = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TZ"]
    set  = { TMPDIR = "${tmp}" }
  }
}
