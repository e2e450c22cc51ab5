package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
	"github.com/usher-lm/usher/internal/console"
	"github.com/usher-lm/usher/internal/httpapi"
)

// Files of package auth inside the data directory.
const (
	// AdminPasswordFile holds the password of the bootstrap user "admin",
	// written when the server starts with no user.
	AdminPasswordFile = "admin.password"
	// SigningKeyFile holds the key that signs login tokens.
	SigningKeyFile = "jwt.key"
)

// openAuth loads users and API tokens, and on the first start creates the
// bootstrap admin user. The static admin token stays valid next to them.
func (d *Daemon) openAuth(ctx context.Context, adminToken string, now func() time.Time) (*auth.Authority, error) {
	key, err := ensureSecretFile(filepath.Join(d.cfg.Data, SigningKeyFile))
	if err != nil {
		return nil, fmt.Errorf("login signing key: %w", err)
	}
	// In a cluster every node accepts every node's logins.
	if key, err = d.back.share(ctx, "login_signing_key", key); err != nil {
		return nil, err
	}
	a, err := auth.Open(ctx, auth.Config{
		Store: d.back.users, SigningKey: []byte(key), AdminToken: adminToken,
		ClientPassword: d.cfg.ClientPassword, TokenTTL: time.Duration(d.cfg.LoginTTL), Now: now,
	})
	if err != nil {
		return nil, err
	}
	password, err := a.Bootstrap(ctx)
	if err != nil {
		return nil, fmt.Errorf("create the admin user: %w", err)
	}
	if password != "" {
		path := filepath.Join(d.cfg.Data, AdminPasswordFile)
		if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write the admin password: %w", err)
		}
		d.logger.Info("created user admin; its password is in the file", "file", path)
	}
	return a, nil
}

// apiConfig is the HTTP API's configuration from the daemon's.
func (d *Daemon) apiConfig(led *usher.Ledger, a *auth.Authority, now func() time.Time) httpapi.Config {
	return httpapi.Config{
		Ledger: led, Auth: a, Logger: d.logger, Now: now,
		RateLimit:      httpapi.RateLimit{Requests: d.cfg.RateLimit.Requests, Interval: time.Duration(d.cfg.RateLimit.Interval)},
		MaxRequestSize: d.cfg.MaxRequestSize,
		Observer:       d.events, // login_failed, rate_limited
		Events:         d.events, Metrics: d.metrics.Handler(), Admin: d, Policy: d,
		Server:       d.serverInfo(), // identity.go
		Session:      d.session,      // session.go
		Console:      console.Handler(),
		BorrowSigner: d.ident.key,
		Hooks:        d.webhookAdmin(), // webhooks.go
	}
}

// ensureSecretFile returns the secret in path, creating a random one with
// mode 0600 if the file does not exist.
func ensureSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(data)); len(s) >= 32 {
			return s, nil
		}
		return "", fmt.Errorf("%s is shorter than 32 characters: delete it to make a new one (logins end)", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	s := rand.Text() + rand.Text()
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}
