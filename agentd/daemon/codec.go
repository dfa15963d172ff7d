//go:build linux

package daemon

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// storedEvent is an Event already encoded, as the event log keeps it, with
// its sequence number appended (a later field wins in protobuf, and the
// log stores events without one). Subscribe sends it for readers who see
// everything unfiltered, so the daemon neither decodes nor re-encodes
// what it already holds in wire form.
type storedEvent struct{ b []byte }

func newStoredEvent(data []byte, seq uint64) *storedEvent {
	b := make([]byte, 0, len(data)+1+protowire.SizeVarint(seq))
	b = append(b, data...)
	b = protowire.AppendTag(b, 1, protowire.VarintType) // Event.seq
	b = protowire.AppendVarint(b, seq)
	return &storedEvent{b}
}

// codec is gRPC's protobuf codec, except that a storedEvent goes out as the
// bytes it holds.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if s, ok := v.(*storedEvent); ok {
		return mem.BufferSlice{mem.SliceBuffer(s.b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return c.proto.Name() }
