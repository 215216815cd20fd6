package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

type sentinelOf struct {
	master *Server
	name   string
}

// StartSentinel runs a Sentinel (redis-server --sentinel) watching master
// under name, with a quorum of 1.
func StartSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	Require(t, "redis-server")
	s := &Server{t: t, Dir: t.TempDir(), sentinel: &sentinelOf{master: master, name: name}}
	s.startOnFreePort(false)
	return s
}

func (s *Server) sentinelArgs() []string {
	return []string{filepath.Join(s.Dir, "sentinel.conf"), "--sentinel"}
}

func (s *Server) writeSentinelConf() error {
	m := s.sentinel
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 1000\n",
		s.Port, s.Dir, filepath.Join(s.Dir, "redis.log"), m.name, m.master.Port, m.name)
	if m.master.Password != "" {
		conf += "sentinel auth-pass " + m.name + " " + m.master.Password + "\n"
	}
	return os.WriteFile(filepath.Join(s.Dir, "sentinel.conf"), []byte(conf), 0o600)
}
