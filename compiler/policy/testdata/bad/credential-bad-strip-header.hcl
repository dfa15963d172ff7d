policy "t" {
  extends = ["builtin:base"]
}
network {
  allow = ["api.example.com"]
}
credential "x" {
  hosts                  = ["api.example.com"]
  env                    = "X"
  source                 = "env:X"
  strip_response_headers = ["Set Cookie"]
}
# want: 11:29: is not an HTTP header name
