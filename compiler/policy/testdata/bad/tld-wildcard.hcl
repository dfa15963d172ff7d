policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["*.com"]
}
# want: 5:12: public suffix
