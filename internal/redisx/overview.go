package redisx

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NodeSummary is what an operator looks at first about one Redis node.
type NodeSummary struct {
	Node             string   `json:"node"`
	Role             string   `json:"role,omitempty"` // master or slave, as INFO says
	Version          string   `json:"version,omitempty"`
	UsedMemoryBytes  int64    `json:"usedMemoryBytes"`
	MaxMemoryBytes   int64    `json:"maxmemoryBytes"` // 0: no limit
	MaxMemoryPolicy  string   `json:"maxmemoryPolicy,omitempty"`
	EvictedKeys      int64    `json:"evictedKeys"`
	ConnectedClients int64    `json:"connectedClients"`
	Keys             int64    `json:"keys"`
	UptimeSeconds    int64    `json:"uptimeSeconds"`
	Slots            []string `json:"slots,omitempty"` // Cluster masters: the slot ranges they own, e.g. "0-5460"
	Error            string   `json:"error,omitempty"`
}

// Summary reads the INFO of every node (through the cache, so it costs
// Redis nothing more than the metrics do) and, in a Cluster, which slots
// each master owns.
func (ic *InfoCache) Summary(ctx context.Context) []NodeSummary {
	nodes := ic.Nodes(ctx)
	slots := map[string][]string{}
	if cc, ok := ic.client.UniversalClient.(*redis.ClusterClient); ok {
		if ss, err := cc.ClusterSlots(ctx).Result(); err == nil {
			sort.Slice(ss, func(i, j int) bool { return ss[i].Start < ss[j].Start })
			for _, s := range ss {
				if len(s.Nodes) > 0 {
					slots[s.Nodes[0].Addr] = append(slots[s.Nodes[0].Addr], strconv.Itoa(s.Start)+"-"+strconv.Itoa(s.End))
				}
			}
		}
	}
	out := make([]NodeSummary, 0, len(nodes))
	for _, n := range nodes {
		s := NodeSummary{Node: n.Node, Slots: slots[n.Node]}
		if n.Err != nil {
			s.Error = n.Err.Error()
			out = append(out, s)
			continue
		}
		num := func(name string) int64 { f, _ := n.Float(name); return int64(f) }
		s.Role, s.Version, s.MaxMemoryPolicy = n.Fields["role"], n.Fields["redis_version"], n.Fields["maxmemory_policy"]
		s.UsedMemoryBytes, s.MaxMemoryBytes = num("used_memory"), num("maxmemory")
		s.EvictedKeys, s.ConnectedClients, s.UptimeSeconds = num("evicted_keys"), num("connected_clients"), num("uptime_in_seconds")
		for k := range n.Fields {
			if strings.HasPrefix(k, "db") && strings.HasSuffix(k, ".keys") {
				s.Keys += num(k)
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
