policy "t" {
  extends = ["builtin:base"]
}
netwrk {
}
# want: 4:1: unsupported block type
# hint: did you mean "network"?
