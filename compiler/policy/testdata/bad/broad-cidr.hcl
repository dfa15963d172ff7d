policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["10.0.0.0/4"]
}
# want: 5:12: 10.0.0.0/4
