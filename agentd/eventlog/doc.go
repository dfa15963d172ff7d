// Package eventlog is a durable, append-only, size-bounded log of opaque
// records with sequence numbers, and live subscriptions to it that report
// every loss in-band (DESIGN.md, D7).
//
// The package knows nothing of the event schema: a record is a []byte that
// the caller has encoded. It assigns each record a sequence number (seq),
// strictly increasing from 1 and kept across restarts, and a wall-clock
// time.
//
// # Files
//
// The log is a directory of segment files, each named after the seq of its
// first record as a 20-digit decimal ("00000000000000000001.log"). A
// segment is a plain concatenation of frames, with no file header. A frame
// is a 32-byte little-endian header followed by the payload:
//
//	off size field
//	 0   2   magic "pd"
//	 2   1   format version (1)
//	 3   1   kind: 0 data record, 1 gap marker
//	 4   4   payload length (at most MaxRecordSize)
//	 8   8   seq
//	16   8   time, Unix nanoseconds
//	24   4   CRC-32C (Castagnoli) of bytes 0..23 and the payload
//	28   4   CRC-32C of bytes 0..27
//
// The header has a checksum of its own so that a damaged payload is skipped
// by its length (and reported as the loss of exactly that seq) instead of
// being searched for frames, which would let record contents that happen to
// look like frames pass for records. A gap marker's payload is the lost
// count (8 bytes) followed by the cause.
//
// Every seq occupies exactly one frame, and seqs within a segment are
// consecutive. A reader uses that to reject frames whose seq could not be
// where they are: after a frame with seq p ending at offset e, a frame at
// offset o may only carry a seq in p+1 .. p+1+(o-e)/32.
//
// # Recovery
//
// Open scans the newest segment. Bytes after the last frame whose header
// verifies (a write torn by a crash, zeros from a lost block) are
// truncated, and appending resumes with the following seq. Damage before
// that frame is left for readers to report. Older segments are not
// scanned at Open; their damage is found by whoever reads them.
//
// # Guarantees
//
//   - Append writes each record with one write(2) (pwrite at the end of
//     the active segment); AppendBatch writes a batch with one write(2)
//     per segment it lands in. A failed write is truncated away and its
//     seqs are not used. After a failed fsync Append fails for good: the
//     kernel may have dropped the pages, and the file no longer says what
//     the log believes.
//   - A record is visible to subscribers once its write(2) has returned.
//     It is durable once fsync has returned: the active segment is synced
//     every Options.SyncInterval (default 200 ms) while it has unsynced
//     writes, a full segment is synced (in the background) when the log
//     moves to the next one, and everything is synced by Close. A process
//     crash loses nothing that Append acknowledged; a power loss can lose
//     at most the last SyncInterval of records, and then the seqs of those
//     records are given again to new ones.
//   - The segment files never total more than Options.MaxBytes: when a
//     new segment starts, the oldest are removed until the rest and a full
//     new segment fit. A subscriber still reading a removed segment keeps
//     its blocks allocated until it moves on.
//   - A subscriber receives, for every seq after its starting point, either
//     the record or a Gap that covers it, in order, with no duplicates,
//     across the switch from disk to live records. Gaps say why: records
//     removed by rotation (CauseRotated), a Drop subscriber's full queue
//     (CauseSlow), or frames that failed their checksums, or a segment
//     that went missing (CauseCorrupt); they carry the exact seq range. A
//     record whose checksums fail is never returned. Every Record's Seq,
//     a Gap's included, is a cursor to resume from.
//   - Append never waits for subscribers. A Block subscriber that falls
//     behind the in-memory cache reads the segments like a cursor; only
//     records removed by rotation are lost to it. A Drop subscriber has a
//     bounded queue; records that find it full are counted and reported as
//     one Gap before the next record it gets.
//
// # Memory
//
// The log holds at most Options.CacheBytes of recent payloads (default
// 4 MiB) plus 40 bytes for each of at most 8192 cached records; a cached
// record keeps the buffer of the AppendBatch call it came in. A live Drop
// subscriber holds at most its queue length of records (at most 65536). A
// Block subscriber reading from disk holds one read buffer of 64 KiB, or
// one frame if that is larger, and the records of the current batch (at
// most 64). Records handed out share memory with the cache and with other
// subscribers: a Record's Data must not be modified.
package eventlog
