policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  deny = ["@moutn"]
}
# want: 5:11: unknown syscall group "@moutn"
# hint: did you mean "@mount"?
