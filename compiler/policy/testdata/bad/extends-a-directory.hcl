policy "t" {
  extends = ["."]
}
# want: 2:14: not a regular file
