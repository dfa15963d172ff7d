package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readLogGroup is AUDIT_NLGRP_READLOG, the multicast group of every record
// the kernel emits (x/sys/unix has only AUDIT_NLGRP_MAX, which equals it).
const readLogGroup = 1

// Reader receives audit records from the kernel's multicast group and
// decodes the seccomp and Landlock ones. Read is not safe for concurrent
// use; Stats and Close are safe at any time.
type Reader struct {
	f       *os.File
	rc      syscall.RawConn
	buf     []byte
	s       *stream
	enabled bool
}

// Open joins the audit multicast group (AUDIT_NLGRP_READLOG, which needs
// CAP_AUDIT_READ) and, when audit is disabled, enables it (AUDIT_SET, which
// needs CAP_AUDIT_CONTROL): Landlock logs nothing while audit is disabled.
// Seccomp records come either way. Close does not disable audit again; see
// the package documentation for what enabling it does to the system, and
// EnabledAudit and SetEnabled for callers who want it restored.
func Open() (*Reader, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("audit netlink socket: %w", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, receiveBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, receiveBuffer)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (readLogGroup - 1)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("joining the audit multicast group (needs CAP_AUDIT_READ): %w", err)
	}
	f := os.NewFile(uintptr(fd), "audit-netlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &Reader{f: f, rc: rc, buf: make([]byte, 1<<16), s: newStream(EventWait, SettleTime)}
	st, err := GetStatus()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Enabled == 0 {
		if err := SetEnabled(true); err != nil {
			f.Close()
			return nil, fmt.Errorf("enabling audit, without which Landlock logs nothing: %w", err)
		}
		r.enabled = true
	}
	return r, nil
}

// EnabledAudit reports whether Open enabled audit (it was disabled before).
func (r *Reader) EnabledAudit() bool { return r.enabled }

// Close leaves the multicast group. It does not change whether audit is
// enabled.
func (r *Reader) Close() error { return r.f.Close() }

// Stats returns the counters so far.
func (r *Reader) Stats() Stats { return r.s.snapshot() }

// Read returns the next record: *Seccomp, *LandlockAccess, *LandlockDomain
// or *Gap. It blocks until one is ready, ctx is done, or the Reader is
// closed.
func (r *Reader) Read(ctx context.Context) (Record, error) {
	for {
		if rec := r.s.next(time.Now()); rec != nil {
			return rec, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, from, err := r.recv(ctx, r.s.deadline())
		switch {
		case err == nil:
			r.s.datagram(r.buf[:n], from, time.Now())
		case errors.Is(err, unix.ENOBUFS):
			r.s.overrun(time.Now())
		case errors.Is(err, os.ErrDeadlineExceeded):
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
}

// recv waits for one datagram until deadline (zero: no deadline) or until
// ctx is done.
func (r *Reader) recv(ctx context.Context, deadline time.Time) (int, uint32, error) {
	if err := r.f.SetReadDeadline(deadline); err != nil {
		return 0, 0, err
	}
	stop := context.AfterFunc(ctx, func() { r.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var (
		n    int
		from uint32
		rerr error
	)
	err := r.rc.Read(func(fd uintptr) bool {
		var flags int
		var sa unix.Sockaddr
		for {
			n, _, flags, sa, rerr = unix.Recvmsg(int(fd), r.buf, nil, 0)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			return false
		}
		if rerr == nil && flags&unix.MSG_TRUNC != 0 {
			n = len(r.buf)
		}
		if nl, ok := sa.(*unix.SockaddrNetlink); ok {
			from = nl.Pid
		}
		return true
	})
	if err != nil {
		return 0, 0, err
	}
	return n, from, rerr
}

// Status is the kernel's audit status (struct audit_status).
type Status struct {
	Enabled      uint32 // 0 off, 1 on, 2 on and locked until reboot
	Failure      uint32 // what the kernel does on a lost record: 0 silent, 1 printk, 2 panic
	PID          uint32 // the registered audit daemon, 0 when none
	RateLimit    uint32 // records per second, 0 for no limit
	BacklogLimit uint32
	// Lost counts the records the kernel dropped since boot (backlog or
	// rate limit exceeded, queues overflowing, allocation failures). It
	// does not count records dropped for one multicast listener.
	Lost    uint32
	Backlog uint32
	// BacklogWaitTime is how long a process that logs waits for room in
	// the backlog, in jiffies; BacklogWaitTimeActual sums the waits.
	BacklogWaitTime       uint32
	BacklogWaitTimeActual uint32
}

// auditStatus is struct audit_status as this kernel has it (44 bytes);
// older kernels send a prefix of it.
type auditStatus struct {
	Mask, Enabled, Failure, PID, RateLimit, BacklogLimit, Lost, Backlog, Version, BacklogWaitTime, BacklogWaitTimeActual uint32
}

const sizeofAuditStatus = int(unsafe.Sizeof(auditStatus{}))

// GetStatus asks the kernel for its audit status (AUDIT_GET).
func GetStatus() (Status, error) {
	var raw auditStatus
	err := request(unix.AUDIT_GET, nil, func(typ uint16, data []byte) bool {
		if typ != unix.AUDIT_GET {
			return false
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&raw)), sizeofAuditStatus), data)
		return true
	})
	if err != nil {
		return Status{}, fmt.Errorf("audit status: %w", err)
	}
	return Status{
		Enabled: raw.Enabled, Failure: raw.Failure, PID: raw.PID, RateLimit: raw.RateLimit,
		BacklogLimit: raw.BacklogLimit, Lost: raw.Lost, Backlog: raw.Backlog,
		BacklogWaitTime: raw.BacklogWaitTime, BacklogWaitTimeActual: raw.BacklogWaitTimeActual,
	}, nil
}

// SetEnabled enables or disables audit (AUDIT_SET). It fails when audit is
// locked (enabled=2).
func SetEnabled(on bool) error {
	raw := auditStatus{Mask: unix.AUDIT_STATUS_ENABLED}
	if on {
		raw.Enabled = 1
	}
	payload := unsafe.Slice((*byte)(unsafe.Pointer(&raw)), sizeofAuditStatus)
	if err := request(unix.AUDIT_SET, payload, nil); err != nil {
		return fmt.Errorf("setting audit enabled=%t: %w", on, err)
	}
	return nil
}

// request sends one audit request with NLM_F_ACK on a socket of its own and
// waits for the acknowledgement and, when reply is not nil, for the
// message reply accepts. The kernel acknowledges AUDIT_GET before it
// replies.
func request(typ uint16, payload []byte, reply func(uint16, []byte) bool) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	const seq = 1
	msg := make([]byte, unix.SizeofNlMsghdr+len(payload))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	copy(msg[unix.SizeofNlMsghdr:], payload)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	acked, replied := false, reply == nil
	buf := make([]byte, 1<<16)
	for !acked || !replied {
		n, sa, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		if nl, ok := sa.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue
		}
		b := buf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return errors.New("malformed netlink reply")
			}
			mtyp := binary.NativeEndian.Uint16(b[4:6])
			mseq := binary.NativeEndian.Uint32(b[8:12])
			data := b[unix.SizeofNlMsghdr:l]
			switch {
			case mseq != seq:
			case mtyp == unix.NLMSG_ERROR:
				if len(data) < 4 {
					return errors.New("short netlink error")
				}
				if e := int32(binary.NativeEndian.Uint32(data[0:4])); e != 0 {
					return unix.Errno(-e)
				}
				acked = true
			case reply != nil && reply(mtyp, data):
				replied = true
			}
			l = (l + 3) &^ 3
			if l >= len(b) {
				break
			}
			b = b[l:]
		}
	}
	return nil
}
