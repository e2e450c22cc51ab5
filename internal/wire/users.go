package wire

import (
	"net/url"
	"time"
)

// Paths of the authentication, user and token endpoints.
const (
	PathLogin  = "/v1/auth/login"
	PathUsers  = "/v1/users"
	PathTokens = "/v1/tokens"
	// PathOwnPassword is where a user changes their own password (PUT).
	PathOwnPassword = "/v1/users/me/password"
)

// UserPath is the path of one user: DELETE removes it.
func UserPath(name string) string { return PathUsers + "/" + url.PathEscape(name) }

// PasswordPath is the path that sets a user's password (PUT).
func PasswordPath(name string) string { return UserPath(name) + "/password" }

// TokenPath is the path of one API token, by name or ID: DELETE revokes
// it.
func TokenPath(nameOrID string) string { return PathTokens + "/" + url.PathEscape(nameOrID) }

// LoginRequest is the body of POST /v1/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is a successful login: a JWT to send as a bearer token.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// UserRequest is the body of POST /v1/users.
type UserRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

// PasswordRequest is the body of PUT /v1/users/{name}/password.
type PasswordRequest struct {
	Password string `json:"password"`
}

// OwnPasswordRequest is the body of PUT /v1/users/me/password.
type OwnPasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// UserResponse is a user as the API lists it: never its password hash.
type UserResponse struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// UsersResponse is the body of GET /v1/users.
type UsersResponse struct {
	Users []UserResponse `json:"users"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenResponse is an API token as the API lists it. Token, the secret
// bearer credential, is set only in the answer to its creation.
type TokenResponse struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token,omitempty"`
}

// TokensResponse is the body of GET /v1/tokens.
type TokensResponse struct {
	Tokens []TokenResponse `json:"tokens"`
}
