policy "Bad Name" {
}
# want: 1:8: not a valid name
