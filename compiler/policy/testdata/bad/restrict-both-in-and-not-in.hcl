policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  restrict "ioctl" {
    arg = "cmd"
    in = [1]
    not_in = [2]
  }
}
# want: 5:3: exactly one of in or not_in
