package hookd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ActionError is the answer of an action-status link other than 200: 400 for a bad request,
// 404 for an unknown or already used token.
type ActionError struct {
	StatusCode int
	Message    string
}

// Error implements error.
func (e *ActionError) Error() string {
	return fmt.Sprintf("hookd: action status: %d %s", e.StatusCode, e.Message)
}

// CompleteAction finishes the WAITING delivery behind an envelope's Meta.Link: DONE, or FAILED with
// reason when failed is true. The link is a capability: no API key is needed. It is not retried.
func CompleteAction(ctx context.Context, link string, failed bool, reason string) error {
	return completeAction(ctx, &http.Client{Timeout: 30 * time.Second}, link, failed, reason)
}

func completeAction(ctx context.Context, hc *http.Client, link string, failed bool, reason string) error {
	body := map[string]string{"status": "done"}
	if failed {
		body = map[string]string{"status": "failed", "reason": reason}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode action status: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, link, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("action status request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("post action status: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &msg) != nil || msg.Message == "" {
		msg.Message = string(bytes.TrimSpace(raw))
	}
	return &ActionError{StatusCode: resp.StatusCode, Message: msg.Message}
}
