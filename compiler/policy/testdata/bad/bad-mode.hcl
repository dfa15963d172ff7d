policy "t" {
  mode = "enforcing"
}
# want: 2:10: must be "enforce" or "audit"
# hint: "enforce"
