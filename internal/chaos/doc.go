// Package chaos runs Redlane under injected faults and measures its promises.
//
// A run builds the redlane binary once, starts real redis-server processes
// (standalone with AOF, or a 3-master + 3-replica Cluster), a private
// PostgreSQL for the users, two or more Redlane processes and real clients as
// separate processes (HTTP load, WebSocket chat clients, queue workers: this
// package's client modes, run by re-executing the chaos binary). Each
// scenario injects one fault (kill -9, SIGSTOP, Cluster failover, CLIENT
// KILL, a cut replication link, SIGTERM of an instance, a worker killed
// mid-task, or a TCP proxy that drops, delays or black-holes Redis traffic),
// then reads what the clients recorded and prints one line with its figures
// and a verdict: PASS, or FAIL with every goal it missed.
//
// Everything listens on loopback on free ports, load is bounded in count and
// time, and every process is stopped by its PID when its scenario ends, even
// on failure (and dies with the runner through Pdeathsig).
//
// tools/chaos is the command (make chaos, make chaos-short); the short
// profile also runs inside make test (chaos_test.go).
package chaos
