policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["*.github.io"]
}
# want: 5:12: public suffix
