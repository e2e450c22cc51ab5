package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/httpapi"
)

// sseServer answers every request with the given event stream.
func sseServer(t *testing.T, stream string) *httpapi.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Last-Event-ID"); got != "7" {
			t.Errorf("Last-Event-ID: got %q, want 7", got)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, stream)
	}))
	t.Cleanup(srv.Close)
	c := httpapi.NewClient(srv.URL, "t")
	c.HTTP = srv.Client()
	return c
}

func TestStreamEventsParsesTheStream(t *testing.T) {
	c := sseServer(t, ": keep-alive\n\nid: 8\ndata: {\"id\":8,\"type\":\"lease_granted\",\"feature\":\"cad\"}\n\n"+
		"id: 9\ndata: {\"id\":9,\"type\":\"lease_released\",\"feature\":\"cad\"}\n\nevent: dropped\ndata: {\"message\":\"behind\"}\n\n")
	var got []string
	err := c.StreamEvents(context.Background(), httpapi.EventsQuery{AfterID: 7}, func(r eventlog.Record) error {
		got = append(got, fmt.Sprintf("%d %s %s", r.ID, r.Type, r.Feature))
		return nil
	})
	if !errors.Is(err, httpapi.ErrStreamDropped) {
		t.Errorf("end of stream: got %v, want ErrStreamDropped", err)
	}
	if len(got) != 2 || got[0] != "8 lease_granted cad" || got[1] != "9 lease_released cad" {
		t.Errorf("events: got %q", got)
	}
}

func TestStreamEventsReportsAClosedStream(t *testing.T) {
	c := sseServer(t, "id: 8\ndata: {\"id\":8,\"type\":\"lease_granted\"}\n\n")
	n := 0
	err := c.StreamEvents(context.Background(), httpapi.EventsQuery{AfterID: 7}, func(eventlog.Record) error { n++; return nil })
	if n != 1 || err == nil || errors.Is(err, httpapi.ErrStreamDropped) {
		t.Errorf("got %d events and %v, want 1 event and an unexpected-EOF error", n, err)
	}
}
