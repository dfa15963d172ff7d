policy "t" {
  extends = ["builtin:base"]
}
process {
  limits = { memory = "lots" }
}
# want: 5:23: not a size
