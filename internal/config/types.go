// Package config defines the RedlaneConfig document: its types, defaults,
// validation, environment overrides, redaction, JSON Schema and live reload.
package config

import "github.com/redlane/redlane/internal/realtime/access"

// APIVersion and Kind identify the document, Kubernetes component-config style.
const (
	APIVersion = "redlane.dev/v1alpha1"
	Kind       = "RedlaneConfig"
)

// Struct tags used across this package:
//
//	reload:"hot"   the field (and everything under it) applies on reload without a restart;
//	               any other field that changes is reported as pending a restart.
//	secret:"true"  the value is redacted wherever the effective config is shown.

// Config is the whole document.
type Config struct {
	APIVersion string `json:"apiVersion" jsonschema_description:"Must be redlane.dev/v1alpha1."`
	Kind       string `json:"kind" jsonschema_description:"Must be RedlaneConfig."`
	Spec       Spec   `json:"spec"`
}

// Spec holds every setting.
type Spec struct {
	Server      Server            `json:"server"`
	Log         Log               `json:"log" reload:"hot"`
	Debug       bool              `json:"debug" jsonschema_description:"Development conveniences: debug logging and detailed error messages (env DEBUG)."`
	Redis       Redis             `json:"redis"`
	Database    Database          `json:"database"`
	Security    Security          `json:"security"`
	Cache       Cache             `json:"cache" reload:"hot"`
	Sessions    Sessions          `json:"sessions" reload:"hot"`
	RateLimiter RateLimiter       `json:"rateLimiter"`
	RateLimits  []RateLimitPolicy `json:"rateLimits,omitempty" reload:"hot" jsonschema_description:"Rate-limit policies; the first policy whose match fits a request applies."`
	Realtime    Realtime          `json:"realtime" reload:"hot"`
	Queue       Queue             `json:"queue" reload:"hot"`
}

// Server configures the HTTP listener.
type Server struct {
	Address           string   `json:"address" jsonschema_description:"Listen address HOST:PORT (flag --address, env PORT override)."`
	ReadTimeout       Duration `json:"readTimeout" jsonschema_description:"Maximum time to read a whole request, body included."`
	ReadHeaderTimeout Duration `json:"readHeaderTimeout" jsonschema_description:"Maximum time to read request headers."`
	WriteTimeout      Duration `json:"writeTimeout" jsonschema_description:"Maximum time to write a response (streaming handlers extend their own)."`
	IdleTimeout       Duration `json:"idleTimeout" jsonschema_description:"How long an idle keep-alive connection stays open."`
	ShutdownTimeout   Duration `json:"shutdownTimeout" jsonschema_description:"Deadline for in-flight requests to finish after SIGTERM."`
	DrainDelay        Duration `json:"drainDelay" jsonschema_description:"After SIGTERM, how long /readyz reports 503 before the listener closes, so load balancers stop sending traffic."`
	MaxBodyBytes      int64    `json:"maxBodyBytes" jsonschema_description:"Largest accepted request body in bytes; larger bodies get 413."`
	TrustedProxies    []string `json:"trustedProxies,omitempty" jsonschema_description:"CIDRs of proxies whose X-Forwarded-For is believed when finding the client IP."`
	CORS              CORS     `json:"cors" reload:"hot"`
}

// CORS configures cross-origin access for browsers.
type CORS struct {
	AllowedOrigins   []string `json:"allowedOrigins,omitempty" jsonschema_description:"Origins allowed to call the API from a browser; empty disables CORS, \"*\" allows any (never with credentials)."`
	AllowedHeaders   []string `json:"allowedHeaders,omitempty" jsonschema_description:"Request headers browsers may send."`
	AllowCredentials bool     `json:"allowCredentials" jsonschema_description:"Allow cookies and Authorization on cross-origin requests."`
	MaxAge           Duration `json:"maxAge" jsonschema_description:"How long browsers may cache a preflight answer."`
}

// Log configures logging.
type Log struct {
	Level  string `json:"level" jsonschema:"enum=debug,enum=info,enum=warn,enum=error" jsonschema_description:"Minimum level: debug, info, warn or error."`
	Format string `json:"format" jsonschema:"enum=auto,enum=json,enum=text" jsonschema_description:"auto (JSON unless stderr is a terminal), json or text."`
}

// Redis configures the one Redis client of the process. With no url, host or
// addrs at all, an embedded in-process Redis is started (development only).
type Redis struct {
	URL            string        `json:"url" secret:"true" jsonschema_description:"redis:// or rediss:// URL of a standalone server (env REDIS_URL). Wins over host/port."`
	Host           string        `json:"host" jsonschema_description:"Standalone server host (env REDIS_HOST)."`
	Port           int           `json:"port" jsonschema_description:"Standalone server port (env REDIS_PORT); 6379 when host is set."`
	DB             int           `json:"db" jsonschema_description:"Database number, standalone and sentinel only (env REDIS_DB)."`
	Addrs          []string      `json:"addrs,omitempty" jsonschema_description:"host:port seeds of a Redis Cluster, or the sentinels when sentinel.masterName is set (env REDIS_ADDRS, comma separated)."`
	ClusterMode    bool          `json:"clusterMode" jsonschema_description:"Treat a single address in addrs as a Cluster seed (e.g. a managed configuration endpoint)."`
	Sentinel       Sentinel      `json:"sentinel"`
	Username       string        `json:"username" jsonschema_description:"ACL user name (env REDIS_USERNAME)."`
	Password       string        `json:"password" secret:"true" jsonschema_description:"Password or ACL password (env REDIS_PASSWORD)."`
	TLS            TLS           `json:"tls"`
	KeyPrefix      string        `json:"keyPrefix" jsonschema_description:"Prefix of every key Redlane writes, so it can share a Redis."`
	PoolSize       int           `json:"poolSize" jsonschema_description:"Connections per node; 0 means 10 per CPU."`
	MinIdleConns   int           `json:"minIdleConns" jsonschema_description:"Idle connections kept open per node."`
	DialTimeout    Duration      `json:"dialTimeout" jsonschema_description:"Timeout for opening a connection."`
	ReadTimeout    Duration      `json:"readTimeout" jsonschema_description:"Socket read timeout of a command."`
	WriteTimeout   Duration      `json:"writeTimeout" jsonschema_description:"Socket write timeout of a command."`
	PoolTimeout    Duration      `json:"poolTimeout" jsonschema_description:"How long a command waits for a free connection (at most commandTimeout)."`
	CommandTimeout Duration      `json:"commandTimeout" jsonschema_description:"Deadline given to any command whose context has none."`
	InfoCacheTTL   Duration      `json:"infoCacheTTL" jsonschema_description:"How long INFO results are reused by /metrics, so scrapes never pile INFO onto Redis."`
	Embedded       EmbeddedRedis `json:"embedded"`
}

// Sentinel selects a sentinel-managed master.
type Sentinel struct {
	MasterName string `json:"masterName" jsonschema_description:"Name of the master the sentinels in addrs watch; enables sentinel mode."`
	Username   string `json:"username" jsonschema_description:"ACL user for the sentinels."`
	Password   string `json:"password" secret:"true" jsonschema_description:"Password of the sentinels (not of the master)."`
}

// TLS configures encrypted connections to Redis.
type TLS struct {
	Enabled            bool   `json:"enabled" jsonschema_description:"Use TLS (implied by a rediss:// URL)."`
	CAFile             string `json:"caFile" jsonschema_description:"PEM file of CAs that sign the server certificate; empty uses the system roots."`
	CertFile           string `json:"certFile" jsonschema_description:"PEM client certificate, for mutual TLS."`
	KeyFile            string `json:"keyFile" jsonschema_description:"PEM client key, for mutual TLS."`
	ServerName         string `json:"serverName" jsonschema_description:"Name expected in the server certificate, when it differs from the host."`
	InsecureSkipVerify bool   `json:"insecureSkipVerify" jsonschema_description:"Skip server certificate checks. Never in production."`
}

// EmbeddedRedis controls the in-process development Redis.
type EmbeddedRedis struct {
	Disabled bool `json:"disabled" jsonschema_description:"Refuse to start an embedded Redis when no Redis is configured (fail instead)."`
}

// Database configures the users database.
type Database struct {
	URL          string   `json:"url" secret:"true" jsonschema_description:"postgres:// URL (env DATABASE_URL); empty means embedded SQLite."`
	SQLitePath   string   `json:"sqlitePath" jsonschema_description:"File of the embedded SQLite database when url is empty; empty keeps it in memory (lost on exit, nothing written to disk)."`
	MaxOpenConns int      `json:"maxOpenConns" jsonschema_description:"Largest number of open database connections (PostgreSQL and file SQLite; in-memory SQLite uses one)."`
	QueryTimeout Duration `json:"queryTimeout" jsonschema_description:"Deadline of one database query, so a stuck database cannot hang a request."`
	SeedUsers    *int     `json:"seedUsers" jsonschema:"oneof_type=integer;null" jsonschema_description:"Demo users (user1..userN, password password123, public) created at start when the embedded SQLite database has no users. Unset (null): 300 in the all-embedded development mode (embedded Redis and in-memory SQLite), none otherwise; a number asks for that many wherever the database is embedded SQLite; 0 creates none. Ignored with a url: use redlane db seed."`
}

// DefaultDemoUsers is how many demo users the all-embedded development mode
// creates when spec.database.seedUsers is unset.
const DefaultDemoUsers = 300

// DemoUsers is how many demo users serve creates in an empty embedded SQLite
// database. Their password is public, so unless spec.database.seedUsers asks
// for them they exist only in the all-embedded development mode (embedded
// Redis and in-memory SQLite), where nothing outlives the process. A server
// on a real Redis is shared, or reachable, and gets none unless asked.
func (d Database) DemoUsers(embeddedRedis bool) int {
	switch {
	case d.URL != "":
		return 0
	case d.SeedUsers != nil:
		return *d.SeedUsers
	case embeddedRedis && d.SQLitePath == "":
		return DefaultDemoUsers
	}
	return 0
}

// Security holds the process secrets.
type Security struct {
	SecretKey   string `json:"secretKey" secret:"true" jsonschema_description:"Server secret used to derive keys (env SECRET_KEY); at least 32 characters when set."`
	AdminToken  string `json:"adminToken" secret:"true" jsonschema_description:"Bearer token that grants admin endpoints (env ADMIN_TOKEN); at least 32 characters. Without it, admin endpoints are closed except in embedded development mode."`
	ViewerToken string `json:"viewerToken" secret:"true" jsonschema_description:"Bearer token that grants the admin endpoints that only read (GET and HEAD: the console's figures, dead letters, sessions, config), never a change (env VIEWER_TOKEN); at least 32 characters, different from adminToken."`
}

// Cache configures the cache-aside engine. All of it reloads live.
type Cache struct {
	DefaultTTL         Duration                 `json:"defaultTTL" jsonschema_description:"TTL of cached entries (env CACHE_TTL, seconds or a duration), for namespaces without their own in ttls."`
	TTLs               map[string]Duration      `json:"ttls,omitempty" jsonschema_description:"TTL per namespace, e.g. {user: 10m}; others use defaultTTL."`
	JitterPercent      int                      `json:"jitterPercent" jsonschema_description:"Random extra TTL, 0-50 percent of it, so entries written together do not expire together."`
	StaleTTL           Duration                 `json:"staleTTL" jsonschema_description:"Stale-while-revalidate window: after its TTL an entry is still served for this long while one caller refreshes it."`
	NegativeTTL        Duration                 `json:"negativeTTL" jsonschema_description:"How long a missing record (404) is remembered."`
	XFetchBeta         float64                  `json:"xfetchBeta" jsonschema_description:"Probabilistic early refresh (XFetch) strength; 0 turns it off, 1 is the usual setting."`
	LeaseTTL           Duration                 `json:"leaseTTL" jsonschema_description:"Lifetime of the Redis lease that lets one pod load a missing entry while other pods wait for it."`
	RedisTimeout       Duration                 `json:"redisTimeout" jsonschema_description:"Deadline of one cache command; past it the request is served from the database."`
	BreakerFailures    int                      `json:"breakerFailures" jsonschema_description:"Consecutive Redis failures that open the circuit breaker (Redis is then skipped)."`
	BreakerOpenFor     Duration                 `json:"breakerOpenFor" jsonschema_description:"How long the breaker stays open before one request probes Redis again."`
	MaxBatchIDs        int                      `json:"maxBatchIDs" jsonschema_description:"Most ids accepted by GET /users?ids=."`
	ClearablePrefixes  []string                 `json:"clearablePrefixes,omitempty" jsonschema_description:"Key prefixes POST /cache/clear may delete (patterns and keys outside them are refused)."`
	StatsFlushInterval Duration                 `json:"statsFlushInterval" jsonschema_description:"How often each pod adds its counters to the all-pods totals in Redis."`
	Near               NearCache                `json:"near"`
	Responses          map[string]ResponseCache `json:"responses,omitempty" jsonschema_description:"Response caching per route group (e.g. users-list), used by the response-caching middleware."`
}

// NearCache configures the optional in-process cache in front of Redis.
type NearCache struct {
	Enabled bool     `json:"enabled" jsonschema_description:"Serve hot entries from process memory. With Redis 6+ they are kept coherent by Redis tracking (CLIENT TRACKING): any change of an entry in Redis reaches every pod within milliseconds, and entries are bypassed while tracking is down. Without it, writes invalidate them through Redis pub/sub."`
	Size    int      `json:"size" jsonschema_description:"Most entries kept (least recently used are dropped)."`
	TTL     Duration `json:"ttl" jsonschema_description:"Without Redis tracking only: longest time an entry is served from memory, the bound on staleness if an invalidation message is lost. With tracking, entries live to their freshness end."`
}

// ResponseCache configures the cached responses of one route group.
type ResponseCache struct {
	TTL  Duration `json:"ttl" jsonschema_description:"How long a response is reused; 0 turns caching off for the group."`
	Vary []string `json:"vary,omitempty" jsonschema_description:"Request headers that select different responses (sent back in Vary)."`
}

// Sessions configures login sessions.
type Sessions struct {
	IdleTimeout     Duration       `json:"idleTimeout" jsonschema_description:"Sliding idle timeout of a session (env SESSION_TTL, seconds or a duration)."`
	AbsoluteTimeout Duration       `json:"absoluteTimeout" jsonschema_description:"Hard lifetime of a session, however active."`
	TouchInterval   Duration       `json:"touchInterval" jsonschema_description:"At most one last-seen write per session per interval, so authenticated reads do not each cost a Redis write; the idle timeout is exact to within this interval."`
	MaxPerUser      int            `json:"maxPerUser" jsonschema_description:"Sessions a user may hold at once; a new login beyond it ends the oldest."`
	LoginLimits     LoginLimits    `json:"loginLimits"`
	PasswordChecks  PasswordChecks `json:"passwordChecks"`
}

// PasswordChecks bounds the password hashes verified at once: each costs
// the hash's memory (19 MiB with the default argon2id parameters) while it
// runs, so parallel logins, even with wrong passwords, could otherwise
// take all of the pod's memory.
type PasswordChecks struct {
	MemoryBudgetMiB int      `json:"memoryBudgetMiB" jsonschema_description:"Memory the password checks running at once may use together; it allows budget / 19 MiB checks at once (at least one) with the default argon2id cost."`
	MaxWait         Duration `json:"maxWait" jsonschema_description:"How long a login waits for a free check before it is answered 503 with Retry-After."`
}

// LoginLimits bounds failed logins, against password guessing.
type LoginLimits struct {
	PerUsername int      `json:"perUsername" jsonschema_description:"Failed logins allowed per username within window before logins for it are refused with 429."`
	PerIP       int      `json:"perIP" jsonschema_description:"Failed logins allowed per client IP within window."`
	Window      Duration `json:"window" jsonschema_description:"Window over which failed logins are counted (from the first failure)."`
}

// RateLimiter tunes how fast a rate-limit decision gives up on Redis; the
// policies themselves are in rateLimits.
type RateLimiter struct {
	DecisionTimeout Duration `json:"decisionTimeout" jsonschema_description:"Deadline of one decision's Redis round trip; past it the policy's failOpen decides."`
	BreakerFailures int      `json:"breakerFailures" jsonschema_description:"Consecutive failed decisions that open the circuit breaker (decisions then skip Redis)."`
	BreakerOpen     Duration `json:"breakerOpen" jsonschema_description:"How long the breaker stays open before one trial decision asks Redis again."`
}

// RateLimitPolicy limits requests that match it.
type RateLimitPolicy struct {
	Name     string         `json:"name" jsonschema_description:"Unique policy name, used in metrics and RateLimit-Policy headers."`
	Match    RateLimitMatch `json:"match"`
	Key      string         `json:"key" jsonschema_description:"What is limited: ip, user, or header:<Name> (e.g. header:X-API-Key)."`
	Limit    int            `json:"limit" jsonschema_description:"Requests allowed per period."`
	Period   Duration       `json:"period" jsonschema_description:"Length of the period."`
	Burst    int            `json:"burst" jsonschema_description:"Extra requests allowed in a burst; 0 means none beyond limit."`
	FailOpen bool           `json:"failOpen" jsonschema_description:"When Redis is unreachable, allow (true) or refuse with 503 (false)."`
}

// RateLimitMatch selects the requests a policy applies to; empty fields match all.
type RateLimitMatch struct {
	PathPrefix string   `json:"pathPrefix" jsonschema_description:"Request path prefix, e.g. /api/."`
	Route      string   `json:"route" jsonschema_description:"Route template, e.g. /users/{id}."`
	Methods    []string `json:"methods,omitempty" jsonschema_description:"HTTP methods; empty matches every method."`
}

// Realtime configures chat rooms over WebSocket (WS /ws/chat/{room}).
// Every field is read on use, so all of them reload live; already-open
// sockets keep the queue they were given.
type Realtime struct {
	RequireAuthentication bool         `json:"requireAuthentication" jsonschema_description:"Refuse anonymous chat: sockets and POST /chat/message need an authenticated session. Off by default, so anonymous wscat works."`
	AllowedOrigins        []string     `json:"allowedOrigins,omitempty" jsonschema_description:"Browser origins allowed to open a socket (\"*\" any). Empty: same host as the request, or spec.server.cors.allowedOrigins. Clients without an Origin header (wscat, servers) are always allowed."`
	MaxConnections        int          `json:"maxConnections" jsonschema_description:"Sockets one instance accepts; further upgrades get 503."`
	MaxRoomsPerConnection int          `json:"maxRoomsPerConnection" jsonschema_description:"Rooms one socket may be in at once (the URL room plus joined ones)."`
	MaxMessageBytes       int          `json:"maxMessageBytes" jsonschema_description:"Largest chat message text in bytes (UTF-8); larger ones are refused (422 or an error frame)."`
	MaxFrameBytes         int64        `json:"maxFrameBytes" jsonschema_description:"Largest WebSocket frame a client may send; a larger one closes the socket with 1009."`
	SendQueueSize         int          `json:"sendQueueSize" jsonschema_description:"Messages queued per socket before the client counts as a slow consumer and is disconnected with close code 4008."`
	PingInterval          Duration     `json:"pingInterval" jsonschema_description:"How often the server pings each socket."`
	PongTimeout           Duration     `json:"pongTimeout" jsonschema_description:"How long after a ping a socket may stay silent before it is dropped."`
	WriteTimeout          Duration     `json:"writeTimeout" jsonschema_description:"Deadline of one write to a socket; a client that does not read for this long is disconnected."`
	HistorySize           int          `json:"historySize" jsonschema_description:"Messages kept per room (stream MAXLEN, approximate)."`
	HistoryRetention      Duration     `json:"historyRetention" jsonschema_description:"How long messages are kept (stream MINID trim, and the history key expires after this long idle)."`
	HistoryPageMax        int          `json:"historyPageMax" jsonschema_description:"Largest limit accepted by GET /chat/history."`
	IdempotencyTTL        Duration     `json:"idempotencyTTL" jsonschema_description:"How long an idempotency key remembers the message it published."`
	PresenceTTL           Duration     `json:"presenceTTL" jsonschema_description:"Presence entries expire this long after their instance last refreshed them (refresh every third of it), so a crashed instance's members vanish."`
	PublishRate           PublishRates `json:"publishRate"`
	RoomTokens            RoomTokens   `json:"roomTokens" jsonschema_description:"Keys of room tokens: JWTs an application signs to admit a user to one room (the who entry token of roomPolicies)."`
	RoomPolicies          []RoomPolicy `json:"roomPolicies,omitempty" jsonschema_description:"Who may subscribe to, publish in, and read the history and presence of rooms whose name fits a pattern; the first policy that fits decides, and a room no policy fits is open to anyone. A change applies to joined sockets and streams too."`
}

// RoomPolicy is one room access policy: a room-name pattern and, per
// action, who may. Each list holds anyone, authenticated, nobody,
// user:<name>, role:<role>, or {placeholder} (the user the room's name
// names there). Publish, history and presence default to subscribe's list.
type RoomPolicy struct {
	Match     string   `json:"match" jsonschema_description:"Room-name pattern: literal characters, * (any run of characters) and {name} (one part of the name, up to a ':' or ','), e.g. public:*, team:{team}:*, dm:{a},{b}."`
	Subscribe []string `json:"subscribe" jsonschema_description:"Who may join the room (WebSocket) or stream it (SSE)."`
	Publish   []string `json:"publish,omitempty" jsonschema_description:"Who may publish (POST /chat/message, socket frames); default: subscribe's list."`
	History   []string `json:"history,omitempty" jsonschema_description:"Who may read GET /chat/history; default: subscribe's list."`
	Presence  []string `json:"presence,omitempty" jsonschema_description:"Who may read GET /chat/presence and see the room in GET /chat/rooms; default: subscribe's list."`
}

// RoomTokens are the keys that may sign room tokens: JWTs (HS256) with
// claims room, sub (the user, "" for anonymous) and exp, which an
// application's backend issues to admit a user to one room; a policy's
// who entry "token" admits their holders. The header's kid picks the key,
// so keys rotate by adding the new one before signing with it.
type RoomTokens struct {
	Keys []RoomTokenKey `json:"keys,omitempty" jsonschema_description:"HMAC keys that may sign room tokens (HS256 JWTs with claims room, sub, exp), chosen by the token header's kid."`
}

// RoomTokenKey is one room-token key.
type RoomTokenKey struct {
	ID     string `json:"id" jsonschema_description:"The key id, the kid a token's header names."`
	Secret string `json:"secret" secret:"true" jsonschema_description:"The HMAC-SHA256 key, at least 32 characters."`
}

// Rule is the policy as the access package compiles it.
func (p RoomPolicy) Rule() access.Rule {
	return access.Rule{Match: p.Match, Who: [4][]string{p.Subscribe, p.Publish, p.History, p.Presence}}
}

// PublishRates bounds how fast messages are published, so one client cannot
// flood a room: per socket (in the instance's memory) and per sender (the
// user, or the client IP when anonymous; on Redis, shared by every
// instance, over WebSocket and HTTP together). A refused WebSocket message
// gets an error frame with code rate-limited; a refused POST /chat/message
// gets 429 with the RateLimit headers.
type PublishRates struct {
	PerConnection PublishRate `json:"perConnection" jsonschema_description:"Token bucket of one socket: limit messages per period, plus burst at once."`
	PerSender     PublishRate `json:"perSender" jsonschema_description:"Token bucket (GCRA on Redis) of one sender across sockets, HTTP and instances."`
	CloseAfter    int         `json:"closeAfter" jsonschema_description:"Refused messages in a row after which a socket is closed with 1008 (policy violation): a client that ignores the error frames is dropped."`
}

// PublishRate is a token bucket: limit messages per period, with burst more
// allowed at once.
type PublishRate struct {
	Limit  int      `json:"limit" jsonschema_description:"Messages allowed per period."`
	Period Duration `json:"period" jsonschema_description:"Length of the period."`
	Burst  int      `json:"burst" jsonschema_description:"Extra messages allowed at once on top of limit; 0 means none."`
}
