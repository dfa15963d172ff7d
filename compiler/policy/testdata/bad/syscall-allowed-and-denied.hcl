policy "t" {
  extends = ["builtin:base"]
}
syscalls {
  allow = ["acct"]
  deny = ["acct"]
}
# want: 6:11: both allowed and denied by name
