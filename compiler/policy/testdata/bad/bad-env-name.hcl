policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = ["${env("A B")}/x"]
}
# want: 5:14: not an environment variable name
