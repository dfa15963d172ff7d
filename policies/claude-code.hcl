# builtin:claude-code: Claude Code in one repository.
#
# Everything builtin:default allows, plus what Claude Code itself needs:
#   - its own state: ${home}/.claude (sessions, todos, caches) and
#     ${home}/.claude.json, which it rewrites constantly. Its settings and
#     hook files stay read-only (builtin:base), so a session cannot give
#     itself hooks or commands that run unsandboxed later. Note that
#     ${home}/.claude.json also lists MCP servers; keep it under review.
#   - the model API with the key held by the daemon, never by the agent:
#     inside the sandbox ANTHROPIC_API_KEY is a placeholder that the proxy
#     replaces on requests to api.anthropic.com only;
#   - GitHub with a token the same way (GITHUB_TOKEN), read by the daemon
#     from a root-only file.
policy "claude-code" {
  description = "Claude Code in one repository, with the API key and GitHub token held outside the sandbox"
  mode        = "enforce"
  extends     = ["builtin:default"]
}

filesystem {
  write = ["${home}/.claude", "${home}/.claude.json"]
}

network {
  allow = ["statsig.anthropic.com"]
}

credential "anthropic" {
  hosts  = ["api.anthropic.com"]
  env    = "ANTHROPIC_API_KEY"
  header = "x-api-key"
  format = "%s"
  source = "env:ANTHROPIC_API_KEY"
}

credential "github" {
  hosts  = ["api.github.com", "github.com", "codeload.github.com"]
  env    = "GITHUB_TOKEN"
  header = "Authorization"
  format = "Bearer %s"
  source = "file:/etc/paddock/secrets/github"
}
