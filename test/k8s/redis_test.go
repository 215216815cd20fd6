package k8s

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redistest"
)

// The chart's Redis files (redis.conf, start.sh, create-cluster.sh) run here
// against real redis-server processes: kwok runs no containers, so this is
// where their behaviour is proven.

const testRedisPassword = "chart-Test_pass.word-0123456789"

// redisFiles renders the chart and returns the Redis ConfigMap's data.
func redisFiles(t *testing.T, set ...string) map[string]string {
	t.Helper()
	tools := RequireTools(t)
	objs := renderObjects(t, tools, valuesCase{Name: "redis", Set: set})
	cm := Find(objs, "ConfigMap", "-redis")
	if len(cm) != 1 {
		t.Fatalf("want one Redis ConfigMap, got %d", len(cm))
	}
	out := map[string]string{}
	for k, v := range cm[0].Map("data") {
		out[k], _ = v.(string)
	}
	return out
}

// chartRedis is one redis-server started by the chart's start.sh.
type chartRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	env  []string
}

// localConf adapts the rendered redis.conf to a test process: loopback,
// a free port, a temporary data directory. Everything else stays.
func localConf(conf string, port int, dir string) string {
	conf = regexp.MustCompile(`(?m)^bind .*$`).ReplaceAllString(conf, "bind 127.0.0.1 -::1")
	conf = regexp.MustCompile(`(?m)^port 6379$`).ReplaceAllString(conf, "port "+strconv.Itoa(port))
	conf = strings.ReplaceAll(conf, "/data", dir)
	return conf + "\nlogfile " + filepath.Join(dir, "redis.log") + "\n"
}

func startChartRedis(t *testing.T, files map[string]string, port int, announce string) *chartRedis {
	t.Helper()
	dir := t.TempDir()
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(localConf(files["redis.conf"], port, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := filepath.Join(dir, "start.sh")
	if err := os.WriteFile(start, []byte(files["start.sh"]), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &chartRedis{t: t, port: port, dir: dir, env: []string{
		"REDIS_CONF=" + confPath, "REDIS_DATA=" + dir, "REDIS_PASSWORD=" + testRedisPassword,
	}}
	if announce != "" {
		r.env = append(r.env, "REDIS_ANNOUNCE_HOSTNAME="+announce)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *chartRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *chartRedis) start() {
	r.t.Helper()
	cmd := exec.Command("sh", filepath.Join(r.dir, "start.sh"))
	cmd.Env = append(os.Environ(), r.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: r.addr(), Password: testRedisPassword, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("redis from start.sh on %d did not answer: %v\n%s", r.port, err, tail(string(log), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM (Redis saves nodes.conf and AOF) and waits.
func (r *chartRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// freeClusterPort finds a port whose cluster bus port (+10000) is free too.
func freeClusterPort(t *testing.T, taken map[int]bool) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 > 65535 || taken[p] || taken[p+10000] {
			continue
		}
		if bl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			bl.Close()
			taken[p], taken[p+10000] = true, true
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

func info(t *testing.T, c *redis.Client, section, field string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(field) + `:(.*?)\r?$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("INFO %s has no %s", section, field)
	}
	return m[1]
}

// TestChartRedisStandalone: the rendered redis.conf and start.sh give a
// Redis with the password from the environment, maxmemory and LRU eviction,
// AOF on and dangerous commands gone; filling it evicts instead of failing.
func TestChartRedisStandalone(t *testing.T) {
	redistest.Require(t, "redis-server", "redis-cli")
	files := redisFiles(t, "redis.maxmemory=4mb")
	r := startChartRedis(t, files, freeClusterPort(t, map[int]bool{}), "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	anon := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer anon.Close()
	if err := anon.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("write without the password: %v, want NOAUTH", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr(), Password: testRedisPassword})
	defer c.Close()
	if got := info(t, c, "memory", "maxmemory"); got != strconv.Itoa(4*1024*1024) {
		t.Errorf("maxmemory = %s, want 4mb", got)
	}
	if got := info(t, c, "memory", "maxmemory_policy"); got != "allkeys-lru" {
		t.Errorf("maxmemory_policy = %s", got)
	}
	if got := info(t, c, "persistence", "aof_enabled"); got != "1" {
		t.Errorf("aof_enabled = %s", got)
	}
	for _, cmd := range [][]any{{"FLUSHALL"}, {"FLUSHDB"}, {"KEYS", "*"}, {"CONFIG", "GET", "maxmemory"}, {"DEBUG", "SLEEP", "0"}, {"SHUTDOWN"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown command") {
			t.Errorf("%v: %v, want unknown command", cmd, err)
		}
	}
	// 10 MB into a 4 MB Redis: writes keep succeeding, old keys are evicted.
	val := strings.Repeat("x", 10*1024)
	for i := 0; i < 1000; i++ {
		if err := c.Set(ctx, fmt.Sprintf("fill:%d", i), val, 0).Err(); err != nil {
			t.Fatalf("write %d into a full Redis: %v (want eviction, not OOM errors)", i, err)
		}
	}
	if n, _ := strconv.Atoi(info(t, c, "stats", "evicted_keys")); n == 0 {
		t.Error("no keys evicted after writing past maxmemory")
	}
}

// TestChartRedisCluster: six nodes started by start.sh, formed by the
// chart's create-cluster.sh into 3 masters + 3 replicas; a second run
// changes nothing; after every node restarts with its peers' addresses
// stale in nodes.conf, start.sh repairs them from the announced hostnames
// and the cluster is whole again.
func TestChartRedisCluster(t *testing.T) {
	redistest.Require(t, "redis-server", "redis-cli")
	files := redisFiles(t, "redis.architecture=cluster", "redis.persistence.enabled=false")
	taken := map[int]bool{}
	var nodes []*chartRedis
	var addrs []string
	for i := 0; i < 6; i++ {
		n := startChartRedis(t, files, freeClusterPort(t, taken), "localhost")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	script := filepath.Join(t.TempDir(), "create-cluster.sh")
	if err := os.WriteFile(script, []byte(files["create-cluster.sh"]), 0o755); err != nil {
		t.Fatal(err)
	}
	create := Cmd{Bin: "sh", Args: []string{script}, Timeout: 3 * time.Minute, Env: []string{
		"NODES=" + strings.Join(addrs, " "), "REPLICAS=1", "REDISCLI_AUTH=" + testRedisPassword,
	}}
	out := create.Must(t)
	if !strings.Contains(out, "cluster formed") {
		t.Fatalf("create-cluster.sh: %s", out)
	}
	// Roles reach every node by gossip within a few heartbeats.
	deadline := time.Now().Add(30 * time.Second)
	for {
		masters, replicas := clusterRoles(t, addrs[0])
		if masters == 3 && replicas == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster has %d masters and %d replicas, want 3 and 3:\n%s", masters, replicas, clusterNodes(t, addrs[0]))
		}
		time.Sleep(200 * time.Millisecond)
	}
	before := clusterNodeIDs(t, addrs[0])
	out = create.Must(t)
	if !strings.Contains(out, "nothing to do") {
		t.Fatalf("second create-cluster.sh run did not recognise the cluster: %s", out)
	}
	if after := clusterNodeIDs(t, addrs[0]); after != before {
		t.Fatalf("second run changed the cluster:\n%s\n%s", before, after)
	}
	useCluster(t, addrs, "before restart")

	// Every pod restarts with a new IP: simulate by stopping all nodes and
	// making every peer address in nodes.conf stale (127.0.0.2: nothing
	// listens there). start.sh must repair them from the hostnames.
	for _, n := range nodes {
		n.stop()
	}
	for _, n := range nodes {
		p := filepath.Join(n.dir, "nodes.conf")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), ",localhost") {
			t.Fatalf("nodes.conf does not record the announced hostname:\n%s", b)
		}
		stale := strings.ReplaceAll(string(b), "127.0.0.1:", "127.0.0.2:")
		if err := os.WriteFile(p, []byte(stale), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.start()
	}
	waitClusterOK(t, addrs)
	for _, n := range nodes {
		b, _ := os.ReadFile(filepath.Join(n.dir, "nodes.conf"))
		if strings.Contains(string(b), "127.0.0.2") {
			t.Errorf("nodes.conf of %s still has stale addresses", n.addr())
		}
	}
	if got := clusterNodeIDs(t, addrs[0]); got != before {
		t.Errorf("nodes after restart differ:\n%s\n%s", before, got)
	}
	useCluster(t, addrs, "after restart")
}

func clusterNodes(t *testing.T, addr string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: testRedisPassword})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clusterRoles(t *testing.T, addr string) (masters, replicas int) {
	for _, line := range strings.Split(strings.TrimSpace(clusterNodes(t, addr)), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.Contains(f[2], "master"):
			masters++
		case strings.Contains(f[2], "slave"):
			replicas++
		}
	}
	return
}

// clusterNodeIDs lists node IDs with their role, sorted (stable across
// restarts and re-runs).
func clusterNodeIDs(t *testing.T, addr string) string {
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(clusterNodes(t, addr)), "\n") {
		f := strings.Fields(line)
		role := "master"
		if strings.Contains(f[2], "slave") {
			role = "replica"
		}
		ids = append(ids, f[0]+" "+role)
	}
	sortStrings(ids)
	return strings.Join(ids, "\n")
}

func waitClusterOK(t *testing.T, addrs []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, Password: testRedisPassword})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s, err := c.ClusterInfo(ctx).Result()
			cancel()
			if err == nil && strings.Contains(s, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("%s never reached cluster_state:ok (%v):\n%s\n%s", a, err, s, clusterNodes(t, a))
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.Close()
	}
}

// useCluster writes and reads keys over all slots through a cluster client
// that follows the announced hostnames.
func useCluster(t *testing.T, addrs []string, when string) {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: testRedisPassword})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("k:%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("%s: SET %s: %v", when, k, err)
		}
		if v, err := c.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("%s: GET %s = %v, %v", when, k, v, err)
		}
	}
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		for _, n := range s.Nodes {
			if !strings.HasPrefix(n.Addr, "localhost:") {
				t.Fatalf("%s: CLUSTER SLOTS announces %s, want the hostname (localhost:port)", when, n.Addr)
			}
		}
	}
}
