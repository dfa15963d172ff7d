policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  deny = ["/**"]
}
# want: 5:11: /**
