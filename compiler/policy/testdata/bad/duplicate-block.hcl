policy "t" {
  extends = ["builtin:base"]
}
network {
}
network {
}
# want: 6:1: duplicate network block
