policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = ["/srv/../etc"]
}
# want: 5:11: not a clean path
