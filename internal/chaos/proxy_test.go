package chaos

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echo serves lines back on a loopback port.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through c and returns how long the echo took.
func roundTrip(t *testing.T, c net.Conn, within time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	_ = c.SetDeadline(start.Add(within))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestProxyFaults(t *testing.T) {
	e := &Env{Dir: t.TempDir(), log: t.Logf}
	t.Cleanup(e.Close)
	p, err := e.StartProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	if d, err := roundTrip(t, c, time.Second); err != nil || d > 200*time.Millisecond {
		t.Fatalf("pass: %s, %v", d, err)
	}

	p.Set(Delay, 200*time.Millisecond)
	if d, err := roundTrip(t, c, 2*time.Second); err != nil || d < 400*time.Millisecond {
		t.Fatalf("delay 200ms each way: round trip %s, %v", d, err)
	}

	p.Set(Blackhole, 0)
	if _, err := roundTrip(t, c, 300*time.Millisecond); err == nil {
		t.Fatal("black hole answered")
	}
	p.Set(Pass, 0)
	c2 := dial() // the old connection's stream is out of step after the timeout
	if _, err := roundTrip(t, c2, time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}

	p.Set(Drop, 0)
	if _, err := roundTrip(t, c2, time.Second); err == nil {
		t.Fatal("dropped connection still answers")
	}
	// A new connection is reset at once: at connect, or at the first use.
	if c3, err := net.Dial("tcp", p.Addr()); err == nil {
		defer c3.Close()
		if _, err := roundTrip(t, c3, time.Second); err == nil {
			t.Fatal("new connection answered while dropping")
		}
	}
	p.Set(Pass, 0)
	if _, err := roundTrip(t, dial(), time.Second); err != nil {
		t.Fatalf("after drop healed: %v", err)
	}
}
