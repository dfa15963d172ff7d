policy "t" {
  mode = 
}
# want: 2:10: invalid expression
