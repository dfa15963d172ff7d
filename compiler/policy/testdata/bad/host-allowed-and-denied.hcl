policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["a.example"]
  deny = ["A.example."]
}
# want: 6:11: both allowed and denied
# hint: host-allowed-and-denied.hcl:5
