//go:build ignore

/* Paddock's cgroup socket hooks, one collection: the inet family (connect,
 * sendmsg, recvmsg, getpeername, bind, sock_create, sockops) and the unix
 * family (connect_unix, sendmsg_unix). */
#include "common.h"
#include "inet.h"
#include "unix.h"
