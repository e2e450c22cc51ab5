package httpapi

import (
	"context"
	"net/http"
	"strconv"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/wire"
)

// Webhooks manages the webhooks and their delivery logs (docs/webhooks.md).
type Webhooks interface {
	// List returns every webhook, those of the configuration first.
	List(ctx context.Context) ([]usher.Webhook, error)
	// Add stores a new webhook. Errors: EInvalid naming the field.
	Add(ctx context.Context, w usher.Webhook) (usher.Webhook, error)
	// Remove removes one added over the API. Errors: EInvalid for one of
	// the configuration, EWebhookNotFound.
	Remove(ctx context.Context, id string) error
	// Log returns a webhook's deliveries, the latest first. Errors:
	// EWebhookNotFound.
	Log(ctx context.Context, id string, limit int) ([]usher.Delivery, error)
	// Redeliver sends a delivery again. Errors: EWebhookNotFound.
	Redeliver(ctx context.Context, id string) (usher.Delivery, error)
}

// defaultDeliveries is how many deliveries the log shows by default.
const defaultDeliveries = 50

// webhookRoutes registers the webhooks' endpoints: reading needs the
// monitor role, changing them admin.
func (s *Server) webhookRoutes() {
	if s.webhooks == nil {
		return
	}
	s.mux.HandleFunc("GET "+wire.PathWebhooks, s.monitor(s.handleWebhooks))
	s.mux.HandleFunc("POST "+wire.PathWebhooks, s.admin(s.handleAddWebhook))
	s.mux.HandleFunc("DELETE "+wire.PathWebhooks+"/{id}", s.admin(s.handleRemoveWebhook))
	s.mux.HandleFunc("GET "+wire.PathWebhooks+"/{id}/deliveries", s.monitor(s.handleDeliveries))
	s.mux.HandleFunc("POST "+wire.PathWebhooks+"/deliveries/{id}/redeliver", s.admin(s.handleRedeliver))
}

func (s *Server) handleWebhooks(w http.ResponseWriter, r *http.Request) {
	hooks, err := s.webhooks.List(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := wire.WebhooksResponse{Webhooks: make([]wire.Webhook, 0, len(hooks))}
	for _, h := range hooks {
		out.Webhooks = append(out.Webhooks, wire.WebhookOf(h))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAddWebhook(w http.ResponseWriter, r *http.Request) {
	var req wire.WebhookRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	hook, err := req.Webhook()
	if err == nil {
		hook, err = s.webhooks.Add(r.Context(), hook)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.WebhookOf(hook))
}

func (s *Server) handleRemoveWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.webhooks.Remove(r.Context(), r.PathValue("id")); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := defaultDeliveries
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.error(w, r, usher.Errorf(usher.EInvalid, "limit %q: give a number from 1 to 10000", v))
			return
		}
		limit = n
	}
	log, err := s.webhooks.Log(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.DeliveriesResponse{Deliveries: append([]usher.Delivery{}, log...)})
}

func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	d, err := s.webhooks.Redeliver(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d)
}
