policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["api.example.com"]
}
credential "x" {
  hosts = ["api.example.com"]
  env = "X"
  source = "env:X"
  format = "token"
}
# want: 11:12: must contain %s exactly once
