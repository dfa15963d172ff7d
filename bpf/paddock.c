//go:build ignore

/* Paddock's hooks, one collection: the cgroup socket hooks of the inet
 * family (connect, sendmsg, recvmsg, getpeername, bind, sock_create,
 * sockops) and the unix family (connect_unix, sendmsg_unix), the BPF-LSM
 * filesystem hooks (deny rules), and the process exec and exit tracepoints
 * (records only). */
#include "common.h"
#include "inet.h"
#include "unix.h"
#include "fs.h"
#include "proc.h"
