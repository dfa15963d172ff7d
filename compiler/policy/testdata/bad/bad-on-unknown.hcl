policy "t" {
  extends = ["builtin:base"]
}
network {
  on_unknown = "prompt"
}
# want: 5:16: must be "deny" or "ask"
