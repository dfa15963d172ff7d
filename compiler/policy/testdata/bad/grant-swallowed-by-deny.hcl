policy "t" {
  extends = ["builtin:base"]
}
filesystem {
  read = ["${home}/.ssh/known_hosts"]
}
# want: 5:11: entirely denied by filesystem.deny
