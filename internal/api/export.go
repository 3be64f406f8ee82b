package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	hookdv1 "github.com/hookd/hookd/gen/go/hookd/v1"
	"github.com/hookd/hookd/gen/go/hookd/v1/hookdv1connect"
	"github.com/hookd/hookd/internal/apierr"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/store"
)

// exportPage is how many deliveries an export reads per query.
const exportPage = 1000

// exportChunk is the size of the data chunks an ExportDeliveries stream sends.
const exportChunk = 64 << 10

// csvHeader is the header row of CSV exports; NDJSON rows use the same names as keys.
var csvHeader = []string{
	"id", "event_id", "webhook_id", "integration_id", "event_type", "subject", "status", "attempts",
	"last_status_code", "reason", "resent", "next_attempt_time", "create_time", "update_time",
	"webhook_name", "integration_name", "retries",
}

type format int

const (
	formatCSV format = iota + 1
	formatNDJSON
)

func exportFormat(f hookdv1.ExportFormat) (format, error) {
	switch f {
	case hookdv1.ExportFormat_EXPORT_FORMAT_CSV, hookdv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED:
		return formatCSV, nil
	case hookdv1.ExportFormat_EXPORT_FORMAT_NDJSON:
		return formatNDJSON, nil
	default:
		return 0, apierr.Invalid("format", "want EXPORT_FORMAT_CSV or EXPORT_FORMAT_NDJSON, got %v", f)
	}
}

// export writes every delivery matching f, newest first, reading the store a page at a time.
func export(ctx context.Context, st store.Store, projectID string, f store.DeliveryFilter, ft format, w io.Writer) error {
	bw := bufio.NewWriterSize(w, exportChunk)
	var cw *csv.Writer
	if ft == formatCSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(csvHeader); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	enc := json.NewEncoder(bw)
	page := store.Page{Size: exportPage}
	for {
		ds, err := st.ListDeliveries(ctx, store.ListDeliveriesParams{ProjectID: projectID, Filter: f, Page: page})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		names, err := loadTargetNames(ctx, st, projectID, ds...)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for i := range ds {
			row := exportRow(&ds[i], names)
			if cw != nil {
				err = cw.Write(csvSafe(row))
			} else {
				obj := make(map[string]any, len(row))
				for j, k := range csvHeader {
					obj[k] = row[j]
				}
				obj["attempts"], obj["last_status_code"], obj["resent"] = ds[i].Attempts, ds[i].LastStatusCode, ds[i].Resent
				obj["retries"] = retries(ds[i].Attempts)
				err = enc.Encode(obj)
			}
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		if len(ds) < page.Size {
			break
		}
		page.After = ds[len(ds)-1].ID
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// exportRow is the CSV record of d (in csvHeader order); names are its target's current names.
func exportRow(d *store.Delivery, names targetNames) []string {
	next := ""
	if d.Status == store.StatusQueued || d.Status == store.StatusRetrying || d.Status == store.StatusWaiting {
		next = d.NextAttemptTime.UTC().Format(time.RFC3339Nano)
	}
	return []string{
		d.ID, d.EventID, d.WebhookID, d.IntegrationID, d.EventType, d.Subject,
		strings.TrimPrefix(statusToProto(d.Status).String(), "DELIVERY_STATUS_"), strconv.Itoa(d.Attempts),
		strconv.Itoa(d.LastStatusCode), d.Reason, strconv.FormatBool(d.Resent), next,
		d.CreateTime.UTC().Format(time.RFC3339Nano), d.UpdateTime.UTC().Format(time.RFC3339Nano),
		names.webhooks[d.WebhookID], names.integrations[d.IntegrationID], strconv.Itoa(retries(d.Attempts)),
	}
}

// csvSafe defuses cells that spreadsheets would run as formulas (a receiver controls `reason`, a publisher
// `subject`): such a cell gets a leading apostrophe, as OWASP recommends for CSV exports.
func csvSafe(row []string) []string {
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			row[i] = "'" + c
		}
	}
	return row
}

// streamWriter turns writes into stream messages of at most exportChunk bytes.
type streamWriter struct {
	buf  []byte
	send func([]byte) error
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for len(w.buf) >= exportChunk {
		if err := w.send(w.buf[:exportChunk:exportChunk]); err != nil {
			return 0, err
		}
		w.buf = append([]byte(nil), w.buf[exportChunk:]...)
	}
	return len(p), nil
}

func (w *streamWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = nil
	return err
}

func errorsIsConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

// ExportLinkTTL is how long a link made by CreateExportLink works.
const ExportLinkTTL = 5 * time.Minute

// exportLinkPurpose names the key (derived from the instance keyring) that signs export links.
const exportLinkPurpose = "hookd export link v1"

// The parameters of an export link beside the format and the filters.
const (
	linkProject   = "project"
	linkKey       = "key"
	linkExpires   = "expires"
	linkSignature = "signature"
)

// MACKeys sign and check capability tokens (the instance keyring, secret.Keyring, implements it).
type MACKeys interface {
	// MAC returns the HMAC-SHA256 of msg under the current key derived for purpose.
	MAC(purpose string, msg []byte) []byte
	// VerifyMAC reports whether mac is msg's MAC under a key of the keyring derived for purpose.
	VerifyMAC(purpose string, msg, mac []byte) bool
}

// CreateExportLink implements hookdv1connect.DeliveryServiceHandler: a signed link to GET /v1/deliveries/export
// with the format and filter as parameters, bound to the caller's project and key, for ExportLinkTTL.
func (s *deliveryService) CreateExportLink(ctx context.Context, req *connect.Request[hookdv1.CreateExportLinkRequest]) (*connect.Response[hookdv1.CreateExportLinkResponse], error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	ft, err := exportFormat(req.Msg.GetFormat())
	if err != nil {
		return nil, err
	}
	pf := req.Msg.GetFilter()
	if _, err := deliveryFilter(pf, false); err != nil {
		return nil, err
	}
	if s.d.LinkKeys == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("export links need the instance keyring; use ExportDeliveries"))
	}
	expire := s.d.now().Add(ExportLinkTTL).Truncate(time.Second)
	q := filterQuery(ft, pf)
	q.Set(linkProject, p.ProjectID)
	q.Set(linkKey, p.KeyID)
	q.Set(linkExpires, strconv.FormatInt(expire.Unix(), 10))
	q.Set(linkSignature, base64.RawURLEncoding.EncodeToString(s.d.LinkKeys.MAC(exportLinkPurpose, []byte(q.Encode()))))
	return connect.NewResponse(&hookdv1.CreateExportLinkResponse{Url: s.d.PublicURL + exportPath + "?" + q.Encode(),
		ExpireTime: timestamp(expire)}), nil
}

// exportPath is the path of the export download.
const exportPath = "/v1/deliveries/export"

// filterQuery is the format and filter as the download's query parameters (what queryFilter reads).
func filterQuery(ft format, f *hookdv1.DeliveryFilter) url.Values {
	q := url.Values{}
	q.Set("format", "csv")
	if ft == formatNDJSON {
		q.Set("format", "ndjson")
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("webhook_id", f.GetWebhookId())
	set("integration_id", f.GetIntegrationId())
	set("event_type", f.GetEventType())
	set("subject", f.GetSubject())
	set("tenant_id", f.GetTenantId())
	set("event_id", f.GetEventId())
	var statuses []string
	for _, st := range f.GetStatuses() {
		statuses = append(statuses, strings.ToLower(strings.TrimPrefix(st.String(), "DELIVERY_STATUS_")))
	}
	set("status", strings.Join(statuses, ","))
	if t := f.GetCreateTimeAfter(); t != nil {
		q.Set("create_time_after", t.AsTime().UTC().Format(time.RFC3339Nano))
	}
	if t := f.GetCreateTimeBefore(); t != nil {
		q.Set("create_time_before", t.AsTime().UTC().Format(time.RFC3339Nano))
	}
	return q
}

// NewExportHandler serves GET /v1/deliveries/export?format=csv|ndjson with the filters of ListDeliveries as
// query parameters (status (repeatable or comma-separated), webhook_id, integration_id, event_type, subject,
// event_id, create_time_after, create_time_before as RFC 3339). The caller is either the API key in
// `Authorization: Bearer`, or a link made by CreateExportLink (its signature covers every parameter). An
// `api_key` parameter is refused: URLs end up in proxy logs and browser history. The download is guarded as a
// stream is (auth.Guard): it is cut off when the key is revoked or it runs longer than the stream lifetime.
func NewExportHandler(d Deps, policy auth.Policy) http.Handler {
	if policy == nil {
		policy = auth.DefaultPolicy()
	}
	if d.Auth == nil {
		d.Auth = auth.NewAuthenticator(d.Store, d.Clock)
	}
	return &exportHandler{d: d, policy: policy}
}

type exportHandler struct {
	d      Deps
	policy auth.Policy
}

func (h *exportHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeConnectError(w, connect.NewError(connect.CodeUnimplemented, errors.New("use GET")), http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	p, guard, err := h.authenticate(ctx, r)
	if err != nil {
		writeConnectError(w, err, 0)
		return
	}
	q := r.URL.Query()
	ft := formatCSV
	switch q.Get("format") {
	case "", "csv":
	case "ndjson":
		ft = formatNDJSON
	default:
		writeConnectError(w, apierr.Invalid("format", "want csv or ndjson, got %q", q.Get("format")), 0)
		return
	}
	f, err := queryFilter(q)
	if err != nil {
		writeConnectError(w, err, 0)
		return
	}
	name := "deliveries-" + h.d.now().Format("20060102T150405Z")
	if ft == formatCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		name += ".csv"
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		name += ".ndjson"
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if err := export(ctx, h.d.Store, p.ProjectID, f, ft, &guardedWriter{ctx: ctx, w: w, guard: guard}); err != nil {
		// The status is sent: cut the connection, so that the client sees a broken download, not a short file.
		h.d.log().ErrorContext(ctx, "export deliveries", "project_id", p.ProjectID, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// guardedWriter writes only while its guard passes.
type guardedWriter struct {
	ctx   context.Context
	w     io.Writer
	guard *auth.Guard
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	if err := g.guard.Check(g.ctx); err != nil {
		return 0, err
	}
	return g.w.Write(p)
}

// authenticate finds the caller of a download (the bearer key, or a signed link) and the guard of the download.
func (h *exportHandler) authenticate(ctx context.Context, r *http.Request) (auth.Principal, *auth.Guard, error) {
	q := r.URL.Query()
	if q.Has("api_key") {
		return auth.Principal{}, nil, connect.NewError(connect.CodeUnauthenticated, errors.New(
			"the api_key parameter is no longer accepted (URLs are logged): send Authorization: Bearer <key>, or download through a link from DeliveryService.CreateExportLink"))
	}
	v := r.Header.Get("Authorization")
	if v == "" && q.Has(linkSignature) {
		return h.linkCaller(ctx, q)
	}
	secret, ok := auth.BearerToken(v)
	if !ok {
		return auth.Principal{}, nil, connect.NewError(connect.CodeUnauthenticated, errors.New(
			"missing API key: send Authorization: Bearer <key>, or download through a link from DeliveryService.CreateExportLink"))
	}
	k, err := h.d.Auth.Authenticate(ctx, secret)
	if err := h.keyError(ctx, err); err != nil {
		return auth.Principal{}, nil, err
	}
	p, err := h.authorize(k)
	return p, h.d.Auth.Guard(secret), err
}

// linkCaller checks a link made by CreateExportLink: its signature, its expiry and its key.
func (h *exportHandler) linkCaller(ctx context.Context, q url.Values) (auth.Principal, *auth.Guard, error) {
	invalid := func(why string) (auth.Principal, *auth.Guard, error) {
		return auth.Principal{}, nil, connect.NewError(connect.CodeUnauthenticated, errors.New("export link: "+why))
	}
	mac, err := base64.RawURLEncoding.DecodeString(q.Get(linkSignature))
	signed := url.Values{}
	for k, v := range q {
		if k != linkSignature {
			signed[k] = v
		}
	}
	if err != nil || h.d.LinkKeys == nil || !h.d.LinkKeys.VerifyMAC(exportLinkPurpose, []byte(signed.Encode()), mac) {
		return invalid("the signature does not match (the link was changed, or made by another instance)")
	}
	exp, err := strconv.ParseInt(q.Get(linkExpires), 10, 64)
	if err != nil || !h.d.now().Before(time.Unix(exp, 0)) {
		return invalid("expired; create a new one with CreateExportLink")
	}
	projectID, keyID := q.Get(linkProject), q.Get(linkKey)
	check := func(ctx context.Context) (*store.APIKey, error) {
		k, err := h.d.Store.GetAPIKey(ctx, projectID, keyID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, h.keyError(ctx, auth.ErrUnknownKey)
		case err != nil:
			return nil, h.keyError(ctx, err)
		case k.RevokeTime != nil:
			return nil, h.keyError(ctx, auth.ErrRevokedKey)
		}
		return k, nil
	}
	k, err := check(ctx)
	if err != nil {
		return auth.Principal{}, nil, err
	}
	p, err := h.authorize(k)
	guard := auth.NewGuard(h.d.Clock, h.d.Auth.Streams, func(ctx context.Context) error {
		_, err := check(ctx)
		return err
	})
	return p, guard, err
}

// keyError maps an error of finding the caller's key.
func (h *exportHandler) keyError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrUnknownKey), errors.Is(err, auth.ErrRevokedKey):
		return connect.NewError(connect.CodeUnauthenticated, err)
	default:
		return apierr.FromStore(ctx, h.d.log(), "api key", "", err)
	}
}

// authorize checks that key k may export.
func (h *exportHandler) authorize(k *store.APIKey) (auth.Principal, error) {
	p := auth.Principal{KeyID: k.ID, ProjectID: k.ProjectID, Role: k.Role, InstanceAdmin: k.InstanceAdmin}
	if err := h.policy.Authorize(p, hookdv1connect.DeliveryServiceExportDeliveriesProcedure); err != nil {
		return auth.Principal{}, err
	}
	return p, nil
}

// queryFilter reads a delivery filter from URL query parameters.
func queryFilter(q map[string][]string) (store.DeliveryFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	pf := &hookdv1.DeliveryFilter{
		WebhookId: get("webhook_id"), IntegrationId: get("integration_id"), EventType: get("event_type"),
		Subject: get("subject"), EventId: get("event_id"), TenantId: get("tenant_id"),
	}
	for _, v := range q["status"] {
		for _, s := range strings.Split(v, ",") {
			name := "DELIVERY_STATUS_" + strings.ToUpper(strings.TrimSpace(s))
			st, ok := hookdv1.DeliveryStatus_value[name]
			if !ok || st == 0 {
				return store.DeliveryFilter{}, apierr.Invalid("status", "%q is not one of queued, retrying, waiting, done, failed, cancelled", s)
			}
			pf.Statuses = append(pf.Statuses, hookdv1.DeliveryStatus(st))
		}
	}
	f, err := deliveryFilter(pf, false)
	if err != nil {
		return f, err
	}
	for _, k := range []string{"create_time_after", "create_time_before"} {
		v := get(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, apierr.Invalid(k, "want an RFC 3339 time like 2026-01-02T15:04:05Z, got %q", v)
		}
		if k == "create_time_after" {
			f.CreateAfter = t.UTC()
		} else {
			f.CreateBefore = t.UTC()
		}
	}
	if !f.CreateAfter.IsZero() && !f.CreateBefore.IsZero() && !f.CreateAfter.Before(f.CreateBefore) {
		return f, apierr.Invalid("create_time_after", "must be before create_time_before")
	}
	return f, nil
}

// writeConnectError writes err as a Connect-style JSON error ({"code","message"}); status 0 = from the code.
func writeConnectError(w http.ResponseWriter, err error, status int) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		ce = connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	if status == 0 {
		status = httpStatus(ce.Code())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": ce.Code().String(), "message": ce.Message()})
}

func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodeInvalidArgument:
		return http.StatusBadRequest
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
