policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  write = ["/"]
}
# want: 5:12: whole filesystem writable
