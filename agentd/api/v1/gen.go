// Package apiv1 is agentd's gRPC API, generated from paddock.proto. The
// generated files are committed; CI regenerates them and fails on a
// difference.
package apiv1

//go:generate protoc -I . --plugin=protoc-gen-go=../../../tools/protoc-gen-go --plugin=protoc-gen-go-grpc=../../../tools/protoc-gen-go-grpc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative paddock.proto

// CABundleName is the file agentd keeps beside its socket when it has a
// local CA: the system's CAs and its own, for the sandboxes whose policy
// has credentials (Sandbox.ca_bundle names it).
const CABundleName = "ca-bundle.crt"
