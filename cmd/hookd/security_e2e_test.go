package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/protobuf/types/known/structpb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/internal/secret"
)

// TestNoSecretInTheDatabase: after secrets went through every path that stores them (an integration's private
// header, a webhook's signing secret, a delivery's attempt, a trigger's signature secret and API key, an
// execution of that trigger), neither the SQLite files nor a pg_dump hold any of them.
func TestNoSecretInTheDatabase(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			args := b.args(t)
			p := startHookd(t, key, args...)
			ctx := context.Background()
			c := newClients(p.baseURL, key, "connect")
			rec := newRecorder(t, nil)
			tag := randomHex(6)
			private := "Bearer TOPSECRET-" + tag
			in, err := c.integrations.CreateIntegration(ctx, connect.NewRequest(&hookdv1.CreateIntegrationRequest{
				Name: "crm", BaseUrl: rec.srv.URL + "/api/",
				Headers: []*hookdv1.Header{{Name: "Authorization", Value: private, Private: true}},
			}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.eventTypes.CreateEventType(ctx, connect.NewRequest(&hookdv1.CreateEventTypeRequest{Name: "user.created"})); err != nil {
				t.Fatal(err)
			}
			wh, err := c.webhooks.CreateWebhook(ctx, connect.NewRequest(&hookdv1.CreateWebhookRequest{
				Name: "w", IntegrationId: in.Msg.GetIntegration().GetId(), Path: "hook"}))
			if err != nil {
				t.Fatal(err)
			}
			whSecret := wh.Msg.GetWebhook().GetSecret()
			if !strings.HasPrefix(whSecret, "whsec_") {
				t.Fatalf("webhook secret %q", whSecret)
			}
			payload, _ := structpb.NewStruct(map[string]any{"n": 1})
			pub, err := c.events.PublishEvent(ctx, connect.NewRequest(&hookdv1.PublishEventRequest{EventType: "user.created",
				Payload: payload, WebhookIds: []string{wh.Msg.GetWebhook().GetId()}}))
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "the delivery and its attempt", func() bool {
				d, err := c.deliveries.GetDelivery(ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: pub.Msg.GetDeliveryIds()[0]}))
				return err == nil && len(d.Msg.GetDelivery().GetAttemptList()) == 1
			})
			if got := rec.all()[0].header.Get("Authorization"); got != private {
				t.Fatalf("the integration's own origin got Authorization %q", got)
			}
			d, _ := c.deliveries.GetDelivery(ctx, connect.NewRequest(&hookdv1.GetDeliveryRequest{Id: pub.Msg.GetDeliveryIds()[0]}))
			if !strings.Contains(fmt.Sprint(d.Msg.GetDelivery().GetAttemptList()[0].GetRequestHeaders()), private) {
				t.Fatalf("ADMIN reads the attempt's private header back: %v", d.Msg.GetDelivery().GetAttemptList()[0].GetRequestHeaders())
			}

			sigSecret, trgKey := "sigsecret-"+tag, "trgkey-"+tag
			code, out := curl(t, p.baseURL, key, "/hookd.v1.TriggerService/CreateTrigger", map[string]any{
				"name": "in", "eventType": "user.created", "apiKeyHeader": "X-Trigger-Key", "apiKey": trgKey,
				"signature": map[string]any{"scheme": "SIGNATURE_SCHEME_HMAC_SHA256", "secret": sigSecret, "header": "X-Sig"},
			})
			if code != http.StatusOK {
				t.Fatalf("CreateTrigger: %d %v", code, out)
			}
			trgURL := out["trigger"].(map[string]any)["url"].(string)
			req, _ := http.NewRequest(http.MethodPost, trgURL, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Trigger-Key", trgKey)
			req.Header.Set("Authorization", private)
			req.Header.Set("X-Sig", "wrong")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("bad signature: %d", resp.StatusCode)
			}

			secrets := []string{private, "TOPSECRET-" + tag, whSecret, strings.TrimPrefix(whSecret, "whsec_"), sigSecret, trgKey}
			var dump []byte
			if b.name == "sqlite" {
				dir := args[1]
				_ = filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
					if err == nil && !de.IsDir() {
						raw, _ := os.ReadFile(path)
						dump = append(dump, raw...)
					}
					return nil
				})
				if fi, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("key file: %v %v, want mode 0600", fi, err)
				}
			} else {
				dump, err = exec.Command("pg_dump", "--no-owner", args[1]).Output()
				if err != nil {
					t.Fatalf("pg_dump: %v", err)
				}
			}
			if len(dump) < 1000 {
				t.Fatalf("dump of %d bytes: nothing read", len(dump))
			}
			for _, s := range secrets {
				if bytes.Contains(dump, []byte(s)) {
					t.Errorf("the database holds the secret %q in clear", s)
				}
			}
			if !bytes.Contains(dump, []byte("enc:v1:")) {
				t.Error("no encrypted value in the database")
			}
		})
	}
}

// TestSecretsRotate: `hookd secrets rotate` re-encrypts under a new key; webhooks keep signing with their
// secrets, on the key file (SQLite) and with HOOKD_SECRET_KEY (PostgreSQL), and a process without the key the
// database now uses refuses to start.
func TestSecretsRotate(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t)
			args := b.args(t)
			oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
			var env, rotateEnv, afterEnv []string
			if b.name == "postgres" {
				env = []string{secret.EnvVar + "=" + oldKey}
				rotateEnv = []string{secret.EnvVar + "=" + newKey + "," + oldKey}
				afterEnv = []string{secret.EnvVar + "=" + newKey}
			}
			p := startHookdEnv(t, key, env, args...)
			c := newClients(p.baseURL, key, "connect")
			rec := newRecorder(t, nil)
			wh := setupWebhook(t, c, rec.srv.URL+"/hook")
			publishN(t, c, 1)
			eventually(t, 15*time.Second, "the first delivery", func() bool { return rec.distinct() == 1 })
			if err := p.stop(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(binary, append([]string{"secrets", "rotate"}, args...)...)
			cmd.Env = append(append(os.Environ(), secret.EnvVar+"="), rotateEnv...)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "re-encrypted under key") || !strings.Contains(string(out), "1 webhooks") {
				t.Fatalf("hookd secrets rotate: %v\n%s", err, out)
			}
			if b.name == "sqlite" {
				raw, err := os.ReadFile(filepath.Join(args[1], secret.KeyFileName))
				if err != nil {
					t.Fatal(err)
				}
				if n := len(regexp.MustCompile(`(?m)^[A-Za-z0-9+/=]{44}$`).FindAll(raw, -1)); n != 2 {
					t.Fatalf("key file holds %d keys after rotation, want 2 (new first, old kept)", n)
				}
			}

			p = startHookdEnv(t, key, afterEnv, args...)
			c = newClients(p.baseURL, key, "connect")
			got, err := c.webhooks.GetWebhook(context.Background(), connect.NewRequest(&hookdv1.GetWebhookRequest{Id: wh.GetId()}))
			if err != nil || got.Msg.GetWebhook().GetSecret() != wh.GetSecret() {
				t.Fatalf("the webhook secret changed in rotation: %v", err)
			}
			publishN(t, c, 1)
			eventually(t, 15*time.Second, "a delivery after the rotation", func() bool { return rec.distinct() == 2 })
			wv, err := standardwebhooks.NewWebhook(wh.GetSecret())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rec.all() {
				if err := wv.Verify(r.body, r.header); err != nil {
					t.Errorf("signature after rotation does not verify: %v", err)
				}
			}
			if b.name == "postgres" {
				if err := p.stop(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				// A process with only the old (retired) key, or another key, cannot read the secrets: it refuses.
				for _, k := range []string{oldKey, secret.GenerateKey()} {
					cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
					cmd.Env = append(os.Environ(), "HOOKD_BOOTSTRAP_KEY=", secret.EnvVar+"="+k)
					out, err := runWithTimeout(cmd, 60*time.Second)
					if err == nil || !strings.Contains(out, "encrypted under a key this process does not hold") {
						t.Errorf("serve with a foreign key: %v\n%s", err, out)
					}
				}
			}
		})
	}
}

// runWithTimeout runs cmd and returns its combined output; the process is killed after d.
func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return buf.String(), nil // still running: it did not refuse
	}
}

// TestAdminListener: with --admin-addr, /metrics and gRPC reflection leave the public port.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := ln.Addr().String()
	ln.Close()
	p := startHookd(t, testKey(t), "--data-dir", t.TempDir(), "--admin-addr", adminAddr)
	if code, _ := get(t, p.baseURL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", code)
	}
	if code, body := get(t, "http://"+adminAddr+"/metrics"); code != http.StatusOK || !strings.Contains(body, "hookd_") {
		t.Errorf("admin /metrics: %d", code)
	}
	reflect := "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	for base, want := range map[string]int{p.baseURL: http.StatusNotFound, "http://" + adminAddr: http.StatusOK} {
		req, _ := http.NewRequest(http.MethodPost, base+reflect, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/grpc")
		resp, err := h2c().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("reflection at %s: %d, want %d", base, resp.StatusCode, want)
		}
	}
	if code, _ := get(t, p.baseURL+"/healthz"); code != http.StatusOK {
		t.Errorf("public /healthz: %d", code)
	}
}

// TestStrictJSON: the real server refuses a misspelled filter instead of resending everything.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	p := startHookd(t, key, "--data-dir", t.TempDir())
	for _, body := range []map[string]any{
		{"filter": map[string]any{"statuses": []string{"FAILED"}}},
		{"filter": map[string]any{"status": []string{"DELIVERY_STATUS_FAILED"}}},
		{"filter": map[string]any{}},
	} {
		code, out := curl(t, p.baseURL, key, "/hookd.v1.DeliveryService/RetryDeliveries", body)
		if code != http.StatusBadRequest || out["code"] != "invalid_argument" {
			t.Errorf("RetryDeliveries %v: %d %v, want invalid_argument", body, code, out)
		}
	}
	code, out := curl(t, p.baseURL, key, "/hookd.v1.DeliveryService/RetryDeliveries",
		map[string]any{"filter": map[string]any{"statuses": []string{"DELIVERY_STATUS_FAILED"}}})
	if code != http.StatusOK {
		t.Errorf("a well-formed RetryDeliveries: %d %v", code, out)
	}
}
