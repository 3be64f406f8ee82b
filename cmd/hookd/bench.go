package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/hookd/hookd/internal/bench"
)

// runBench runs `hookd bench`: flags → bench.Config → bench.Run (README "Benchmark").
func runBench(ctx context.Context, args []string) error {
	var c commonFlags
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	c.register(fs)
	fs.IntVar(&cfg.Events, "events", cfg.Events, "number of events to publish")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "publish at this steady rate (events/s); 0 = as fast as possible")
	fs.BoolVar(&cfg.Backlog, "backlog", cfg.Backlog, "queue everything first (the server runs --role api), then start a sender and measure the drain")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "events per PublishEvents call (1 = single PublishEvent calls)")
	fs.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "concurrent publishing clients")
	fs.IntVar(&cfg.PayloadBytes, "payload-bytes", cfg.PayloadBytes, "approximate JSON payload size")
	fs.IntVar(&cfg.Webhooks, "webhooks", cfg.Webhooks, "webhooks (each event goes to one of them, round robin)")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "sender workers (spawned and in-process servers)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "give up waiting for deliveries after this long")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", cfg.CPUProfile, "write a CPU profile of the bench process to this file (with --server inproc: the server's too)")
	fs.StringVar(&cfg.Server, "server", cfg.Server, "spawn (a `hookd serve --dev` child process), inproc, or the URL of a running hookd (with --key; it must run with --dev)")
	fs.StringVar(&cfg.Key, "key", cfg.Key, "an instance admin API key of the server given by URL")
	fs.IntVar(&cfg.NeighborBacklog, "neighbor-backlog", cfg.NeighborBacklog, "first queue this many deliveries for another project's webhook, whose receiver takes 50 ms (fairness: the measured project's latency meanwhile)")
	fs.IntVar(&cfg.Watchers, "watchers", cfg.Watchers, "WatchDeliveries streams open on the bench project while it runs (in --protocol, json like the console)")
	fs.StringVar(&cfg.Protocol, "protocol", cfg.Protocol, "json (Connect JSON over HTTP/1.1, as curl sends it) or proto (Connect binary)")
	fs.BoolVar(&cfg.Ordered, "ordered", cfg.Ordered, "run twice in one server: to unordered webhooks, then to ordered ones with --keys ordering keys; print both and their ratio")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "ordering keys of the --ordered run (event i has key i mod keys)")
	fs.DurationVar(&cfg.Idle, "idle", cfg.Idle, fmt.Sprintf("measure the idle server instead: create --webhooks webhooks, wait for the server to settle (%s; %s on PostgreSQL), then, with nothing published, measure over this long the server's CPU, the local PostgreSQL cluster's CPU and the bench database's commits/s", bench.IdleSettle, bench.IdleSettlePostgres))
	fs.Var((*stringList)(&cfg.ServerArgs), "server-arg", "extra flag for the spawned server (repeatable), e.g. --server-arg=--lease=30s")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.DatabaseURL = c.databaseURL
	if isFlagSet(fs, "data-dir") { // else a temporary directory, not the default ./hookd-data
		cfg.DataDir = c.dataDir
	}
	return bench.Run(ctx, cfg)
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}
