policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  allow = ["ptace"]
}
# want: 5:12: unknown syscall "ptace"
# hint: did you mean "ptrace"?
