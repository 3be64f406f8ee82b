package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

// TestExportLink: CreateExportLink returns a signed link that downloads the export with a plain GET (no API key in
// it), bound to the format and filter (any change breaks it), for ExportLinkTTL, and only while its key is valid.
func TestExportLink(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		ctx := context.Background()
		wX, _, second := exportSeed(t, le)
		k := &store.APIKey{ProjectID: auth.DefaultProjectID, Name: "link", Role: store.RoleViewer, CreateTime: le.e.clock.Now()}
		secret, err := auth.IssueKey(ctx, le.e.st, k)
		require.NoError(t, err)
		viewer := hookdv1connect.NewDeliveryServiceClient(&http.Client{Transport: bearerTransport{secret: secret, next: http.DefaultTransport}}, le.srv.URL)
		get := func(link string) (int, []byte) {
			t.Helper()
			res, err := http.Get(link)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			return res.StatusCode, body
		}
		errMsg := func(body []byte) string {
			var m struct{ Code, Message string }
			require.NoError(t, json.Unmarshal(body, &m), string(body))
			assert.Equal(t, "unauthenticated", m.Code)
			return m.Message
		}

		filter := &hookdv1.DeliveryFilter{Statuses: []hookdv1.DeliveryStatus{hookdv1.DeliveryStatus_DELIVERY_STATUS_FAILED}, WebhookId: wX,
			CreateTimeAfter: timestamppb.New(second)}
		res, err := viewer.CreateExportLink(ctx, creq(&hookdv1.CreateExportLinkRequest{Format: hookdv1.ExportFormat_EXPORT_FORMAT_NDJSON, Filter: filter}))
		require.NoError(t, err)
		link := res.Msg.GetUrl()
		assert.NotContains(t, link, secret, "the key is not in the link")
		assert.Equal(t, le.e.clock.Now().Add(ExportLinkTTL), res.Msg.GetExpireTime().AsTime())
		code, body := get(link)
		require.Equal(t, http.StatusOK, code, string(body))
		want := deliveryIDs(listAll(t, le.viewer, filter, false))
		require.NotEmpty(t, want)
		var ids []string
		for _, r := range ndjsonRows(t, body) {
			ids = append(ids, r["id"].(string))
		}
		assert.Equal(t, want, ids)

		// Any change of a parameter breaks the signature.
		u, err := url.Parse(link)
		require.NoError(t, err)
		for k, v := range map[string]string{"status": "failed,done", "webhook_id": "wh_other", "format": "csv", "project": otherProjectID,
			"expires": "99999999999", "signature": "AAAA"} {
			q := u.Query()
			q.Set(k, v)
			changed := *u
			changed.RawQuery = q.Encode()
			code, body := get(changed.String())
			require.Equal(t, http.StatusUnauthorized, code, "%s changed: %s", k, body)
			assert.Contains(t, errMsg(body), "export link")
		}
		q := u.Query()
		q.Set("subject", "cus_1")
		u2 := *u
		u2.RawQuery = q.Encode()
		code, _ = get(u2.String())
		assert.Equal(t, http.StatusUnauthorized, code, "an added filter breaks it too")

		// Expired after ExportLinkTTL.
		le.e.clock.Advance(ExportLinkTTL - time.Second)
		code, _ = get(link)
		require.Equal(t, http.StatusOK, code)
		le.e.clock.Advance(time.Second)
		code, body = get(link)
		require.Equal(t, http.StatusUnauthorized, code)
		assert.Contains(t, errMsg(body), "expired")

		// A revoked key's links stop working.
		res, err = viewer.CreateExportLink(ctx, creq(&hookdv1.CreateExportLinkRequest{}))
		require.NoError(t, err)
		code, _ = get(res.Msg.GetUrl())
		require.Equal(t, http.StatusOK, code)
		_, err = le.e.st.RevokeAPIKey(ctx, auth.DefaultProjectID, k.ID, le.e.clock.Now())
		require.NoError(t, err)
		code, body = get(res.Msg.GetUrl())
		require.Equal(t, http.StatusUnauthorized, code)
		assert.Contains(t, errMsg(body), "revoked")
	})
}

// tickClock moves forward by step at every reading.
type tickClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// TestExportDownloadLifetime: a download that runs past the stream lifetime is cut off (the client sees a broken
// body, not a short file that looks complete).
func TestExportDownloadLifetime(t *testing.T) {
	logBackends(t, func(t *testing.T, le *logEnv) {
		exportSeed(t, le)
		download := func(step time.Duration) error {
			clk := &tickClock{now: le.e.clock.Now(), step: step}
			authn := auth.NewAuthenticator(le.e.st, clk)
			authn.Streams = auth.StreamLimits{MaxLifetime: time.Hour}
			srv := httptest.NewServer(NewExportHandler(Deps{Store: le.e.st, Clock: clk, Auth: authn, Log: slog.New(slog.DiscardHandler)}, nil))
			defer srv.Close()
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/deliveries/export", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+le.secrets["viewer"])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err == nil {
				require.Len(t, csvIDs(t, body), 1200)
			}
			return err
		}
		require.NoError(t, download(time.Millisecond))
		require.Error(t, download(20*time.Minute), "the clock passes the lifetime during the download")
	})
}
