package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
)

// EventsQuery selects events for Client.Events and Client.StreamEvents.
// Times are RFC 3339 or a duration ago ("24h"); Type is a comma-separated
// list.
type EventsQuery struct {
	Since, Until, Type, Feature string
	Limit                       int
	AfterID                     int64
}

func (q EventsQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"since": q.Since, "until": q.Until, "type": q.Type, "feature": q.Feature} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.AfterID > 0 {
		v.Set("after_id", strconv.FormatInt(q.AfterID, 10))
	}
	return v
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Events returns stored events (monitor).
func (c *Client) Events(ctx context.Context, q EventsQuery) ([]eventlog.Record, error) {
	var out EventsResponse
	_, err := c.doJSON(ctx, http.MethodGet, withQuery("/v1/events", q.values()), nil, &out)
	return out.Events, err
}

// UsageQuery selects usage history for Client.Usage. Times are RFC 3339
// or a duration ago; Step is a duration.
type UsageQuery struct {
	Feature, From, To, Step string
	By                      string // for UsageBy: user, host or feature
}

// Usage returns the usage history (monitor).
func (c *Client) Usage(ctx context.Context, q UsageQuery) (UsageResponse, error) {
	v := url.Values{}
	for k, s := range map[string]string{"feature": q.Feature, "from": q.From, "to": q.To, "step": q.Step} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out UsageResponse
	_, err := c.doJSON(ctx, http.MethodGet, withQuery("/v1/usage", v), nil, &out)
	return out, err
}

// UsageBy returns the usage of the period per user, host or feature, as
// q.By says (monitor).
func (c *Client) UsageBy(ctx context.Context, q UsageQuery) (UsageByResponse, error) {
	v := url.Values{}
	for k, s := range map[string]string{"feature": q.Feature, "from": q.From, "to": q.To, "by": q.By} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out UsageByResponse
	_, err := c.doJSON(ctx, http.MethodGet, withQuery("/v1/usage", v), nil, &out)
	return out, err
}

// ErrStreamDropped is returned by StreamEvents when the server ended the
// stream because the client fell behind. Reconnect with AfterID set to the
// last event seen to catch up.
var ErrStreamDropped = usher.Errorf(usher.EUnavailable, "the server ended the event stream because this client fell behind")

// StreamEvents follows the live event stream, calling fn for each event
// until ctx ends, fn returns an error, or the stream ends (monitor).
func (c *Client) StreamEvents(ctx context.Context, q EventsQuery, fn func(eventlog.Record) error) error {
	s, err := c.OpenEventStream(ctx, q)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Each(fn)
}

// EventStream is an event stream the server has accepted.
type EventStream struct {
	ctx  context.Context
	body io.ReadCloser
}

// OpenEventStream opens the live event stream (monitor). With q.AfterID
// set it sends it as Last-Event-ID, so the server first replays the
// stored events after it: a client that reconnects misses none.
func (c *Client) OpenEventStream(ctx context.Context, q EventsQuery) (*EventStream, error) {
	after := q.AfterID
	q.AfterID = 0
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+withQuery("/v1/events/stream", q.values()), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, usher.Errorf(usher.EUnavailable, "cannot reach the Usher server at %s: %v; check --server or USHER_SERVER", c.BaseURL, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return nil, decodeError(resp.StatusCode, data)
	}
	return &EventStream{ctx: ctx, body: resp.Body}, nil
}

// Each calls fn for each event until the stream's context ends, fn
// returns an error, or the stream ends: ErrStreamDropped when the server
// ended it because this client fell behind, io.ErrUnexpectedEOF when the
// connection closed.
func (s *EventStream) Each(fn func(eventlog.Record) error) error {
	err := readSSE(s.body, fn)
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return err
}

// Close closes the stream.
func (s *EventStream) Close() error { return s.body.Close() }

// readSSE parses a Server-Sent Events stream of event records.
func readSSE(r io.Reader, fn func(eventlog.Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if name == "dropped" {
				return ErrStreamDropped
			}
			if data != "" {
				var rec eventlog.Record
				if err := json.Unmarshal([]byte(data), &rec); err != nil {
					return fmt.Errorf("decode event: %w", err)
				}
				if err := fn(rec); err != nil {
					return err
				}
			}
			name, data = "", ""
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return io.ErrUnexpectedEOF
}

// Info describes the server (monitor).
func (c *Client) Info(ctx context.Context) (ServerInfo, error) {
	var out ServerInfo
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/admin/info", nil, &out)
	return out, err
}

// Settings returns the runtime settings (monitor).
func (c *Client) Settings(ctx context.Context) ([]Setting, error) {
	var out SettingsResponse
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/admin/settings", nil, &out)
	return out.Settings, err
}

// ChangeSettings sets and resets runtime settings (admin).
func (c *Client) ChangeSettings(ctx context.Context, req SettingsRequest) (SettingsResponse, error) {
	var out SettingsResponse
	_, err := c.doJSON(ctx, http.MethodPatch, "/v1/admin/settings", req, &out)
	return out, err
}

// Reload makes the server read its configuration again (admin).
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var out ReloadResult
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/admin/reload", nil, &out)
	return out, err
}

// Shutdown asks the server to stop gracefully (admin).
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/admin/shutdown", nil, nil)
	return err
}

// Restart asks the server to stop gracefully and start again with the
// same configuration (admin).
func (c *Client) Restart(ctx context.Context) error {
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/admin/restart", nil, nil)
	return err
}

// Kick ends every lease that matches req, and sets the ban it asks for
// (admin).
func (c *Client) Kick(ctx context.Context, req KickRequest) (KickResponse, error) {
	var out KickResponse
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/admin/kick", req, &out)
	return out, err
}

// Bans returns the bans in force (monitor).
func (c *Client) Bans(ctx context.Context) ([]usher.Ban, error) {
	var out BansResponse
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/admin/bans", nil, &out)
	return out.Bans, err
}

// Unban lifts a ban (admin).
func (c *Client) Unban(ctx context.Context, id string) (usher.Ban, error) {
	var out usher.Ban
	_, err := c.doJSON(ctx, http.MethodDelete, "/v1/admin/bans/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Metrics returns the Prometheus metrics text (monitor).
func (c *Client) Metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/metrics", nil)
	if err != nil {
		return "", err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", usher.Errorf(usher.EUnavailable, "cannot reach the Usher server at %s: %v", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode >= 400 {
		return "", decodeError(resp.StatusCode, data)
	}
	return string(data), nil
}
