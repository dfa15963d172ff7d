policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["api.example.com"]
}
credential "x" {
  hosts = ["api.example.com"]
  env = "X_TOKEN"
  source = "env:X"
}
process {
  env = { pass = ["X_TOKEN"] }
}
# want: 13:19: hand the real X_TOKEN to the sandbox
