package bundle

// Kernel features a bundle can require. The launcher maps each to the layer
// that needs it: a missing feature fails the launch unless that layer is
// listed in best_effort.
const (
	FeatureSeccomp         = "seccomp-filter"    // seccomp(2) with SECCOMP_FILTER_FLAG_TSYNC (3.17)
	FeatureSeccompLog      = "seccomp-log"       // SECCOMP_FILTER_FLAG_LOG and SECCOMP_RET_LOG (4.14)
	FeatureLandlock        = "landlock-abi-6"    // every filesystem right up to ioctl_dev, and scopes (6.12)
	FeatureLandlockNetwork = "landlock-network"  // TCP bind/connect rules, ABI 4 (6.7): the rootless network fence
	FeatureCgroupBPF       = "cgroup-bpf-socket" // cgroup sock_addr hooks incl. unix sockets (6.7)
	FeatureBPFLSM          = "bpf-lsm"           // BPF LSM programs, for deny rules that must cover files created later
)

// Features computes what enforcement of b needs.
func Features(b *Bundle) []string {
	out := []string{FeatureSeccomp, FeatureSeccompLog, FeatureLandlock, FeatureLandlockNetwork, FeatureCgroupBPF}
	if len(b.Filesystem.Deny) > 0 {
		out = append(out, FeatureBPFLSM)
	}
	return out
}
