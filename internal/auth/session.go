package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "rdsgate_session"

// Session defaults.
const (
	DefaultSessionLifetime = 12 * time.Hour
	DefaultSessionIdle     = 2 * time.Hour
)

// SessionOptions configure Sessions.
type SessionOptions struct {
	// Secure marks the cookie Secure. Production must keep it on; only a
	// plain-http run on loopback (rdsgate dev) turns it off.
	Secure bool
	// Lifetime bounds a session from sign-in; IdleTimeout ends it after
	// that long without a request. Zero takes the defaults above.
	Lifetime    time.Duration
	IdleTimeout time.Duration
	// CleanupInterval is how often expired sessions are deleted; zero
	// means every five minutes, negative never (tests).
	CleanupInterval time.Duration
	// Logger receives session store errors; nil discards.
	Logger *slog.Logger
}

// Sessions keeps browser sessions server-side in PostgreSQL (table
// sessions, migrations/00005_sessions.sql) through scs and its pgxstore.
// The cookie holds only the random token: HttpOnly, SameSite=Lax (the OIDC
// callback is a cross-site top-level navigation that must carry it) and
// Secure unless configured off; it is a browser-session cookie. The table
// holds SessionTokenHash of the token, never the token itself (see
// hashedStore).
type Sessions struct {
	m *scs.SessionManager
	// stop ends the clean-up loop and its statement; done is closed when
	// the loop has ended.
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewSessions returns Sessions stored in pool. Call Close to stop the
// cleanup goroutine.
func NewSessions(pool *pgxpool.Pool, o SessionOptions) *Sessions {
	if o.Lifetime == 0 {
		o.Lifetime = DefaultSessionLifetime
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultSessionIdle
	}
	switch {
	case o.CleanupInterval == 0:
		o.CleanupInterval = 5 * time.Minute
	case o.CleanupInterval < 0:
		o.CleanupInterval = 0
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The clean-up loop is ours, not pgxstore's: its goroutine sets the
	// channel StopCleanup reads, a data race (and a loop never stopped)
	// when the store is closed soon after it was made, and it logs through
	// the standard logger.
	store := pgxstore.NewWithCleanupInterval(pool, 0)
	m := scs.New()
	m.Store = hashedStore{next: store}
	m.Lifetime = o.Lifetime
	m.IdleTimeout = o.IdleTimeout
	m.Cookie.Name = SessionCookie
	if o.Secure {
		m.Cookie.Name = "__Host-" + SessionCookie
	}
	m.Cookie.HttpOnly = true
	m.Cookie.SameSite = http.SameSiteLaxMode
	m.Cookie.Secure = o.Secure
	m.Cookie.Path = "/"
	m.Cookie.Persist = false
	m.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		log.ErrorContext(r.Context(), "session store", slog.Any("err", err))
		http.Error(w, "the session store is unavailable; try again shortly", http.StatusInternalServerError)
	}
	ctx, stop := context.WithCancel(context.Background())
	sess := &Sessions{m: m, stop: stop, done: make(chan struct{})}
	if o.CleanupInterval > 0 {
		go sess.cleanup(ctx, pool, o.CleanupInterval, log)
	} else {
		close(sess.done)
	}
	return sess
}

// cleanup deletes expired sessions every interval until ctx is done.
func (s *Sessions) cleanup(ctx context.Context, pool *pgxpool.Pool, interval time.Duration, log *slog.Logger) {
	defer close(s.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			del, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := pool.Exec(del, `DELETE FROM sessions WHERE expiry < current_timestamp`); err != nil && ctx.Err() == nil {
				log.WarnContext(del, "delete expired sessions", slog.Any("err", err))
			}
			cancel()
		}
	}
}

// Close stops the background clean-up of expired sessions, a statement in
// flight included, and waits for it. It may be called more than once.
func (s *Sessions) Close() {
	s.closeOnce.Do(s.stop)
	<-s.done
}

// LoadAndSave is the net/http middleware that loads the session named by
// the cookie into the request context and saves it (and sets the cookie)
// before the response is written.
func (s *Sessions) LoadAndSave(next http.Handler) http.Handler { return s.m.LoadAndSave(next) }

const userKey = "user"

// SignIn starts an authenticated session for u. The session token is
// renewed first, so a token planted before sign-in (session fixation) is
// worthless afterwards.
func (s *Sessions) SignIn(ctx context.Context, u User) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if err := s.m.RenewToken(ctx); err != nil {
		return fmt.Errorf("sign in: renew session token: %w", err)
	}
	s.m.Put(ctx, userKey, string(b))
	return nil
}

// User returns the signed-in user of the session, if any.
func (s *Sessions) User(ctx context.Context) (*User, bool) {
	raw := s.m.GetString(ctx, userKey)
	if raw == "" {
		return nil, false
	}
	var u User
	if err := json.Unmarshal([]byte(raw), &u); err != nil || u.Subject == "" {
		return nil, false
	}
	return &u, true
}

// SignOut destroys the session: the row is deleted and the cookie expired.
func (s *Sessions) SignOut(ctx context.Context) error {
	if err := s.m.Destroy(ctx); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// Put stores a string in the session (sign-in state, flash messages).
func (s *Sessions) Put(ctx context.Context, key, value string) { s.m.Put(ctx, key, value) }

// Get returns a string stored by Put, "" when there is none.
func (s *Sessions) Get(ctx context.Context, key string) string { return s.m.GetString(ctx, key) }

// CookieName is the session cookie's name: with the __Host- prefix when
// the cookie is Secure, so that no subdomain or plain-http page can set or
// shadow it.
func (s *Sessions) CookieName() string { return s.m.Cookie.Name }

// Pop returns a string stored by Put and removes it.
func (s *Sessions) Pop(ctx context.Context, key string) string { return s.m.PopString(ctx, key) }

// SessionTokenHash is what the sessions table holds for a session token:
// the hex SHA-256 of the cookie value. The token is 32 random bytes, so an
// unsalted fast hash is enough: nobody can invert it, and a row read from
// the table, a backup or a replica cannot be turned back into a cookie.
func SessionTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// hashedStore is the scs.Store in front of pgxstore: it hands the store
// SessionTokenHash(token) instead of the token for Find, Commit and Delete,
// so the session token (which is the whole credential) never reaches the
// database in clear. The check constraint of
// migrations/00006_sessions_token_hash.sql refuses anything else.
//
// Not scs's own SessionManager.HashTokenInStore: it stores the digest as
// unpadded base64url, 43 characters, exactly the shape of a clear scs token,
// so no check constraint could tell the two apart. The hex digest can be
// told apart, and the database refuses a token that was not hashed.
//
// pgxstore implements neither scs.CtxStore nor scs.IterableCtxStore, so
// neither does this. It deliberately does not implement scs.IterableStore
// either: All would return hashes as if they were tokens, and
// SessionManager.Iterate would then commit changes under a hash of the
// hash. Iterate is not used; with this store it reports that iteration is
// not supported.
type hashedStore struct{ next scs.Store }

var _ scs.Store = hashedStore{}

func (h hashedStore) Find(token string) ([]byte, bool, error) {
	return h.next.Find(SessionTokenHash(token))
}

func (h hashedStore) Commit(token string, b []byte, expiry time.Time) error {
	return h.next.Commit(SessionTokenHash(token), b, expiry)
}

func (h hashedStore) Delete(token string) error {
	return h.next.Delete(SessionTokenHash(token))
}
