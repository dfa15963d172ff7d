policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  write = ["~/x"]
}
# want: 5:12: relative path
# hint: write ${home}/x
