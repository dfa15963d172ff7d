policy "t" {
  extends = ["builtin:base"]
}
process {
  limits = { memroy = "1GiB" }
}
# want: 5:14: no key "memroy"
# hint: "memory"
