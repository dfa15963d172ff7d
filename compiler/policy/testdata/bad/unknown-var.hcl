policy "t" {
  extends = ["builtin:base"]
}
# want: declares no variable "nope"
# var: nope=1
