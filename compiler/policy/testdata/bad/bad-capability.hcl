policy "t" {
  extends = ["builtin:base"]
}
process {
  capabilities = ["CAP_SYS_ADMN"]
}
# want: 5:19: not a capability
# hint: "CAP_SYS_ADMIN"
