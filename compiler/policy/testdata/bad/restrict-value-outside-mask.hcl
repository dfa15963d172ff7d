policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  restrict "socket" {
    arg = "type"
    mask = ["SOCK_TYPE_MASK"]
    in = ["SOCK_NONBLOCK"]
  }
}
# want: 8:11: outside the mask
