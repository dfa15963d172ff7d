policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["*"]
}
# want: 5:12: matches every host
