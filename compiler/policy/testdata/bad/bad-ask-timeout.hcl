policy "t" {
  extends = ["builtin:base"]
}
network {
  ask_timeout = "2d"
}
# want: 5:17: not a duration
