package bpf

// The BPF object and its Go bindings are generated and committed; CI
// regenerates them and fails on a difference. vmlinux.h sits at the
// repository root.
//go:generate go tool bpf2go -tags linux -target bpfel -no-global-types -type event -type orig -type peer -type sandbox -type settings -type port_key -type port_rule -type unix_key -type unix_rule -type fs_event -type fs_policy -type fs_glob -type fs_name_key -type fs_name_val -type fs_inode_key -type fs_inode_val -type fs_query -type fs_answer -type exec_event -type exit_event -type proc_ancestor hooks paddock.c -- -I.. -O2 -g -Wall -Werror
