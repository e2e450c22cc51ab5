package apiclient

import (
	"context"
	"encoding/json"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/wire"
)

// Info describes the server (monitor).
func (c *Client) Info(ctx context.Context) (wire.ServerInfo, error) {
	var out wire.ServerInfo
	_, err := c.call(ctx, http.MethodGet, wire.PathInfo, nil, &out)
	return out, err
}

// Settings returns the runtime settings (monitor).
func (c *Client) Settings(ctx context.Context) ([]wire.Setting, error) {
	var out wire.SettingsResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathSettings, nil, &out)
	return out.Settings, err
}

// ChangeSettings sets and resets runtime settings (admin).
func (c *Client) ChangeSettings(ctx context.Context, req wire.SettingsRequest) (wire.SettingsResponse, error) {
	var out wire.SettingsResponse
	_, err := c.call(ctx, http.MethodPatch, wire.PathSettings, req, &out)
	return out, err
}

// Reload makes the server read its configuration again (admin).
func (c *Client) Reload(ctx context.Context) (wire.ReloadResult, error) {
	var out wire.ReloadResult
	_, err := c.call(ctx, http.MethodPost, wire.PathReload, nil, &out)
	return out, err
}

// Shutdown asks the server to stop gracefully (admin).
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodPost, wire.PathShutdown, nil, nil)
	return err
}

// Kick ends every lease that matches req (admin).
func (c *Client) Kick(ctx context.Context, req wire.KickRequest) ([]string, error) {
	var out wire.KickResponse
	_, err := c.call(ctx, http.MethodPost, wire.PathKick, req, &out)
	return out.Kicked, err
}

// ClusterStatus returns the cluster's status (admin). A single server
// answers wire.ENotFound.
func (c *Client) ClusterStatus(ctx context.Context) (wire.ClusterStatus, error) {
	var out wire.ClusterStatus
	_, err := c.call(ctx, http.MethodGet, wire.PathCluster, nil, &out)
	return out, err
}

// Login exchanges a user name and password for a JWT. It sends no
// credential of its own.
func (c *Client) Login(ctx context.Context, username, password string) (wire.LoginResponse, error) {
	body, err := json.Marshal(wire.LoginRequest{Username: username, Password: password})
	if err != nil {
		return wire.LoginResponse{}, err
	}
	var out wire.LoginResponse
	_, err = c.read(ctx, client.Request{Method: http.MethodPost, Path: wire.PathLogin, Body: body, Anonymous: true}, &out)
	return out, err
}

// Users lists the users (admin).
func (c *Client) Users(ctx context.Context) ([]wire.UserResponse, error) {
	var out wire.UsersResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathUsers, nil, &out)
	return out.Users, err
}

// AddUser creates a user (admin).
func (c *Client) AddUser(ctx context.Context, req wire.UserRequest) (wire.UserResponse, error) {
	var out wire.UserResponse
	_, err := c.call(ctx, http.MethodPost, wire.PathUsers, req, &out)
	return out, err
}

// RemoveUser deletes a user (admin).
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	_, err := c.call(ctx, http.MethodDelete, wire.UserPath(name), nil, nil)
	return err
}

// SetPassword changes a user's password (admin).
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	_, err := c.call(ctx, http.MethodPut, wire.PasswordPath(name), wire.PasswordRequest{Password: password}, nil)
	return err
}

// Tokens lists the API tokens, without their secrets (admin).
func (c *Client) Tokens(ctx context.Context) ([]wire.TokenResponse, error) {
	var out wire.TokensResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathTokens, nil, &out)
	return out.Tokens, err
}

// CreateToken creates an API token; the answer's Token is its secret,
// shown only this once (admin).
func (c *Client) CreateToken(ctx context.Context, name, role string) (wire.TokenResponse, error) {
	var out wire.TokenResponse
	_, err := c.call(ctx, http.MethodPost, wire.PathTokens, wire.TokenRequest{Name: name, Role: role}, &out)
	return out, err
}

// RevokeToken deletes an API token by name or ID (admin).
func (c *Client) RevokeToken(ctx context.Context, nameOrID string) (wire.TokenResponse, error) {
	var out wire.TokenResponse
	_, err := c.call(ctx, http.MethodDelete, wire.TokenPath(nameOrID), nil, &out)
	return out, err
}

// Restart asks the server to stop gracefully and start again with the
// same configuration (admin).
func (c *Client) Restart(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodPost, wire.PathRestart, nil, nil)
	return err
}

// KickBan ends every lease that matches req, as Kick does, and sets the
// ban req asks for, which it returns with the leases kicked (admin).
func (c *Client) KickBan(ctx context.Context, req wire.KickRequest) (wire.KickResponse, error) {
	var out wire.KickResponse
	_, err := c.call(ctx, http.MethodPost, wire.PathKick, req, &out)
	return out, err
}

// Bans returns the bans in force (monitor).
func (c *Client) Bans(ctx context.Context) ([]usher.Ban, error) {
	var out wire.BansResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathBans, nil, &out)
	return out.Bans, err
}

// Unban lifts a ban (admin).
func (c *Client) Unban(ctx context.Context, id string) (usher.Ban, error) {
	var out usher.Ban
	_, err := c.call(ctx, http.MethodDelete, wire.BanPath(id), nil, &out)
	return out, err
}

// ChangePassword changes the password of the user whose login c carries,
// and returns the new login that replaces it.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) (wire.LoginResponse, error) {
	var out wire.LoginResponse
	_, err := c.call(ctx, http.MethodPut, wire.PathOwnPassword, wire.OwnPasswordRequest{OldPassword: oldPassword, NewPassword: newPassword}, &out)
	return out, err
}

// Policy returns the policy in force (monitor).
func (c *Client) Policy(ctx context.Context) (wire.PolicyResponse, error) {
	var out wire.PolicyResponse
	_, err := c.call(ctx, http.MethodGet, wire.PathPolicy, nil, &out)
	return out, err
}

// SetPolicy puts a policy, as TOML text, in force (admin).
func (c *Client) SetPolicy(ctx context.Context, text []byte) (wire.PolicyResponse, error) {
	var out wire.PolicyResponse
	_, err := c.read(ctx, client.Request{Method: http.MethodPut, Path: wire.PathPolicy, Body: text, ContentType: "application/toml"}, &out)
	return out, err
}

// CheckPolicy dry-runs a policy against the leases held and the checkouts
// recorded (admin).
func (c *Client) CheckPolicy(ctx context.Context, req wire.PolicyCheckRequest) (wire.PolicyCheckResponse, error) {
	var out wire.PolicyCheckResponse
	_, err := c.call(ctx, http.MethodPost, wire.PathPolicyCheck, req, &out)
	return out, err
}
