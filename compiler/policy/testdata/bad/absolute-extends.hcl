policy "t" {
  extends = ["/etc/x.hcl"]
}
# want: 2:14: relative to this file
