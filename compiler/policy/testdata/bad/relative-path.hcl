policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = ["src"]
}
# want: 5:11: "src" is a relative path
# hint: start it with /
