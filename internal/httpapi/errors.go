package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/auth"
)

// Codes for requests that match no route.
const (
	ENotFound         = "not_found"          // no such path
	EMethodNotAllowed = "method_not_allowed" // the path exists, the method does not
)

// codeStatus maps every error code to its HTTP status. It is the single
// place where domain errors meet HTTP.
var codeStatus = map[string]int{
	usher.ENoSeats:           http.StatusConflict,
	usher.EFeatureNotFound:   http.StatusNotFound,
	usher.EFeatureNotStarted: http.StatusForbidden,
	usher.EFeatureExpired:    http.StatusForbidden,
	usher.ELeaseNotFound:     http.StatusNotFound,
	usher.ELicenseNotFound:   http.StatusNotFound,
	usher.ELicenseInvalid:    http.StatusUnprocessableEntity,
	usher.ELicenseExists:     http.StatusConflict,
	usher.EInvalid:           http.StatusBadRequest,
	usher.EUnauthorized:      http.StatusUnauthorized,
	usher.EUnavailable:       http.StatusServiceUnavailable,
	usher.EInternal:          http.StatusInternalServerError,
	ENotFound:                http.StatusNotFound,
	EMethodNotAllowed:        http.StatusMethodNotAllowed,
	ERateLimited:             http.StatusTooManyRequests,
	auth.EForbidden:          http.StatusForbidden,
	auth.EUserNotFound:       http.StatusNotFound,
	auth.EUserExists:         http.StatusConflict,
	auth.ETokenNotFound:      http.StatusNotFound,
	auth.ETokenExists:        http.StatusConflict,
	auth.EWrongPassword:      http.StatusForbidden,

	// Lease ownership and the per-address limits.
	usher.ELeaseHeldElsewhere: http.StatusConflict,
	usher.ETooManyLeases:      http.StatusTooManyRequests,
	usher.ETooManyWaiters:     http.StatusTooManyRequests,

	// Bans.
	usher.EBanned:      http.StatusForbidden,
	usher.EBanNotFound: http.StatusNotFound,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// writeError writes err as JSON. Internal errors are logged with their
// detail and reach the client only as a generic message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := usher.ErrorCode(err)
	if code == usher.EInternal {
		logger.Error("request failed", "method", r.Method, "path", usher.LogSafe(r.URL.Path), "err", err)
	}
	status := StatusOf(code)
	writeJSON(w, status, errorBody{Code: code, Message: usher.ErrorMessage(err), Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
