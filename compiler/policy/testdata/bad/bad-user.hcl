policy "t" {
  extends = ["builtin:base"]
}
process {
  user = "Robert'); DROP"
}
# want: 5:10: not a user
