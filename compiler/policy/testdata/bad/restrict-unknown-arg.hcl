policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  restrict "socket" {
    arg = "domian"
    in = ["AF_INET"]
  }
}
# want: 6:11: no argument "domian"
# hint: did you mean "domain"?
