package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/wire"
)

// Events returns stored events (monitor).
func (c *Client) Events(ctx context.Context, q wire.EventsQuery) ([]wire.Event, error) {
	var out wire.EventsResponse
	_, err := c.call(ctx, http.MethodGet, q.Path(wire.PathEvents), nil, &out)
	return out.Events, err
}

// Usage returns the usage history (monitor).
func (c *Client) Usage(ctx context.Context, q wire.UsageQuery) (wire.UsageResponse, error) {
	var out wire.UsageResponse
	_, err := c.call(ctx, http.MethodGet, q.Path(), nil, &out)
	return out, err
}

// Metrics returns the Prometheus metrics text (monitor).
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, client.Request{Path: wire.PathMetrics})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return string(data), err
}

// ErrStreamDropped is returned by StreamEvents when the server ended the
// stream because the client fell behind. Reconnect with AfterID set to the
// last event seen to catch up.
var ErrStreamDropped = usher.Errorf(usher.EUnavailable, "the server ended the event stream because this client fell behind")

// StreamEvents follows the live event stream, calling fn for each event
// until ctx ends, fn returns an error, or the stream ends (monitor).
func (c *Client) StreamEvents(ctx context.Context, q wire.EventsQuery, fn func(wire.Event) error) error {
	s, err := c.OpenEventStream(ctx, q)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Each(fn)
}

// EventStream is an event stream a server has accepted.
type EventStream struct {
	ctx  context.Context
	body io.ReadCloser
}

// OpenEventStream opens the live event stream (monitor). With q.AfterID
// set it sends it as Last-Event-ID, so the server first replays the
// stored events after it: a client that reconnects misses none.
func (c *Client) OpenEventStream(ctx context.Context, q wire.EventsQuery) (*EventStream, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if q.AfterID > 0 {
		h.Set("Last-Event-ID", strconv.FormatInt(q.AfterID, 10))
		q.AfterID = 0
	}
	resp, err := c.send(ctx, client.Request{Path: q.Path(wire.PathEventStream), Header: h, Stream: true})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return &EventStream{ctx: ctx, body: resp.Body}, nil
}

// Each calls fn for each event until the stream's context ends, fn
// returns an error, or the stream ends: ErrStreamDropped when the server
// ended it because this client fell behind, an error wrapping
// io.ErrUnexpectedEOF when the connection closed.
func (s *EventStream) Each(fn func(wire.Event) error) error {
	err := readSSE(s.body, fn)
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return err
}

// Close closes the stream.
func (s *EventStream) Close() error { return s.body.Close() }

// readSSE parses a Server-Sent Events stream of event records.
func readSSE(r io.Reader, fn func(wire.Event) error) error {
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
				var ev wire.Event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					return fmt.Errorf("decode event: %w", err)
				}
				if err := fn(ev); err != nil {
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

// UsageBy returns the usage of the period per user, host or feature, as
// q.By says (monitor).
func (c *Client) UsageBy(ctx context.Context, q wire.UsageQuery) (wire.UsageByResponse, error) {
	var out wire.UsageByResponse
	_, err := c.call(ctx, http.MethodGet, q.Path(), nil, &out)
	return out, err
}

// Report returns the usage report of a period (GET /v1/report).
func (c *Client) Report(ctx context.Context, q wire.ReportQuery) (wire.ReportResponse, error) {
	var out wire.ReportResponse
	_, err := c.call(ctx, http.MethodGet, q.Path(), nil, &out)
	return out, err
}
