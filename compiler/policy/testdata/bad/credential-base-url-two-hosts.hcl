policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["api.example.com", "api2.example.com"]
}
credential "x" {
  hosts        = ["api.example.com", "api2.example.com"]
  env          = "X"
  source       = "env:X"
  base_url_env = "X_BASE_URL"
}
# want: 11:18: needs exactly one host to forward to
