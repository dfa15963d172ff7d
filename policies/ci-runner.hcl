# builtin:ci-runner: a CI job (build, test, package) on a runner.
#
# A CI job runs code from the repository, its dependencies and their build
# scripts, so it is fenced like an agent, with the differences CI needs:
#   - the whole home directory is writable (runners start from a clean home;
#     package and build caches live there), except what builtin:base protects;
#   - builds may chmod, chown (within the user's own rights) and set times by
#     path: compilers, linkers, archivers and installers all do;
#   - the network reaches only the code host by default; list the registries
#     the job needs in var.ci_hosts (policyc build --var ci_hosts=...);
#   - limits suit a job, not an interactive session.
policy "ci-runner" {
  description = "CI build and test job: workspace and home writable, code host only, file metadata changes allowed"
  mode        = "enforce"
  extends     = ["builtin:base"]
}

variable "ci_hosts" {
  default     = []
  description = "Destinations the job may reach besides the code host, such as package registries and artifact stores"
}

filesystem {
  write = ["${workspace}", "${tmp}", "${home}"]
}

network {
  allow      = concat(["github.com", "api.github.com", "codeload.github.com", "objects.githubusercontent.com"], var.ci_hosts)
  listen     = "loopback"
  on_unknown = "deny"
}

syscalls {
  allow = ["@file-metadata"]
}

process {
  user   = "inherit"
  limits = { memory = "16GiB", pids = 4096, open_files = 65536, cpu_time = "2h" }
  env = {
    pass = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "CI", "GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_REF", "GITHUB_RUN_ID"]
    set  = { TMPDIR = "${tmp}" }
  }
}
