policy "t" {
  extends = ["builtin:nope"]
}
# want: 2:14: no builtin policy "nope"
