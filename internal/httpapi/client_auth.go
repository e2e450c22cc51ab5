package httpapi

import (
	"context"
	"net/http"
	"net/url"
)

// Login exchanges a user name and password for a JWT. It sends no
// credential of its own.
func (c *Client) Login(ctx context.Context, username, password string) (LoginResponse, error) {
	anon := *c
	anon.Token = ""
	var out LoginResponse
	_, err := anon.doJSON(ctx, http.MethodPost, "/v1/auth/login", LoginRequest{Username: username, Password: password}, &out)
	return out, err
}

// Users lists the users (admin).
func (c *Client) Users(ctx context.Context) ([]UserResponse, error) {
	var out struct{ Users []UserResponse }
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/users", nil, &out)
	return out.Users, err
}

// AddUser creates a user (admin).
func (c *Client) AddUser(ctx context.Context, req UserRequest) (UserResponse, error) {
	var out UserResponse
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/users", req, &out)
	return out, err
}

// RemoveUser deletes a user (admin).
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	_, err := c.doJSON(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(name), nil, nil)
	return err
}

// SetPassword changes a user's password (admin).
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	_, err := c.doJSON(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(name)+"/password", PasswordRequest{Password: password}, nil)
	return err
}

// Tokens lists the API tokens, without their secrets (admin).
func (c *Client) Tokens(ctx context.Context) ([]TokenResponse, error) {
	var out struct{ Tokens []TokenResponse }
	_, err := c.doJSON(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out.Tokens, err
}

// CreateToken creates an API token; the answer's Token is its secret,
// shown only this once (admin).
func (c *Client) CreateToken(ctx context.Context, name, role string) (TokenResponse, error) {
	var out TokenResponse
	_, err := c.doJSON(ctx, http.MethodPost, "/v1/tokens", TokenRequest{Name: name, Role: role}, &out)
	return out, err
}

// RevokeToken deletes an API token by name or ID (admin).
func (c *Client) RevokeToken(ctx context.Context, nameOrID string) (TokenResponse, error) {
	var out TokenResponse
	_, err := c.doJSON(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(nameOrID), nil, &out)
	return out, err
}

// ChangePassword changes the password of the user whose login c carries,
// and returns the new login that replaces it.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) (LoginResponse, error) {
	var out LoginResponse
	_, err := c.doJSON(ctx, http.MethodPut, "/v1/users/me/password", OwnPasswordRequest{OldPassword: oldPassword, NewPassword: newPassword}, &out)
	return out, err
}
