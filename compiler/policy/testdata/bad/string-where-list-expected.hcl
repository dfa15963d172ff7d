policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = "/srv"
}
# want: 5:10: must be a list of strings
