package apiclient

import (
	"context"
	"net/http"

	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/wire"
)

// FeatureUsers lists the users registered for a feature (monitor).
func (c *Client) FeatureUsers(ctx context.Context, feature string) (wire.FeatureUsersResponse, error) {
	var out wire.FeatureUsersResponse
	_, err := c.call(ctx, http.MethodGet, wire.FeatureUsersPath(feature), nil, &out)
	return out, err
}

// Assign registers users for a feature whose grant says users=named
// (admin), and returns the registrations it made.
func (c *Client) Assign(ctx context.Context, feature string, users []string) (wire.FeatureUsersResponse, error) {
	var out wire.FeatureUsersResponse
	_, err := c.call(ctx, http.MethodPost, wire.FeatureUsersPath(feature), wire.FeatureUsersRequest{Users: users}, &out)
	return out, err
}

// Unassign removes users' registrations for a feature (admin), and returns
// those it removed.
func (c *Client) Unassign(ctx context.Context, feature string, users []string) (wire.FeatureUsersResponse, error) {
	var out wire.FeatureUsersResponse
	_, err := c.call(ctx, http.MethodDelete, wire.FeatureUsersPath(feature), wire.FeatureUsersRequest{Users: users}, &out)
	return out, err
}

// Unbind loads a vendor's unbind file, lifting a license's Licensee Secret
// binding (admin).
func (c *Client) Unbind(ctx context.Context, text []byte) (wire.UnbindResponse, error) {
	var out wire.UnbindResponse
	_, err := c.read(ctx, client.Request{Method: http.MethodPost, Path: wire.PathUnbind, Body: text, ContentType: "text/plain"}, &out)
	return out, err
}
