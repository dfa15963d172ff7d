policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = ["${hom}/x"]
}
# want: 5:14: unknown variable
