policy "t" {
  extends = ["builtin:base"]
}
credential "x" {
  hosts = ["a.example"]
  env = "X"
}
# want: 4:16: missing required argument
