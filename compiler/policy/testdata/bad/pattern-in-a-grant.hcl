policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = ["/srv/*.txt"]
}
# want: 5:11: is a pattern; grants are paths
