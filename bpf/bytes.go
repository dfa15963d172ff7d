package bpf

import "encoding/binary"

// The hooks keep addresses and ports in network byte order inside native
// u32 fields, as the kernel's context does.

// ne32 returns the native u32 whose memory holds b[0:4].
func ne32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

// htons returns the native u16 whose memory holds port in network order.
func htons(port uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], port)
	return binary.NativeEndian.Uint16(b[:])
}
