policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["https://x.example"]
}
# want: 5:12: URL
