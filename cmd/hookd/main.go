// Command hookd is the webhook platform server and its tools: serve, migrate, keys, listen, bench, version.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const usage = `hookd — webhook platform

Usage:
  hookd serve    [flags]   run the API server and the sender (embedded SQLite in ./hookd-data by default)
  hookd migrate  [flags]   apply database migrations and exit
  hookd keys create --project ID --role admin|member|viewer [--name N]
                           create an API key and print it once
  hookd secrets rotate [flags]
                           re-encrypt stored secrets under a new key (see README "Security")
  hookd listen --key KEY --forward-to URL [--server URL] [--events a,b] [--name N]
                           receive a project's webhooks on this machine (local development)
  hookd bench    [flags]   benchmark publish → delivery on loopback receivers
  hookd version            print the version

Every flag can also be set as HOOKD_<FLAG> (e.g. HOOKD_DATABASE_URL). Run 'hookd <command> -h' for flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hookd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("missing command")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:])
	case "migrate":
		return runMigrate(ctx, args[1:])
	case "keys":
		return runKeys(ctx, args[1:])
	case "secrets":
		return runSecrets(ctx, args[1:])
	case "listen":
		return runListen(ctx, args[1:])
	case "bench":
		return runBench(ctx, args[1:])
	case "version", "--version", "-v":
		fmt.Println("hookd", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
