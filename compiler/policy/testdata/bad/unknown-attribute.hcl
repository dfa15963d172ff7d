policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  deny_wrte = []
}
# want: 5:3: argument named "deny_wrte" is not expected
# hint: did you mean "deny_write"?
