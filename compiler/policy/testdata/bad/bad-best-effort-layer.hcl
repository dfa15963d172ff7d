policy "t" {
  best_effort = ["landlok"]
}
# want: 2:18: policy.best_effort[0]
# hint: "landlock"
