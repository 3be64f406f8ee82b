package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
		ds, err := st.ListDeliveries(ctx, projectID, f, false, page)
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

// NewExportHandler serves GET /v1/deliveries/export?format=csv|ndjson with the filters of ListDeliveries as
// query parameters (status (repeatable or comma-separated), webhook_id, integration_id, event_type, subject,
// event_id, create_time_after, create_time_before as RFC 3339). The API key comes in `Authorization: Bearer`
// or, for browser downloads, the `api_key` parameter.
func NewExportHandler(d Deps, policy auth.Policy) http.Handler {
	if policy == nil {
		policy = auth.DefaultPolicy()
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
	p, err := h.authenticate(ctx, r)
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
	if r.Method == http.MethodHead {
		return
	}
	if err := export(ctx, h.d.Store, p.ProjectID, f, ft, w); err != nil {
		// Headers are gone; the truncated body is all the client sees, so log it.
		h.d.log().ErrorContext(ctx, "export deliveries", "project_id", p.ProjectID, "error", err)
	}
}

func (h *exportHandler) authenticate(ctx context.Context, r *http.Request) (auth.Principal, error) {
	secret := r.URL.Query().Get("api_key")
	if v := r.Header.Get("Authorization"); v != "" {
		token, ok := auth.BearerToken(v)
		if !ok {
			return auth.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("send Authorization: Bearer <key>"))
		}
		secret = token
	}
	if secret == "" {
		return auth.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("missing API key: send Authorization: Bearer <key> or ?api_key=<key>"))
	}
	k, err := auth.Authenticate(ctx, h.d.Store, secret)
	switch {
	case errors.Is(err, auth.ErrUnknownKey), errors.Is(err, auth.ErrRevokedKey):
		return auth.Principal{}, connect.NewError(connect.CodeUnauthenticated, err)
	case err != nil:
		return auth.Principal{}, apierr.FromStore(ctx, h.d.log(), "api key", "", err)
	}
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
		Subject: get("subject"), EventId: get("event_id"),
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
