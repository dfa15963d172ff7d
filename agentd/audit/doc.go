// Package audit reads the kernel's audit records of seccomp and Landlock
// denials from the audit netlink multicast group, without auditd, and
// turns them into typed values for the daemon's event stream (DESIGN.md D7).
//
// Open joins the group (and enables audit if it is off: Landlock logs
// nothing otherwise); Read returns *Seccomp, *LandlockAccess,
// *LandlockDomain and *Gap records; ParseRecord is the pure parser under
// it. Records of other types are skipped and counted (Stats).
//
// Losses are reported three ways: a Gap record where the socket overflowed
// (ENOBUFS, count unknown); a Gap record with the exact number of serials
// that never arrived, 2 s (SettleTime) after a later serial did; and the
// kernel's own lost counter (GetStatus), which counts what the kernel
// dropped before any listener (backlog or rate limit) and which the daemon
// should poll.
//
// # What the kernel does here (measured)
//
// Kernel 6.18, Landlock ABI 7, no auditd, nothing on the kernel command line
// about audit ("audit: initializing netlink subsys (disabled)"). Measured
// with throwaway Go programs outside the repository: one that speaks
// NETLINK_AUDIT (AUDIT_GET, AUDIT_SET, AUDIT_ADD_RULE/AUDIT_DEL_RULE of a
// task,never rule, and printing every record of the group), children that
// install a four-instruction seccomp filter on personality(2) with each
// action, with and without SECCOMP_FILTER_FLAG_LOG, and children that call
// landlock_create_ruleset/add_rule/restrict_self with each logging flag and
// then try one denied access of every kind (testdata/*.txt are their
// records).
//
//   - Receiving: a NETLINK_AUDIT socket bound to group 1
//     (AUDIT_NLGRP_READLOG; needs CAP_AUDIT_READ) gets every record the
//     kernel emits, one per datagram, from port id 0, nlmsg_len = 16 +
//     payload, no NUL and no padding: syscall.ParseNetlinkMessage rejects
//     such a datagram (EINVAL) whenever its length is not a multiple of 4.
//     The boot status (AUDIT_GET) is enabled=0 failure=1 pid=0 rate_limit=0
//     backlog_limit=64 lost=0 backlog_wait_time=15000 (jiffies; HZ=250, so
//     60 s). With NLM_F_ACK the kernel acknowledges AUDIT_GET before it
//     replies. Joining while audit is enabled logs AUDIT_EVENT_LISTENER
//     (1335, "nl-mcgrp=1 op=connect").
//   - Seccomp: /proc/sys/kernel/seccomp/actions_logged is every action but
//     allow. AUDIT_SECCOMP (1326) records come whether audit is enabled or
//     not. SECCOMP_RET_ERRNO logs only with FLAG_LOG, as code=0x50000: the
//     errno is cleared, so EPERM and ENOSYS look alike. kill_process and
//     kill_thread log with or without the flag (sig=31); trap with it
//     (sig=0); RET_LOG always. An i386 int 0x80 call logs arch=40000003
//     compat=1 and the i386 number. The record stands alone: no
//     AUDIT_SYSCALL, no AUDIT_EOE, even for a process with an audit
//     context. A filter loaded without FLAG_LOG keeps its actions out of
//     the log even when another filter of the process has the flag: the
//     flag of the filter whose action wins decides.
//   - Landlock: nothing while audit is disabled; after AUDIT_SET enabled=1,
//     AUDIT_LANDLOCK_ACCESS (1423) per denial. With restrict_self flags 0,
//     denials of the process that restricted itself are logged and those
//     of programs it then execs are not; LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON
//     (2) logs those (measured: cat exec'd by a restricted process, a
//     record with the flag, none without). LOG_SAME_EXEC_OFF (1) and
//     LOG_SUBDOMAINS_OFF (4) turn logging off. go-landlock v0.11 spells
//     them Config.EnableLoggingForSubprocesses,
//     DisableLoggingForOriginatingProcess and DisableLoggingForSubdomains
//     (FlagRestrictSelfLog* in landlock/syscall); agentd/landlock's
//     Restrict(true) passes NEW_EXEC_ON.
//   - The access record carries its object itself: "domain=<hex>
//     blockers=<rights, comma-separated>" then path= dev= ino= (fs.*; for
//     make_*, remove_* and refer the directory), ioctlcmd= (fs.ioctl_dev),
//     daddr= dest= (net.connect_tcp), src= (net.bind_tcp), opid= ocomm=
//     (scope.signal), or path= with the abstract name, leading NUL, hex
//     (scope.abstract_unix_socket). It names no process. No AUDIT_PATH or
//     AUDIT_CWD records come (no audit rules: items=0). A denied rename
//     across directories (fs.refer) logs two access records in one event.
//     With a domain's first logged denial comes AUDIT_LANDLOCK_DOMAIN
//     (1424) "status=allocated mode=enforcing" with pid, uid, exe and comm
//     of the process that created the domain; when the domain is freed,
//     "status=deallocated denials=N" (N counts unlogged denials too). A
//     domain that never logged gets neither.
//   - Strings (comm, exe, path, dev, ocomm) are "quoted" when printable
//     without '"' or space, upper-case hex otherwise (comm=782079227A is
//     `x y"z`); unset values print as (null) or (none).
//   - Grouping: records of one event share the serial of their
//     audit(SECONDS.MILLIS:SERIAL) stamp. For a process with an audit
//     context a Landlock denial is ACCESS (+ DOMAIN), then at syscall exit
//     AUDIT_SYSCALL (pid, ppid, uids, comm, exe, syscall, exit),
//     AUDIT_PROCTITLE and AUDIT_EOE (1320), all with one serial. A process
//     has an audit context when it was forked after audit was first
//     enabled since boot, unless a task filter rule says "never". Under a
//     task,never rule (measured) no SYSCALL or EOE comes, and ACCESS and
//     DOMAIN take consecutive serials of their own: then the denying
//     process is known only through its domain's creator. Read waits
//     EventWait (100 ms) for the end of an event, then delivers what it
//     has.
//   - Cost of enabling audit: the first AUDIT_SET enabled=1 since boot is
//     for good (audit_ever_enabled): every process forked afterwards gets
//     an audit context and its syscalls take the audit path, enabled or
//     not. getppid(2), best of 4 runs of 2,000,000 calls: 199 and 202 ns
//     before audit was ever enabled; afterwards 195, 196, 231 ns in
//     processes without a context (task,never rule present) against 335,
//     372, 405 ns with one (rule removed), alternating. While enabled,
//     other subsystems log too (AUDIT_BPF 1334 for every BPF program load
//     and unload on the host, ANOM_ABEND 1701 for crashes, CONFIG_CHANGE
//     1305 for the AUDIT_SET itself), and the reader skips them.
//   - Without auditd every record, audit enabled or not, goes to the kernel
//     log at KERN_NOTICE and is dropped (no hold queue without audit= on
//     the command line), rate-limited by printk_ratelimit (10 per 5 s here,
//     "kauditd_printk_skb: N callbacks suppressed"); "quiet" keeps them off
//     the console. Suppressed printks do not count as lost.
//   - Backlog: at most 64 records wait for kauditd; a process that logs
//     beyond waits. A 100,000-denial flood raised backlog_wait_time_actual
//     by about 400 jiffies and lost stayed 0.
//   - Losses on the socket: a 21,000-record burst into the default 208 KiB
//     buffer arrived as 17,630 records and 6 ENOBUFS; with SO_RCVBUFFORCE
//     8 MiB (what Open asks for) 40,000 of 40,000 arrived. After an overrun
//     netlink drops everything for the socket until its queue is empty.
//     The kernel's lost counter does not count these. Serials came
//     contiguous in every capture, so counting missing serials is exact: a
//     reader stalled 3 s through a 100,011-record flood received 20,175 and
//     reported 79,836 missing and one overrun.
//
// # Decisions
//
// Open enables audit when it is off and Close does not turn it off again: a
// daemon needs it for as long as it runs, another reader may rely on it,
// and turning it off would not take back the per-syscall cost, which stays
// with every process forked since (only a task,never rule does, at the
// price of the Landlock denier's pid). EnabledAudit tells whether Open
// enabled it; SetEnabled(false) restores, as the tests do.
package audit
