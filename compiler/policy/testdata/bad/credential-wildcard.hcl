policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["*.example.com"]
}
credential "x" {
  hosts = ["*.example.com"]
  env = "X_TOKEN"
  source = "env:X"
}
# want: 8:12: exact host names
