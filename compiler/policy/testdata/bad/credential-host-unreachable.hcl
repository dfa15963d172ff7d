policy "t" {
  extends = ["builtin:base"]
}
credential "x" {
  hosts = ["api.example.com"]
  env = "X_TOKEN"
  source = "env:X"
}
# want: 5:12: network.allow does not allow this host
