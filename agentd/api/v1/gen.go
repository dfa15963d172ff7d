// Package apiv1 is agentd's gRPC API, generated from paddock.proto. The
// generated files are committed; CI regenerates them and fails on a
// difference.
package apiv1

//go:generate protoc -I . --plugin=protoc-gen-go=../../../tools/protoc-gen-go --plugin=protoc-gen-go-grpc=../../../tools/protoc-gen-go-grpc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative paddock.proto
