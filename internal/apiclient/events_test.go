package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

// sseServer answers every request with the given event stream.
func sseServer(t *testing.T, stream string) *apiclient.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Last-Event-ID"); got != "7" {
			t.Errorf("Last-Event-ID: got %q, want 7", got)
		}
		if got := r.Header.Get("Accept"); got != "text/event-stream" {
			t.Errorf("Accept: got %q, want text/event-stream", got)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, stream)
	}))
	t.Cleanup(srv.Close)
	c, err := apiclient.New(apiclient.Config{Servers: []string{srv.URL}, Token: "t", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStreamEventsParsesTheStream(t *testing.T) {
	c := sseServer(t, ": keep-alive\n\nid: 8\ndata: {\"id\":8,\"type\":\"lease_granted\",\"feature\":\"cad\"}\n\n"+
		"id: 9\ndata: {\"id\":9,\"type\":\"lease_released\",\"feature\":\"cad\"}\n\nevent: dropped\ndata: {\"message\":\"behind\"}\n\n")
	var got []string
	err := c.StreamEvents(context.Background(), wire.EventsQuery{AfterID: 7}, func(r wire.Event) error {
		got = append(got, fmt.Sprintf("%d %s %s", r.ID, r.Type, r.Feature))
		return nil
	})
	if !errors.Is(err, apiclient.ErrStreamDropped) {
		t.Errorf("end of stream: got %v, want ErrStreamDropped", err)
	}
	if len(got) != 2 || got[0] != "8 lease_granted cad" || got[1] != "9 lease_released cad" {
		t.Errorf("events: got %q", got)
	}
}

func TestStreamEventsReportsAClosedStream(t *testing.T) {
	c := sseServer(t, "id: 8\ndata: {\"id\":8,\"type\":\"lease_granted\"}\n\n")
	n := 0
	err := c.StreamEvents(context.Background(), wire.EventsQuery{AfterID: 7}, func(wire.Event) error { n++; return nil })
	if n != 1 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %d events and %v, want 1 event and an unexpected-EOF error", n, err)
	}
}
