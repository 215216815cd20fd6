package chaos

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodeTimeout is cluster-node-timeout: a master unreachable this long
// is marked failing, and its replica is promoted shortly after.
const clusterNodeTimeout = 2 * time.Second

// Cluster is a Redis Cluster of real processes, created with redis-cli
// --cluster create.
type Cluster struct {
	Nodes []*Redis
}

// StartCluster starts masters*(1+replicas) nodes and joins them; it returns
// once every node reports cluster_state:ok and a client can write to every
// master. cluster-replica-validity-factor 0 lets a replica that was cut off
// for a while still be promoted (the replica-cut scenario relies on it).
func (e *Env) StartCluster(ctx context.Context, masters, replicas int) (*Cluster, error) {
	c := &Cluster{}
	n := masters * (1 + replicas)
	for i := 0; i < n; i++ {
		r, err := e.newRedis(ctx, fmt.Sprintf("node%d", i), true,
			"--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout/time.Millisecond)),
			"--cluster-announce-ip", "127.0.0.1", "--cluster-replica-validity-factor", "0",
			"--repl-diskless-sync-delay", "0")
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, r)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.healthy(ctx, n) {
			return c, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("cluster did not become healthy within 30s")
}

// Addrs lists every node's address.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		out[i] = r.Addr()
	}
	return out
}

// healthy: every node agrees the cluster is ok and knows every other one,
// every replica has finished its initial sync (a replica that has not is
// no copy at all), and a client can write to every master.
func (c *Cluster) healthy(ctx context.Context, n int) bool {
	for _, r := range c.Nodes {
		info, err := r.Client().ClusterInfo(ctx).Result()
		if err != nil || infoField(info, "cluster_state") != "ok" || infoField(info, "cluster_known_nodes") != strconv.Itoa(n) {
			return false
		}
		repl, err := r.Client().Info(ctx, "replication").Result()
		if err != nil || (infoField(repl, "role") == "slave" &&
			(infoField(repl, "master_link_status") != "up" || infoField(repl, "master_sync_in_progress") != "0")) {
			return false
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), MaxRedirects: 0})
	defer cc.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for i := 0; i < 16; i++ {
		if cc.Set(wctx, fmt.Sprintf("chaos:probe:%d", i), "1", time.Second).Err() != nil {
			return false
		}
	}
	return true
}

// streamIDs reads every entry id of a stream straight from the Cluster,
// for when Redlane cannot serve history.
func (c *Cluster) streamIDs(ctx context.Context, key string) ([]string, error) {
	var addrs []string
	for _, r := range c.Nodes {
		if r.Pid() != 0 {
			addrs = append(addrs, r.Addr())
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClientName: "chaos"})
	defer cc.Close()
	xs, err := cc.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(xs))
	for i, x := range xs {
		ids[i] = x.ID
	}
	return ids, nil
}

// nodeView is one line of CLUSTER NODES.
type nodeView struct {
	id, addr, master string
	isMaster, failed bool
	slots            [][2]int
}

// view reads CLUSTER NODES from the first node that answers among those
// still running.
func (c *Cluster) view(ctx context.Context) ([]nodeView, error) {
	var lastErr error = errors.New("no node running")
	for _, r := range c.Nodes {
		if r.Pid() == 0 {
			continue
		}
		s, err := r.Client().ClusterNodes(ctx).Result()
		if err != nil {
			lastErr = err
			continue
		}
		return parseClusterNodes(s), nil
	}
	return nil, lastErr
}

func parseClusterNodes(s string) []nodeView {
	var out []nodeView
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		v := nodeView{id: f[0], addr: addr, master: f[3],
			isMaster: strings.Contains(f[2], "master"), failed: strings.Contains(f[2], "fail")}
		for _, sl := range f[8:] {
			if strings.HasPrefix(sl, "[") {
				continue // a slot being migrated
			}
			a, b, found := strings.Cut(sl, "-")
			lo, _ := strconv.Atoi(a)
			hi := lo
			if found {
				hi, _ = strconv.Atoi(b)
			}
			v.slots = append(v.slots, [2]int{lo, hi})
		}
		out = append(out, v)
	}
	return out
}

func (c *Cluster) byAddr(addr string) *Redis {
	for _, r := range c.Nodes {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}

// Slot is the Cluster slot of key, as a node computes it.
func (c *Cluster) Slot(ctx context.Context, key string) (int, error) {
	var lastErr error = errors.New("no node running")
	for _, r := range c.Nodes {
		if r.Pid() == 0 {
			continue
		}
		n, err := r.Client().ClusterKeySlot(ctx, key).Result()
		if err == nil {
			return int(n), nil
		}
		lastErr = err
	}
	return 0, lastErr
}

// Owner is the master that serves slot in the view of a running node.
func (c *Cluster) Owner(ctx context.Context, slot int) (*Redis, error) {
	nodes, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if !n.isMaster || n.failed {
			continue
		}
		for _, r := range n.slots {
			if slot >= r[0] && slot <= r[1] {
				if node := c.byAddr(n.addr); node != nil {
					return node, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no live master serves slot %d", slot)
}

// Masters lists the masters serving slots, in node order.
func (c *Cluster) Masters(ctx context.Context) ([]*Redis, error) {
	nodes, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Redis
	for _, r := range c.Nodes {
		for _, n := range nodes {
			if n.addr == r.Addr() && n.isMaster && !n.failed && len(n.slots) > 0 {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// ReplicaOf is a replica of master. A replica that is still attaching
// (a loaded machine can take seconds after the Cluster formed) is waited
// for, up to 15 s.
func (c *Cluster) ReplicaOf(ctx context.Context, master *Redis) (*Redis, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := c.replicaOf(ctx, master)
		if r != nil || time.Now().After(deadline) {
			return r, err
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func (c *Cluster) replicaOf(ctx context.Context, master *Redis) (*Redis, error) {
	nodes, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	id := ""
	for _, n := range nodes {
		if n.addr == master.Addr() {
			id = n.id
		}
	}
	for _, n := range nodes {
		if id != "" && n.master == id {
			if r := c.byAddr(n.addr); r != nil {
				return r, nil
			}
		}
	}
	return nil, fmt.Errorf("%s has no replica (waited 15 s)", master.Name)
}

// stateOK reports whether every running node says cluster_state:ok and
// places slot on a live master other than dead.
func (c *Cluster) stateOK(ctx context.Context, slot int, dead *Redis) bool {
	for _, r := range c.Nodes {
		if r.Pid() == 0 || r == dead {
			continue
		}
		info, err := r.Client().ClusterInfo(ctx).Result()
		if err != nil || infoField(info, "cluster_state") != "ok" {
			return false
		}
	}
	owner, err := c.Owner(ctx, slot)
	return err == nil && owner != dead
}

// keysOn returns n names (made from format and a counter) whose hash tag
// {name} lands on master, for rooms or queues that must live there.
func (c *Cluster) keysOn(ctx context.Context, master *Redis, format string, n int) ([]string, error) {
	var out []string
	for i := 0; len(out) < n && i < 10000; i++ {
		name := fmt.Sprintf(format, i)
		slot, err := c.Slot(ctx, "{"+name+"}")
		if err != nil {
			return nil, err
		}
		owner, err := c.Owner(ctx, slot)
		if err != nil {
			return nil, err
		}
		if owner == master {
			out = append(out, name)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("found only %d names on %s", len(out), master.Name)
	}
	return out, nil
}
