package chaos

import (
	"net"
	"sync"
	"time"
)

// ProxyMode is what the proxy does to the traffic between Redlane and Redis.
type ProxyMode int

// The network faults the proxy can inject.
const (
	// Pass forwards everything at once.
	Pass ProxyMode = iota
	// Drop resets every open connection and resets new ones as they come,
	// like a peer that restarts or a firewall sending RSTs.
	Drop
	// Delay holds every chunk of data, each way, for the proxy's delay.
	Delay
	// Blackhole accepts connections but forwards nothing and stops reading,
	// like a partition that drops packets: writes fill the buffers, reads
	// wait. When it heals, what was buffered flows again.
	Blackhole
)

func (m ProxyMode) String() string {
	return [...]string{"pass", "drop", "delay", "blackhole"}[m]
}

// Proxy is a TCP proxy on loopback in front of one Redis address.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cond  *sync.Cond // broadcast when the mode changes
	mode  ProxyMode
	delay time.Duration
	links map[*link]struct{}
	done  bool
}

// link is one proxied connection pair.
type link struct {
	client, server net.Conn
	once           sync.Once
}

func (l *link) close(reset bool) {
	l.once.Do(func() {
		for _, c := range []net.Conn{l.client, l.server} {
			if c == nil {
				continue
			}
			if tc, ok := c.(*net.TCPConn); ok && reset {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			_ = c.Close()
		}
	})
}

// StartProxy listens on a free loopback port and forwards to target.
func (e *Env) StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, links: map[*link]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	e.onClose(p.Close)
	return p, nil
}

// Addr is where Redlane should connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set switches the fault (delay is used by Delay only). Drop resets every
// open connection at once.
func (p *Proxy) Set(mode ProxyMode, delay time.Duration) {
	p.mu.Lock()
	p.mode, p.delay = mode, delay
	var reset []*link
	if mode == Drop {
		for l := range p.links {
			reset = append(reset, l)
			delete(p.links, l)
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, l := range reset {
		l.close(true)
	}
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.done = true
	links := p.links
	p.links = map[*link]struct{}{}
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.ln.Close()
	for l := range links {
		l.close(false)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	l := &link{client: c}
	p.mu.Lock()
	if p.done || p.mode == Drop {
		p.mu.Unlock()
		l.close(true)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	// A black-holed connection is accepted but not forwarded until it heals.
	if !p.gate(l) {
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.drop(l)
		return
	}
	p.mu.Lock()
	l.server = s
	_, alive := p.links[l]
	p.mu.Unlock()
	if !alive { // dropped while dialing
		l.close(true)
		return
	}
	go p.pipe(l, c, s)
	p.pipe(l, s, c)
}

// gate waits while the proxy black-holes; false when l was dropped or the
// proxy closed meanwhile.
func (p *Proxy) gate(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == Blackhole && !p.done {
		if _, ok := p.links[l]; !ok {
			return false
		}
		p.cond.Wait()
	}
	_, ok := p.links[l]
	return ok && !p.done
}

func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close(true)
}

// chunk is data read at a time, forwarded once its delay has passed.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst through the current fault: the reader stops while
// black-holed (so buffers fill as in a real partition) and stamps each chunk
// with its due time; the writer sends chunks in order once due.
func (p *Proxy) pipe(l *link, src, dst net.Conn) {
	q := make(chan chunk, 1024)
	go func() {
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.data); err != nil {
				p.drop(l)
				for range q { // let the reader finish
				}
				return
			}
		}
	}()
	defer close(q)
	buf := make([]byte, 32<<10)
	for {
		if !p.gate(l) {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(l) {
				return
			}
			p.mu.Lock()
			due := time.Now()
			if p.mode == Delay {
				due = due.Add(p.delay)
			}
			p.mu.Unlock()
			q <- chunk{data: append([]byte(nil), buf[:n]...), due: due}
		}
		if err != nil {
			p.drop(l)
			return
		}
	}
}
