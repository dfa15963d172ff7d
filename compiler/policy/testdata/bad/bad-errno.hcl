policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  errno = "EPRM"
}
# want: 5:11: not an errno name
# hint: "EPERM"
