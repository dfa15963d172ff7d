policy "t" {
  extends = ["../../../../../../../../dev/zero"]
}
# want: 2:14: not a regular file
