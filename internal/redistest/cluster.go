package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real processes, created with
// redis-cli --cluster create.
type Cluster struct {
	t        testing.TB
	Nodes    []*Server
	Password string
}

// StartCluster starts masters*(1+replicas) nodes and joins them; it returns
// once every node reports cluster_state:ok and knows every other node, and
// every replica has synchronised with its master (a replica that never did
// refuses to be promoted when its master dies).
func StartCluster(t testing.TB, masters, replicas int, opts ...Option) *Cluster {
	t.Helper()
	Require(t, "redis-server", "redis-cli")
	c := &Cluster{t: t}
	n := masters * (1 + replicas)
	for i := 0; i < n; i++ {
		s := &Server{t: t, Dir: t.TempDir()}
		for _, o := range opts {
			o(s)
		}
		s.args = append(s.args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-announce-ip", "127.0.0.1")
		s.startOnFreePort(true)
		c.Password = s.Password
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
	if c.Password != "" {
		args = append(args, "-a", c.Password, "--no-auth-warning")
	}
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(n)
	return c
}

// Addrs lists every node's address (masters first, as created).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// Client returns a go-redis cluster client for direct inspection.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: c.Password})
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func (c *Cluster) waitHealthy(n int) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	want := fmt.Sprintf("cluster_known_nodes:%d", n)
	for time.Now().Before(deadline) {
		ok := true
		for _, s := range c.Nodes {
			info, err := s.clusterInfo()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, want) || !s.replicaInSync() {
				ok = false
				break
			}
		}
		if ok && c.slotsAgree() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("cluster did not become healthy within 2m")
}

// slotsAgree checks that a cluster client can write a key to every master.
func (c *Cluster) slotsAgree() bool {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: c.Password, MaxRedirects: 0})
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i := 0; i < 16; i++ {
		if err := cc.Set(ctx, fmt.Sprintf("redistest:probe:%d", i), "1", time.Second).Err(); err != nil {
			return false
		}
	}
	return true
}

// replicaInSync is true for a master, and for a replica whose link to its
// master is up.
func (s *Server) replicaInSync() bool {
	cl := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, MaxRetries: -1})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := cl.Info(ctx, "replication").Result()
	return err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up"))
}

func (s *Server) clusterInfo() (string, error) {
	cl := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, MaxRetries: -1})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return cl.ClusterInfo(ctx).Result()
}

// MasterOf returns the node that serves key's slot now.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: c.Password})
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node, err := cc.MasterForKey(ctx, key)
	if err != nil {
		c.t.Fatalf("finding the master of %s: %v", key, err)
	}
	for _, s := range c.Nodes {
		if s.Addr() == node.Options().Addr {
			return s
		}
	}
	c.t.Fatalf("the master of %s, %s, is not a node of this cluster", key, node.Options().Addr)
	return nil
}

// ReplicaOf returns a replica of master, nil when it has none.
func (c *Cluster) ReplicaOf(master *Server) *Server {
	c.t.Helper()
	for _, s := range c.Nodes {
		if s == master {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, MaxRetries: -1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cl.Info(ctx, "replication").Result()
		cancel()
		cl.Close()
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, fmt.Sprintf("master_port:%d\r", master.Port)) {
			return s
		}
	}
	return nil
}

// WaitReplicated returns once master's replica has received every write
// the master has taken so far (its replication offset has reached the
// master's). Redis replicates asynchronously: a write acknowledged an
// instant before its master dies may be missing on the replica promoted
// in its place, so a test of what survives a failover, rather than of
// that loss, waits for this before it stops the master.
func (c *Cluster) WaitReplicated(master *Server) {
	c.t.Helper()
	replica := c.ReplicaOf(master)
	if replica == nil {
		c.t.Fatalf("%s has no replica", master.Addr())
	}
	clients := map[*Server]*redis.Client{}
	defer func() {
		for _, cl := range clients {
			_ = cl.Close()
		}
	}()
	offset := func(s *Server, field string) (int64, error) {
		cl := clients[s]
		if cl == nil {
			cl = redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, MaxRetries: -1})
			clients[s] = cl
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := cl.Info(ctx, "replication").Result()
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				var n int64
				_, err := fmt.Sscan(v, &n)
				return n, err
			}
		}
		return 0, fmt.Errorf("%s: no %s in INFO replication", s.Addr(), field)
	}
	want, err := offset(master, "master_repl_offset")
	if err != nil {
		c.t.Fatalf("reading %s's replication offset: %v", master.Addr(), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := offset(replica, "slave_repl_offset")
		if err == nil && got >= want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("replica %s at offset %d (%v), master %s at %d: not caught up within 10s", replica.Addr(), got, err, master.Addr(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
