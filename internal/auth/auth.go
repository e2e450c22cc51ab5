// Package auth decides who may call Usher's API: users with passwords and
// roles, API tokens for automation, the static bootstrap admin token and
// the optional shared client password. It issues and checks the JWTs that
// a login returns. Users and tokens persist through the small Store
// interface; everything else is in memory.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	usher "github.com/usher-lm/usher"
)

// Error codes of this package, on top of usher.EUnauthorized and
// usher.EInvalid.
const (
	EForbidden     = usher.EForbidden
	EUserNotFound  = usher.EUserNotFound
	EUserExists    = usher.EUserExists
	ETokenNotFound = usher.ETokenNotFound
	ETokenExists   = usher.ETokenExists
)

// DefaultTokenTTL is how long a login's JWT is valid.
const DefaultTokenTTL = 12 * time.Hour

// BootstrapUser is the admin user created when no user exists.
const BootstrapUser = "admin"

// apiTokenPrefix starts every API token, so that a leaked one is easy to
// recognise and to tell from a JWT.
const apiTokenPrefix = "usher_"

// User is a person who logs in with a password.
type User struct {
	Name         string
	Role         Role
	PasswordHash string // argon2id, see HashPassword
	CreatedAt    time.Time
}

// Token is an API token for automation. Only a hash of its secret is kept;
// the secret is shown once, when the token is created.
type Token struct {
	ID         string
	Name       string
	Role       Role
	SecretHash string // hex SHA-256 of the secret
	CreatedAt  time.Time
}

// Store keeps users and API tokens durably. Every method returns once the
// change is on stable storage.
type Store interface {
	// Users returns every user.
	Users(ctx context.Context) ([]User, error)
	// PutUser stores a user, replacing one with the same name.
	PutUser(ctx context.Context, u User) error
	// DeleteUser removes a user; a missing name is no error.
	DeleteUser(ctx context.Context, name string) error
	// Tokens returns every API token.
	Tokens(ctx context.Context) ([]Token, error)
	// PutToken stores a token, replacing one with the same ID. The
	// Authority keeps names unique; a store may also refuse a name that
	// another token has.
	PutToken(ctx context.Context, t Token) error
	// DeleteToken removes a token; a missing ID is no error.
	DeleteToken(ctx context.Context, id string) error
}

// UserCreator is a Store that several servers share, as the nodes of a
// cluster do: CreateUser stores u only if no user of its name exists, in
// one step, and reports whether it did.
type UserCreator interface {
	CreateUser(ctx context.Context, u User) (created bool, err error)
}

// Config configures an Authority. Without a Store, users and tokens live
// only in memory; without a SigningKey, a random one is made and logins
// end when the process does. Both are for tests and embedding: a server
// sets both.
type Config struct {
	Store          Store
	SigningKey     []byte        // HMAC key for JWTs: at least 32 random bytes
	AdminToken     string        // static bootstrap admin token; "" disables it
	ClientPassword string        // when set, clients need it (or a client token)
	TokenTTL       time.Duration // how long a login lasts; default DefaultTokenTTL
	Now            func() time.Time

	// Login floods; see throttle.go. MaxHashes bounds the password
	// hashes that run at once (default DefaultMaxHashes); HashWait is how
	// long a login waits for one (default DefaultHashWait; negative: it
	// does not wait). RefusalDelay is how long a backed-off login waits
	// for its refusal at most (default DefaultLoginRefusalDelay;
	// negative: it does not wait). HashRate is how many hashes may start
	// a second (default DefaultHashRate × MaxHashes; negative: no bound).
	MaxHashes    int
	HashWait     time.Duration
	RefusalDelay time.Duration
	HashRate     float64
}

// Authority authenticates requests and manages users and API tokens. It
// is safe for concurrent use.
type Authority struct {
	cfg Config
	now func() time.Time

	write  sync.Mutex // serialises changes: store first, then memory
	mu     sync.RWMutex
	users  map[string]User
	tokens map[string]Token // by ID
	// clientTokens counts tokens with role client: asked on every
	// check-out, so kept rather than counted.
	clientTokens int

	// dummyHash is checked for unknown users, so that timing does not
	// tell them from known ones; made on first need.
	dummyOnce sync.Once
	dummyHash string

	hashes *hashSlots
	guard  loginGuard
	// check checks a password against its hash: CheckPassword, but for
	// tests that count the checks.
	check func(hash, password string) (bool, error)
}

// Open loads users and tokens from the store.
func Open(ctx context.Context, cfg Config) (*Authority, error) {
	if cfg.SigningKey == nil {
		cfg.SigningKey = []byte(rand.Text() + rand.Text())
	}
	if len(cfg.SigningKey) < 32 {
		return nil, errors.New("auth: signing key must be at least 32 bytes")
	}
	if cfg.Store == nil {
		cfg.Store = nopStore{}
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	a := &Authority{cfg: cfg, now: cfg.Now, users: map[string]User{}, tokens: map[string]Token{},
		hashes: newHashSlots(cfg.MaxHashes, cfg.HashWait, cfg.HashRate), guard: newLoginGuard(cfg.RefusalDelay), check: CheckPassword}
	if a.now == nil {
		a.now = time.Now
	}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads users and tokens from the store again: in a cluster, others
// may have changed them while this node did not decide.
func (a *Authority) Reload(ctx context.Context) error {
	a.write.Lock()
	defer a.write.Unlock()
	users, err := a.cfg.Store.Users(ctx)
	if err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	tokens, err := a.cfg.Store.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("load API tokens: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users, a.tokens, a.clientTokens = make(map[string]User, len(users)), make(map[string]Token, len(tokens)), 0
	for _, u := range users {
		a.users[u.Name] = u
	}
	for _, t := range tokens {
		a.addTokenLocked(t)
	}
	return nil
}

// Bootstrap creates the user BootstrapUser with role admin and a random
// password when no user exists, and returns that password. It returns ""
// when users exist already.
func (a *Authority) Bootstrap(ctx context.Context) (string, error) {
	if len(a.Users()) > 0 {
		return "", nil
	}
	password := rand.Text()
	if _, err := a.AddUser(ctx, BootstrapUser, password, RoleAdmin); err != nil {
		if usher.ErrorCode(err) == EUserExists {
			// Another server sharing the store was first: take its users.
			return "", a.Reload(ctx)
		}
		return "", err
	}
	return password, nil
}

// ClientAuthRequired reports whether check-outs need a credential: when a
// client password is set or a client API token exists.
func (a *Authority) ClientAuthRequired() bool {
	if a.cfg.ClientPassword != "" {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.clientTokens > 0
}

func (a *Authority) addTokenLocked(t Token) {
	a.tokens[t.ID] = t
	if t.Role == RoleClient {
		a.clientTokens++
	}
}

func (a *Authority) deleteTokenLocked(t Token) {
	delete(a.tokens, t.ID)
	if t.Role == RoleClient {
		a.clientTokens--
	}
}

// errBadCredential is the one answer to any credential that does not
// check out, so that the reason does not leak.
var errBadCredential = usher.Errorf(usher.EUnauthorized,
	"the credential is not valid or has expired: log in again (usher login) or check the token")

// Authenticate returns who a bearer credential belongs to. It returns an
// EUnauthorized error for any credential it does not accept.
func (a *Authority) Authenticate(bearer string) (Principal, error) {
	switch {
	case bearer == "":
		return Principal{}, errBadCredential
	case equal(bearer, a.cfg.AdminToken):
		return Principal{Name: "admin.token", Role: RoleAdmin, Kind: KindAdminToken}, nil
	case equal(bearer, a.cfg.ClientPassword):
		return Principal{Name: "client", Role: RoleClient, Kind: KindClientPassword}, nil
	case strings.HasPrefix(bearer, apiTokenPrefix):
		return a.authenticateToken(bearer)
	case strings.Count(bearer, ".") == 2:
		return a.authenticateJWT(bearer)
	}
	return Principal{}, errBadCredential
}

// equal compares a credential with a configured secret in constant time;
// an unset secret matches nothing.
func equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (a *Authority) authenticateToken(bearer string) (Principal, error) {
	id, secret, ok := strings.Cut(strings.TrimPrefix(bearer, apiTokenPrefix), "_")
	if !ok {
		return Principal{}, errBadCredential
	}
	a.mu.RLock()
	t, found := a.tokens[id]
	a.mu.RUnlock()
	if !found || !equal(hashSecret(secret), t.SecretHash) {
		return Principal{}, errBadCredential
	}
	return Principal{Name: t.Name, Role: t.Role, Kind: KindToken, ID: t.ID}, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Login checks a user's password and returns a signed JWT and when it
// expires; addr is where the attempt comes from. Wrong names and wrong
// passwords get the same EUnauthorized error after the same work. A login
// is refused before its password is checked, with a RetryError, while its
// address or name is backed off after failures (ERateLimited) or while
// every password check is busy (EUnavailable). A name longer than any
// user's (MaxNameLength) is refused with EInvalid before anything else.
func (a *Authority) Login(ctx context.Context, name, password, addr string) (string, time.Time, error) {
	if len(name) > MaxNameLength {
		return "", time.Time{}, usher.Errorf(usher.EInvalid, "the user name is longer than %d bytes, which no user name is: check the name and log in again", MaxNameLength)
	}
	if len(password) > maxPassword {
		return "", time.Time{}, usher.Errorf(usher.EUnauthorized, "wrong user name or password")
	}
	if err := a.guard.check(name, addr, a.now()); err != nil {
		a.guard.pause(ctx, err)
		return "", time.Time{}, err
	}
	u, ok, err := a.checkLogin(ctx, name, password)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		a.guard.fail(name, addr, a.now())
		return "", time.Time{}, usher.Errorf(usher.EUnauthorized, "wrong user name or password")
	}
	a.guard.succeed(name, addr)
	return a.issueJWT(u)
}

// checkLogin checks name's password in one of the hash slots, against a
// dummy hash for an unknown name.
func (a *Authority) checkLogin(ctx context.Context, name, password string) (User, bool, error) {
	if err := a.hashes.tryAcquire(ctx); err != nil {
		return User{}, false, err
	}
	defer a.hashes.release()
	a.mu.RLock()
	u, found := a.users[name]
	a.mu.RUnlock()
	hash := u.PasswordHash
	if !found {
		a.dummyOnce.Do(func() { a.dummyHash, _ = HashPassword(rand.Text()) })
		hash = a.dummyHash
	}
	ok, err := a.check(hash, password)
	if err != nil {
		return User{}, false, fmt.Errorf("user %s: %w", name, err)
	}
	return u, found && ok, nil
}

// hashPassword hashes a new password in one of the hash slots.
func (a *Authority) hashPassword(ctx context.Context, password string) (string, error) {
	if err := a.hashes.acquire(ctx); err != nil {
		return "", err
	}
	defer a.hashes.release()
	return HashPassword(password)
}

// maxPassword bounds a password, so that hashing stays cheap.
const maxPassword = 1024

// MaxNameLength is the longest user or token name, in bytes.
const MaxNameLength = 64

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`) // at most MaxNameLength

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return usher.Errorf(usher.EInvalid, "%s name %q is not valid: use 1-64 letters, digits, '.', '_', '@' or '-'", kind, name)
	}
	return nil
}

func checkPassword(password string) error {
	if len(password) < 8 {
		return usher.Errorf(usher.EInvalid, "password is too short: use at least 8 characters")
	}
	if len(password) > maxPassword {
		return usher.Errorf(usher.EInvalid, "password is too long: use at most %d characters", maxPassword)
	}
	return nil
}

// AddUser creates a user. It returns EInvalid for a bad name, password or
// role and EUserExists when the name is taken.
func (a *Authority) AddUser(ctx context.Context, name, password string, role Role) (User, error) {
	if err := checkName("user", name); err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	hash, err := a.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	a.write.Lock()
	defer a.write.Unlock()
	if _, ok := a.user(name); ok {
		return User{}, usher.Errorf(EUserExists, "user %q exists already: change its password with usher user passwd", name)
	}
	u := User{Name: name, Role: role, PasswordHash: hash, CreatedAt: a.now().UTC()}
	if c, ok := a.cfg.Store.(UserCreator); ok {
		created, err := c.CreateUser(ctx, u)
		if err != nil {
			return User{}, fmt.Errorf("store user %s: %w", name, err)
		}
		if !created {
			return User{}, usher.Errorf(EUserExists, "user %q exists already (another server created it): change its password with usher user passwd", name)
		}
	} else if err := a.cfg.Store.PutUser(ctx, u); err != nil {
		return User{}, fmt.Errorf("store user %s: %w", name, err)
	}
	a.mu.Lock()
	a.users[name] = u
	a.mu.Unlock()
	return u, nil
}

func (a *Authority) user(name string) (User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[name]
	return u, ok
}

// SetPassword changes a user's password. The user's earlier logins stop
// working. It returns EUserNotFound or EInvalid.
func (a *Authority) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := a.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	a.write.Lock()
	defer a.write.Unlock()
	u, ok := a.user(name)
	if !ok {
		return userNotFound(name)
	}
	u.PasswordHash = hash
	if err := a.cfg.Store.PutUser(ctx, u); err != nil {
		return fmt.Errorf("store user %s: %w", name, err)
	}
	a.mu.Lock()
	a.users[name] = u
	a.mu.Unlock()
	return nil
}

func userNotFound(name string) error {
	return usher.Errorf(EUserNotFound, "no user is named %q: see usher user list", name)
}

// RemoveUser deletes a user; its logins stop working. It returns
// EUserNotFound.
func (a *Authority) RemoveUser(ctx context.Context, name string) error {
	a.write.Lock()
	defer a.write.Unlock()
	if _, ok := a.user(name); !ok {
		return userNotFound(name)
	}
	if err := a.cfg.Store.DeleteUser(ctx, name); err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	a.mu.Lock()
	delete(a.users, name)
	a.mu.Unlock()
	return nil
}

// Users returns every user, by name.
func (a *Authority) Users() []User {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]User, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(x, y User) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// CreateToken creates an API token and returns it with the bearer
// credential, which is shown only now. It returns EInvalid or ETokenExists.
func (a *Authority) CreateToken(ctx context.Context, name string, role Role) (Token, string, error) {
	if err := checkName("token", name); err != nil {
		return Token{}, "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, "", err
	}
	a.write.Lock()
	defer a.write.Unlock()
	if _, ok := a.findToken(name); ok {
		return Token{}, "", usher.Errorf(ETokenExists, "an API token is named %q already: revoke it first or pick another name", name)
	}
	id := strings.ToLower(rand.Text()[:12])
	secret := rand.Text()
	t := Token{ID: id, Name: name, Role: role, SecretHash: hashSecret(secret), CreatedAt: a.now().UTC()}
	if err := a.cfg.Store.PutToken(ctx, t); err != nil {
		return Token{}, "", fmt.Errorf("store API token %s: %w", name, err)
	}
	a.mu.Lock()
	a.addTokenLocked(t)
	a.mu.Unlock()
	return t, apiTokenPrefix + id + "_" + secret, nil
}

// findToken looks a token up by ID, then by name.
func (a *Authority) findToken(nameOrID string) (Token, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if t, ok := a.tokens[nameOrID]; ok {
		return t, true
	}
	for _, t := range a.tokens {
		if t.Name == nameOrID {
			return t, true
		}
	}
	return Token{}, false
}

// RevokeToken deletes an API token by name or ID and returns it. It
// returns ETokenNotFound.
func (a *Authority) RevokeToken(ctx context.Context, nameOrID string) (Token, error) {
	a.write.Lock()
	defer a.write.Unlock()
	t, ok := a.findToken(nameOrID)
	if !ok {
		return Token{}, usher.Errorf(ETokenNotFound, "no API token has the name or ID %q: see usher token list", nameOrID)
	}
	if err := a.cfg.Store.DeleteToken(ctx, t.ID); err != nil {
		return Token{}, fmt.Errorf("delete API token %s: %w", t.Name, err)
	}
	a.mu.Lock()
	a.deleteTokenLocked(t)
	a.mu.Unlock()
	return t, nil
}

// Tokens returns every API token, by name, without secrets.
func (a *Authority) Tokens() []Token {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]Token, 0, len(a.tokens))
	for _, t := range a.tokens {
		t.SecretHash = ""
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y Token) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// nopStore keeps nothing, for an Authority without a Store.
type nopStore struct{}

func (nopStore) Users(context.Context) ([]User, error)     { return nil, nil }
func (nopStore) PutUser(context.Context, User) error       { return nil }
func (nopStore) DeleteUser(context.Context, string) error  { return nil }
func (nopStore) Tokens(context.Context) ([]Token, error)   { return nil, nil }
func (nopStore) PutToken(context.Context, Token) error     { return nil }
func (nopStore) DeleteToken(context.Context, string) error { return nil }
