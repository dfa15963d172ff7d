policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["api.example.com"]
}
credential "x" {
  hosts = ["api.example.com"]
  env = "X_TOKEN"
  source = "ghp_0123456789"
}
# want: 10:12: does not say where the daemon reads the secret
# hint: a secret never goes in a policy
