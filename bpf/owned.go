package bpf

// owned is what the policy maps hold for one sandbox cgroup: the keys this
// package wrote for it. Replacing or removing a sandbox's policy deletes
// exactly these instead of walking the maps, since a walk of a hash map
// visits every bucket, full or not: 2^18 of them for the file maps, on
// every sandbox's creation and removal.
type owned struct {
	ports  []hooksPortKey
	paths  []hooksUnixKey
	names  []hooksFsNameKey
	inodes []hooksFsInodeKey
}

// ownedOf returns cg's entry, making an empty one. The caller holds
// h.ownMu.
func (h *Hooks) ownedOf(cg uint64) *owned {
	o := h.owned[cg]
	if o == nil {
		o = &owned{}
		h.owned[cg] = o
	}
	return o
}

// scanOwned fills h.owned from the maps, which an earlier daemon may have
// filled and pinned: the one walk, when the maps are loaded.
func (h *Hooks) scanOwned() {
	h.owned = map[uint64]*owned{}
	m := &h.objs.hooksMaps
	var pk hooksPortKey
	var pv hooksPortRule
	for it := m.LoopbackPorts.Iterate(); it.Next(&pk, &pv); {
		o := h.ownedOf(pk.Cgroup)
		o.ports = append(o.ports, pk)
	}
	var uk hooksUnixKey
	var uv hooksUnixRule
	for it := m.UnixPaths.Iterate(); it.Next(&uk, &uv); {
		o := h.ownedOf(uk.Cgroup)
		o.paths = append(o.paths, uk)
	}
	var nk hooksFsNameKey
	var nv hooksFsNameVal
	for it := m.FsNames.Iterate(); it.Next(&nk, &nv); {
		o := h.ownedOf(nk.Cgroup)
		o.names = append(o.names, nk)
	}
	var ik hooksFsInodeKey
	var iv hooksFsInodeVal
	for it := m.FsInodes.Iterate(); it.Next(&ik, &iv); {
		o := h.ownedOf(ik.Cgroup)
		o.inodes = append(o.inodes, ik)
	}
}
