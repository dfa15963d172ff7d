policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  restrict "mount" {
    arg = "flags"
    in = [0]
  }
}
# want: 5:12: does not allow mount
