package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtIssuer = "usher"

// claims are a login's JWT claims. PasswordStamp ties the token to the
// password it was issued for, so changing a password ends old logins.
type claims struct {
	PasswordStamp string `json:"pws"`
	jwt.RegisteredClaims
}

func passwordStamp(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

func (a *Authority) issueJWT(u User) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(a.cfg.TokenTTL)
	c := claims{
		PasswordStamp: passwordStamp(u.PasswordHash),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    jwtIssuer,
			Subject:   u.Name,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.cfg.SigningKey)
	return s, exp.Truncate(time.Second), err
}

// authenticateJWT checks a login token. The role comes from the user as
// stored now, so a changed role or a removed user takes effect at once.
func (a *Authority) authenticateJWT(s string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return a.cfg.SigningKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer), jwt.WithExpirationRequired(), jwt.WithTimeFunc(a.now))
	if err != nil {
		return Principal{}, errBadCredential
	}
	u, ok := a.user(c.Subject)
	if !ok || !equal(passwordStamp(u.PasswordHash), c.PasswordStamp) {
		return Principal{}, errBadCredential
	}
	return Principal{Name: u.Name, Role: u.Role, Kind: KindUser}, nil
}
