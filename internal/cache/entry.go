package cache

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/cespare/xxhash/v2"
)

// An entry is what the cache stores under an entry key: a 29-byte header
// and the body, the exact bytes served to clients.
//
//	[0]      kind: 'F' found, 'N' negative (the record does not exist)
//	[1:9]    fresh until, Unix milliseconds (big endian); after it the entry is stale
//	[9:13]   how long the load took, milliseconds (XFetch's delta)
//	[13:21]  xxhash64 of the body, the ETag
//	[21:29]  generation of a response group when written (0 for records)
//	[29:]    body
type entry struct {
	found      bool
	freshUntil time.Time
	delta      time.Duration
	hash       uint64
	gen        uint64
	body       []byte
}

const headerLen = 29

var errBadEntry = errors.New("cache: malformed entry")

func newEntry(body []byte, found bool, fresh time.Duration, delta time.Duration) entry {
	return entry{found: found, freshUntil: time.Now().Add(fresh), delta: delta, hash: xxhash.Sum64(body), body: body}
}

func (e entry) encode() []byte {
	b := make([]byte, headerLen+len(e.body))
	b[0] = 'N'
	if e.found {
		b[0] = 'F'
	}
	binary.BigEndian.PutUint64(b[1:9], uint64(e.freshUntil.UnixMilli()))
	binary.BigEndian.PutUint32(b[9:13], uint32(min(e.delta.Milliseconds(), 1<<31)))
	binary.BigEndian.PutUint64(b[13:21], e.hash)
	binary.BigEndian.PutUint64(b[21:29], e.gen)
	copy(b[headerLen:], e.body)
	return b
}

// decodeEntry reads an entry; body aliases b.
func decodeEntry(b []byte) (entry, error) {
	if len(b) < headerLen || (b[0] != 'F' && b[0] != 'N') {
		return entry{}, errBadEntry
	}
	return entry{
		found:      b[0] == 'F',
		freshUntil: time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:9]))),
		delta:      time.Duration(binary.BigEndian.Uint32(b[9:13])) * time.Millisecond,
		hash:       binary.BigEndian.Uint64(b[13:21]),
		gen:        binary.BigEndian.Uint64(b[21:29]),
		body:       b[headerLen:],
	}, nil
}

// ETag is the strong validator of body, as the cache computes it for its
// entries: "<16 hex digits>" of its xxhash64.
func ETag(body []byte) string { return entry{hash: xxhash.Sum64(body)}.etag() }

// etag is the strong validator of the body: "<16 hex digits>".
func (e entry) etag() string {
	var buf [18]byte
	buf[0], buf[17] = '"', '"'
	var h [8]byte
	binary.BigEndian.PutUint64(h[:], e.hash)
	hex.Encode(buf[1:17], h[:])
	return string(buf[:])
}
