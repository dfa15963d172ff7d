policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  restrict "socket" {
    arg = "domain"
    in = ["AF_INTE"]
  }
}
# want: 7:11: unknown constant "AF_INTE"
# hint: "AF_INET"
