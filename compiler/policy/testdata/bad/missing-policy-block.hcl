filesystem {
}
# want: 1:1: missing policy block
